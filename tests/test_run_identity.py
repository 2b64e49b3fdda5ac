"""A run directory never mixes records made from different inputs, driven through the CLI:
changed data, replaced weights, another judge, another seed, two runs at once, --overwrite, an empty --out;
and a refused run changes nothing in it, not even an mtime."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import paused_run
from fake_chat_server import serve
from test_bad_inputs import POPE_FIXTURE, assert_one_line_error, pope_copy, snapshot, with_column

from janus_eval.io import read_jsonl, weights_sha256
from janus_eval.lock import RunLock

FAST = ("--limit", "2", "--no-progress")


def records(out: Path, task: str) -> list[dict]:
    return read_jsonl(out / task / "samples.jsonl")


def exact_snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder``, the run lock included, with its bytes and mtime."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))
            if p.is_file()}  # fmt: skip


def flip_answers(table):
    return with_column(table, "answer", ["no" if a == "yes" else "yes" for a in table.column("answer").to_pylist()])


def test_changed_data_with_the_same_ids_is_refused_then_replaced(cli_invoke, tmp_path):
    original = pope_copy(tmp_path / "a", lambda t: t)
    flipped = pope_copy(tmp_path / "b", flip_answers)
    out = tmp_path / "run"
    assert cli_invoke("run", "--tasks", "pope", "--data-root", str(original), "--out", str(out), *FAST)[0] == 0
    before = snapshot(out)
    assert_one_line_error(cli_invoke("run", "--tasks", "pope", "--data-root", str(flipped), "--out", str(out), *FAST),
                          "pope records made with a different data files", "--overwrite")  # fmt: skip
    assert snapshot(out) == before
    code, _, err = cli_invoke("run", "--tasks", "pope", "--data-root", str(flipped), "--out", str(out), "--overwrite", *FAST)
    assert code == 0, err
    old = [json.loads(line) for line in before["pope/samples.jsonl"].decode().splitlines()]
    flip = {"yes": "no", "no": "yes"}
    assert [r["score_info"]["ground_truth"] for r in records(out, "pope")] == [flip[r["score_info"]["ground_truth"]] for r in old]
    card = json.loads((out / "run.json").read_text())
    assert list(card["tasks"]["pope"]["data_files"].values()) == [weights_sha256(flipped / "POPE" / "data" / POPE_FIXTURE.name)]


def test_replaced_weights_under_the_same_path_are_refused(cli_invoke, tmp_path, capsys):
    import torch

    from janus_eval.model import load
    from janus_eval.model.tiny import build_tokenizer

    ckpt, out = tmp_path / "ckpt", tmp_path / "run"
    model = load(None).model
    model.save_pretrained(ckpt)
    build_tokenizer().save_pretrained(ckpt)
    assert cli_invoke("run", "--tasks", "pope", "--ckpt", str(ckpt), "--out", str(out), *FAST)[0] == 0
    with torch.no_grad():
        model.lm_head.weight.mul_(-1.0)
    model.save_pretrained(ckpt)  # new weights, same path
    capsys.readouterr()  # transformers' save progress bar
    before = snapshot(out)
    assert_one_line_error(cli_invoke("run", "--tasks", "pope", "--ckpt", str(ckpt), "--out", str(out), *FAST),
                          "different checkpoint weights")  # fmt: skip
    assert snapshot(out) == before
    assert cli_invoke("run", "--tasks", "pope", "--ckpt", str(ckpt), "--out", str(out), "--overwrite", *FAST)[0] == 0
    card = json.loads((out / "run.json").read_text())
    assert card["checkpoint"]["sha256"] == weights_sha256(ckpt) != json.loads(before["run.json"])["checkpoint"]["sha256"]


def test_another_judge_rejudges_every_stored_prediction(cli_invoke, tmp_path, monkeypatch):
    monkeypatch.setenv("JANUS_TEST_JUDGE_KEY", "k")
    out = tmp_path / "run"

    def run_with(url: str, model: str) -> None:
        code, _, err = cli_invoke("run", "--tasks", "mmvet", "--out", str(out), "--judge-url", url, "--judge-model", model,
                                  "--judge-key-env", "JANUS_TEST_JUDGE_KEY", *FAST)  # fmt: skip
        assert code == 0, err

    with serve(lambda request, n: (200, "0.3"), model="judge-a") as (url_a, seen_a):
        run_with(url_a, "judge-a")
    with serve(lambda request, n: (200, "0.9"), model="judge-b") as (url_b, seen_b):
        run_with(url_b, "judge-b")
        assert len(seen_b) == 2
        run_with(url_b, "judge-b")  # nothing left to judge
        assert len(seen_b) == 2
    latest = {r["id"]: r for r in records(out, "mmvet")}
    assert {r["scores"]["score"] for r in latest.values()} == {0.9}
    card = json.loads((out / "run.json").read_text())["tasks"]["mmvet"]
    assert card["judge"]["endpoint"].startswith(url_b) and card["judge"]["model"] == "judge-b"
    assert json.loads((out / "results.json").read_text())["mmvet"]["mmvet_score"] == pytest.approx(90.0)


def test_a_task_joins_a_run_whose_earlier_task_used_task_options(cli_invoke, tmp_path):
    out = tmp_path / "run"
    assert cli_invoke("run", "--tasks", "geneval", "-T", "geneval.images_per_prompt=1", "--out", str(out), "--limit", "1",
                      "--no-progress")[0] == 0  # fmt: skip
    code, _, err = cli_invoke("run", "--tasks", "pope", "--out", str(out), *FAST)
    assert code == 0, err
    assert set(json.loads((out / "results.json").read_text())) == {"geneval", "pope"}
    # ... but not with another seed: one run directory, one model and seed
    assert_one_line_error(cli_invoke("run", "--tasks", "mme", "--seed", "7", "--out", str(out), *FAST),
                          "geneval, pope records made with a different seed", "--tasks mme,geneval,pope --overwrite")  # fmt: skip


def test_overwrite_removes_only_what_janus_eval_wrote(cli_invoke, tmp_path):
    out = tmp_path / "run"
    assert cli_invoke("run", "--tasks", "pope", "--seed", "1", "--out", str(out), *FAST)[0] == 0
    (out / "notes.txt").write_text("mine")
    (out / "analysis").mkdir()
    (out / "analysis" / "plot.csv").write_text("a,b\n")
    assert_one_line_error(cli_invoke("run", "--tasks", "pope", "--seed", "2", "--out", str(out), *FAST), "different seed")
    assert cli_invoke("run", "--tasks", "pope", "--seed", "2", "--out", str(out), "--overwrite", *FAST)[0] == 0
    assert (out / "notes.txt").read_text() == "mine" and (out / "analysis" / "plot.csv").read_text() == "a,b\n"
    assert json.loads((out / "run.json").read_text())["identity"]["seed"] == 2


def test_a_refused_run_leaves_every_byte_and_mtime_as_it_was(cli_invoke, tmp_path):
    """Issue 24.12: another seed, other data or a torn samples.jsonl used to rewrite the lock file of the --out refused."""
    data, flipped, out = pope_copy(tmp_path / "a", lambda t: t), pope_copy(tmp_path / "b", flip_answers), tmp_path / "run"
    run = ("run", "--tasks", "pope", "--out", str(out), *FAST)
    assert cli_invoke(*run, "--data-root", str(data))[0] == 0
    refused = {"different seed": ("--data-root", str(data), "--seed", "7"), "different data files": ("--data-root", str(flipped))}
    for fragment, args in refused.items():
        before = exact_snapshot(out)
        assert_one_line_error(cli_invoke(*run, *args), fragment)
        assert exact_snapshot(out) == before
    samples = out / "pope" / "samples.jsonl"
    first, second = samples.read_text().splitlines(keepends=True)
    samples.write_text(first[:20] + "\n" + second)  # a torn line that is not the last: not a kill's leftover
    before = exact_snapshot(out)
    assert_one_line_error(cli_invoke(*run, "--data-root", str(data)), "line 1 of 2 is not a valid JSON record")
    assert exact_snapshot(out) == before


def test_overwrite_never_removes_a_task_it_does_not_run(cli_invoke, tmp_path):
    """Issue 24.18: ``--tasks pope --seed 7 --overwrite`` silently deleted mme's folder and results; now it names mme."""
    out = tmp_path / "run"
    assert cli_invoke("run", "--tasks", "pope,mme", "--out", str(out), *FAST)[0] == 0
    before = exact_snapshot(out)
    assert_one_line_error(cli_invoke("run", "--tasks", "pope", "--seed", "7", "--overwrite", "--out", str(out), *FAST),
                          "holds mme records made with a different seed", "--tasks pope,mme --overwrite")  # fmt: skip
    assert exact_snapshot(out) == before
    code, _, err = cli_invoke("run", "--tasks", "pope,mme", "--seed", "7", "--overwrite", "--out", str(out), *FAST)
    assert code == 0, err
    for task in ("pope", "mme"):
        assert json.loads((out / task / "identity.json").read_text())["inputs"]["seed"] == 7
    assert json.loads((out / "run.json").read_text())["identity"]["seed"] == 7
    assert set(json.loads((out / "results.json").read_text())) == {"pope", "mme"}


def test_an_empty_out_is_refused_not_taken_as_the_current_directory(cli_invoke, tmp_path, monkeypatch):
    """Issue 24.17: ``--out ""`` wrote run.json, results.json, reports and task folders into the current directory."""
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(cli_invoke("run", "--tasks", "pope", "--out", "", *FAST), "--out is empty")
    assert list(tmp_path.iterdir()) == []


def test_a_second_run_into_a_locked_directory_is_refused(cli_invoke, tmp_path):
    out = tmp_path / "run"
    with RunLock(out):
        assert_one_line_error(cli_invoke("run", "--tasks", "pope", "--out", str(out), *FAST), "is in use by another janus-eval run")
    assert not (out / "pope").exists()


def test_two_runs_at_once_with_different_seeds_never_mix(tmp_path):
    """The second run starts while the first is paused before its second model call (``paused_run``), so it
    always meets the first one's lock; the first then finishes with only its own seed's images."""
    out, reached, go = tmp_path / "run", tmp_path / "paused", tmp_path / "go"

    def args(seed: int, tasks: str) -> list[str]:
        return ["run", "--tasks", tasks, "--seed", str(seed), "-T", "geneval.images_per_prompt=1", "--batch-size", "1",
                "--out", str(out), "--no-progress"]  # fmt: skip

    first = subprocess.Popen(paused_run.command(*args(1, "pope,geneval")), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, env=paused_run.pause_env(2, reached, go))  # fmt: skip
    try:
        paused_run.wait_for_pause(first, reached)
        second = subprocess.run([sys.executable, "-m", "janus_eval", *args(2, "geneval")], capture_output=True, text=True,
                                timeout=300)  # fmt: skip
    finally:
        go.touch()
    _, first_err = first.communicate(timeout=600)
    assert first.returncode == 0, first_err
    assert_one_line_error((second.returncode, second.stdout, second.stderr), "is in use by another janus-eval run")
    from janus_eval.task import derive_seed

    geneval = records(out, "geneval")
    assert geneval and all(r["seed"] == derive_seed(1, int(r["id"][:5]), 0) for r in geneval)


@pytest.mark.parametrize("cuda_available, expected", [(True, "cuda"), (False, "cpu")])
def test_scorers_follow_the_rank_device(tmp_path, monkeypatch, cuda_available, expected):
    """Under torchrun each rank's detector, CLIP and Inception go to its own GPU, not cuda:0; a run on
    the CPU scores on the GPU when the machine has one, else on the CPU."""
    import torch

    from janus_eval.registry import get_task
    from janus_eval.contract import RunContext

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda_available)
    for name, option in (("geneval", "scoring_device"), ("coco30k", "fid_device"), ("mjhq30k", "fid_device")):
        task = get_task(name)
        ctx = RunContext(task_dir=tmp_path / name, device="cuda:3")
        assert ctx.scorer_device(getattr(task, option)) == "cuda:3"
        assert ctx.scorer_device("cpu") == "cpu"
        assert RunContext(task_dir=tmp_path / name, device="cpu").scorer_device(None) == expected


def test_runner_device_is_the_local_rank(monkeypatch, tmp_path):
    from janus_eval.run_options import RunOptions
    from janus_eval.runner import Runner

    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("LOCAL_RANK", "2")
    runner = Runner(RunOptions(tasks=["pope"], out=tmp_path, device="cuda"))
    assert runner.device == "cuda:2"


def test_throughput_options_are_not_part_of_the_identity():
    """Resuming FID with other worker counts or batch sizes is the same run; another reference set is not."""
    from janus_eval.registry import get_task

    task = get_task("coco30k")
    before = task.option_values()
    task.configure(fid_workers="2", fid_batch_size="16")
    assert task.option_values() == before
    task.configure(reference="sampled-30k")
    assert task.option_values() != before


def test_every_data_file_counts_even_when_two_share_a_name(tmp_path):
    """GQA's questions and images are both ``testdev-00000-of-00001.parquet``: both hashes are kept."""
    from janus_eval.run_options import RunOptions
    from janus_eval.runner import Runner

    out = tmp_path / "run"
    Runner(RunOptions(tasks=["gqa"], out=out, limit=1, batch_size=1, show_progress=False)).run()
    data = json.loads((out / "gqa" / "identity.json").read_text())["inputs"]["data_sha256"]
    assert sorted(data) == ["testdev_balanced_images/testdev-00000-of-00001.parquet",
                            "testdev_balanced_instructions/testdev-00000-of-00001.parquet"]  # fmt: skip


def test_generation_tasks_resume_under_any_protocol_understanding_tasks_do_not_mix(cli_invoke, tmp_path):
    """#22.2: --protocol picks the rules of understanding tasks; a generation task records its own protocol,
    so a later run naming another --protocol resumes its images instead of being refused."""
    out, gen = tmp_path / "run", ("-T", "geneval.images_per_prompt=1")
    code, _, err = cli_invoke("run", "--tasks", "pope,geneval", "--protocol", "paper", "--out", str(out), *gen, *FAST)
    assert code == 0, err
    card = json.loads((out / "run.json").read_text())
    assert card["tasks"]["pope"]["protocol"] == "paper" and card["tasks"]["geneval"]["protocol"] == "official"
    assert json.loads((out / "geneval" / "identity.json").read_text())["inputs"]["protocol"] == "official"
    before = snapshot(out)
    code, _, err = cli_invoke("run", "--tasks", "geneval", "--protocol", "vlmevalkit", "--out", str(out), *gen, *FAST)
    assert code == 0, err
    after = snapshot(out)
    assert {k: v for k, v in after.items() if k.startswith("geneval/")} == {k: v for k, v in before.items() if k.startswith("geneval/")}
    assert after["pope/samples.jsonl"] == before["pope/samples.jsonl"]
    # understanding tasks of one run directory still share one protocol
    assert_one_line_error(cli_invoke("run", "--tasks", "mme", "--protocol", "lmms-eval", "--out", str(out), *FAST),
                          "pope records made with a different protocol", "--overwrite")  # fmt: skip


def test_a_generation_folder_from_before_its_own_protocol_still_resumes(tmp_path):
    """Older runs recorded the run's --protocol for generation tasks too; those records are the same inputs."""
    from janus_eval import identity
    from janus_eval.task import GENERATION_PROTOCOL, PROTOCOLS

    task_dir = tmp_path / "geneval"
    task_dir.mkdir()
    (task_dir / "samples.jsonl").write_text('{"id": "0"}\n')
    stored = {"checkpoint_sha256": "x", "dtype": "float32", "seed": 0, "options": {}}
    identity.record(task_dir, identity.TaskIdentity({**stored, "protocol": "lmms-eval"}, {}))
    assert identity.conflicts(task_dir, identity.TaskIdentity({**stored, "protocol": GENERATION_PROTOCOL}, {}), PROTOCOLS) == []
    assert identity.conflicts(task_dir, identity.TaskIdentity({**stored, "protocol": "paper"}, {}), PROTOCOLS) == ["protocol"]
    assert identity.conflicts(task_dir, identity.TaskIdentity({**stored, "seed": 1, "protocol": GENERATION_PROTOCOL}, {}),
                              PROTOCOLS) == ["seed"]  # fmt: skip
