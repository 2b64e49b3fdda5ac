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

A protocol says how a doc becomes a prompt, how a prediction is cleaned, extracted and scored, and
which metrics it reports. A ``Metric`` is executable: its computation (``mean``, ``grouped`` or
``custom(fn)``), direction, resampling unit and whether it is the headline; the default ``aggregate``
applies the declarations. They go into ``run.json`` (all but the code) so results/ never guesses them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Literal

from janus_eval.contract import RunContext

MetricForm = Literal["mean", "grouped", "custom"]
ResampledBy = Literal["sample", "group", "set"]
"""What one bootstrap draw picks: a sample, a group of records, or nothing (a set-level metric)."""
VLMEVALKIT_REFERENCE = "VLMEvalKit b3a2f81 (PR #541, Oct 2024), exact_matching (no LLM judge)"
LMMS_EVAL_REFERENCE = "lmms-eval 0.7.3"
PAPER_REFERENCE = (
    "VLMEvalKit b3a2f81 (PR #541, Oct 2024) with PR #541's documented changes: MMBench circular=False, "
    "POPE random-split F1, MM-Vet by the official MM-Vet evaluator (yuweihao/MM-Vet acde843), MMMU validation split"
)
Records = list[dict[str, Any]]
Compute = Callable[..., dict[str, float]]
"""A custom metric's computation: records -> every metric it yields (one call may serve several declarations).
One declared ``per_run`` is called as ``compute(records, task, ctx)``: a set-level metric (FID) reads the run's
images and scorer settings."""


@dataclass(frozen=True)
class Unit:
    """What a bootstrap resample draws: single samples, whole groups of records, or nothing (the whole set).

    A metric computed over groups (MMBench's circular copies of a question, MME's two questions per
    image) must be resampled by group, or its interval describes a statistic nobody computes.
    ``key`` names the ``score_info`` field holding a record's group; with ``modulo`` the group is
    ``int(value) % modulo`` (MMBench: copy k of question i has index ``i + k * 10**6``).
    """

    kind: ResampledBy = "sample"
    key: str | None = None
    modulo: int | None = None

    def card(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "modulo": self.modulo}


SAMPLE = Unit("sample")
WHOLE_SET = Unit("set")
"""A set-level metric (FID): no per-sample resampling exists, so no interval either."""


def per_group(key: str, modulo: int | None = None) -> Unit:
    """Resample whole groups of records sharing ``score_info[key]`` (or its value modulo ``modulo``)."""
    return Unit("group", key, modulo)


@dataclass(frozen=True)
class Metric:
    """One reported metric: how it is computed from per-sample records, its direction and its resampling unit.

    ``form``: ``mean`` is ``scale x`` the mean of ``scores[key]`` (over the records whose
    ``score_info[group]`` is ``group_value`` when both are set); ``grouped`` is ``scale x`` the mean
    over the groups present of each ``score_info[group]`` group's mean; ``custom`` is computed by
    ``compute`` (F1, sums, circular groups, FID), a function of the records returning this metric
    (and possibly others declared beside it, computed once).
    A ``name`` holding ``{group}`` (e.g. ``pope_accuracy/{category}``) declares one metric per value
    of ``score_info[group]``, computed over the records with that value.
    ``unit`` is what a bootstrap resample draws (``SAMPLE``, ``per_group(key)``, ``WHOLE_SET``).
    Build them with ``mean(...)``, ``grouped(...)`` and ``custom(...)``, or with the keywords.
    """

    name: str
    form: MetricForm = "mean"
    higher_is_better: bool = True
    headline: bool = False
    key: str = "score"
    scale: float = 1.0
    group: str | None = None
    group_value: str | None = None
    unit: Unit = SAMPLE
    compute: Compute | None = field(default=None, compare=False, repr=False)
    per_run: bool = field(default=False, compare=False, repr=False)
    """``compute`` also takes the task and the run's context (images on disk, scorer weights)."""

    @property
    def is_template(self) -> bool:
        return self.group is not None and "{" + self.group + "}" in self.name

    def card(self) -> dict[str, Any]:
        """The declaration as ``run.json`` records it: everything but the code of a custom computation."""
        return {"name": self.name, "form": self.form, "higher_is_better": self.higher_is_better,
                "headline": self.headline, "key": self.key, "scale": self.scale, "group": self.group,
                "group_value": self.group_value, "unit": self.unit.card()}  # fmt: skip


def mean(name: str, **declared: Any) -> Metric:
    """``scale`` x the mean of ``scores[key]`` (within one group with ``group`` and ``group_value``)."""
    return Metric(name, form="mean", **declared)


def grouped(name: str, group: str, **declared: Any) -> Metric:
    """``scale`` x the mean over the groups present of each ``score_info[group]`` group's mean."""
    return Metric(name, form="grouped", group=group, **declared)


def custom(name: str, compute: Compute | None, **declared: Any) -> Metric:
    """A metric with no closed form, computed by ``compute(records)`` (a dict holding at least this metric)."""
    return Metric(name, form="custom", compute=compute, **declared)


def _info(record: dict[str, Any]) -> dict[str, Any]:
    """A record's ``score_info`` and scores together (a ``samples.jsonl`` record or a ``score_sample`` result)."""
    if isinstance(record.get("scores"), dict):
        return {**(record.get("score_info") or {}), **record["scores"]}
    return record


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _numbers_first(value: str) -> tuple[int, int | str]:
    """Group order of a template's metrics: numeric labels by value (2 before 10), then the others by name."""
    return (0, int(value)) if value.isdigit() else (1, value)


def apply_metrics(metrics: tuple[Metric, ...], records: Records, run: tuple[Any, Any] | None = None) -> dict[str, float]:
    """Every declared metric computed from ``records``, in declaration order (templates: groups in order).

    ``run`` is ``(task, ctx)``, passed to the computations declared ``per_run``.

    A custom computation runs once, where its first declaration stands, and yields every metric it
    computes that its declarations name, in its own order (MME's per-category triples stay together).
    A metric with no records to average over is left out.
    """
    rows = [_info(r) for r in records]
    result: dict[str, float] = {}
    computed: set[int] = set()
    for metric in metrics:
        if metric.form == "custom":
            if metric.compute is None:
                raise TypeError(f"custom metric {metric.name!r} declares no computation")
            if id(metric.compute) not in computed:
                computed.add(id(metric.compute))
                siblings = [m for m in metrics if m.compute is metric.compute]
                if metric.per_run and run is None:
                    raise TypeError(f"custom metric {metric.name!r} needs the run (task, ctx)")
                values = metric.compute(records, *run) if metric.per_run and run else metric.compute(records)
                result.update({k: v for k, v in values.items() if any(_names(m, k) for m in siblings)})
        elif metric.form == "grouped":
            by: dict[str, list[float]] = {}
            for row in rows:
                by.setdefault(str(row.get(metric.group)), []).append(float(row[metric.key]))
            if by:
                result[metric.name] = metric.scale * _mean([_mean(v) for v in by.values()])
        elif metric.is_template:
            by = {}
            for row in rows:
                by.setdefault(str(row.get(metric.group)), []).append(float(row[metric.key]))
            for value in sorted(by, key=_numbers_first):
                result[metric.name.replace("{" + str(metric.group) + "}", value)] = metric.scale * _mean(by[value])
        else:
            picked = [float(r[metric.key]) for r in rows
                      if metric.group_value is None or str(r.get(metric.group)) == metric.group_value]  # fmt: skip
            if picked:
                result[metric.name] = metric.scale * _mean(picked)
    return result


def _names(metric: Metric, name: str) -> bool:
    """Whether ``name`` is ``metric`` or, for a template, one of the metrics it declares."""
    if not metric.is_template:
        return name == metric.name
    before, _, after = metric.name.partition("{" + str(metric.group) + "}")
    return name.startswith(before) and name.endswith(after) and len(name) > len(before) + len(after)


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

    def aggregate(self, records: list[dict[str, Any]]) -> dict[str, float]:
        """The framework's metrics under its own names, plus the task's headline on the paper's scale.

        Applies the declared ``metrics``; a protocol overrides it only where a declaration cannot say it.
        """
        return apply_metrics(self.metrics, records)


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
