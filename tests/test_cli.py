"""The command line: the README's default run, one-line errors with exit code 2, re-scoring."""

import json
import subprocess
import sys
from pathlib import Path

import pytest


def test_readme_default_run_end_to_end(tmp_path):
    """The README's first command, as a user runs it: a fresh process, no --ckpt, no --data-root."""
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "janus_eval", "run", "--tasks", "pope,geneval", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "pope_f1" in done.stdout and "meaningless" in done.stdout
    results = json.loads((out / "results.json").read_text())
    assert 0.0 <= results["pope"]["pope_f1"] <= 100.0


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--tasks", "popr"], "unknown task 'popr'; did you mean 'pope'?"),
        (["run", "--tasks", "pope", "--ckpt", "/no/such/ckpt"], "does not exist"),
        (["run", "--tasks", "pope", "--limit", "0"], "--limit must be a positive"),
        (["run", "--tasks", "pope", "--batch-size", "-1"], "--batch-size must be at least 1"),
        (["run", "--tasks", "pope", "--workers", "-1"], "--workers must be 0"),
        (["run", "--tasks", "pope", "--data-root", "/no/such/data"], "is not a directory"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(cli_invoke, args, message):
    code, _, err = cli_invoke(*args)
    assert code == 2
    assert message in err and err.strip().count("\n") == 0 and "Traceback" not in err


def test_unwritable_out(cli_invoke, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = cli_invoke("run", "--tasks", "pope", "--out", str(blocker / "run"))
    assert code == 2 and "cannot write to --out" in err


def test_missing_dataset_names_layout(cli_invoke, tmp_path):
    code, _, err = cli_invoke("run", "--tasks", "pope", "--data-root", str(tmp_path))
    assert code == 2 and "lmms-lab/POPE" in err and "test-*.parquet" in err


def test_list_shows_all_tasks(cli_invoke):
    code, out, _ = cli_invoke("list")
    assert code == 0
    for name in "vqav2 gqa pope mme seed mmbench mmvet mmmu geneval coco30k mjhq30k".split():
        assert name in out
    rows = {line.split()[1]: line for line in out.splitlines() if line.startswith("│")}
    assert "split" in rows["vqav2"] and "split" in rows["mmbench"] and rows["pope"].rstrip(" │").endswith("-")


def test_score_outside_predictions(cli_invoke, tmp_path: Path):
    from janus_eval.registry import get_task

    docs = get_task("pope").load(None).docs
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({"id": d["question_id"], "prediction": d["answer"]}) + "\n" for d in docs))
    code, out, _ = cli_invoke("score", "--task", "pope", "--predictions", str(preds))
    result = json.loads(out)
    assert code == 0 and result["scored"] == len(docs) and result["metrics"]["pope_accuracy"] == 1.0

    preds.write_text(json.dumps({"id": "nope", "prediction": "yes"}) + "\n")
    code, _, err = cli_invoke("score", "--task", "pope", "--predictions", str(preds))
    assert code == 2 and "'nope'" in err


def test_table_preset_runs_its_benchmarks_and_prints_the_table(cli_invoke, tmp_path: Path):
    from janus_eval.registry import PRESETS, expand_presets, list_tasks

    assert expand_presets(["paper"]) == list_tasks()
    assert expand_presets(["pope", "table2"]) == ["pope", *[t for t in PRESETS["table2"] if t != "pope"]]
    code, out, err = cli_invoke("run", "--tasks", "table3", "-T", "geneval.images_per_prompt=1", "--limit", "2",
                                "--out", str(tmp_path / "r"), "--no-progress")  # fmt: skip
    assert code == 0, err
    assert "this run: geneval 2 images" in out  # the work, said up front
    assert "### Table 3" in out and "Table 2" not in out
    assert set(json.loads((tmp_path / "r" / "results.json").read_text())) == {"geneval"}


def test_paper_preset_runs_every_benchmark_on_the_bundled_fixtures(cli_invoke, tmp_path: Path):
    """Tables 2-4 end to end on the mini data, as a new user types it (no Inception file): every task runs,
    every table is printed, and FID from the demo's stand-in Inception is labelled non-comparable."""
    from janus_eval.registry import list_tasks

    code, out, err = cli_invoke("run", "--tasks", "paper", "--limit", "2", "-T", "geneval.images_per_prompt=1",
                                "--out", str(tmp_path / "r"), "--no-progress")  # fmt: skip
    assert code == 0, err
    assert all(f"### Table {n}" in out for n in (2, 3, 4))
    assert "coco30k FID from a tiny random stand-in Inception" in " ".join(out.split())
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    assert list(results) == list_tasks() and results["mmvet"] == {"mmvet_unjudged": 2.0}
    assert results["coco30k"]["fid_stand_in_inception"] == results["mjhq30k"]["fid_stand_in_inception"] == 1.0
    card = json.loads((tmp_path / "r" / "run.json").read_text())
    assert card["tasks"]["mjhq30k"]["fid"]["inception_stand_in"] is True
