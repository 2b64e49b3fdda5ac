"""What the two FID benchmarks (coco30k, mjhq30k) share: Inception weights, backend, device, batch.

Not a benchmark itself (no ``@task``): each FID task subclasses ``FidTask`` and keeps its own data,
prompts and reference set in its module.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from janus_eval.protocol import WHOLE_SET, custom
from janus_eval.contract import RunContext
from janus_eval.task import GenerationTask, JanusEvalError, Option, choice

if TYPE_CHECKING:
    from janus_eval.metrics.fid_images import FidProtocol
    from janus_eval.metrics.fid_sets import FidSets
    from janus_eval.metrics.inception import InceptionExtractor

FID_BACKENDS = ("clean-fid", "torch-fidelity")
FULL_SET_SIZE = 30_000
"""The papers' FID (Table 4) is over 30K generated images; fewer makes a subset (and a biased FID)."""
SET_SIZE_METRIC = "n_generated"
SET_SIZE = {"metric": SET_SIZE_METRIC, "full": FULL_SET_SIZE, "subset_note": "FID over {n:,} < 30K images"}
"""The card's ``set_size``: which metric counts the set, its full size, and what tables say below it."""


def _fid_scores(records: list[dict[str, Any]], task: FidTask, ctx: RunContext) -> dict[str, float]:
    """Every FID metric at once: the generated set's and the reference set's features are computed one time."""
    return task.fid_scores(records, ctx)


FID_METRIC = custom("fid", _fid_scores, per_run=True, higher_is_better=False, headline=True, unit=WHOLE_SET)
"""FID is a set-level statistic: only the task's computation gives it, and no resample of samples gives its CI."""
SET_METRICS = (
    custom(SET_SIZE_METRIC, _fid_scores, per_run=True, unit=WHOLE_SET),
    custom("n_reference", _fid_scores, per_run=True, unit=WHOLE_SET),
    custom("fid_stand_in_inception", _fid_scores, per_run=True, unit=WHOLE_SET),  # 1.0: the demo's stand-in network
)
"""The sizes of the sets FID compares (the generated one is the task card's ``set_size``) and the stand-in label."""


def _workers(raw: str) -> int:
    """A process count: 0 (preprocess in the main process) or more."""
    value = int(raw)
    if value < 0:
        raise ValueError("expected 0 or a positive number of processes")
    return value

FID_OPTIONS: dict[str, Option] = {
    "inception_weights": Option(Path, "clean-fid's inception-2015-12-05.pt (or torch-fidelity's .pth with fid_backend)"),
    "fid_backend": Option(choice(FID_BACKENDS), "feature network: clean-fid (the protocol) or torch-fidelity"),
    "fid_device": Option(str, "device for the Inception network (default: cuda if available, else cpu)"),
    "fid_batch_size": Option(int, "images per Inception batch", affects_results=False),
    "fid_workers": Option(_workers, "processes decoding and resizing images for Inception (default: CPUs - 1, at most 8)",
                          affects_results=False),
}




def check_fid_flags(fid_backend: str | None, inception_weights: Path | None, task_options: dict[str, dict[str, str]]) -> None:
    """``--fid-backend`` is a known backend, and neither FID flag is also given as a ``-T`` option of some task."""
    if fid_backend is not None and fid_backend not in FID_BACKENDS:
        raise JanusEvalError(f"unknown --fid-backend {fid_backend!r}; expected one of: {', '.join(FID_BACKENDS)}")
    flags = {"inception_weights": ("--inception-weights", inception_weights), "fid_backend": ("--fid-backend", fid_backend)}
    for task_name, options in task_options.items():
        for option, (flag, value) in flags.items():
            if option in options and value is not None:
                raise JanusEvalError(f"-T {task_name}.{option} and {flag} both given; pass one of them")


STAND_IN_NOTE = "FID from a tiny random stand-in Inception (the bundled demo), non-comparable"


class FidTask(GenerationTask):
    options: ClassVar[dict[str, Option]] = FID_OPTIONS

    inception_weights: Path | None = None
    fid_backend: str | None = None
    fid_device: str | None = None
    fid_batch_size: int = 64
    fid_workers: int | None = None

    def backend(self, ctx: RunContext) -> str:
        """``-T fid_backend``, else ``--fid-backend``, else clean-fid (the protocol)."""
        from janus_eval.metrics.inception import check_backend

        backend = self.fid_backend or ctx.fid_backend or "clean-fid"
        check_backend(backend)
        return backend

    def uses_stand_in(self, ctx: RunContext) -> bool:
        """The bundled demo (no data root) with no Inception file given runs on the labelled stand-in network,
        so ``--tasks paper`` completes; with a data root the real file is required."""
        return ctx.data_root is None and self.inception_weights is None and ctx.inception_weights is None

    def check_prerequisites(self, ctx: RunContext) -> None:
        """The Inception file exists (unless the demo's stand-in is used): checked before any image is generated."""
        if not self.uses_stand_in(ctx):
            self.weights(ctx)

    def prepare(self, docs: list[dict[str, Any]], ctx: RunContext) -> None:
        """Fail before generating 30K images if the Inception weights are missing."""
        self.check_prerequisites(ctx)

    def stand_in_label(self, ctx: RunContext) -> dict[str, float]:
        """Results of a stand-in run carry ``fid_stand_in_inception: 1.0``: the number compares with nothing."""
        return {"fid_stand_in_inception": 1.0} if self.uses_stand_in(ctx) else {}

    def card(self, ctx: RunContext | None = None) -> dict[str, Any]:
        """A stand-in run says so in the card's generic ``non_comparable`` field, which tables and reports show."""
        ctx = ctx or RunContext()
        label = {"non_comparable": STAND_IN_NOTE} if self.uses_stand_in(ctx) else {}
        return {**super().card(ctx), "set_size": dict(SET_SIZE), **label}

    def fid_scores(self, records: list[dict[str, Any]], ctx: RunContext) -> dict[str, float]:
        """FID of the records' images against the reference set, the set sizes and the stand-in label."""
        raise NotImplementedError

    def weights(self, ctx: RunContext) -> Path:
        """The Inception file: the option, else ``--inception-weights``, else ``<data-root>/weights/``;
        missing -> what to fetch."""
        from janus_eval.metrics.inception import default_weights, missing_weights_error

        backend = self.backend(ctx)
        path = self.inception_weights or ctx.inception_weights or default_weights(backend, ctx.data_root)
        if path is None or not Path(path).is_file():
            raise missing_weights_error(backend, path)
        return Path(path)

    def scoring_identity(self, ctx: RunContext) -> dict[str, Any]:
        """FID depends on the Inception network's weights (by content) and backend."""
        return self.fid_card(ctx)

    def fid_card(self, ctx: RunContext) -> dict[str, Any]:
        from janus_eval.metrics.inception import stand_in_card, weights_card

        if self.uses_stand_in(ctx):
            return stand_in_card(self.backend(ctx))
        try:
            weights: Path | None = self.weights(ctx)
        except JanusEvalError:
            weights = None
        return weights_card(weights, self.backend(ctx))

    # -- features -----------------------------------------------------------------------------
    def extractor(self, ctx: RunContext) -> InceptionExtractor:
        """The Inception network on the run's scoring device (``fid_device`` overrides it)."""
        from janus_eval.metrics.inception import load_inception, stand_in_inception

        if self.uses_stand_in(ctx):
            return stand_in_inception(self.backend(ctx), ctx.scorer_device(self.fid_device))
        return load_inception(self.weights(ctx), self.backend(ctx), ctx.scorer_device(self.fid_device))

    def fid(self, generated: list[Path], reference: list[Path], protocol: FidProtocol, ctx: RunContext,
            subsets: dict[str, tuple[list[int], list[int]]] | None = None) -> FidSets:  # fmt: skip
        """FID of this run's images against the real set: generated features cached in the run's ``features/``
        (a re-aggregation reads them), the real set's statistics once per data root."""
        from janus_eval.metrics.fid_sets import fid_between

        return fid_between(generated, reference, self.extractor(ctx), protocol, run_folder(self.name, ctx) / "features",
                           ctx.data_root, subsets, self.fid_batch_size, self.fid_workers)  # fmt: skip


def run_folder(task: str, ctx: RunContext) -> Path:
    """``<out>/<task>``: FID reads the run's images and caches their features there."""
    if ctx.task_dir is None:
        raise JanusEvalError(f"{task}: aggregate needs the run's task folder (a RunContext with task_dir)")
    return ctx.task_dir
