"""What a task's records were made from, by content: resume only into records of the same inputs.

Two parts, kept in ``<out>/<task>/identity.json`` (written before the task's first record):

- ``inputs``: the checkpoint's weight hash (not its path), dtype, seed, protocol, the data files'
  hashes and every task option. Records made from other inputs are never resumed into: the run is
  refused (or, with ``--overwrite``, that task's folder is replaced).
- ``scoring``: what turns a prediction into scores without the model: the judge endpoint and model,
  the detector / CLIP / Inception weight hashes. When it changes, every record is scored again from
  its stored prediction or image; each record carries the ``scorer`` key it was scored under, so a
  kill half-way through re-scoring resumes correctly.

The run-wide part of ``inputs`` (checkpoint, dtype, seed, protocol) must also match every other
task already in the directory: one run directory, one model.

``protocol`` is the task's own: the run's ``--protocol`` for an understanding task, the fixed
``official`` of a generation task (``--protocol`` does not change how it generates or scores). So a
generation task's records resume whatever ``--protocol`` a later run names, and the run-wide check
compares protocols between understanding tasks only (``understanding``: the ``--protocol`` choices).
A generation folder written before generation tasks had a protocol of their own recorded the run's
``--protocol``; it is the same inputs and resumes too.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from janus_eval.io import read_json_file, write_json
from janus_eval.errors import JanusEvalError

IDENTITY_FILE = "identity.json"
RUN_WIDE = ("checkpoint_sha256", "dtype", "seed", "protocol")

_LABELS = {
    "checkpoint_sha256": "checkpoint weights", "dtype": "dtype", "seed": "seed", "protocol": "protocol",
    "data_sha256": "data files", "options": "task options",
}  # fmt: skip


@dataclass(frozen=True)
class TaskIdentity:
    inputs: dict[str, Any]
    scoring: dict[str, Any]

    @property
    def scorer_key(self) -> str:
        """Short fingerprint of ``scoring``, stored in every record."""
        blob = json.dumps(self.scoring, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def as_json(self) -> dict[str, Any]:
        return {"inputs": self.inputs, "scoring": self.scoring, "scorer_key": self.scorer_key}


def read_identity(task_dir: Path) -> dict[str, Any] | None:
    path = task_dir / IDENTITY_FILE
    return read_json_file(path) if path.exists() else None


def differences(mine: dict[str, Any], theirs: dict[str, Any], keys: tuple[str, ...] | None = None) -> list[str]:
    """Human names of the ``inputs`` fields that differ."""
    keys = keys or tuple(dict.fromkeys([*mine, *theirs]))
    return [_LABELS.get(k, k) for k in keys if mine.get(k) != theirs.get(k)]


def has_outputs(task_dir: Path) -> bool:
    """Records or generated images: what a run with other inputs must not be mixed into."""
    if any(p.stat().st_size > 0 for p in task_dir.glob("samples*.jsonl")):
        return True
    return next((task_dir / "images").rglob("*.png"), None) is not None


def conflicts(task_dir: Path, identity: TaskIdentity, understanding: tuple[str, ...] = ()) -> list[str]:
    """What differs between this run's inputs and the outputs already in ``task_dir`` (empty: resumable)."""
    if not has_outputs(task_dir):
        return []
    stored = read_identity(task_dir)
    if stored is None:
        return ["identity (outputs of an older janus-eval)"]
    theirs = dict(stored.get("inputs", {}))
    mine = identity.inputs.get("protocol")
    if understanding and mine not in understanding and theirs.get("protocol") in understanding:
        theirs["protocol"] = mine  # a generation task's folder from before it recorded a protocol of its own
    return differences(identity.inputs, theirs)


def run_wide_conflicts(out: Path, identity: TaskIdentity, skip: set[str],
                       understanding: tuple[str, ...] | None = None) -> dict[str, list[str]]:  # fmt: skip
    """Other tasks in ``out`` made with a different checkpoint, dtype, seed or protocol.

    With ``understanding`` given, protocols are compared only when both are among them (a generation
    task's own protocol never conflicts with an understanding task's).
    """
    found = {}
    for path in sorted(out.glob(f"*/{IDENTITY_FILE}")):
        if path.parent.name in skip:
            continue
        stored = read_json_file(path).get("inputs", {})
        keys = RUN_WIDE
        if understanding is not None and not {identity.inputs.get("protocol"), stored.get("protocol")} <= set(understanding):
            keys = tuple(k for k in RUN_WIDE if k != "protocol")
        diff = differences(identity.inputs, stored, keys)
        if diff:
            found[path.parent.name] = diff
    return found


def record(task_dir: Path, identity: TaskIdentity) -> None:
    write_json(task_dir / IDENTITY_FILE, identity.as_json())


def refusal(out: Path, where: str, diff: list[str]) -> JanusEvalError:
    return JanusEvalError(
        f"--out {out} holds {where} made with a different {', '.join(diff)}; pass another --out to keep them, "
        "or --overwrite to replace them"
    )
