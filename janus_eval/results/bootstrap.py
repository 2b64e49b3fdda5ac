"""Bootstrap confidence intervals over samples, recomputed from per-sample records.

Most headline metrics are a (scaled) mean of a per-sample score, or a mean of per-group means
(GenEval's overall is the mean of its six tag accuracies); for those a resample is a vector of
draw counts and every statistic is a matrix product, so 1,000 resamples of 200K samples take
seconds. Which closed form a metric follows comes from its declaration in ``run.json``
(``MetricSpec``: form ``mean`` or ``grouped``). Custom metrics (POPE F1, MME sums) are recomputed
on every resample by a ``reference``: the task's own ``aggregate``, which the caller passes in,
since ``results`` never imports the task code.

Run directories from before the declarations take the legacy path: ``detect_form`` probes closed
forms against the reference (or the recorded value) on the full data and on a few resamples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from janus_eval.results.declared import MetricSpec
from janus_eval.errors import JanusEvalError

Records = list[dict[str, Any]]
Reference = Callable[[Records], float]
ReferenceFactory = Callable[[str, str, str], Reference | None]
"""(task, metric, protocol) -> the metric recomputed by the task's own aggregate, or None if unavailable."""
PROBES = 3
"""Resamples on which a closed form must agree with ``aggregate`` before it is trusted."""
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
    references: ReferenceFactory | None, spec: MetricSpec | None, task: str, metric: str, protocol: str
) -> Reference | None:
    """The task's aggregate for ``metric``, asked for only where no declared closed form makes it unnecessary."""
    if references is None or (spec is not None and spec.form != "custom"):
        return None
    return references(task, metric, protocol)


def resolve_form(
    metric: str, spec: MetricSpec | None, runs: list[tuple[Records, float | None, Reference | None]], seed: int = 0
) -> ClosedForm | None:
    """The closed form of ``metric``: declared when ``spec`` is given, else detected (legacy run directories)."""
    if spec is None:
        return detect_form(metric, runs, seed)
    form = declared_form(spec)
    if form is not None:
        _check_scores(form, metric, [records for records, _, _ in runs])
    return form


def _candidates(metric: str, records: Records) -> list[ClosedForm]:
    """Closed forms worth probing for ``metric``, from the keys the records carry."""
    keys = ["score"] + ([metric] if metric != "score" and all(metric in (r.get("scores") or {}) for r in records) else [])
    group_keys = []
    for key in sorted({k for r in records for k, v in _info(r).items() if isinstance(v, str)}):
        labels = {str(_info(r).get(key)) for r in records}
        if 1 < len(labels) <= 50:
            group_keys.append((key, sorted(labels)))
    suffix = metric.rsplit("/", 1)[1] if "/" in metric else None
    forms = []
    for key in keys:
        for scale in (1.0, 100.0):
            forms.append(ClosedForm(key, scale))
            for group_key, labels in group_keys:
                forms.append(ClosedForm(key, scale, group_key))
                for label in labels:
                    if label == suffix or (suffix is None and metric.endswith("_" + label)):
                        forms.append(ClosedForm(key, scale, group_key, label))
    return forms


def _close(a: float, b: float) -> bool:
    if np.isnan(a) or np.isnan(b):
        return bool(np.isnan(a) and np.isnan(b))
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))


def _counts_from_indices(indices: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(indices, minlength=n).astype(np.float64)[None, :]


def detect_form(
    metric: str, runs: list[tuple[Records, float | None, Reference | None]], seed: int = 0
) -> ClosedForm | None:
    """The closed form ``metric`` follows on every run, or None: the legacy path, for undeclared metrics.

    Each run is (records, recorded value, aggregate-based reference or None). A form must give the
    reference's value on the full records and on ``PROBES`` resamples (or, with no reference, the
    recorded value on the full records).
    """
    if not runs or any(not recs for recs, _, _ in runs):
        return None
    rng = np.random.default_rng(seed)
    forms = _candidates(metric, runs[0][0])
    groups = _group_labels(runs)
    checks = []
    for records, recorded, reference in runs:
        n = len(records)
        if reference is not None:
            try:
                reference(records)
            except JanusEvalError:  # e.g. a generation task whose aggregate needs its run folder
                reference = None
        draws = [np.arange(n)] + ([rng.integers(0, n, n) for _ in range(PROBES)] if reference else [])
        expected = []
        for idx in draws:
            if reference is not None:
                expected.append(reference([records[i] for i in idx]))
            else:
                expected.append(np.nan if recorded is None else recorded)
        checks.append((records, draws, expected))
    for form in forms:
        ok = True
        for records, draws, expected in checks:
            try:
                prepared = form.prepare(records, groups.get(form.group_key or "", []))
            except (TypeError, ValueError):
                ok = False
                break
            if np.isnan(prepared[0]).any():
                ok = False
                break
            got = form.statistic(prepared, np.vstack([_counts_from_indices(d, len(records)) for d in draws]))
            if not all(_close(float(g), float(e)) for g, e in zip(got, expected)):
                ok = False
                break
        if ok:
            return form
    return None


def _group_labels(runs: list[tuple[Records, Any, Any]]) -> dict[str, list[str]]:
    keys = {k for recs, _, _ in runs for r in recs for k, v in _info(r).items() if isinstance(v, str)}
    return {k: sorted({str(_info(r).get(k)) for recs, _, _ in runs for r in recs}) for k in keys}


def _count_chunks(rng: np.random.Generator, n: int, n_boot: int) -> Any:
    """Draw-count matrices [chunk, n] covering ``n_boot`` resamples of ``n`` samples."""
    chunk = max(1, min(n_boot, MAX_CELLS // max(n, 1)))
    done = 0
    while done < n_boot:
        size = min(chunk, n_boot - done)
        yield rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(np.float64)
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


def paired_bootstrap(
    base: Records,
    cand: Records,
    metric: str,
    base_ref: Reference | None,
    cand_ref: Reference | None,
    base_recorded: float | None,
    cand_recorded: float | None,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    spec: MetricSpec | None = None,
) -> PairedResult:
    """CI of ``metric(cand) - metric(base)`` resampling sample ids jointly (records aligned by position).

    ``spec`` is the metric's declaration; None (a run from before declarations) detects the form.
    """
    if len(base) != len(cand) or not base:
        raise JanusEvalError("paired bootstrap needs the same, non-empty list of sample ids in both runs")
    form = resolve_form(metric, spec, [(base, base_recorded, base_ref), (cand, cand_recorded, cand_ref)], seed)
    n = len(base)
    rng = np.random.default_rng(seed)
    if form is not None:
        groups = _group_labels([(base, None, None), (cand, None, None)]).get(form.group_key or "", [])
        pb, pc = form.prepare(base, groups), form.prepare(cand, groups)
        full = np.ones((1, n))
        b0, c0 = float(form.statistic(pb, full)[0]), float(form.statistic(pc, full)[0])
        diffs = np.concatenate([form.statistic(pc, c) - form.statistic(pb, c) for c in _count_chunks(rng, n, n_boot)])
        method = f"paired bootstrap, {form.describe()}"
    elif base_ref is not None and cand_ref is not None:
        b0, c0 = base_ref(base), cand_ref(cand)
        diffs = _aggregate_resamples(base, cand, base_ref, cand_ref, n_boot, seed)
        method = "paired bootstrap, recomputed by the task's aggregate"
    else:
        raise JanusEvalError(f"cannot bootstrap {metric!r}: it is not a mean of per-sample scores and the task's scorer is unavailable")
    low, high = _percentiles(diffs, alpha)
    return PairedResult(b0, c0, c0 - b0, low, high, method, n)


_SLOW: tuple[Records, Records, Reference, Reference] | None = None
"""Inherited by forked workers: closures over a task object do not pickle."""
PARALLEL_CELLS = 500_000
"""Resamples x samples above which ``aggregate`` resamples run in worker processes."""


def _resample_indices(seed: int, b: int, n: int) -> np.ndarray:
    """Resample ``b``'s draws depend on (seed, b) only, so the CI is the same with any worker count."""
    return np.random.default_rng([seed, b]).integers(0, n, n)


def _slow_chunk(args: tuple[int, int, int]) -> np.ndarray:
    seed, start, stop = args
    assert _SLOW is not None
    base, cand, base_ref, cand_ref = _SLOW
    out = np.empty(stop - start)
    for j, b in enumerate(range(start, stop)):
        idx = _resample_indices(seed, b, len(base))
        out[j] = cand_ref([cand[i] for i in idx]) - base_ref([base[i] for i in idx])
    return out


def _aggregate_resamples(
    base: Records, cand: Records, base_ref: Reference, cand_ref: Reference, n_boot: int, seed: int
) -> np.ndarray:
    """Paired differences through ``aggregate``, one call per resample and run; forked workers when large."""
    import multiprocessing
    import os

    global _SLOW
    _SLOW = (base, cand, base_ref, cand_ref)
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
    records: Records, metric: str, reference: Reference | None, recorded: float | None,
    n_boot: int = 1000, seed: int = 0, alpha: float = 0.05, spec: MetricSpec | None = None,
) -> tuple[float, float] | None:  # fmt: skip
    """Percentile CI of a per-sample-score metric over one run's samples; None if it has no closed form.

    ``spec`` is the metric's declaration; None (a run from before declarations) detects the form.
    """
    form = resolve_form(metric, spec, [(records, recorded, reference)], seed)
    if form is None:
        return None
    prepared = form.prepare(records, _group_labels([(records, None, None)]).get(form.group_key or "", []))
    rng = np.random.default_rng(seed)
    stats = np.concatenate([form.statistic(prepared, c) for c in _count_chunks(rng, len(records), n_boot)])
    return _percentiles(stats, alpha)

