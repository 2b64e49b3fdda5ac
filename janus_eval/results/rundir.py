"""Read a run directory once: its card, results and per-sample records, with the facts tables need.

Every reader of runs (tables, gate, leaderboard, HTML report) goes through ``RunDir`` so that the
headline name, protocol and subset status of a task are decided in one place, from ``run.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from janus_eval.io import read_jsonl
from janus_eval.registry import SUITE
from janus_eval.errors import JanusEvalError

FULL_FID_IMAGES = 30_000
"""Tables 4's FID is over 30K generated images; fewer makes a subset (and a biased FID)."""


def is_fid_metric(metric: str) -> bool:
    """FID and its per-category breakdowns (``fid/<category>``) are the suite's lower-is-better metrics."""
    return metric == "fid" or metric.startswith("fid/") or metric.endswith("_fid")


def higher_is_better(task: str, metric: str) -> bool:
    """Direction of a metric: the task class says so for its headline, FID names are always lower."""
    if is_fid_metric(metric):
        return False
    try:
        from janus_eval.registry import get_task

        task_obj = get_task(task)
        if metric == task_obj.headline:
            return bool(task_obj.higher_is_better)
    except JanusEvalError:
        pass
    return True


@dataclass
class RunDir:
    """One run directory, loaded; records are read lazily per task and cached."""

    path: Path
    card: dict[str, Any]
    results: dict[str, dict[str, float]]
    _records: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, path: Path | str) -> RunDir:
        path = Path(path)
        if not path.is_dir():
            raise JanusEvalError(f"run directory {path} does not exist")
        files = {}
        for name in ("run.json", "results.json"):
            file = path / name
            if not file.is_file():
                raise JanusEvalError(f"{path} is not a run directory: it has no {name} (make one with janus-eval run)")
            try:
                files[name] = json.loads(file.read_text(encoding="utf-8"))
            except ValueError as err:
                raise JanusEvalError(f"{file} is not valid JSON ({err})") from err
        return cls(path=path, card=files["run.json"], results=files["results.json"])

    # -- identity -----------------------------------------------------------------------------
    @property
    def label(self) -> str:
        return self.path.resolve().name

    @property
    def checkpoint_sha(self) -> str:
        return str(self.card.get("checkpoint", {}).get("sha256") or "")

    @property
    def checkpoint_name(self) -> str:
        ckpt = self.card.get("checkpoint", {})
        return str(ckpt.get("path") or ckpt.get("name") or self.card.get("identity", {}).get("checkpoint") or "?")

    @property
    def date(self) -> str:
        return str(self.card.get("updated") or self.card.get("created") or "")

    @property
    def tasks(self) -> list[str]:
        """Tasks with results, in the suite's table order (unknown names last)."""
        order = list(SUITE)
        return sorted(self.results, key=lambda t: (order.index(t) if t in order else len(order), t))

    def task_card(self, task: str) -> dict[str, Any]:
        return dict(self.card.get("tasks", {}).get(task, {}))

    def headline(self, task: str) -> str:
        """The metric holding the paper's number: from ``run.json``, else the registry's default."""
        name = self.task_card(task).get("headline")
        if name:
            return str(name)
        if task in SUITE:
            return SUITE[task].headline
        raise JanusEvalError(f"{self.path}: task {task!r} names no headline metric in run.json")

    def protocol(self, task: str | None = None) -> str:
        if task is not None and self.task_card(task).get("protocol"):
            return str(self.task_card(task)["protocol"])
        return str(self.card.get("identity", {}).get("protocol") or self.card.get("config", {}).get("protocol") or "?")

    def value(self, task: str, metric: str | None = None) -> float | None:
        metrics = self.results.get(task, {})
        found = metrics.get(metric or self.headline(task)) if task in self.results else None
        return None if found is None else float(found)

    # -- subsets ------------------------------------------------------------------------------
    def sample_counts(self, task: str) -> tuple[int | None, int | None]:
        tc = self.task_card(task)
        samples, size = tc.get("samples"), tc.get("dataset_size")
        return (None if samples is None else int(samples)), (None if size is None else int(size))

    def subset_reason(self, task: str) -> str | None:
        """Why this task's number is not over the full benchmark, or None when it is."""
        samples, size = self.sample_counts(task)
        n_generated = self.results.get(task, {}).get("n_generated")
        if n_generated is not None and is_fid_metric(self.headline(task)) and n_generated < FULL_FID_IMAGES:
            return f"FID over {int(n_generated):,} < 30K images"
        if samples is not None and size is not None and samples < size:
            return f"{samples:,} of {size:,} samples"
        if self.task_card(task).get("subset"):
            return f"{samples if samples is not None else '?'} samples (subset)"
        if "data_root" in self.card.get("config", {}) and self.card["config"]["data_root"] is None:
            return f"bundled mini fixture ({samples if samples is not None else '?'} samples), not the benchmark"
        limit = self.card.get("config", {}).get("limit")
        if limit is not None and (samples is None or samples >= int(limit)):
            return f"--limit {limit}"
        return None

    # -- records ------------------------------------------------------------------------------
    def records(self, task: str) -> list[dict[str, Any]]:
        """The task's records in file order, the last record of an id winning (as the runner reads them)."""
        if task not in self._records:
            path = self.path / task / "samples.jsonl"
            try:
                raw = read_jsonl(path)
            except ValueError as err:
                raise JanusEvalError(str(err)) from err
            by_id: dict[str, dict[str, Any]] = {}
            for record in raw:
                if "id" in record:
                    by_id[str(record["id"])] = record
            self._records[task] = list(by_id.values())
        return self._records[task]


def load_runs(paths: list[Path] | list[str]) -> list[RunDir]:
    if not paths:
        raise JanusEvalError("no run directory given")
    return [RunDir.load(p) for p in paths]


def unique_labels(runs: list[RunDir]) -> list[str]:
    """Run names for table rows; two runs with the same folder name get their parent folder too."""
    names = [r.label for r in runs]
    out = []
    for run, name in zip(runs, names):
        out.append(f"{run.path.resolve().parent.name}/{name}" if names.count(name) > 1 else name)
    return out
