"""``janus-eval gate``: did the candidate checkpoint regress against the baseline run?

Per task, the headline metric (and any metric named in ``--max-drop``) is compared as
candidate - baseline with a *paired* bootstrap CI over the sample ids both runs share: each
resample draws ids with replacement and recomputes the metric from both runs' records for the
same ids, which cancels the per-sample difficulty both checkpoints share and so detects smaller
drops than two separate CIs would. A metric regresses when the whole CI of its change (in the
better direction) lies below ``-DELTA`` (``--max-drop task.metric=DELTA``, default 0: any
significant drop). The resample draws each metric's declared unit (samples, or whole groups such as
MMBench's circular copies). A set-level metric (declared unit ``set``: FID) has no per-sample scores,
so it is compared by an absolute tolerance (default 0.5 points) without a CI.

Exit codes: 0 pass (or improvement), 1 significant regression beyond tolerance, 2 the runs cannot
be compared (different task sets, protocols or sample ids), with a one-line reason.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from janus_eval.io import write_atomic
from janus_eval.results.bootstrap import ReferenceFactory, needed_reference, paired_bootstrap
from janus_eval.results.declared import MetricSpec, answers_private
from janus_eval.results.rundir import RunDir
from janus_eval.errors import JanusEvalError

SET_TOLERANCE = 0.5
"""Points a set-level metric (FID) may lose before the gate fails, when ``--max-drop`` names no other."""

PASS, REGRESSION, IMPROVEMENT = "pass", "regression", "improvement"


class CannotCompare(JanusEvalError):
    """The two runs do not measure the same thing; the gate exits 2 with this one-line reason."""


@dataclass
class Verdict:
    task: str
    metric: str
    higher_is_better: bool
    baseline: float
    candidate: float
    diff: float
    ci_low: float | None
    ci_high: float | None
    tolerance: float
    verdict: str
    method: str
    samples: int | None

    @property
    def name(self) -> str:
        return f"{self.task}.{self.metric}"


@dataclass
class GateReport:
    baseline: str
    candidate: str
    alpha: float
    bootstrap: int
    seed: int
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if any(v.verdict == REGRESSION for v in self.verdicts) else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline, "candidate": self.candidate, "alpha": self.alpha,
            "bootstrap": self.bootstrap, "seed": self.seed, "exit_code": self.exit_code,
            "verdicts": [asdict(v) for v in self.verdicts],
        }  # fmt: skip


def parse_max_drop(items: list[str]) -> dict[tuple[str, str], float]:
    """``task.metric=DELTA`` strings -> {(task, metric): DELTA}; DELTA is in the metric's own units."""
    out = {}
    for item in items:
        key, sep, delta = item.partition("=")
        task, dot, metric = key.strip().partition(".")
        if not sep or not dot or not task or not metric:
            raise JanusEvalError(f"--max-drop {item!r}: expected task.metric=DELTA, e.g. pope.pope_f1=0.5")
        try:
            value = float(delta)
        except ValueError:
            raise JanusEvalError(f"--max-drop {item!r}: DELTA {delta!r} is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise JanusEvalError(f"--max-drop {item!r}: DELTA must be a non-negative number")
        out[(task, metric)] = value
    return out


def _check_comparable(base: RunDir, cand: RunDir) -> None:
    b, c = set(base.results), set(cand.results)
    if b != c:
        raise CannotCompare(
            f"different task sets: baseline has {', '.join(sorted(b)) or 'none'}, candidate has {', '.join(sorted(c)) or 'none'}"
        )
    if not b:
        raise CannotCompare("neither run has any task results")
    for task in sorted(b):
        if base.protocol(task) != cand.protocol(task):
            reason = f"{task}: different protocols (baseline {base.protocol(task)}, candidate {cand.protocol(task)})"
            if base.kind(task) == cand.kind(task) == "generation":
                reason += (f"; {task} has one protocol, which an older janus-eval recorded under the run's --protocol: "
                           "run `janus-eval rescore DIR` on the older run directory, then gate again")  # fmt: skip
            raise CannotCompare(reason)


def _aligned_records(base: RunDir, cand: RunDir, task: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Both runs' records for ``task`` in the baseline's id order; their id sets must be equal."""
    br, cr = base.records(task), cand.records(task)
    b_ids, c_ids = [str(r["id"]) for r in br], {str(r["id"]) for r in cr}
    shared = c_ids.intersection(b_ids)
    if not shared:
        raise CannotCompare(f"{task}: the runs share no sample ids (baseline {len(b_ids)}, candidate {len(c_ids)} records)")
    if len(shared) != len(b_ids) or len(shared) != len(c_ids):
        raise CannotCompare(
            f"{task}: differing sample ids ({len(b_ids) - len(shared)} only in baseline, {len(c_ids) - len(shared)} "
            "only in candidate); rerun both with the same data and --limit"
        )
    by_id = {str(r["id"]): r for r in cr}
    return br, [by_id[i] for i in b_ids]


def _judge(gain_low: float, gain_high: float, tolerance: float) -> str:
    """Verdict from the CI of the change in the better direction (positive = better)."""
    if gain_high < -tolerance:
        return REGRESSION
    if gain_low > 0:
        return IMPROVEMENT
    return PASS


def _declaration(base: RunDir, cand: RunDir, task: str, metric: str) -> MetricSpec:
    """The metric's declaration, which both runs must share."""
    b_spec, c_spec = base.metric_spec(task, metric), cand.metric_spec(task, metric)
    if b_spec is None or c_spec is None:
        raise CannotCompare(f"{task}: the {'baseline' if b_spec is None else 'candidate'}'s run.json declares no metric {metric!r}")
    if b_spec != c_spec:
        raise CannotCompare(f"{task}: the runs declare {metric!r} differently (baseline {b_spec}, candidate {c_spec})")
    return b_spec


def compare_metric(
    base: RunDir, cand: RunDir, task: str, metric: str, tolerance: float | None,
    n_boot: int, seed: int, alpha: float, references: ReferenceFactory | None = None,
) -> Verdict:  # fmt: skip
    """One metric's verdict; ``references`` recomputes custom metrics by the task's aggregate."""
    b_val, c_val = base.value(task, metric), cand.value(task, metric)
    if b_val is None or c_val is None:
        which, run = ("baseline", base) if b_val is None else ("candidate", cand)
        if answers_private(run.task_card(task)):
            raise CannotCompare(f"{task}: the {which} ran the {run.task_card(task).get('split')} split, whose answers are "
                                "private (no local score); gate runs on a split with public answers")  # fmt: skip
        raise CannotCompare(f"{task}: metric {metric!r} is missing from the {which}'s results")
    spec = _declaration(base, cand, task, metric)
    hib = spec.higher_is_better
    if spec.unit.kind == "set":
        tol = SET_TOLERANCE if tolerance is None else tolerance
        if base.records(task) or cand.records(task):
            _aligned_records(base, cand, task)
        gain = (c_val - b_val) if hib else (b_val - c_val)
        verdict = REGRESSION if gain < -tol else IMPROVEMENT if gain > tol else PASS
        return Verdict(task, metric, hib, b_val, c_val, c_val - b_val, None, None, tol, verdict,
                       "absolute tolerance (set-level metric: no per-sample CI)", None)  # fmt: skip
    tol = 0.0 if tolerance is None else tolerance
    br, cr = _aligned_records(base, cand, task)
    result = paired_bootstrap(
        br, cr, metric, spec,
        needed_reference(references, spec, task, metric, base.protocol(task)),
        needed_reference(references, spec, task, metric, cand.protocol(task)),
        n_boot=n_boot, seed=seed, alpha=alpha,
    )  # fmt: skip
    low, high = (result.low, result.high) if hib else (-result.high, -result.low)
    verdict = PASS if math.isnan(low) else _judge(low, high, tol)
    return Verdict(task, metric, hib, result.baseline, result.candidate, result.diff, result.low, result.high, tol,
                   verdict, result.method, result.n)  # fmt: skip


def run_gate(
    baseline: RunDir, candidate: RunDir, max_drop: dict[tuple[str, str], float] | None = None,
    alpha: float = 0.05, n_boot: int = 1000, seed: int = 0, references: ReferenceFactory | None = None,
) -> GateReport:  # fmt: skip
    """Compare every task's headline metric, plus the metrics named in ``max_drop``.

    ``references`` gives the tasks' aggregates for metrics without a closed form (see ``compare_metric``).
    """
    if not 0 < alpha < 1:
        raise JanusEvalError(f"--alpha must be between 0 and 1, got {alpha}")
    if n_boot < 1:
        raise JanusEvalError(f"--bootstrap must be at least 1, got {n_boot}")
    max_drop = max_drop or {}
    _check_comparable(baseline, candidate)
    for task, metric in max_drop:
        if task not in baseline.results:
            raise CannotCompare(f"--max-drop names task {task!r}, which neither run has (tasks: {', '.join(baseline.tasks)})")
    metrics: list[tuple[str, str]] = []
    for task in baseline.tasks:
        for key in [(task, baseline.headline(task))] + [k for k in max_drop if k[0] == task]:
            if key not in metrics:
                metrics.append(key)
    report = GateReport(str(baseline.path), str(candidate.path), alpha, n_boot, seed)
    for task, metric in metrics:
        report.verdicts.append(
            compare_metric(baseline, candidate, task, metric, max_drop.get((task, metric)), n_boot, seed, alpha, references)
        )
    return report


# -- outputs ----------------------------------------------------------------------------------------
def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:+.4g}" if abs(value) < 1e4 else f"{value:+.1f}"


def verdict_table(report: GateReport) -> Any:
    """A rich table, one row per metric, regressions in red."""
    from rich.table import Table

    level = int(round(100 * (1 - report.alpha)))
    table = Table(title=f"gate: {report.candidate} vs {report.baseline}")
    table.add_column("task.metric", no_wrap=True)
    for column in ("base", "cand", "diff", f"{level}% CI", "tol."):
        table.add_column(column, overflow="fold")
    table.add_column("verdict", no_wrap=True, min_width=11)
    colours = {PASS: "green", REGRESSION: "bold red", IMPROVEMENT: "cyan"}
    for v in report.verdicts:
        ci = "-" if v.ci_low is None else f"[{_fmt(v.ci_low)}, {_fmt(v.ci_high)}]"
        arrow = "" if v.higher_is_better else " ↓"
        table.add_row(f"{v.name}{arrow}", f"{v.baseline:.4g}", f"{v.candidate:.4g}", _fmt(v.diff), ci,
                      f"{v.tolerance:g}", f"[{colours[v.verdict]}]{v.verdict}[/]")  # fmt: skip
    return table


def junit_xml(report: GateReport) -> str:
    """One testcase per metric; a regression is a ``failure`` so CI dashboards show it by name."""
    suite = ET.Element("testsuite", name="janus-eval gate", tests=str(len(report.verdicts)),
                       failures=str(sum(v.verdict == REGRESSION for v in report.verdicts)), errors="0")  # fmt: skip
    for v in report.verdicts:
        case = ET.SubElement(suite, "testcase", classname=f"janus_eval.gate.{v.task}", name=v.metric)
        ci = "no CI" if v.ci_low is None else f"{100 * (1 - report.alpha):g}% CI [{v.ci_low:.4g}, {v.ci_high:.4g}]"
        text = f"baseline {v.baseline:.6g} candidate {v.candidate:.6g} diff {v.diff:+.6g} {ci} tolerance {v.tolerance:g} ({v.method})"
        if v.verdict == REGRESSION:
            ET.SubElement(case, "failure", message=f"{v.name} regressed", type="regression").text = text
        ET.SubElement(case, "system-out").text = f"{v.verdict}: {text}"
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def cannot_compare_junit(reason: str) -> str:
    suite = ET.Element("testsuite", name="janus-eval gate", tests="1", failures="0", errors="1")
    case = ET.SubElement(suite, "testcase", classname="janus_eval.gate", name="comparable")
    ET.SubElement(case, "error", message=reason, type="cannot-compare")
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def write_outputs(report: GateReport | None, json_path: Path | None, junit_path: Path | None, reason: str | None = None) -> None:
    """Write the JSON and JUnit files; with ``reason`` (cannot compare) they record that instead."""
    if json_path is not None:
        payload = report.to_json() if report is not None else {"exit_code": 2, "reason": reason, "verdicts": []}
        write_atomic(json_path, json.dumps(payload, indent=2) + "\n")
    if junit_path is not None:
        write_atomic(junit_path, junit_xml(report) if report is not None else cannot_compare_junit(reason or ""))
