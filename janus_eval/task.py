"""The contract every benchmark fulfils.

A benchmark module reads top to bottom: where its data lives (``DatasetSpec``), then per protocol
(``janus_eval.protocol``) how a doc becomes a prompt, how one prediction is scored, how scores
aggregate and which metrics that reports. The runner owns batching, records and resume and hands a
task one ``RunContext``; the model adapter never sees a task.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Literal

from janus_eval.contract import DatasetSpec, RunContext
from janus_eval.errors import JanusEvalError, TaskNotImplemented
from janus_eval.protocol import (
    GenerationSettings,
    LmmsEvalProtocol,
    Metric,
    PaperProtocol,
    UnderstandingProtocol,
    VLMEvalKitProtocol,
    apply_metrics,
    strip_reasoning_tags,
    vlmevalkit_cell,
)

if TYPE_CHECKING:
    from PIL import Image

    from janus_eval.hfdata import DocSet

__all__ = ["LmmsEvalProtocol", "PaperProtocol", "VLMEvalKitProtocol", "UnderstandingProtocol", "JanusEvalError", "GenerationSettings", "Metric",
           "strip_reasoning_tags", "vlmevalkit_cell"]  # fmt: skip

PROTOCOLS = ("lmms-eval", "vlmevalkit", "paper")
"""The ``--protocol`` choices. They select an understanding task's rules; a generation task has one
protocol (``GENERATION_PROTOCOL``), whatever the run's choice."""
GENERATION_PROTOCOL = "official"
"""What a generation task records as its protocol: the benchmark's official evaluation (its
``reference_version`` names it: GenEval's ``evaluate_images.py``, GigaGAN's / clean-fid's FID), which
is also the paper's."""
SHORT_ANSWER_PROMPT = "\nAnswer the question using a single word or phrase."
"""The post-prompt lmms-eval and VLMEvalKit append to short-answer questions (POPE, MME, GQA, VQAv2)."""
TaskKind = Literal["understanding", "generation"]


@dataclass(frozen=True)
class UnscoredMark:
    """How a task's records say "no score yet" (MM-Vet's record without a judge's verdict), recorded in ``run.json``.

    Such a record keeps a placeholder ``score`` (0.0); readers must neither average it nor show it as a failure.
    """

    flag: str
    """The ``score_info`` field that is false on a placeholder record."""
    count_metric: str
    """The metric in ``results.json`` counting those records."""

    def card(self) -> dict[str, str]:
        return {"flag": self.flag, "count_metric": self.count_metric}


@dataclass(frozen=True)
class Option:
    """A task parameter: its type (a callable from the command-line string) and what it is for."""

    kind: Callable[[str], Any]
    help: str
    affects_results: bool = True
    """False for pure throughput knobs (batch sizes, worker counts), where resuming with another value is fine,
    and where the identity already tells values apart (a split: its data files' hashes)."""


def choice(values: tuple[str, ...]) -> Callable[[str], str]:
    """An ``Option`` kind accepting only ``values``."""

    def parse(raw: str) -> str:
        if raw not in values:
            raise ValueError(f"expected one of: {', '.join(values)}")
        return raw

    return parse


def split_option(dataset: DatasetSpec) -> dict[str, Option]:
    """The ``split`` option of a task whose data has several splits (``-T vqav2.split=testdev``)."""
    private = f"; {', '.join(dataset.private)}: answers private, the run writes a submission file" if dataset.private else ""
    help = f"dataset split, one of {', '.join(dataset.splits)} (default {dataset.split}){private}"
    return {"split": Option(choice(dataset.splits), help, affects_results=False)}


def record_scores(record: dict[str, Any]) -> dict[str, Any]:
    """Accept either a ``score_sample`` result or a ``samples.jsonl`` record and return the former."""
    if "scores" in record and isinstance(record["scores"], dict):
        return {**record.get("score_info", {}), **record["scores"]}
    return record


def split_scores(scored: dict[str, Any]) -> tuple[dict[str, float], dict[str, Any]]:
    """Split a ``score_sample`` result into numeric metrics and the extracted answer details."""
    numeric = {k: float(v) for k, v in scored.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    info = {k: v for k, v in scored.items() if k not in numeric}
    return numeric, info


class Task(ABC):
    """Base of every benchmark. Subclasses set the class attributes and implement the hooks."""

    name: ClassVar[str]
    kind: ClassVar[TaskKind]
    headline: ClassVar[str]
    """Key in ``aggregate()``'s result holding the paper's number on the paper's scale."""
    dataset: ClassVar[DatasetSpec]
    protocols: ClassVar[tuple[str, ...]] = ("lmms-eval",)

    unscored: ClassVar[UnscoredMark | None] = None
    """Set where a record can hold a placeholder score (a judge-scored task); None: every score is real."""

    options: ClassVar[dict[str, Option]] = {}
    """Task parameters settable with ``-T task.name=value``; each is an attribute of the task."""
    submission_server: ClassVar[str | None] = None
    """Who grades the file ``write_submission`` writes (an evaluation server, an official script)."""

    def __init__(self, protocol: str = "lmms-eval") -> None:
        if protocol not in PROTOCOLS:
            raise JanusEvalError(f"unknown protocol {protocol!r}; expected one of: {', '.join(PROTOCOLS)}")
        if protocol not in self.protocols:
            raise TaskNotImplemented(
                f"task {self.name!r} has no {protocol!r} protocol yet (available: {', '.join(self.protocols)})"
            )
        self.protocol = protocol

    def configure(self, **values: str) -> None:
        """Set options from their command-line strings."""
        for key, raw in values.items():
            if key not in self.options:
                if not self.options:
                    raise JanusEvalError(f"task {self.name!r} has no options; remove -T {self.name}.{key}")
                raise JanusEvalError(f"task {self.name!r} has no option {key!r}; expected one of: {', '.join(self.options)}")
            try:
                setattr(self, key, self.options[key].kind(raw))
            except ValueError as err:
                raise JanusEvalError(f"option {self.name}.{key}={raw!r}: {err}") from err

    def option_values(self) -> dict[str, str | None]:
        """Every option that can change a result: records are resumed only into a run with the same ones."""
        values = {name: getattr(self, name, None) for name, option in self.options.items() if option.affects_results}
        return {name: None if value is None else str(value) for name, value in values.items()}

    @property
    def split(self) -> str:
        """The dataset split this task instance reads (``dataset.split`` unless ``-T <task>.split=`` chose another)."""
        return self.dataset.split

    @split.setter
    def split(self, value: str) -> None:
        # the instance's spec shadows the class's, so the choice lives and dies with this task object
        setattr(self, "dataset", replace(type(self).dataset, split=value))

    @property
    @abstractmethod
    def metrics(self) -> tuple[Metric, ...]:
        """The metrics this task reports under its protocol; ``run.json`` records them."""

    @property
    def source(self) -> str:
        """Where the rows come from, for ``janus-eval list``."""
        return self.dataset.dataset_id

    @property
    def higher_is_better(self) -> bool:
        """The headline's direction."""
        return next(m.higher_is_better for m in self.metrics if m.headline)

    @property
    def reference_version(self) -> str:
        """The reference implementation (and version) whose numbers this protocol reproduces."""
        raise NotImplementedError

    def scoring_identity(self, ctx: RunContext) -> dict[str, Any]:
        """What scores depend on besides the prediction (a judge, scorer weights); a change re-scores records."""
        return {}

    def scoring_failure(self, records: list[dict[str, Any]]) -> str | None:
        """Why these records' scores are incomplete in a way that must fail the run (MM-Vet's judge went down),
        else None. The records stay: the run fails after writing them, and a rerun only scores what is missing."""
        return None

    def write_submission(self, records: list[dict[str, Any]], docs: list[dict[str, Any]],
                         ctx: RunContext) -> Path | None:  # fmt: skip
        """Write the file ``submission_server`` grades (under ``<task>/submission/``) and return its path;
        None when this split is scored here alone. Every split with private answers has one. ``docs``: the
        split's rows as the run read them (light columns), for a file that repeats them."""
        return None

    def check_prerequisites(self, ctx: RunContext) -> None:
        """Raise ``JanusEvalError`` naming what this task needs besides its rows (scorer weights, a runtime) and
        lacks. Cheap (no weights loaded): the runner asks every task before the model loads or anything is
        written, so a run never stops at its last task for a file it could have named at the start."""

    # -- data ---------------------------------------------------------------------------------
    def load(self, ctx: RunContext | Path | None = None) -> DocSet:
        """The task's rows, from the data root or, when there is none, the bundled fixture."""
        from janus_eval.hfdata import load_docset

        return load_docset(self.dataset, RunContext.of(ctx).data_root)

    def locate_data(self, data_root: Path | None) -> str:
        """A short "found ..." for ``janus-eval list``; raises JanusEvalError when the data is absent."""
        from janus_eval.hfdata import find_dataset_files

        return f"found ({len(find_dataset_files(self.dataset, data_root))} files)"

    @abstractmethod
    def doc_id(self, doc: dict[str, Any]) -> str: ...

    # -- score --------------------------------------------------------------------------------
    def aggregate(self, records: list[dict[str, Any]], ctx: RunContext | None = None) -> dict[str, float]:
        """The declared ``metrics`` computed from the records; set-level ones (FID) also read the run."""
        return apply_metrics(self.metrics, records, (self, RunContext.of(ctx)))

    def card(self, ctx: RunContext | None = None) -> dict[str, Any]:
        """What ``run.json`` records about this task's protocol."""
        return {
            "kind": self.kind,
            "protocol": self.protocol,
            "reference": self.reference_version,
            "dataset_id": self.dataset.dataset_id,
            "split": self.dataset.split,
            "config": self.dataset.config,
            "headline": self.headline,
            "metrics": [m.card() for m in self.metrics],
            "unscored": None if self.unscored is None else self.unscored.card(),
            **({"answers": "private", "graded_by": self.submission_server} if self.dataset.answers_private else {}),
        }


class UnderstandingTask(Task):
    """A question-answering benchmark: doc -> (images, question) -> text -> score.

    The module holds the data (``dataset``, ``doc_id``, ``images``) once and one
    ``UnderstandingProtocol`` class per framework in ``protocols``; the chosen one is ``self.protocol_rules``
    (``self.protocol`` is its name, as run.json records it).
    """

    kind: ClassVar[TaskKind] = "understanding"
    protocols: ClassVar[dict[str, type[UnderstandingProtocol]]]  # type: ignore[assignment]

    def __init__(self, protocol: str = "lmms-eval") -> None:
        super().__init__(protocol)
        self.protocol_rules: UnderstandingProtocol = self.protocols[protocol]()

    # -- the chosen protocol ------------------------------------------------------------------
    @property
    def metrics(self) -> tuple[Metric, ...]:
        return self.protocol_rules.metrics

    @property
    def reference_version(self) -> str:
        return self.protocol_rules.reference

    @property
    def generation(self) -> GenerationSettings:
        return self.protocol_rules.generation

    @property
    def system_prompt(self) -> str | None:
        return self.protocol_rules.system_prompt

    @property
    def prompt_template(self) -> str:
        return self.protocol_rules.prompt_template

    def prompt(self, doc: dict[str, Any]) -> str:
        return self.protocol_rules.prompt(doc)

    def postprocess(self, prediction: str) -> str:
        return self.protocol_rules.postprocess(prediction)

    def score_sample(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        return self.protocol_rules.score_sample(doc, prediction)

    def score_samples(self, docs: list[dict[str, Any]], predictions: list[str],
                      ctx: RunContext | None = None) -> list[dict[str, Any]]:  # fmt: skip
        return self.protocol_rules.score_samples(docs, predictions, ctx)

    def aggregate(self, records: list[dict[str, Any]], ctx: RunContext | None = None) -> dict[str, float]:
        """The protocol's metrics; none on a split with private answers, whose records score against no answer
        (the submission file's grader gives the number)."""
        return {} if self.dataset.answers_private else self.protocol_rules.aggregate(records)

    # -- data ---------------------------------------------------------------------------------
    def images(self, doc: dict[str, Any]) -> list[Image.Image]:
        """The doc's images in prompt order; the default reads the ``image`` column."""
        from janus_eval.hfdata import decode_image

        value = doc.get("image")
        return [] if value is None else [decode_image(value, where=f"{self.name} sample {self.doc_id(doc)}")]

    def needs_rescore(self, record: dict[str, Any], ctx: RunContext) -> bool:
        """True for a record scored with less than this run can do (MM-Vet without a judge, now with one).

        The runner re-scores such records from their stored prediction, without the model.
        """
        return False

    def card(self, ctx: RunContext | None = None) -> dict[str, Any]:
        return {
            **super().card(ctx),
            "prompt_template": self.prompt_template,
            "system_prompt": "checkpoint default" if self.system_prompt is None else self.system_prompt,
            "generation": self.generation.card(),
        }


@dataclass(frozen=True)
class ImageRequest:
    """One image to generate: its record id, caption, seed, and path relative to ``<out>/<task>/``."""

    id: str
    prompt: str
    seed: int
    path: str
    doc_index: int


def derive_seed(base_seed: int, *indices: int) -> int:
    """A stable 63-bit seed from (base seed, indices...), independent of batch and process layout."""
    import hashlib

    key = ":".join(str(i) for i in (base_seed, *indices)).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "little") & ((1 << 63) - 1)


class GenerationTask(Task):
    """A text-to-image benchmark: prompts -> images (PNG under ``<out>/<task>/images/``) -> metrics.

    The runner generates every ``ImageRequest`` not yet on disk, then calls ``score_images`` per prompt's
    images (if the task scores images one by one, as GenEval does) and ``aggregate`` over all records,
    each with the run's ``RunContext``. One protocol: the paper's own.
    """

    kind: ClassVar[TaskKind] = "generation"
    protocols: ClassVar[tuple[str, ...]] = (GENERATION_PROTOCOL,)
    metrics: ClassVar[tuple[Metric, ...]]  # type: ignore[misc]
    reference_version: ClassVar[str]  # type: ignore[misc]
    images_per_prompt: int = 1
    cfg_scale: ClassVar[float] = 5.0
    temperature: ClassVar[float] = 1.0

    def __init__(self, protocol: str = GENERATION_PROTOCOL) -> None:
        """Any ``--protocol`` is accepted and ignored: it chooses the rules of understanding tasks only.

        So ``--tasks paper --protocol vlmevalkit`` runs every table; the task records
        ``GENERATION_PROTOCOL`` as its own protocol (run.json, identity), whatever the run's choice.
        """
        if protocol not in (*PROTOCOLS, GENERATION_PROTOCOL):
            raise JanusEvalError(f"unknown protocol {protocol!r}; expected one of: {', '.join(PROTOCOLS)}")
        self.protocol = GENERATION_PROTOCOL

    def locate_data(self, data_root: Path | None) -> str:
        return f"found ({len(self.load(data_root))} prompts)"

    @abstractmethod
    def requests(self, docs: list[dict[str, Any]], base_seed: int) -> list[ImageRequest]:
        """Every image of the benchmark for these docs (already limited), in a fixed order."""

    def prepare(self, docs: list[dict[str, Any]], ctx: RunContext) -> None:
        """Check scorer weights and write side files the official layout needs (GenEval's metadata.jsonl)."""

    def score_images(self, docs: list[dict[str, Any]], image_paths: list[Path],
                     ctx: RunContext) -> list[dict[str, Any]]:  # fmt: skip
        """Per-image scores, one dict per image; empty for set-level metrics such as FID.

        The runner calls it with the images of one prompt, a fixed group, so a batched scorer's results
        do not depend on how a run was interrupted and resumed.
        """
        return [{} for _ in image_paths]

    def card(self, ctx: RunContext | None = None) -> dict[str, Any]:
        return {
            **super().card(ctx),
            "generation": {
                "cfg_scale": self.cfg_scale,
                "temperature": self.temperature,
                "images_per_prompt": self.images_per_prompt,
                "sampling": "full vocabulary, no top-k/top-p; per-image counter-based noise keyed by (seed, step)",
                "seed_policy": "sha256(base_seed:prompt_index:sample_index)[:8]",
            },
        }
