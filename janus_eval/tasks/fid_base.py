"""What the two FID benchmarks (coco30k, mjhq30k) share: Inception weights, backend, device, batch.

Not a benchmark itself (no ``@task``): each FID task subclasses ``FidTask`` and keeps its own data,
prompts and reference set in its module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from janus_eval.task import GenerationTask, JanusEvalError, Option, choice

FID_BACKENDS = ("clean-fid", "torch-fidelity")
FID_OPTIONS: dict[str, Option] = {
    "inception_weights": Option(Path, "clean-fid's inception-2015-12-05.pt (or torch-fidelity's .pth with fid_backend)"),
    "fid_backend": Option(choice(FID_BACKENDS), "feature network: clean-fid (the protocol) or torch-fidelity"),
    "fid_device": Option(str, "device for the Inception network (default: cuda if available, else cpu)"),
    "fid_batch_size": Option(int, "images per Inception batch"),
}


class FidTask(GenerationTask):
    higher_is_better: ClassVar[bool] = False
    options: ClassVar[dict[str, Option]] = FID_OPTIONS

    inception_weights: Path | None = None
    fid_backend: str = "clean-fid"
    fid_device: str | None = None
    fid_batch_size: int = 64

    def configure_fid(self, inception_weights: Path | None, backend: str | None = None, device: str | None = None) -> None:
        """The runner's hook for ``--inception-weights``, ``--fid-backend`` and ``--device``."""
        from janus_eval.metrics.inception import check_backend

        backend = backend or "clean-fid"
        check_backend(backend)
        if inception_weights is not None:
            self.inception_weights = Path(inception_weights)
        self.fid_backend = backend
        self.fid_device = device or self.fid_device

    def prepare(self, docs: list[dict[str, Any]], task_dir: Path) -> None:
        """Fail before generating 30K images if the Inception weights are missing."""
        self.weights()

    def weights(self) -> Path:
        """The Inception file: the option, else ``<data-root>/weights/``; missing -> what to fetch."""
        from janus_eval.metrics.inception import default_weights, missing_weights_error

        path = self.inception_weights or default_weights(self.fid_backend, self.data_root)
        if path is None or not Path(path).is_file():
            raise missing_weights_error(self.fid_backend, path)
        return Path(path)

    def scoring_identity(self) -> dict[str, Any]:
        """FID depends on the Inception network's weights (by content) and backend."""
        return self.fid_card()

    def fid_card(self) -> dict[str, Any]:
        from janus_eval.metrics.inception import weights_card

        try:
            weights: Path | None = self.weights()
        except JanusEvalError:
            weights = None
        return weights_card(weights, self.fid_backend)
