"""torchrun with 2 and 3 processes gives the same results and records as one process (GenEval: 2 images
per prompt, so a prompt scored as one batch must stay on one rank)."""

import json
import subprocess
import sys

import pytest

from janus_eval.distributed import World, shard_of
from janus_eval.io import read_jsonl

ARGS = ["run", "--tasks", "pope,geneval", "-T", "geneval.images_per_prompt=2", "--batch-size", "3", "--no-progress"]


def launch(out, nproc: int):
    if nproc == 1:
        cmd = [sys.executable, "-m", "janus_eval", *ARGS, "--out", str(out)]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
               "-m", "janus_eval", *ARGS, "--out", str(out)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def test_results_identical_for_1_2_3_processes(tmp_path):
    for n in (1, 2, 3):
        launch(tmp_path / f"n{n}", n)
    results = [json.loads((tmp_path / f"n{n}" / "results.json").read_text()) for n in (1, 2, 3)]
    assert results[0] == results[1] == results[2]
    for task in ("pope", "geneval"):
        files = [sorted((tmp_path / f"n{n}" / task).glob("samples*.jsonl")) for n in (1, 2, 3)]
        assert all([f.name for f in fs] == ["samples.jsonl"] for fs in files)  # rank files merged away
        records = [{r["id"]: r for r in read_jsonl(fs[0])} for fs in files]
        assert records[0] == records[1] == records[2]
    pngs = {n: sorted(p.relative_to(tmp_path / f"n{n}") for p in (tmp_path / f"n{n}" / "geneval" / "images").rglob("*.png"))
            for n in (1, 3)}  # fmt: skip
    assert pngs[1] and pngs[1] == pngs[3]
    for png in pngs[1]:
        assert (tmp_path / "n1" / png).read_bytes() == (tmp_path / "n3" / png).read_bytes()


def test_sharding_is_stable_and_balanced():
    ids = [str(i) for i in range(3000)]
    counts = [sum(shard_of(i, 3) == r for i in ids) for r in range(3)]
    assert all(900 < c < 1100 for c in counts)
    assert shard_of("12345", 8) == shard_of("12345", 8)


def test_failed_rank_stops_rank_zero_with_its_error(tmp_path):
    from janus_eval.task import JanusEvalError

    world0, world1 = World(rank=0, size=2, token="t"), World(rank=1, size=2, token="t")
    world0.mark(tmp_path, "done")
    World(rank=1, size=2, token="old").mark(tmp_path, "done")  # a stale flag from an earlier launch is ignored
    world1.mark(tmp_path, "failed", "CUDA error: device-side assert")
    with pytest.raises(JanusEvalError, match="rank 1 failed: CUDA error"):
        world0.wait_for_all(tmp_path, poll_s=0.01)
