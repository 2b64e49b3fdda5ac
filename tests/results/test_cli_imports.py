"""``list``, ``table``, ``gate`` and ``leaderboard`` never import torch, nor the model or the runner.

Each command runs in a fresh interpreter (this test process has torch loaded already) through typer's
``CliRunner``, on real run directories written by ``janus-eval run`` (their ``run.json`` declares every metric).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest

import janus_eval

REPO = Path(janus_eval.__file__).resolve().parents[1]
PROBE = """
import json, sys
from typer.testing import CliRunner
from janus_eval.cli import app
result = CliRunner().invoke(app, sys.argv[1:])
modules = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "janus_eval"))
print(json.dumps({"exit_code": result.exit_code, "output": result.output, "error": repr(result.exception), "modules": modules}))
"""
RUN_HEAVY = ("torch", "janus_eval.model", "janus_eval.runner")


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=300)


def probe(*args: str) -> dict[str, Any]:
    """Run ``janus-eval ARGS`` in a new interpreter; its exit code, output and the modules it loaded."""
    done = _python("-c", PROBE, *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def loaded(modules: list[str], prefix: str) -> list[str]:
    return [m for m in modules if m == prefix or m.startswith(prefix + ".")]


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> Path:
    """A small real run (tiny model, bundled fixtures) of an understanding and a generation task."""
    out = tmp_path_factory.mktemp("cli-imports") / "run"
    done = _python("-m", "janus_eval", "run", "--tasks", "pope,geneval", "--limit", "4", "--out", str(out), "--no-progress")
    assert done.returncode == 0, done.stderr
    return out


class Runs(NamedTuple):
    baseline: Path
    candidate: Path


@pytest.fixture
def runs(real_run, tmp_path) -> Runs:
    """Two copies of the real run."""
    return Runs(*(shutil.copytree(real_run, tmp_path / name) for name in ("baseline", "candidate")))


def test_list_imports_no_torch():
    result = probe("list")
    assert result["exit_code"] == 0, result["error"]
    assert "pope" in result["output"] and not loaded(result["modules"], "torch")


def test_table_reads_only_run_directories(runs):
    result = probe("table", str(runs.baseline), "--table", "2")
    assert result["exit_code"] == 0, result["error"]
    assert "This run" in result["output"]
    for heavy in (*RUN_HEAVY, "janus_eval.registry", "janus_eval.tasks"):
        assert not loaded(result["modules"], heavy), heavy


def test_gate_imports_no_torch(runs):
    result = probe("gate", "--baseline", str(runs.baseline), "--candidate", str(runs.candidate), "--bootstrap", "50")
    assert result["exit_code"] == 0, result["error"]
    assert "pope.pope_f1" in result["output"] and "geneval.geneval_overall" in result["output"]
    for heavy in RUN_HEAVY:
        assert not loaded(result["modules"], heavy), heavy


def test_leaderboard_imports_no_torch(runs, tmp_path):
    out = tmp_path / "board.md"
    result = probe("leaderboard", str(runs.baseline), str(runs.candidate), "--out", str(out), "--bootstrap", "50")
    assert result["exit_code"] == 0, result["error"]
    assert "2 runs ranked over 2 metrics" in result["output"] and out.is_file()
    for heavy in RUN_HEAVY:
        assert not loaded(result["modules"], heavy), heavy
    assert not loaded(result["modules"], "janus_eval.registry")  # every CI comes from a declaration: no task code
