"""Many processes (``torchrun``, any number of nodes), coordinated through the run directory.

Each sample belongs to the rank ``sha256(id) mod world_size``, so a sample's rank never depends on
the order or number of other samples. Each rank appends to its own record file; rank 0 waits for
every rank's "done" flag, merges the files into ``samples.jsonl`` and aggregates. Ranks talk only
through small flag files (no collectives): a rank that fails writes a "failed" flag with its error,
and rank 0 stops with that error instead of waiting forever. The output folder must be shared by
all nodes, as it must be anyway for the results to land in one place.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from janus_eval.io import write_json
from janus_eval.errors import JanusEvalError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    token: str = "single"
    """Identifies this launch, so flags left by an earlier (crashed) launch are not mistaken for ours."""

    @classmethod
    def from_env(cls) -> World:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        if size <= 1:
            return cls()
        rank = int(os.environ["RANK"])
        token = os.environ.get("JANUS_EVAL_RUN_TOKEN") or "-".join(
            os.environ.get(k, "") for k in ("TORCHELASTIC_RUN_ID", "TORCHELASTIC_RESTART_COUNT", "MASTER_ADDR", "MASTER_PORT")
        )
        return cls(rank=rank, size=size, local_rank=int(os.environ.get("LOCAL_RANK", rank)), token=token)

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


def shard_of(sample_id: str, world_size: int) -> int:
    digest = hashlib.sha256(sample_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") % world_size
