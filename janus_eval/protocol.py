"""What a protocol is: the rules one reference framework applies to a benchmark, chosen once per run.

An understanding benchmark has up to three protocols, each a class in the task's module:
- ``LmmsEvalProtocol``: lmms-eval 0.7.3. Its prompts are the question plus the task's post-prompt
  in the Janus chat format (checkpoint's system prompt); its post-processing cuts the reply at the
  ``until`` strings, drops ``<think>``-style blocks and strips whitespace.
- ``VLMEvalKitProtocol``: VLMEvalKit as of the Janus integration (PR #541): no system prompt,
  greedy, 512 new tokens, stop only at EOS; its post-processing is the reply's round trip through
  the ``.xlsx`` file VLMEvalKit scores from.
- ``PaperProtocol``: what produced the Janus paper's Table 2: ``VLMEvalKitProtocol`` plus the changes
  the authors documented in PR #541's description (MMBench without circular mode, POPE's ``random``
  split F1, MM-Vet graded by the official MM-Vet evaluator, MMMU's ``validation`` split). A task's
  paper class subclasses its VLMEvalKit class and overrides only what differs, so a fix to the
  VLMEvalKit rules is a fix to the paper's.

A protocol says how a doc becomes a prompt, how a prediction is cleaned, extracted and scored, how
scores aggregate, and which metrics it reports (``Metric``: name, statistical form, direction,
headline). The declared metrics go into ``run.json`` so that results/ never has to guess them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from janus_eval.task import RunContext

MetricForm = Literal["mean", "grouped", "custom"]
VLMEVALKIT_REFERENCE = "VLMEvalKit b3a2f81 (PR #541, Oct 2024), exact_matching (no LLM judge)"
LMMS_EVAL_REFERENCE = "lmms-eval 0.7.3"
PAPER_REFERENCE = (
    "VLMEvalKit b3a2f81 (PR #541, Oct 2024) with PR #541's documented changes: MMBench circular=False, "
    "POPE random-split F1, MM-Vet by the official MM-Vet evaluator (yuweihao/MM-Vet acde843), MMMU validation split"
)
IMAGE_PLACEHOLDER = "<image_placeholder>"
"""Where a prompt puts an image; the model adapter expands it. Prompts without one get images first."""


@dataclass(frozen=True)
class Metric:
    """One reported metric: how it is computed from per-sample records, and which way is better.

    ``form``: ``mean`` is ``scale x`` the mean of ``scores[key]`` (over the records whose
    ``score_info[group]`` is ``group_value`` when both are set); ``grouped`` is ``scale x`` the mean
    over the groups present of each ``score_info[group]`` group's mean; ``custom`` has no closed
    form and only the task's ``aggregate`` recomputes it (F1, sums, FID).
    A ``name`` holding ``{group}`` (e.g. ``pope_accuracy/{category}``) declares one metric per value
    of ``score_info[group]``, computed over the records with that value.
    """

    name: str
    form: MetricForm = "mean"
    higher_is_better: bool = True
    headline: bool = False
    key: str = "score"
    scale: float = 1.0
    group: str | None = None
    group_value: str | None = None

    def card(self) -> dict[str, Any]:
        return asdict(self)


def headline_metric(metrics: tuple[Metric, ...]) -> Metric:
    """The one metric marked ``headline`` (the paper's number)."""
    marked = [m for m in metrics if m.headline]
    if len(marked) != 1:
        raise ValueError(f"exactly one headline metric expected, got {[m.name for m in marked]}")
    return marked[0]


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

    def card(self) -> dict[str, Any]:
        return {"max_new_tokens": self.max_new_tokens, "until": list(self.until), "temperature": self.temperature,
                "decoding": "greedy"}  # fmt: skip


class UnderstandingProtocol(ABC):
    """One framework's rules for one question-answering benchmark, read top to bottom:
    prompt -> post-process -> score one sample -> aggregate."""

    name: ClassVar[str]
    reference: ClassVar[str]
    generation: ClassVar[GenerationSettings]
    prompt_template: ClassVar[str]
    """Human-readable form of ``prompt()``, recorded in ``run.json``."""
    system_prompt: ClassVar[str | None] = None
    """None keeps the checkpoint variant's default system prompt."""
    metrics: ClassVar[tuple[Metric, ...]]

    @abstractmethod
    def prompt(self, doc: dict[str, Any]) -> str:
        """The question text the protocol sends (before the model's chat template)."""

    @abstractmethod
    def postprocess(self, prediction: str) -> str:
        """The framework's clean-up between the model's text and ``score_sample``."""

    @abstractmethod
    def score_sample(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        """At least ``score`` in [0, 1]; other keys carry what ``aggregate`` needs."""

    def score_samples(self, docs: list[dict[str, Any]], predictions: list[str],
                      ctx: RunContext | None = None) -> list[dict[str, Any]]:  # fmt: skip
        """``score_sample`` for each (doc, prediction), in order; a protocol may score them concurrently."""
        return [self.score_sample(doc, prediction) for doc, prediction in zip(docs, predictions, strict=True)]

    @abstractmethod
    def aggregate(self, records: list[dict[str, Any]]) -> dict[str, float]:
        """The framework's metrics under its own names, plus the task's headline on the paper's scale."""


class LmmsEvalProtocol(UnderstandingProtocol):
    """lmms-eval 0.7.3: question + post-prompt in the checkpoint's chat format, reply cut and stripped."""

    name: ClassVar[str] = "lmms-eval"
    reference: ClassVar[str] = LMMS_EVAL_REFERENCE

    def postprocess(self, prediction: str) -> str:
        """lmms-eval's: cut at the ``until`` strings, drop reasoning-tag blocks, strip."""
        return strip_reasoning_tags(self.generation.cut(prediction))


class VLMEvalKitProtocol(UnderstandingProtocol):
    """VLMEvalKit b3a2f81 (PR #541), exact matching without an LLM judge, as it scored the paper."""

    name: ClassVar[str] = "vlmevalkit"
    reference: ClassVar[str] = VLMEVALKIT_REFERENCE
    generation: ClassVar[GenerationSettings] = GenerationSettings(max_new_tokens=512, until=())
    """VLMEvalKit's Janus wrapper: greedy, 512 new tokens, stop only at EOS."""
    system_prompt: ClassVar[str | None] = ""
    """The Janus wrapper sends no system prompt (MM-Vet's protocol sets its own)."""

    def postprocess(self, prediction: str) -> str:
        """The prediction's round trip through VLMEvalKit's .xlsx file (no strip)."""
        return vlmevalkit_cell(prediction)


class PaperProtocol(VLMEvalKitProtocol):
    """The Janus paper's Table 2: VLMEvalKit b3a2f81 plus the authors' changes stated in PR #541.

    The generation and post-processing are VLMEvalKit's (the authors ran its Janus wrapper); each task's
    paper class changes only the scoring the PR describes, and says in its module docstring what it
    checked in the reference code.
    """

    name: ClassVar[str] = "paper"
    reference: ClassVar[str] = PAPER_REFERENCE


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
