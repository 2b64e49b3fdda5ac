"""One launch per run directory: a second launch into the same ``--out`` is refused, never mixed in.

``.janus-eval/lock`` is held by every rank of the launch that owns the directory, on every node (the
folder is shared). The first rank to arrive takes it exclusively, settles the directory (checks what
is there, removes what ``--overwrite`` replaces) and only then *publishes*: it writes the launch id
into the lock and turns its hold into a shared one. Other ranks wait while the lock is held
exclusively, then join with a shared hold if the published launch is theirs (also when they find the
lock free because their launch's other ranks have all ended: a launch settles the directory once); a
rank of any other launch (any seed, any command, any node) is refused in one line.
``.janus-eval/lock.guard``, held for a moment around each step, makes "look, then take" one step for
every janus-eval process.

Nothing is written before publishing, so a run refused while settling leaves every byte and every
mtime in ``--out`` as it was. The kernel drops a dead process's hold, so a killed run never leaves a
stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Iterator

from janus_eval.errors import JanusEvalError

LOCK_DIR = ".janus-eval"
POLL_S = 0.1
"""How often a rank waiting for its launch's first rank to publish looks again."""


class RunLock:
    def __init__(self, out: Path, rank: int = 0, launch: str | None = None) -> None:
        """``launch``: the id every rank of one launch shares (a fresh one for a lone process)."""
        self.path = Path(out) / LOCK_DIR / "lock"
        self.rank = rank
        self.launch = launch or uuid.uuid4().hex
        self._fd: int | None = None
        self.first = False
        """Whether this rank took the lock first and must settle the directory, then ``publish``."""

    def acquire(self) -> bool:
        """Take the lock for this launch; True when this rank is the first (exclusive hold, not yet published)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            while True:
                with self._guard():
                    if _try(fd, fcntl.LOCK_EX):
                        if _published(fd)[0] != self.launch:
                            self._fd, self.first = fd, True
                            return True
                        fcntl.flock(fd, fcntl.LOCK_SH)  # this launch's ranks that settled it have all ended
                        self._fd = fd
                        return False
                    if _try(fd, fcntl.LOCK_SH):  # published: ours to join, or another launch's
                        launch, holder = _published(fd)
                        if launch == self.launch:
                            self._fd = fd
                            return False
                        raise self._in_use(holder or "unknown process")
                time.sleep(POLL_S)  # held exclusively: its first rank is still settling the directory
        except BaseException:
            os.close(fd)  # closing drops any hold taken above
            raise

    def publish(self) -> None:
        """First rank only, once the directory is settled: name the launch, then let its other ranks in."""
        assert self._fd is not None and self.first
        holder = f"pid {os.getpid()} (rank {self.rank}): {' '.join(sys.argv[1:])[:400]}"
        with self._guard():
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, f"{self.launch}\n{holder}".encode(), 0)
            fcntl.flock(self._fd, fcntl.LOCK_SH)  # a conversion: the guard keeps anyone from slipping in between

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        """Take and publish at once: for holders with nothing to settle (tests, tools)."""
        if self.acquire():
            self.publish()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self.release()

    @contextmanager
    def _guard(self) -> Iterator[None]:
        fd = os.open(self.path.with_name("lock.guard"), os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _in_use(self, holder: str) -> JanusEvalError:
        out = self.path.parent.parent
        return JanusEvalError(f"--out {out} is in use by another janus-eval run ({holder}); wait for it to end or pass another --out")


def _published(fd: int) -> tuple[str, str]:
    """(launch id, holder description) of the last launch that published into the lock file."""
    launch, _, holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").partition("\n")
    return launch, holder.strip()


def _try(fd: int, kind: int) -> bool:
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
