"""The contract every benchmark fulfils.

A benchmark module reads top to bottom: where its data lives (``DatasetSpec``), how a doc becomes a
prompt, how one prediction is scored, how scores aggregate. The runner owns batching, records and
resume; the model adapter never sees a task.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Literal

if TYPE_CHECKING:
    from PIL import Image

    from janus_eval.hfdata import DocSet

PROTOCOLS = ("lmms-eval", "vlmevalkit")
VLMEVALKIT_REFERENCE = "VLMEvalKit b3a2f81 (PR #541, Oct 2024), exact_matching (no LLM judge)"
SHORT_ANSWER_PROMPT = "\nAnswer the question using a single word or phrase."
"""The post-prompt lmms-eval and VLMEvalKit append to short-answer questions (POPE, MME, GQA, VQAv2)."""
IMAGE_PLACEHOLDER = "<image_placeholder>"
"""Where a prompt puts an image; the model adapter expands it. Prompts without one get images first."""
Kind = Literal["understanding", "generation"]


class JanusEvalError(Exception):
    """An error the user can fix; the CLI prints it as one line and exits non-zero."""


class TaskNotImplemented(JanusEvalError):
    pass


@dataclass(frozen=True)
class DatasetSpec:
    """Where a benchmark's rows live: a Hugging Face dataset repo, snapshot under ``--data-root``.

    ``repo`` is the repo name without its org (``POPE``); both lmms-eval orgs are accepted.
    ``fixture`` names the folder under ``janus_eval/fixtures`` holding the bundled mini copy.
    """

    repo: str
    split: str
    config: str | None = None
    orgs: tuple[str, ...] = ("lmms-lab-encoder", "lmms-lab")
    fixture: str | None = None
    columns: tuple[str, ...] = ()
    """Columns the task reads: a copy without one fails before the model runs, not half-way (or text-only)."""
    nullable: tuple[str, ...] = ()
    """Of ``columns``, those a row may leave null (any other null is a bad sample)."""

    @property
    def dataset_id(self) -> str:
        return f"{self.orgs[-1]}/{self.repo}"


@dataclass(frozen=True)
class Option:
    """A task parameter: its type (a callable from the command-line string) and what it is for."""

    kind: Callable[[str], Any]
    help: str
    affects_results: bool = True
    """False for pure throughput knobs (batch sizes, worker counts): resuming with another value is fine."""


def choice(values: tuple[str, ...]) -> Callable[[str], str]:
    """An ``Option`` kind accepting only ``values``."""

    def parse(raw: str) -> str:
        if raw not in values:
            raise ValueError(f"expected one of: {', '.join(values)}")
        return raw

    return parse


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding settings of a protocol; recorded verbatim in ``run.json``."""

    max_new_tokens: int
    until: tuple[str, ...] = ("\n\n",)
    temperature: float = 0.0

    def cut(self, text: str) -> str:
        """Truncate at the first stop string, as lmms-eval's adapters do with ``until``."""
        for stop in self.until:
            if stop:
                text = text.split(stop, 1)[0]
        return text


@dataclass(frozen=True)
class UnderstandingRequest:
    """One model call: images in order and the question text (the chat template is the adapter's)."""

    id: str
    question: str
    images: list[Image.Image] = field(default_factory=list)


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
    kind: ClassVar[Kind]
    headline: ClassVar[str]
    """Key in ``aggregate()``'s result holding the paper's number on the paper's scale."""
    higher_is_better: ClassVar[bool] = True
    dataset: ClassVar[DatasetSpec]
    reference_version: ClassVar[str] = "lmms-eval 0.7.3"
    protocols: ClassVar[tuple[str, ...]] = ("lmms-eval",)

    options: ClassVar[dict[str, Option]] = {}
    """Task parameters settable with ``-T task.name=value``; each is an attribute of the task."""

    def configure(self, **values: str) -> None:
        """Set options from their command-line strings."""
        for key, raw in values.items():
            if key not in self.options:
                known = ", ".join(self.options) or "none"
                raise JanusEvalError(f"task {self.name!r} has no option {key!r}; expected one of: {known}")
            try:
                setattr(self, key, self.options[key].kind(raw))
            except ValueError as err:
                raise JanusEvalError(f"option {self.name}.{key}={raw!r}: {err}") from err

    def __init__(self, protocol: str = "lmms-eval") -> None:
        if protocol not in PROTOCOLS:
            raise JanusEvalError(f"unknown protocol {protocol!r}; expected one of: {', '.join(PROTOCOLS)}")
        if protocol not in self.protocols:
            raise TaskNotImplemented(
                f"task {self.name!r} has no {protocol!r} protocol yet (available: {', '.join(self.protocols)})"
            )
        self.protocol = protocol

    def option_values(self) -> dict[str, str | None]:
        """Every option that can change a result: records are resumed only into a run with the same ones."""
        values = {name: getattr(self, name, None) for name, option in self.options.items() if option.affects_results}
        return {name: None if value is None else str(value) for name, value in values.items()}

    def scoring_identity(self) -> dict[str, Any]:
        """What scores depend on besides the prediction (a judge, scorer weights); a change re-scores records."""
        return {}

    # -- data ---------------------------------------------------------------------------------
    def load(self, data_root: Path | None) -> DocSet:
        """The task's rows, from ``data_root`` or, when it is None, the bundled fixture."""
        from janus_eval.hfdata import load_docset

        return load_docset(self.dataset, data_root)

    def locate_data(self, data_root: Path | None) -> str:
        """A short "found ..." for ``janus-eval list``; raises JanusEvalError when the data is absent."""
        from janus_eval.hfdata import find_dataset_files

        return f"found ({len(find_dataset_files(self.dataset, data_root))} files)"

    @abstractmethod
    def doc_id(self, doc: dict[str, Any]) -> str: ...

    # -- score --------------------------------------------------------------------------------
    @abstractmethod
    def aggregate(self, records: list[dict[str, Any]]) -> dict[str, float]: ...

    def card(self) -> dict[str, Any]:
        """What ``run.json`` records about this task's protocol."""
        return {
            "protocol": self.protocol,
            "reference": self.reference_version,
            "dataset_id": self.dataset.dataset_id,
            "split": self.dataset.split,
            "config": self.dataset.config,
            "headline": self.headline,
        }


class UnderstandingTask(Task):
    """A question-answering benchmark: doc -> (images, question) -> text -> score."""

    kind: ClassVar[Kind] = "understanding"
    generation: GenerationSettings
    """The protocol's decoding settings (a class default for lmms-eval; vlmevalkit replaces it)."""
    prompt_template: str
    """Human-readable form of ``prompt()``, recorded in ``run.json``."""
    system_prompt: str | None = None
    """None keeps the checkpoint variant's default system prompt; VLMEvalKit's Janus wrapper sends none."""
    vlmevalkit_reference: ClassVar[str] = VLMEVALKIT_REFERENCE
    """``reference_version`` under ``--protocol vlmevalkit``."""

    def __init__(self, protocol: str = "lmms-eval") -> None:
        super().__init__(protocol)
        if protocol == "vlmevalkit":
            self.generation = VLMEVALKIT_GENERATION
            self.system_prompt = ""
            self.reference_version = self.vlmevalkit_reference

    @abstractmethod
    def prompt(self, doc: dict[str, Any]) -> str:
        """The question text the protocol sends (before the model's chat template)."""

    def images(self, doc: dict[str, Any]) -> list[Image.Image]:
        """The doc's images in prompt order; the default reads the ``image`` column."""
        from janus_eval.hfdata import decode_image

        value = doc.get("image")
        return [] if value is None else [decode_image(value, where=f"{self.name} sample {self.doc_id(doc)}")]

    @abstractmethod
    def score_sample(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        """At least ``score`` in [0, 1]; other keys carry what ``aggregate`` needs."""

    def score_samples(self, docs: list[dict[str, Any]], predictions: list[str]) -> list[dict[str, Any]]:
        """``score_sample`` for each (doc, prediction), in order; a task may score them concurrently."""
        return [self.score_sample(doc, prediction) for doc, prediction in zip(docs, predictions, strict=True)]

    def needs_rescore(self, record: dict[str, Any]) -> bool:
        """True for a record scored with less than this run can do (MM-Vet without a judge, now with one).

        The runner re-scores such records from their stored prediction, without the model.
        """
        return False

    def postprocess(self, prediction: str) -> str:
        """The framework's clean-up between the model's text and ``score_sample``.

        lmms-eval: cut at the ``until`` strings, drop reasoning-tag blocks, strip. VLMEvalKit: the
        prediction's round trip through its .xlsx file (no strip).
        """
        if self.protocol == "vlmevalkit":
            return vlmevalkit_cell(prediction)
        return strip_reasoning_tags(self.generation.cut(prediction))

    def card(self) -> dict[str, Any]:
        gen = self.generation
        return {
            **super().card(),
            "prompt_template": self.prompt_template,
            "system_prompt": "checkpoint default" if self.system_prompt is None else self.system_prompt,
            "generation": {
                "max_new_tokens": gen.max_new_tokens,
                "until": list(gen.until),
                "temperature": gen.temperature,
                "decoding": "greedy",
            },
        }


VLMEVALKIT_GENERATION = GenerationSettings(max_new_tokens=512, until=())
"""VLMEvalKit's Janus wrapper as of PR #541: greedy, 512 new tokens, stop only at EOS."""

_REASONING_TAGS = (("<think>", "</think>"), ("<analysis>", "</analysis>"))


def strip_reasoning_tags(text: str) -> str:
    """lmms-eval's CLI post-processing: remove closed reasoning blocks; an orphan end tag keeps what follows."""
    for start, end in _REASONING_TAGS:
        while (i := text.find(start)) >= 0 and (j := text.find(end, i + len(start))) >= 0:
            text = text[:i] + text[j + len(end) :]
        if end in text and start not in text:
            text = text.rsplit(end, 1)[1]
    return text.strip()


# pandas.read_excel's default NA strings: VLMEvalKit reads predictions back through them.
_PANDAS_NA = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                        "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})  # fmt: skip


def vlmevalkit_cell(prediction: str) -> str:
    """What VLMEvalKit (PR #541 era) scores after storing ``prediction`` in .xlsx and reading it back.

    NA-like strings (``""``, ``"None"``, ``"N/A"``, ...) come back as ``"nan"``; a string starting
    with ``=`` was written as a formula and comes back as ``"0"``.
    """
    if prediction in _PANDAS_NA:
        return "nan"
    if prediction.startswith("="):
        return "0"
    return prediction


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
    images (if the task scores images one by one, as GenEval does) and ``aggregate`` over all records.
    ``bind`` gives the task the run's data root and task folder before any of that.
    """

    kind: ClassVar[Kind] = "generation"
    images_per_prompt: int = 1
    cfg_scale: ClassVar[float] = 5.0
    temperature: ClassVar[float] = 1.0

    data_root: Path | None = None
    task_dir: Path | None = None
    run_device: str | None = None
    """The rank's device (``cuda:3`` under torchrun); scorers default to it on a GPU run."""

    def bind(self, data_root: Path | None, task_dir: Path, device: str | None = None) -> None:
        self.data_root, self.task_dir, self.run_device = data_root, task_dir, device

    def scorer_device(self, explicit: str | None) -> str:
        """An explicit ``-T`` device, else the run's GPU, else cuda when there is one, else cpu."""
        if explicit:
            return explicit
        if self.run_device and self.run_device.startswith("cuda"):
            return self.run_device
        from janus_eval.metrics.inception import pick_device

        return pick_device(None)

    def locate_data(self, data_root: Path | None) -> str:
        return f"found ({len(self.load(data_root))} prompts)"

    @abstractmethod
    def requests(self, docs: list[dict[str, Any]], base_seed: int) -> list[ImageRequest]:
        """Every image of the benchmark for these docs (already limited), in a fixed order."""

    def prepare(self, docs: list[dict[str, Any]], image_dir: Path) -> None:
        """Write side files the official layout needs (e.g. GenEval's per-prompt metadata.jsonl)."""

    def score_image(self, doc: dict[str, Any], image_path: Path) -> dict[str, Any]:
        """Per-image scores; empty for set-level metrics such as FID."""
        return {}

    def score_images(self, docs: list[dict[str, Any]], image_paths: list[Path]) -> list[dict[str, Any]]:
        """``score_image`` for several images; a task overrides it to run its scorers on the batch at once.

        The runner calls it with the images of one prompt, a fixed group, so a batched scorer's results
        do not depend on how a run was interrupted and resumed.
        """
        return [self.score_image(doc, path) for doc, path in zip(docs, image_paths, strict=True)]

    def card(self) -> dict[str, Any]:
        return {
            **super().card(),
            "generation": {
                "cfg_scale": self.cfg_scale,
                "temperature": self.temperature,
                "images_per_prompt": self.images_per_prompt,
                "sampling": "full vocabulary, no top-k/top-p; per-image counter-based noise keyed by (seed, step)",
                "seed_policy": "sha256(base_seed:prompt_index:sample_index)[:8]",
            },
        }
