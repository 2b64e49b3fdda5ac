"""Runs on splits whose answers only a server holds (#23.6): ``-T <task>.split=`` chooses the split, the run
writes the file that server grades and says where, and no local number stands in for the server's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from janus_eval.metrics.mmvet import official

RUN = ("--batch-size", "2", "--workers", "0", "--no-progress")


def records_of(task_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (task_dir / "samples.jsonl").read_text().splitlines()]


def test_an_mmvet_run_writes_the_file_its_evaluator_grades(tmp_path, cli_invoke):
    out = tmp_path / "run"
    code, printed, err = cli_invoke("run", "--tasks", "mmvet,pope", "--limit", "2", "--out", str(out), *RUN)
    assert code == 0, err
    path = out / "mmvet" / "submission" / "mmvet_submission.json"
    answers = json.loads(path.read_text())
    assert answers == {r["id"]: r["prediction"] for r in records_of(out / "mmvet")} and len(answers) == 2
    assert [line for line in printed.splitlines() if "submission" in line] == [f"mmvet: wrote {path} for {official.GRADER}"]
    tasks = json.loads((out / "run.json").read_text())["tasks"]
    assert tasks["mmvet"]["submission"] == str(path) and "submission" not in tasks["pope"]
    assert "answers" not in tasks["mmvet"]  # MM-Vet's test split is scored here too (with a judge)
    assert not (out / "pope" / "submission").exists()


def test_a_vqav2_testdev_run_writes_the_evalai_file_and_reports_no_local_score(tmp_path, cli_invoke):
    out = tmp_path / "run"
    code, printed, err = cli_invoke("run", "--tasks", "vqav2", "-T", "vqav2.split=testdev", "--out", str(out), *RUN)
    assert code == 0, err
    path = out / "vqav2" / "submission" / "vqav2-testdev.json"
    records = records_of(out / "vqav2")
    assert [r["id"] for r in records] == ["500000", "500001", "501000", "501001"]  # the bundled test-dev rows
    assert json.loads(path.read_text()) == [{"question_id": int(r["id"]), "answer": r["score_info"]["answer"]} for r in records]
    assert json.loads((out / "results.json").read_text()) == {"vqav2": {}}  # 0 % accuracy against no answers is no result
    card = json.loads((out / "run.json").read_text())["tasks"]["vqav2"]
    assert (card["split"], card["answers"], card["submission"]) == ("testdev", "private", str(path))
    assert card["graded_by"].startswith("eval.ai") and f"vqav2: wrote {path} for eval.ai" in printed
    assert "graded by its server" in printed and "vqav2: testdev answers are private" in printed
    assert "testdev answers are private" in (out / "report.md").read_text()
    assert "testdev split's answers are private, so nothing is scored here" in (out / "report.html").read_text()

    code, table, err = cli_invoke("table", str(out), "--table", "2")
    assert code == 0, err
    assert "vqav2 ran the testdev split, whose answers are private" in table and "| This run | **run (lmms-eval)** |" in table

    code, _, err = cli_invoke("gate", "--baseline", str(out), "--candidate", str(out))
    assert code == 2 and err.count("\n") == 1 and "testdev split, whose answers are private" in err


def test_resuming_a_testdev_run_with_the_validation_split_is_refused(tmp_path, cli_invoke):
    out = tmp_path / "run"
    assert cli_invoke("run", "--tasks", "vqav2", "-T", "vqav2.split=testdev", "--out", str(out), *RUN)[0] == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    code, _, err = cli_invoke("run", "--tasks", "vqav2", "--out", str(out), *RUN)
    assert code == 2 and err.count("\n") == 1 and "data files" in err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("protocol", ["lmms-eval", "paper"])
def test_an_mmbench_test_run_writes_the_servers_table(tmp_path, cli_invoke, protocol):
    from openpyxl import load_workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    from janus_eval.tasks.mmbench import SUBMISSION_COLUMNS

    out = tmp_path / "run"
    code, printed, err = cli_invoke("run", "--tasks", "mmbench", "-T", "mmbench.split=test", "--protocol", protocol,
                                    "--out", str(out), *RUN)  # fmt: skip
    assert code == 0, err
    path = out / "mmbench" / "submission" / "mmbench_en_test.xlsx"
    header, *rows = [list(r) for r in load_workbook(path).active.iter_rows(values_only=True)]
    assert tuple(header) == SUBMISSION_COLUMNS
    table = {row[0]: dict(zip(SUBMISSION_COLUMNS, row)) for row in rows}
    assert list(table) == [20, 21, 22, 1_000_020]  # every row of the split, circular copy included, by index
    for record in records_of(out / "mmbench"):
        row = table[int(record["id"])]
        assert (row["prediction"] or "") == ILLEGAL_CHARACTERS_RE.sub("", record["prediction"])
        assert row["answer"] is None and row["split"] == "test" and row["question"].startswith("What color is the")
    assert json.loads((out / "results.json").read_text()) == {"mmbench": {}}
    assert f"mmbench: wrote {path} for the MMBench evaluation server" in printed


@pytest.mark.parametrize("argv, message", [
    (("run", "--tasks", "vqav2", "-T", "vqav2.split=train"), "option vqav2.split='train': expected one of: validation, testdev, test"),
    (("run", "--tasks", "pope", "-T", "pope.split=test"), "task 'pope' has no options; remove -T pope.split"),
    (("download", "--tasks", "vqav2", "-T", "vqav2.split=dev", "--dry-run"), "option vqav2.split='dev'"),
    (("download", "--tasks", "vqav2", "-T", "vqav2.images=2", "--dry-run"), "download takes only -T TASK.split=SPLIT"),
])  # fmt: skip
def test_a_bad_split_is_one_line_before_anything_is_written(tmp_path, cli_invoke, model_loads, argv, message):
    code, _, err = cli_invoke(*argv, "--out" if argv[0] == "run" else "--data-root", str(tmp_path / "x"))
    assert code == 2 and err.count("\n") == 1 and message in err
    assert not (tmp_path / "x").exists() and model_loads == []


def test_download_fetches_the_chosen_split(tmp_path, cli_invoke):
    code, printed, err = cli_invoke("download", "--tasks", "vqav2,mmbench", "-T", "vqav2.split=testdev", "--dry-run",
                                    "--data-root", str(tmp_path))  # fmt: skip
    assert code == 0, err
    assert "lmms-lab/VQAv2 [data/testdev-*.parquet]" in printed and "lmms-lab/MMBench [en/dev-*.parquet]" in printed


def test_a_snapshot_of_another_split_is_not_done(tmp_path):
    """The marker of a validation download does not make test-dev's status "done" (other files)."""
    from janus_eval.download import build_plan, status
    from janus_eval.io import write_json
    from janus_eval.transfer import DONE_MARKER

    validation, testdev = build_plan("vqav2")[0], build_plan("vqav2", task_options={"vqav2": {"split": "testdev"}})[0]
    write_json(tmp_path / "VQAv2" / DONE_MARKER, {"repo_id": "lmms-lab/VQAv2", "allow": list(validation.allow)})
    assert status(validation, tmp_path) == "done" and status(testdev, tmp_path) == "unverified"
