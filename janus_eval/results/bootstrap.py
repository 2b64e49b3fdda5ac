"""Bootstrap confidence intervals, recomputed from per-sample records by each metric's declared unit.

A resample draws what the metric is computed over (its declared ``unit``): single records, or whole
groups (MMBench's circular copies of one question, MME's two questions about one image); a set-level
metric (FID) has no per-sample interval. Drawing rows for a metric computed over groups would describe
a statistic nobody computes (and break MME's pairs outright).

Most headline metrics are a (scaled) mean of a per-sample score, or a mean of per-group means
(GenEval's overall); for those a resample is a vector of draw counts and every statistic is a matrix
product, so 1,000 resamples of 200K samples take seconds. Custom metrics (POPE F1, MME sums, MMBench's
circular accuracy) are recomputed on every resample by a ``reference``: the task's own ``aggregate``,
which the caller passes in, since ``results`` never imports the task code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from janus_eval.results.declared import MetricSpec, UnitSpec
from janus_eval.errors import JanusEvalError

Records = list[dict[str, Any]]
Reference = Callable[[Records], float]
ReferenceFactory = Callable[[str, str, str], Reference | None]
"""(task, metric, protocol) -> the metric recomputed by the task's own aggregate, or None if unavailable."""
MAX_CELLS = 4_000_000
"""Resample-matrix entries held at once (rows x samples), bounding memory for large benchmarks."""


@dataclass(frozen=True)
class ClosedForm:
    """``scale * mean(key)``, optionally within one group or averaged over groups."""

    key: str = "score"
    scale: float = 1.0
    group_key: str | None = None
    group_value: str | None = None  # a single group's mean; None with group_key: mean of group means

    def describe(self) -> str:
        base = f"mean {self.key}" + (f" x{self.scale:g}" if self.scale != 1 else "")
        if self.group_key is None:
            return base
        if self.group_value is not None:
            return f"{base} where {self.group_key}={self.group_value}"
        return f"{base}, averaged over {self.group_key}"

    def prepare(self, records: Records, groups: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per-sample values [n] and group one-hot [n, k] (k=1 without groups)."""
        values = np.array([_score(r, self.key) for r in records], dtype=np.float64)
        if self.group_key is None:
            onehot = np.ones((len(records), 1))
        else:
            labels = [str(_info(r).get(self.group_key)) for r in records]
            wanted = [self.group_value] if self.group_value is not None else groups
            onehot = np.array([[lab == g for g in wanted] for lab in labels], dtype=np.float64).reshape(len(records), -1)
        return values, onehot

    def statistic(self, prepared: tuple[np.ndarray, np.ndarray], counts: np.ndarray) -> np.ndarray:
        """The metric for each row of ``counts`` [B, n] (how often each sample was drawn)."""
        values, onehot = prepared
        num = counts @ (values[:, None] * onehot)  # [B, k]
        den = counts @ onehot  # [B, k]
        with np.errstate(invalid="ignore", divide="ignore"):
            means = num / den
        present = onehot.sum(axis=0) > 0  # groups absent from the run itself do not count
        means = means[:, present] if present.any() else means
        with np.errstate(invalid="ignore"):
            out = np.nanmean(means, axis=1) if means.shape[1] > 1 else means[:, 0]
        return self.scale * out


def _info(record: dict[str, Any]) -> dict[str, Any]:
    info = record.get("score_info")
    return info if isinstance(info, dict) else {}


def _score(record: dict[str, Any], key: str) -> float:
    value = (record.get("scores") or {}).get(key)
    return float("nan") if value is None else float(value)


def declared_form(spec: MetricSpec) -> ClosedForm | None:
    """The closed form a declaration states; None for a custom metric (only its task's aggregate knows it)."""
    if spec.form == "grouped":
        return ClosedForm(spec.key, spec.scale, spec.group)
    if spec.form == "mean" and spec.group_value is not None:  # one group's mean (a resolved template, too)
        return ClosedForm(spec.key, spec.scale, spec.group, spec.group_value)
    if spec.form == "mean":
        return ClosedForm(spec.key, spec.scale)
    return None


def _check_scores(form: ClosedForm, metric: str, runs: list[Records]) -> None:
    """A declared form needs its key in every record: a missing score would make every resample NaN."""
    for records in runs:
        missing = sum((r.get("scores") or {}).get(form.key) is None for r in records)
        if missing:
            raise JanusEvalError(f"{metric} is declared as a mean of scores[{form.key!r}], but {missing} of {len(records)} records lack it")


def needed_reference(
    references: ReferenceFactory | None, spec: MetricSpec, task: str, metric: str, protocol: str
) -> Reference | None:
    """The task's aggregate for ``metric``, asked for only where no declared closed form makes it unnecessary."""
    if references is None or spec.form != "custom":
        return None
    return references(task, metric, protocol)


def closed_form(metric: str, spec: MetricSpec, runs: list[Records]) -> ClosedForm | None:
    """The declared closed form of ``metric`` (None for a custom one), checked against the records."""
    form = declared_form(spec)
    if form is not None:
        _check_scores(form, metric, runs)
    return form


class Units:
    """The resampling units of one run's records: which group each record belongs to, in first-seen order."""

    def __init__(self, records: Records, unit: UnitSpec) -> None:
        if unit.kind == "set":
            raise JanusEvalError("a set-level metric has no per-sample bootstrap")
        self.unit, self.first_free = unit, 0
        if unit.kind == "sample":
            self.of_record = np.arange(len(records))
            self.members = [[i] for i in range(len(records))]
            return
        labels = [unit.label(_info(r)) for r in records]
        self.first_free = 1 + max((int(label) for label in labels), default=0) if unit.modulo is not None else 0
        index: dict[str, int] = {}
        self.of_record = np.array([index.setdefault(label, len(index)) for label in labels], dtype=np.int64)
        self.members = [[] for _ in index]
        for i, g in enumerate(self.of_record):
            self.members[g].append(i)

    @property
    def count(self) -> int:
        return len(self.members)

    def record_counts(self, unit_counts: np.ndarray) -> np.ndarray:
        """Draw counts per unit [B, units] -> per record [B, n]: a record is drawn as often as its unit."""
        return unit_counts[:, self.of_record]

    def draw(self, records: Records, units: np.ndarray) -> Records:
        """The records of the drawn units, in draw order; a unit drawn again gets a fresh group label.

        A task's aggregate groups records by the unit's key (MME refuses three answers for one image
        pair), so the k-th copy of a group must read as another group, as a real second question would.
        """
        out: Records = []
        seen: dict[int, int] = {}
        fresh = 0
        for g in units.tolist():
            copy = seen.get(g, 0)
            seen[g] = copy + 1
            if copy and self.unit.kind == "group":
                fresh += 1
                out += [_relabel(records[i], self.unit, fresh, self.first_free) for i in self.members[g]]
            else:
                out += [records[i] for i in self.members[g]]
        return out


def _relabel(record: dict[str, Any], unit: UnitSpec, fresh: int, first_free: int) -> dict[str, Any]:
    """``record`` in a new group: ``<label>~<fresh>``, or with a modulo the residue ``first_free + fresh - 1``."""
    key = str(unit.key)
    holder = record.get("score_info") if isinstance(record.get("scores"), dict) else record
    value = (holder or {}).get(key)
    if unit.modulo is None:
        new: Any = f"{value}~{fresh}"
    else:
        number = int(value)
        residue = first_free + fresh - 1
        if residue >= unit.modulo:
            raise JanusEvalError(f"too many resampled groups for {key!r} modulo {unit.modulo}")
        new = number - number % unit.modulo + residue
        new = str(new) if isinstance(value, str) else new
    if holder is record:
        return {**record, key: new}
    return {**record, "score_info": {**(holder or {}), key: new}}


def _group_labels(runs: list[Records]) -> dict[str, list[str]]:
    keys = {k for recs in runs for r in recs for k, v in _info(r).items() if isinstance(v, str)}
    return {k: sorted({str(_info(r).get(k)) for recs in runs for r in recs}) for k in keys}


def _count_chunks(rng: np.random.Generator, units: Units, n_boot: int) -> Any:
    """Per-record draw-count matrices [chunk, n] covering ``n_boot`` resamples of the run's units."""
    g, n = units.count, len(units.of_record)
    chunk = max(1, min(n_boot, MAX_CELLS // max(n, 1)))
    done = 0
    while done < n_boot:
        size = min(chunk, n_boot - done)
        yield units.record_counts(rng.multinomial(g, np.full(g, 1.0 / g), size=size).astype(np.float64))
        done += size


@dataclass(frozen=True)
class PairedResult:
    baseline: float
    candidate: float
    diff: float
    low: float
    high: float
    method: str
    n: int


def _unit_words(unit: UnitSpec) -> str:
    if unit.kind == "sample":
        return ""
    return f", resampling {unit.key} groups" + (f" (mod {unit.modulo})" if unit.modulo else "")


def paired_bootstrap(
    base: Records, cand: Records, metric: str, spec: MetricSpec,
    base_ref: Reference | None = None, cand_ref: Reference | None = None,
    n_boot: int = 1000, seed: int = 0, alpha: float = 0.05,
) -> PairedResult:  # fmt: skip
    """CI of ``metric(cand) - metric(base)``, drawing the declared units jointly (records aligned by position).

    Both runs' records are grouped by the baseline's labels: the same sample ids form the same units.
    """
    if len(base) != len(cand) or not base:
        raise JanusEvalError("paired bootstrap needs the same, non-empty list of sample ids in both runs")
    units = Units(base, spec.unit)
    form = closed_form(metric, spec, [base, cand])
    rng = np.random.default_rng(seed)
    if form is not None:
        groups = _group_labels([base, cand]).get(form.group_key or "", [])
        pb, pc = form.prepare(base, groups), form.prepare(cand, groups)
        full = np.ones((1, len(base)))
        b0, c0 = float(form.statistic(pb, full)[0]), float(form.statistic(pc, full)[0])
        diffs = np.concatenate([form.statistic(pc, c) - form.statistic(pb, c) for c in _count_chunks(rng, units, n_boot)])
        method = f"paired bootstrap, {form.describe()}{_unit_words(spec.unit)}"
    elif base_ref is not None and cand_ref is not None:
        b0, c0 = base_ref(base), cand_ref(cand)
        diffs = _aggregate_resamples(base, cand, units, base_ref, cand_ref, n_boot, seed)
        method = f"paired bootstrap, recomputed by the task's aggregate{_unit_words(spec.unit)}"
    else:
        raise JanusEvalError(f"cannot bootstrap {metric!r}: it is not a mean of per-sample scores and the task's scorer is unavailable")
    low, high = _percentiles(diffs, alpha)
    return PairedResult(b0, c0, c0 - b0, low, high, method, len(base))


_SLOW: tuple[Records, Records, Units, Reference, Reference] | None = None
"""Inherited by forked workers: closures over a task object do not pickle."""
PARALLEL_CELLS = 500_000
"""Resamples x samples above which ``aggregate`` resamples run in worker processes."""


def _resample_indices(seed: int, b: int, n: int) -> np.ndarray:
    """Resample ``b``'s draws (of ``n`` units) depend on (seed, b) only, so the CI is the same with any worker count."""
    return np.random.default_rng([seed, b]).integers(0, n, n)


def _slow_chunk(args: tuple[int, int, int]) -> np.ndarray:
    seed, start, stop = args
    assert _SLOW is not None
    base, cand, units, base_ref, cand_ref = _SLOW
    out = np.empty(stop - start)
    for j, b in enumerate(range(start, stop)):
        drawn = _resample_indices(seed, b, units.count)
        out[j] = cand_ref(units.draw(cand, drawn)) - base_ref(units.draw(base, drawn))
    return out


def _aggregate_resamples(
    base: Records, cand: Records, units: Units, base_ref: Reference, cand_ref: Reference, n_boot: int, seed: int
) -> np.ndarray:
    """Paired differences through ``aggregate``, one call per resample and run; forked workers when large."""
    import multiprocessing
    import os

    global _SLOW
    _SLOW = (base, cand, units, base_ref, cand_ref)
    try:
        workers = min(os.cpu_count() or 1, 16)
        if workers < 2 or n_boot * len(base) < PARALLEL_CELLS or "fork" not in multiprocessing.get_all_start_methods():
            return _slow_chunk((seed, 0, n_boot))
        step = -(-n_boot // (workers * 4))
        chunks = [(seed, s, min(s + step, n_boot)) for s in range(0, n_boot, step)]
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            return np.concatenate(pool.map(_slow_chunk, chunks))
    finally:
        _SLOW = None


def _percentiles(values: np.ndarray, alpha: float) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan"), float("nan")
    low, high = np.percentile(finite, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(low), float(high)


def percentile_ci(
    records: Records, metric: str, spec: MetricSpec, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05,
) -> tuple[float, float] | None:  # fmt: skip
    """Percentile CI of a declared closed-form metric over one run's units; None for a custom or set-level one."""
    if spec.unit.kind == "set":
        return None
    form = closed_form(metric, spec, [records])
    if form is None:
        return None
    units = Units(records, spec.unit)
    prepared = form.prepare(records, _group_labels([records]).get(form.group_key or "", []))
    rng = np.random.default_rng(seed)
    stats = np.concatenate([form.statistic(prepared, c) for c in _count_chunks(rng, units, n_boot)])
    return _percentiles(stats, alpha)
