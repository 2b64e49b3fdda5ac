"""A run on a split without public answers writes its benchmark's submission file and says where (#23.6)."""

from __future__ import annotations

import json


def test_an_mmvet_run_writes_the_file_its_evaluator_grades(tmp_path, cli_invoke):
    out = tmp_path / "run"
    code, printed, err = cli_invoke("run", "--tasks", "mmvet,pope", "--limit", "2", "--batch-size", "2", "--workers", "0",
                                    "--out", str(out), "--no-progress")  # fmt: skip
    assert code == 0, err
    path = out / "mmvet" / "submission" / "mmvet_submission.json"
    answers = json.loads(path.read_text())
    records = [json.loads(line) for line in (out / "mmvet" / "samples.jsonl").read_text().splitlines()]
    assert len(answers) == 2 and sorted(answers.values()) == sorted(r["prediction"] for r in records)
    assert [line for line in printed.splitlines() if "submission" in line] == [
        f"mmvet: submission for its evaluation server: {path}"]
    tasks = json.loads((out / "run.json").read_text())["tasks"]
    assert tasks["mmvet"]["submission"] == str(path) and "submission" not in tasks["pope"]
    assert not (out / "pope" / "submission").exists()
