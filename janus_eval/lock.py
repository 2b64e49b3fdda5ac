"""One writer per run directory: a second run into the same ``--out`` is refused, never mixed in.

Each rank of a launch holds an exclusive ``flock`` on its own lock file for the whole run; ranks of
one launch use different files, so ``torchrun`` works, while a second launch (any seed, any
command) finds its rank's file locked and stops before it writes anything. The kernel drops the
lock when the process dies, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path
from types import TracebackType

from janus_eval.errors import JanusEvalError

LOCK_DIR = ".janus-eval"


class RunLock:
    def __init__(self, out: Path, rank: int = 0) -> None:
        self.path = Path(out) / LOCK_DIR / f"lock.rank{rank:05d}"
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "unknown process"
            os.close(fd)
            out = self.path.parent.parent
            raise JanusEvalError(
                f"--out {out} is in use by another janus-eval run ({holder}); wait for it to end or pass another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {' '.join(sys.argv[1:])[:400]}".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None
