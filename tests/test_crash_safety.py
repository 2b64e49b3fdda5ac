"""SIGKILL a real run at several points, rerun the same command: same results, nothing lost or doubled;
and what a crashed torchrun launch leaves never outranks what a later run wrote."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import paused_run
import pytest
from fake_chat_server import serve

from janus_eval.distributed import shard_of
from janus_eval.io import append_jsonl, read_jsonl

ARGS = ["run", "--tasks", "pope,geneval", "-T", "geneval.images_per_prompt=2", "--batch-size", "2", "--no-progress"]


def command(out: Path) -> list[str]:
    return [sys.executable, "-m", "janus_eval", *ARGS, "--out", str(out)]


def kill_at(out: Path, call: int, reached: Path) -> None:
    """Start the run (resuming what is in ``out``) and SIGKILL it while paused before its model call ``call``."""
    proc = subprocess.Popen(paused_run.command(*ARGS, "--out", str(out)), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=paused_run.pause_env(call, reached))  # fmt: skip
    paused_run.wait_for_pause(proc, reached)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()


def test_kill_and_resume_gives_identical_results(tmp_path):
    reference = tmp_path / "reference"
    subprocess.run(command(reference), check=True, capture_output=True, timeout=300)
    expected = json.loads((reference / "results.json").read_text())

    out = tmp_path / "killed"
    # pope (12 samples) takes 6 model calls of 2, geneval at least 2 more; each kill resumes the last one's run:
    # after 1 pope batch, after 4 of them, after pope and the first geneval batch, then one geneval batch later
    for n, (call, pope_records) in enumerate(((2, 2), (4, 8), (4, 12), (2, 12))):
        kill_at(out, call, tmp_path / f"paused{n}")
        assert len(read_jsonl(out / "pope" / "samples.jsonl")) == pope_records
    done = subprocess.run(command(out), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "results.json").read_text()) == expected
    for task in ("pope", "geneval"):
        ids = [r["id"] for r in read_jsonl(out / task / "samples.jsonl")]
        reference_ids = [r["id"] for r in read_jsonl(reference / task / "samples.jsonl")]
        assert len(ids) == len(set(ids)) and set(ids) == set(reference_ids)
    pngs = sorted(p.relative_to(reference) for p in (reference / "geneval" / "images").rglob("*.png"))
    assert pngs and pngs == sorted(p.relative_to(out) for p in (out / "geneval" / "images").rglob("*.png"))
    for png in pngs:
        assert (reference / png).read_bytes() == (out / png).read_bytes()


def test_a_crashed_launchs_rank_files_never_outrank_a_newer_rescore(cli_invoke, tmp_path, monkeypatch):
    """Issue 24.5: the last record of an id won by sorted file name, so a rank file left by a crashed torchrun
    launch beat the records a later one-process run re-judged into ``samples.jsonl``: the old judge's scores
    came back in the results."""
    monkeypatch.setenv("JANUS_TEST_JUDGE_KEY", "k")
    out = tmp_path / "run"
    samples = out / "mmvet" / "samples.jsonl"

    def run_with(url: str, model: str) -> None:
        code, _, err = cli_invoke("run", "--tasks", "mmvet", "--out", str(out), "--judge-url", url, "--judge-model", model,
                                  "--judge-key-env", "JANUS_TEST_JUDGE_KEY", "--limit", "2", "--no-progress")  # fmt: skip
        assert code == 0, err

    with serve(lambda request, n: (200, "0.3"), model="judge-a") as (url_a, _):
        run_with(url_a, "judge-a")
    # What a 2-rank launch killed after recording its samples, before rank 0 merged them, leaves behind:
    for record in read_jsonl(samples):
        append_jsonl(samples.with_name(f"samples.rank{shard_of(record['id'], 2):05d}.jsonl"), [record])
    samples.unlink()
    with serve(lambda request, n: (200, "0.9"), model="judge-b") as (url_b, seen_b):
        run_with(url_b, "judge-b")  # one process, another judge: every stored prediction is judged again
    assert len(seen_b) == 2
    assert not list(samples.parent.glob("samples.rank*.jsonl"))
    assert {r["scores"]["score"] for r in read_jsonl(samples)} == {0.9}
    assert json.loads((out / "results.json").read_text())["mmvet"]["mmvet_score"] == pytest.approx(90.0)
