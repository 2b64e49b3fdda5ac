"""``janus-eval score``: a malformed predictions file is a one-line error (exit 2), never a silent score."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from janus_eval.registry import get_task


def pope_lines() -> list[str]:
    docs = get_task("pope").load(None).docs
    return [json.dumps({"id": d["question_id"], "prediction": d["answer"]}) + "\n" for d in docs]


def fails(cli_invoke, preds: Path, *fragments: str) -> str:
    code, out, err = cli_invoke("score", "--task", "pope", "--predictions", str(preds))
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and out == "" and len(lines) == 1 and "Traceback" not in err, err
    assert str(preds) in err.replace("\n", "") or preds.name in err
    for fragment in fragments:
        assert fragment in err, err
    return err


def test_clean_file_still_scores(cli_invoke, tmp_path: Path):
    preds = tmp_path / "preds.jsonl"
    lines = pope_lines()
    preds.write_text("".join(lines) + "\n")  # a blank line at the end is harmless
    code, out, _ = cli_invoke("score", "--task", "pope", "--predictions", str(preds))
    assert code == 0 and json.loads(out)["scored"] == len(lines)


def test_complete_last_line_without_newline_is_accepted(cli_invoke, tmp_path: Path):
    preds = tmp_path / "preds.jsonl"
    lines = pope_lines()
    preds.write_text("".join(lines).rstrip("\n"))
    code, out, _ = cli_invoke("score", "--task", "pope", "--predictions", str(preds))
    assert code == 0 and json.loads(out)["scored"] == len(lines)


def test_duplicate_id(cli_invoke, tmp_path: Path):
    preds = tmp_path / "preds.jsonl"
    lines = pope_lines()
    preds.write_text("".join(lines[:3]) + lines[1])
    first_id = json.loads(lines[1])["id"]
    fails(cli_invoke, preds, "line 4", f"repeats id {first_id!r}", "first on line 2")


def test_torn_last_line(cli_invoke, tmp_path: Path):
    preds = tmp_path / "preds.jsonl"
    lines = pope_lines()
    preds.write_text("".join(lines[:3]) + lines[3][:15])
    fails(cli_invoke, preds, "line 4", "incomplete")


def test_bad_json_in_the_middle(cli_invoke, tmp_path: Path):
    preds = tmp_path / "preds.jsonl"
    lines = pope_lines()
    preds.write_text(lines[0] + "{oops\n" + lines[1])
    fails(cli_invoke, preds, "line 2", "not valid JSON")


@pytest.mark.parametrize("prediction, kind", [(None, "NoneType"), (1, "int"), (["yes"], "list"), (True, "bool")])
def test_non_string_prediction(cli_invoke, tmp_path: Path, prediction, kind):
    preds = tmp_path / "preds.jsonl"
    lines = pope_lines()
    doc_id = json.loads(lines[1])["id"]
    preds.write_text(lines[0] + json.dumps({"id": doc_id, "prediction": prediction}) + "\n")
    fails(cli_invoke, preds, "line 2", f"id {str(doc_id)!r}", kind, "not a string")


def test_non_utf8_file(cli_invoke, tmp_path: Path):
    preds = tmp_path / "preds.jsonl"
    lines = pope_lines()
    preds.write_bytes(lines[0].encode() + b'{"id": "2", "prediction": "\xe9t\xe9"}\n')
    fails(cli_invoke, preds, "not UTF-8", "line 2")


def test_unknown_id_still_named(cli_invoke, tmp_path: Path):
    preds = tmp_path / "preds.jsonl"
    preds.write_text(json.dumps({"id": "nope", "prediction": "yes"}) + "\n")
    fails(cli_invoke, preds, "'nope'", "line 1")
