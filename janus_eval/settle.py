"""A launch settles its ``--out`` before any rank writes a record: check, then (first rank only) change.

Under the run lock's exclusive hold (``lock.RunLock``), the launch's first rank checks that what is
in the directory was made from this launch's inputs and that every record file reads back; only when
every check passes does it write anything: it removes the task folders ``--overwrite`` replaces,
records each task's identity, folds an earlier launch's per-rank record files into ``samples.jsonl``
and clears the rank flags. So a refused run leaves every byte and mtime in ``--out`` as it was, and
the other ranks, which join only once this is done, never write into a folder about to be removed.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from janus_eval import identity
from janus_eval.errors import JanusEvalError
from janus_eval.identity import TaskIdentity
from janus_eval.records import fold_rank_files, read_task_records

RUN_FILES = ("run.json", "results.json", "report.md", "report.html")
"""What janus-eval writes at the top of a run directory (besides task folders, ``.ranks`` and the lock)."""
RANKS_DIR = ".ranks"


@dataclass(frozen=True)
class TaskClaim:
    """One task of the launch: its folder name, what its records are made from, and its sample ids."""

    name: str
    identity: TaskIdentity
    ids: list[str]


def settle(out: Path, tasks: list[TaskClaim], overwrite: bool, first: bool, understanding: tuple[str, ...] = ()) -> None:
    """Refuse ``out`` unless it can hold this launch's records; on the ``first`` rank, then make it ready.

    ``understanding``: the ``--protocol`` choices; a generation task's own protocol is compared with no other.
    """
    lead = _lead(tasks, understanding)
    _refuse_other_run_wide(out, tasks, lead, understanding)
    replaced = []
    for task in tasks:
        diff = identity.conflicts(out / task.name, task.identity, understanding)
        if diff and not first:
            raise JanusEvalError(
                f"--out {out}: {task.name} records were made with a different {', '.join(diff)} than this rank's; "
                "every rank of a launch must run the same command"
            )
        if diff and not overwrite:
            raise identity.refusal(out, f"{task.name} records", diff)
        if diff:
            replaced.append(task)
    kept = [task for task in tasks if task not in replaced]
    for task in kept:
        read_task_records(out / task.name)  # a torn line in the middle refuses the run here, before any write
    if not first:
        return
    if replaced and identity.run_wide_conflicts(out, lead.identity, skip=set(), understanding=understanding or None):
        remove_run_files(out)  # another model or seed: the summaries describe a run no longer there
    for task in replaced:
        remove_task_files(out / task.name)
    for task in tasks:
        _record_identity(out / task.name, task.identity)
    for task in kept:
        fold_rank_files(out / task.name, task.ids)
    shutil.rmtree(out / RANKS_DIR, ignore_errors=True)  # an earlier launch's flags (their launch ids differ anyway)


def _lead(tasks: list[TaskClaim], understanding: tuple[str, ...]) -> TaskClaim:
    """The task whose identity carries the run's ``--protocol`` (an understanding task's), else the first."""
    return next((task for task in tasks if task.identity.inputs.get("protocol") in understanding), tasks[0])


def _refuse_other_run_wide(out: Path, tasks: list[TaskClaim], lead: TaskClaim, understanding: tuple[str, ...]) -> None:
    """Tasks outside ``--tasks`` made with another checkpoint, dtype, seed or protocol: never removed behind the
    user's back (``--overwrite`` replaces only the tasks it runs), so the run stops and says what to do."""
    others = identity.run_wide_conflicts(out, lead.identity, skip={task.name for task in tasks},
                                         understanding=understanding or None)  # fmt: skip
    if not others:
        return
    names = ",".join(others)
    diff = ", ".join(dict.fromkeys(label for labels in others.values() for label in labels))
    every = ",".join([*(task.name for task in tasks), *others])
    raise JanusEvalError(
        f"--out {out} holds {names.replace(',', ', ')} records made with a different {diff}; --overwrite replaces only "
        f"the tasks in --tasks: pass --tasks {every} --overwrite to redo them all with these settings, or another --out"
    )


def _record_identity(task_dir: Path, task_identity: TaskIdentity) -> None:
    """Written only when it changes: a resumed run leaves the file (and its mtime) as it was."""
    try:
        unchanged = identity.read_identity(task_dir) == task_identity.as_json()
    except JanusEvalError:  # unreadable, and no outputs depend on it (``conflicts`` passed)
        unchanged = False
    if not unchanged:
        identity.record(task_dir, task_identity)


def remove_task_files(task_dir: Path) -> None:
    """``--overwrite`` of one task: its folder holds only what janus-eval wrote there."""
    if task_dir.is_dir() and ((task_dir / identity.IDENTITY_FILE).exists() or identity.has_outputs(task_dir)):
        shutil.rmtree(task_dir)


def remove_run_files(out: Path) -> None:
    """The run's summaries and flags, never a user's other files (task folders go one by one, named)."""
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / RANKS_DIR, ignore_errors=True)
