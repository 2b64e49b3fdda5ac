"""``python tests/paused_run.py ARGS...``: the janus-eval CLI whose model pauses at one call, so a test can
interrupt, kill or race a real run at a point it chooses instead of hoping a timer lands there.

The model (``janus_eval.model.load``'s adapter) counts its ``understand`` and ``generate_images`` calls
together from 1. Before call ``JANUS_TEST_PAUSE_AT`` runs, the process creates the file
``JANUS_TEST_PAUSE_REACHED`` and waits until ``JANUS_TEST_PAUSE_GO`` exists (forever when that is unset):
everything the earlier calls produced is on disk, nothing of this call is. ``wait_for_pause`` is the
test's side.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve()


def command(*args: str) -> list[str]:
    """The command line running the CLI with ``args`` through this wrapper."""
    return [sys.executable, str(SCRIPT), *args]


def pause_env(at: int, reached: Path, go: Path | None = None) -> dict[str, str]:
    """The environment for a run that pauses before model call ``at``."""
    env = {**os.environ, "JANUS_TEST_PAUSE_AT": str(at), "JANUS_TEST_PAUSE_REACHED": str(reached)}
    if go is not None:
        env["JANUS_TEST_PAUSE_GO"] = str(go)
    return env


def wait_for_pause(proc: subprocess.Popen, reached: Path, timeout_s: float = 600) -> None:
    """Return once the run is paused; fail (never skip) if it ended without reaching the pause."""
    deadline = time.monotonic() + timeout_s
    while not reached.exists():
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"the run ended (exit {proc.returncode}) before its pause: {err}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"the run did not reach its pause within {timeout_s} s")
        time.sleep(0.01)


def _paused_load(real_load: Any, at: int, reached: Path, go: Path | None) -> Any:
    calls = 0

    def pause_before_call() -> None:
        nonlocal calls
        calls += 1
        if calls != at:
            return
        reached.touch()
        while go is None or not go.exists():
            time.sleep(0.01)

    def load(*args: Any, **kwargs: Any) -> Any:
        adapter = real_load(*args, **kwargs)
        for name in ("understand", "generate_images"):
            method = getattr(adapter, name)

            def paused(*a: Any, _method: Any = method, **k: Any) -> Any:
                pause_before_call()
                return _method(*a, **k)

            setattr(adapter, name, paused)
        return adapter

    return load


def main() -> None:
    import janus_eval.model

    go = os.environ.get("JANUS_TEST_PAUSE_GO")
    janus_eval.model.load = _paused_load(janus_eval.model.load, int(os.environ["JANUS_TEST_PAUSE_AT"]),
                                         Path(os.environ["JANUS_TEST_PAUSE_REACHED"]), Path(go) if go else None)  # fmt: skip
    from janus_eval.cli import main as cli_main

    sys.argv = ["janus-eval", *sys.argv[1:]]
    cli_main()


if __name__ == "__main__":
    main()
