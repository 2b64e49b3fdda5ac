"""Many processes (``torchrun``, any number of nodes), coordinated through the run directory.

Each sample belongs to the rank ``sha256(id) mod world_size``, so a sample's rank never depends on
the order or number of other samples. Each rank appends to its own record file; rank 0 waits for
every rank's "done" flag, merges the files into ``samples.jsonl`` and aggregates. Ranks talk only
through small flag files (no collectives): a rank that fails writes a "failed" flag with its error,
and rank 0 stops with that error instead of waiting forever. The output folder must be shared by
all nodes, as it must be anyway for the results to land in one place.

Every flag carries the launch's id. torchrun's own variables (run id, restart count, master address
and port) are the same for every plain ``torchrun --nproc-per-node N`` launch, so rank 0 draws a
fresh id and hands it to the other ranks through torchrun's key-value store, the one thing every
rank of a launch (and no other launch) reaches: a resumed launch never takes an earlier launch's
"done" or "failed" flag for its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from janus_eval.io import write_json
from janus_eval.errors import JanusEvalError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    token: str = ""
    """This launch's id (see ``launched``), so flags and locks left by an earlier (crashed) launch are never
    mistaken for ours; empty until known."""

    @classmethod
    def from_env(cls) -> World:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        if size <= 1:
            return cls()
        rank = int(os.environ["RANK"])
        return cls(rank=rank, size=size, local_rank=int(os.environ.get("LOCAL_RANK", rank)))

    def launched(self) -> World:
        """This world with the launch's fresh id: drawn here when alone, else by rank 0 and shared through the store."""
        if self.size == 1:
            return replace(self, token=uuid.uuid4().hex)
        return replace(self, token=_shared_launch_id(self.rank, self.size))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def owns(self, sample_id: str) -> bool:
        return shard_of(sample_id, self.size) == self.rank

    def records_name(self) -> str:
        return "samples.jsonl" if self.size == 1 else f"samples.rank{self.rank:05d}.jsonl"

    # -- flags --------------------------------------------------------------------------------
    def _flag(self, out: Path, rank: int) -> Path:
        return out / ".ranks" / f"rank{rank:05d}.json"

    def mark(self, out: Path, state: str, error: str = "") -> None:
        if self.size > 1:
            write_json(self._flag(out, self.rank), {"token": self.token, "state": state, "error": error})

    def wait_for_all(self, out: Path, poll_s: float = 0.5) -> None:
        """Rank 0: block until every rank of this launch is done; raise if one failed."""
        pending = set(range(self.size))
        while pending:
            for rank in sorted(pending):
                try:
                    flag = json.loads(self._flag(out, rank).read_text())
                except (OSError, ValueError):
                    continue
                if flag.get("token") != self.token:
                    continue
                if flag["state"] == "failed":
                    raise JanusEvalError(
                        f"rank {rank} failed: {flag['error']}; the records written so far are kept, rerun to resume"
                    )
                if flag["state"] == "done":
                    pending.discard(rank)
            if pending:
                time.sleep(poll_s)


LAUNCH_KEY = "janus-eval/launch"
STORE_TIMEOUT_S = 600
"""How long a rank waits for rank 0 to publish the launch id (rank 0 does so first thing)."""
_stores: list[Any] = []
"""Keeps the store alive for the process: on rank 0 it may be the server the other ranks read from."""


def _shared_launch_id(rank: int, size: int) -> str:
    """Rank 0 draws the id and sets it in torchrun's store (keyed by restart, which may reuse the store); the others read it."""
    missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name)]
    if missing:
        raise JanusEvalError(
            f"WORLD_SIZE={size} but {' and '.join(missing)} not set; start every rank with torchrun, which sets them"
        )
    from datetime import timedelta

    import torch.distributed as dist

    key = f"{LAUNCH_KEY}/{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}"
    where = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
    try:
        store, _, _ = next(dist.rendezvous("env://", timeout=timedelta(seconds=STORE_TIMEOUT_S)))
        _stores.append(store)
        if rank == 0:
            launch = uuid.uuid4().hex
            store.set(key, launch)
            return launch
        return store.get(key).decode()
    except (RuntimeError, ValueError) as err:  # the store's errors (DistStoreError is a RuntimeError)
        raise JanusEvalError(
            f"rank {rank} could not get this launch's id from rank 0 through torchrun's store at {where}: "
            f"{str(err).splitlines()[0] if str(err) else type(err).__name__}"
        ) from None


def shard_of(sample_id: str, world_size: int) -> int:
    digest = hashlib.sha256(sample_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") % world_size
