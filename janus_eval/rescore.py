"""``janus-eval rescore DIR``: a run directory's results recomputed from its records, without the model.

Each task's aggregate is applied again, with the current code's metric declarations, to the records
the run's results came from (``samples.jsonl`` holds them first, in dataset order, once a run has
finished), and each task card in ``run.json`` gets the current kind, protocol, headline and declarations.
So a run directory written before the declarations existed becomes readable by ``table``, ``gate`` and
``leaderboard`` again; everything else in it (records, images, identities) stays as it was, but for one
label: a generation task recorded by an older janus-eval under the run's ``--protocol`` (its rules were
always the official ones) gets its own protocol's name, in its task card and in both copies of its
identity, so ``gate`` compares it with a current run and a later ``run`` resumes into it as before.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from janus_eval.errors import JanusEvalError
from janus_eval.identity import IDENTITY_FILE, read_identity
from janus_eval.io import write_json
from janus_eval.provenance import now
from janus_eval.records import latest_by_id, read_task_records
from janus_eval.registry import get_task
from janus_eval.contract import RunContext
from janus_eval.task import Task

UPGRADED_FIELDS = ("kind", "protocol", "headline", "metrics", "unscored")
"""What a task card takes from the current code; the rest of it describes the run and is kept."""


def _read_card(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "run.json"
    if not path.is_file():
        raise JanusEvalError(f"{run_dir} is not a run directory: it has no run.json (make one with janus-eval run)")
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise JanusEvalError(f"{path} is not valid JSON ({err}); nothing was changed") from None
    if not isinstance(card, dict) or not isinstance(card.get("tasks"), dict) or not card["tasks"]:
        raise JanusEvalError(f"{path} names no tasks; nothing to rescore")
    return card


def _options(config: dict[str, Any], task: str) -> dict[str, str]:
    """The task's ``-T`` options as the run recorded them (``score --images`` records one task's options flat)."""
    options = config.get("task_options") or {}
    if config.get("command") == "score":
        return {k: str(v) for k, v in options.items()}
    return {k: str(v) for k, v in options.get(task, {}).items()}


def _context(run_dir: Path, config: dict[str, Any], task: str) -> RunContext:
    def path(key: str) -> Path | None:
        return None if config.get(key) is None else Path(config[key])

    return RunContext(data_root=path("data_root"), task_dir=run_dir / task, device="cpu",
                      inception_weights=path("inception_weights"), fid_backend=config.get("fid_backend"))  # fmt: skip


def _records(run_dir: Path, name: str, task_card: dict[str, Any]) -> list[dict[str, Any]]:
    """The records the run's result for ``name`` came from: the first ``samples`` ids of its record file."""
    records = list(latest_by_id(read_task_records(run_dir / name)).values())
    count = task_card.get("samples")
    if not isinstance(count, int) or isinstance(count, bool) or count > len(records):
        raise JanusEvalError(f"{run_dir / name}: run.json says {count!r} samples but {len(records)} records are there; "
                             f"finish the run (rerun its janus-eval run command) before rescoring")  # fmt: skip
    return records[:count]


def _relabelled(identity: Any, protocol: str) -> Any:
    """``identity`` (``identity.json`` or its copy in the task card) naming ``protocol``; anything else is kept."""
    if not isinstance(identity, dict) or not isinstance(identity.get("inputs"), dict):
        return identity
    return {**identity, "inputs": {**identity["inputs"], "protocol": protocol}}


def _aggregate(task: Task, records: list[dict[str, Any]], ctx: RunContext) -> dict[str, float]:
    scored = [r for r in records if not r.get("skipped")]
    if not scored:
        raise JanusEvalError(f"{task.name}: every sample was skipped; nothing to score")
    metrics = task.aggregate(scored, ctx)
    if len(scored) < len(records):
        metrics["skipped_samples"] = float(len(records) - len(scored))
    return metrics


def rescore(run_dir: Path) -> dict[str, dict[str, float]]:
    """Recompute ``results.json`` and the reports of ``run_dir`` from its records; upgrade its task cards.

    Everything is computed before anything is written: a task that fails leaves the directory as it was.
    """
    from janus_eval.results.report import write_reports

    card = _read_card(run_dir)
    config = card.get("config") or {}
    results: dict[str, dict[str, float]] = {}
    cards: dict[str, dict[str, Any]] = {}
    identities: dict[Path, dict[str, Any]] = {}
    for name, task_card in card["tasks"].items():
        task = get_task(name, task_card.get("protocol") or config.get("protocol") or "lmms-eval")
        task.configure(**_options(config, name))
        ctx = _context(run_dir, config, name)
        results[name] = _aggregate(task, _records(run_dir, name, task_card), ctx)
        current = task.card(ctx)
        cards[name] = {**task_card, **{key: current[key] for key in UPGRADED_FIELDS if key in current}}
        if task_card.get("protocol") != task.protocol:  # a generation task under an older janus-eval's label
            if "identity" in task_card:
                cards[name]["identity"] = _relabelled(task_card["identity"], task.protocol)
            stored = read_identity(run_dir / name)
            if stored is not None and (stored.get("inputs") or {}).get("protocol") != task.protocol:
                identities[run_dir / name / IDENTITY_FILE] = _relabelled(stored, task.protocol)
    previous = json.loads((run_dir / "results.json").read_text(encoding="utf-8")) if (run_dir / "results.json").is_file() else {}
    for path, stored in identities.items():
        write_json(path, stored)
    write_json(run_dir / "results.json", {**previous, **results})
    write_json(run_dir / "run.json", {**card, "tasks": cards, "updated": now()})
    write_reports(run_dir)
    return results
