"""torchrun with 2 and 3 processes gives the same results and records as one process (GenEval: 2 images
per prompt, so a prompt scored as one batch must stay on one rank); the README's plain torchrun command,
killed and launched again, resumes to the same results; a launch's ranks share the directory's one lock,
and a rank of another launch is refused."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from test_bad_inputs import assert_one_line_error
from test_run_identity import exact_snapshot

from janus_eval.distributed import LAUNCH_KEY, World, shard_of
from janus_eval.io import read_jsonl
from janus_eval.lock import RunLock

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


# -- the README's plain command, launched twice ------------------------------------------------------
PLAIN = ["run", "--tasks", "pope", "--limit", "6", "--batch-size", "1", "--workers", "0", "--no-progress"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def plain_torchrun(out: Path, port: int) -> list[str]:
    """``torchrun --nproc-per-node 2 -m janus_eval run ...`` (no --standalone: every launch has the same
    run id, restart count, address and port; the port is only pinned to one that is free)."""
    return [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2", f"--master-port={port}",
            "-m", "janus_eval", *PLAIN, "--out", str(out)]  # fmt: skip


def kill_launch(proc: subprocess.Popen) -> None:
    """SIGKILL torchrun's workers (each in its own session) and torchrun itself, as a crashed node would."""
    children = [int(pid) for path in Path(f"/proc/{proc.pid}/task").glob("*/children") for pid in path.read_text().split()]
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    proc.kill()
    proc.wait()


def finished_launch(command: list[str]) -> subprocess.CompletedProcess:
    """Run a launch to its end; past the timeout, kill its workers too (they would outlive torchrun)."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        kill_launch(proc)
        raise
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def launch_tokens(out: Path) -> set[str]:
    return {json.loads(flag.read_text())["token"] for flag in (out / ".ranks").glob("rank*.json")}


def test_plain_torchrun_killed_and_launched_again_resumes_to_the_same_results(tmp_path):
    """Issue 24.3: the launch token came from torchrun's variables, identical for every plain launch, so a
    launch could take an earlier launch's "done" or "failed" flag for its own."""
    reference, out, port = tmp_path / "reference", tmp_path / "out", free_port()
    subprocess.run([sys.executable, "-m", "janus_eval", *PLAIN, "--out", str(reference)], check=True, capture_output=True,
                   timeout=600)  # fmt: skip
    first = subprocess.Popen(plain_torchrun(out, port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while first.poll() is None and time.time() < deadline:
        if any(p.read_text().count("\n") for p in (out / "pope").glob("samples.rank*.jsonl")):
            break  # part-way: some records written, most not
        time.sleep(0.05)
    assert first.poll() is None, "the first launch ended before it was killed"
    kill_launch(first)
    assert not (out / "results.json").exists()
    again = finished_launch(plain_torchrun(out, port))
    assert again.returncode == 0, again.stderr[-3000:]
    expected = json.loads((reference / "results.json").read_text())
    assert json.loads((out / "results.json").read_text()) == expected
    assert {r["id"]: r for r in read_jsonl(out / "pope" / "samples.jsonl")} == {
        r["id"]: r for r in read_jsonl(reference / "pope" / "samples.jsonl")}  # fmt: skip
    # A third plain launch (nothing left to run) beside a "failed" flag of the second launch: not its own.
    (token,) = launch_tokens(out)
    (out / ".ranks" / "rank00001.json").write_text(json.dumps({"token": token, "state": "failed", "error": "stale"}))
    third = finished_launch(plain_torchrun(out, port))
    assert third.returncode == 0, third.stderr[-3000:]
    assert json.loads((out / "results.json").read_text()) == expected
    (fresh,) = launch_tokens(out)
    assert fresh != token


# -- one lock per directory, shared by one launch's ranks ---------------------------------------------
@contextmanager
def rank_one_of(launch: str) -> Iterator[dict[str, str]]:
    """The environment torchrun gives rank 1 of a 2-rank launch whose store holds ``launch`` (rank 0 is the test)."""
    from torch.distributed import TCPStore

    store = TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False)
    store.set(f"{LAUNCH_KEY}/0", launch)
    yield {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(store.port),
           "TORCHELASTIC_USE_AGENT_STORE": "True", "TORCHELASTIC_RESTART_COUNT": "0"}  # fmt: skip


FAST = ["--limit", "4", "--workers", "0", "--no-progress"]


def test_a_rank_of_another_launch_is_refused_beside_a_single_run(cli_invoke, tmp_path, monkeypatch):
    """Issue 24.13: each rank locked only its own lock.rankNNNNN, so a rank 1 of another launch (a second node)
    wrote its records beside a plain single run into the same --out, and the merge mixed them in."""
    out = tmp_path / "run"
    with RunLock(out), rank_one_of("another-launch") as env:  # a single run just started, and another launch's rank 1
        before = exact_snapshot(out)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        assert_one_line_error(cli_invoke("run", "--tasks", "pope", "--seed", "7", "--out", str(out), *FAST),
                              "is in use by another janus-eval run")  # fmt: skip
        assert exact_snapshot(out) == before


def test_no_rank_writes_before_the_first_rank_has_settled_the_directory(tmp_path, cli_invoke):
    """Issue 24.4: with --overwrite under torchrun, rank 0 removed task folders while the other ranks were
    already writing identity and records into them. Here the test is the launch's first rank: until it has
    removed the old folder and published, rank 1 (a real process) writes nothing; then it joins the lock."""
    from janus_eval.settle import remove_task_files

    out = tmp_path / "run"
    assert cli_invoke("run", "--tasks", "pope", "--seed", "1", "--out", str(out), *FAST)[0] == 0
    first, rank1 = RunLock(out, rank=0, launch="this-launch"), None
    assert first.acquire()
    try:
        before = exact_snapshot(out)
        with rank_one_of("this-launch") as env:
            command = [sys.executable, "-m", "janus_eval", "run", "--tasks", "pope", "--seed", "2", "--overwrite", "--out",
                       str(out), *FAST]  # fmt: skip
            rank1 = subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            lock = str(first.path.resolve())
            while rank1.poll() is None and lock not in _open_files(rank1.pid):
                time.sleep(0.05)
            assert exact_snapshot(out) == before  # rank 1 is at the lock and has written nothing
            remove_task_files(out / "pope")  # what the first rank does for --overwrite, then it publishes
            first.publish()
            _, err = rank1.communicate(timeout=600)
        assert rank1.returncode == 0, err
        mine = read_jsonl(out / "pope" / "samples.rank00001.jsonl")
        assert mine and all(shard_of(r["id"], 2) == 1 for r in mine)
        assert not (out / "pope" / "samples.jsonl").exists()  # the seed-1 records went before rank 1 wrote
    finally:
        first.release()
        if rank1 is not None and rank1.poll() is None:  # a failed assertion above: do not leave it running
            rank1.kill()
            rank1.communicate()


def _open_files(pid: int) -> list[str]:
    """What the process's descriptors point at now; a descriptor closed while we look is skipped."""
    targets = []
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:  # exited meanwhile
        return []
    for fd in fds:
        try:
            targets.append(os.readlink(fd))
        except OSError:  # closed between the listing and the read
            continue
    return targets
