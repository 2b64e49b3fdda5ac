"""Read a run directory once: its card, results and per-sample records, with the facts tables need.

Every reader of runs (tables, gate, leaderboard, HTML report) goes through ``RunDir`` so that the
headline name, direction, statistical form, protocol and subset status of a metric are decided in one
place, from ``run.json``: ``results`` reads run directories and never imports the task code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from janus_eval.io import read_jsonl
from janus_eval.results.declared import MetricSpec, find_spec, parse_metrics, task_kind
from janus_eval.results.layout import in_table_order
from janus_eval.errors import JanusEvalError

"""What a set-level (``unit: set``) task reports as the size of the set its headline is computed over."""


@dataclass
class RunDir:
    """One run directory, loaded; records are read lazily per task and cached."""

    path: Path
    card: dict[str, Any]
    results: dict[str, dict[str, float]]
    _records: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False)
    _declared: dict[str, list[MetricSpec]] = field(default_factory=dict, repr=False)
    _kinds: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        """Declarations are validated on load, so a malformed or old ``run.json`` fails before any table is drawn."""
        for task in self.card.get("tasks", {}):
            card, where = self.task_card(task), f"{self.path / 'run.json'}: task {task!r}"
            self._kinds[task] = task_kind(card, where)
            specs = parse_metrics(card.get("metrics"), where)
            declared, named = next((s.name for s in specs if s.headline), None), card.get("headline")
            if declared and named and declared != named:
                raise JanusEvalError(f"{where}: headline {named!r} is not the declared headline metric {declared!r}")
            self._declared[task] = specs

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
        """Tasks with results, in the paper's table order (names outside the tables last)."""
        return in_table_order(list(self.results))

    def task_card(self, task: str) -> dict[str, Any]:
        return dict(self.card.get("tasks", {}).get(task, {}))

    # -- declared metrics ---------------------------------------------------------------------
    def declared(self, task: str) -> list[MetricSpec]:
        """The task's metric declarations from ``run.json``."""
        return list(self._declared.get(task, []))

    def metric_spec(self, task: str, metric: str) -> MetricSpec | None:
        """The declaration of one concrete metric (templates resolved), or None when undeclared."""
        return find_spec(self._declared.get(task, []), metric)

    def declaration(self, task: str, metric: str) -> MetricSpec:
        """``metric_spec``, required: results/ never guesses what an undeclared metric is."""
        spec = self.metric_spec(task, metric)
        if spec is None:
            raise JanusEvalError(f"{self.path / 'run.json'}: task {task!r} declares no metric {metric!r}")
        return spec

    def higher_is_better(self, task: str, metric: str) -> bool:
        """The declared direction; an undeclared metric (a count such as ``skipped_samples``) reads higher-is-better."""
        spec = self.metric_spec(task, metric)
        return True if spec is None else spec.higher_is_better

    def kind(self, task: str) -> str:
        """``understanding`` or ``generation``, as ``run.json`` records it."""
        if task not in self._kinds:
            raise JanusEvalError(f"{self.path / 'run.json'}: no task card for {task!r}")
        return self._kinds[task]

    def unscored(self, task: str) -> tuple[str, str] | None:
        """(flag, count metric) where the task's records can hold a placeholder score (MM-Vet unjudged), else None."""
        mark = self.task_card(task).get("unscored")
        if not isinstance(mark, dict):
            return None
        return str(mark.get("flag")), str(mark.get("count_metric"))

    def is_placeholder(self, task: str, record: dict[str, Any]) -> bool:
        """True for a record whose score is not a real verdict (its task's unscored flag is false)."""
        mark = self.unscored(task)
        return mark is not None and not (record.get("score_info") or {}).get(mark[0], False)

    def headline(self, task: str) -> str:
        """The metric holding the paper's number: the task card's ``headline``, else the declared one."""
        name = self.task_card(task).get("headline") or next((s.name for s in self.declared(task) if s.headline), None)
        if name:
            return str(name)
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
        if note := self.task_card(task).get("non_comparable"):
            return str(note)
        if (set_size := self.task_card(task).get("set_size")) is not None:  # a set-level metric's own size rule
            n = self.results.get(task, {}).get(set_size["metric"])
            if n is not None and n < set_size["full"]:
                return str(set_size["subset_note"]).format(n=int(n))
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
