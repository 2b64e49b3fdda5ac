"""The metrics a task declares in ``run.json`` (``tasks.<name>.metrics``): direction, headline, statistical form.

A run directory says itself how each metric is computed from the per-sample records, so the readers of
runs (gate, leaderboard, tables, report) never import the task code to find out. A declaration is

    {"name", "form": "mean" | "grouped" | "custom", "higher_is_better", "headline",
     "key": "score", "scale": 1.0, "group": null, "group_value": null,
     "unit": {"kind": "sample" | "group" | "set", "key": null, "modulo": null}}

``mean``: ``scale`` x the mean of ``scores[key]`` (only over records whose ``score_info[group]`` equals
``group_value`` when both are set). ``grouped``: ``scale`` x the mean over the groups present of each
group's mean (GenEval's overall). ``custom``: no closed form; only the task's own aggregate recomputes
it (POPE F1, MME sums, FID). A name holding ``{<group>}`` is a template: one metric per value of
``score_info[group]``, that value substituted into the name and used as ``group_value``. ``unit`` is what a bootstrap resample draws:
single records, whole groups of records sharing ``score_info[key]`` (``int(value) % modulo`` with a modulo),
or nothing (``set``: a set-level metric such as FID has no per-sample interval).

A run directory whose ``run.json`` lacks the declarations, their units or the task's ``kind`` was written by
an older janus-eval: ``OldRunDir`` says so in one line and how to rescore it; nothing is guessed from names.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any

from janus_eval.errors import JanusEvalError

FORMS = ("mean", "grouped", "custom")
UNIT_KINDS = ("sample", "group", "set")
KINDS = ("understanding", "generation")


class OldRunDir(JanusEvalError):
    """A run directory from before the declarations: one line naming the command that brings it up to date."""

    def __init__(self, where: str, missing: str) -> None:
        super().__init__(
            f"{where}: written by an older janus-eval (run.json has no {missing}); rerun `janus-eval rescore DIR` "
            "on its run directory to upgrade it from its records (no model needed)"
        )


@dataclass(frozen=True)
class UnitSpec:
    """What one bootstrap resample draws (see the module docstring)."""

    kind: str = "sample"
    key: str | None = None
    modulo: int | None = None

    def label(self, record_info: dict[str, Any]) -> str:
        """The group a record belongs to (only for ``kind == "group"``)."""
        value = record_info.get(str(self.key))
        if self.modulo is not None:
            try:
                return str(int(value) % self.modulo)
            except (TypeError, ValueError):
                raise JanusEvalError(f"a record's {self.key!r} is {value!r}, not the integer its resampling unit needs") from None
        return str(value)
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


@dataclass(frozen=True)
class MetricSpec:
    """One declared metric (or template of metrics) of a task."""

    name: str
    form: str
    higher_is_better: bool
    headline: bool = False
    key: str = "score"
    scale: float = 1.0
    group: str | None = None
    group_value: str | None = None
    unit: UnitSpec = UnitSpec()

    @property
    def is_template(self) -> bool:
        return self.group is not None and "{" + self.group + "}" in self.name

    def match(self, metric: str) -> MetricSpec | None:
        """This declaration made concrete for ``metric`` (a template gets its ``group_value``), or None."""
        if not self.is_template:
            return self if metric == self.name else None
        before, _, after = self.name.partition("{" + str(self.group) + "}")
        found = re.fullmatch(re.escape(before) + "(.+)" + re.escape(after), metric)
        return None if found is None else replace(self, name=metric, group_value=found.group(1))


def find_spec(specs: list[MetricSpec], metric: str) -> MetricSpec | None:
    """The declaration of ``metric``: an exact name first, then the first template it fits."""
    exact = [s for s in specs if not s.is_template and s.name == metric]
    if exact:
        return exact[0]
    return next((m for m in (s.match(metric) for s in specs if s.is_template) if m is not None), None)


def parse_metrics(raw: Any, where: str) -> list[MetricSpec]:
    """Validated declarations from ``run.json``; ``OldRunDir`` when the task declares none (a run from before them).

    Args:
        raw: the task card's ``metrics`` value (None when absent).
        where: names the task in error messages, e.g. ``runs/a/run.json: task 'pope'``.
    """
    if raw is None:
        raise OldRunDir(where, "metric declarations")
    if not isinstance(raw, list) or not raw:
        raise JanusEvalError(f"{where}: 'metrics' must be a non-empty list of metric declarations")
    specs = [_parse_one(item, f"{where} metric #{i}") for i, item in enumerate(raw)]
    names = [s.name for s in specs]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise JanusEvalError(f"{where}: metric {duplicated[0]!r} is declared twice")
    headlines = [s.name for s in specs if s.headline]
    if len(headlines) != 1:
        raise JanusEvalError(f"{where}: exactly one metric must be the headline, found {len(headlines)} ({', '.join(headlines) or 'none'})")
    if specs[names.index(headlines[0])].is_template:
        raise JanusEvalError(f"{where}: the headline {headlines[0]!r} must name one metric, not a template")
    return specs


def _parse_one(item: Any, where: str) -> MetricSpec:
    if not isinstance(item, dict):
        raise JanusEvalError(f"{where}: expected an object, got {type(item).__name__}")
    spec = MetricSpec(
        name=_field(item, "name", str, where),
        form=_field(item, "form", str, where),
        higher_is_better=_field(item, "higher_is_better", bool, where),
        headline=_field(item, "headline", bool, where),
        key=_field(item, "key", str, where, "score"),
        scale=_scale(item.get("scale", 1.0), where),
        group=_field(item, "group", str, where, None),
        group_value=_field(item, "group_value", str, where, None),
        unit=_unit(item, where),
    )
    _check_shape(spec, f"{where} ({spec.name!r})")
    return spec


_MISSING = object()


def _field(item: dict[str, Any], name: str, kind: type, where: str, default: Any = _MISSING) -> Any:
    """``item[name]`` checked against ``kind``; an absent or null optional field takes ``default``."""
    value = item.get(name)
    if value is None and default is not _MISSING:
        return default
    if value is None:
        raise JanusEvalError(f"{where}: '{name}' is missing")
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)) or (kind is str and not value):
        raise JanusEvalError(f"{where}: '{name}' must be a {'non-empty string' if kind is str else kind.__name__}, got {value!r}")
    return value


def _unit(item: dict[str, Any], where: str) -> UnitSpec:
    raw = item.get("unit")
    if raw is None:
        raise OldRunDir(where, "resampling unit")
    if not isinstance(raw, dict):
        raise JanusEvalError(f"{where}: 'unit' must be an object, got {raw!r}")
    kind = _field(raw, "kind", str, f"{where} unit")
    if kind not in UNIT_KINDS:
        raise JanusEvalError(f"{where}: unknown unit kind {kind!r}; expected one of: {', '.join(UNIT_KINDS)}")
    key = _field(raw, "key", str, f"{where} unit", None)
    modulo = _field(raw, "modulo", int, f"{where} unit", None)
    if (kind == "group") != (key is not None) or (modulo is not None and (key is None or modulo < 1)):
        raise JanusEvalError(f"{where}: a 'group' unit needs a 'key' (and a positive 'modulo' if any); others have neither")
    return UnitSpec(kind, key, modulo)


def task_kind(card: dict[str, Any], where: str) -> str:
    """The task's ``kind`` as ``run.json`` records it (understanding or generation)."""
    kind = card.get("kind")
    if kind is None:
        raise OldRunDir(where, "task kind")
    if kind not in KINDS:
        raise JanusEvalError(f"{where}: unknown kind {kind!r}; expected one of: {', '.join(KINDS)}")
    return str(kind)


def answers_private(card: dict[str, Any]) -> bool:
    """Whether the task ran a split whose answers only its benchmark's server holds (``answers: private``):
    it has no local metric, and its card names the submission file and its grader instead."""
    return card.get("answers") == "private"


def _scale(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise JanusEvalError(f"{where}: 'scale' must be a finite number, got {value!r}")
    return float(value)


def _check_shape(spec: MetricSpec, where: str) -> None:
    """The combinations of form, group and placeholder that have a meaning."""
    if spec.form not in FORMS:
        raise JanusEvalError(f"{where}: unknown form {spec.form!r}; expected one of: {', '.join(FORMS)}")
    if spec.group_value is not None and spec.group is None:
        raise JanusEvalError(f"{where}: 'group_value' needs a 'group'")
    if spec.form == "grouped" and (spec.group is None or spec.group_value is not None):
        raise JanusEvalError(f"{where}: form 'grouped' needs a 'group' and no 'group_value'")
    placeholders = _PLACEHOLDER.findall(spec.name)
    if not placeholders:
        return
    if spec.group is None or placeholders != ["{" + spec.group + "}"]:
        raise JanusEvalError(f"{where}: a template name holds exactly one placeholder, {{<group>}} of its own 'group'")
    if spec.form == "grouped" or spec.group_value is not None:
        raise JanusEvalError(f"{where}: a template is form 'mean' or 'custom' and has no 'group_value'")
