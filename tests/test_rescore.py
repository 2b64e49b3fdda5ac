"""``janus-eval rescore DIR``: an old run directory (no declarations) is upgraded from its records, without the model."""

from __future__ import annotations

import json
from pathlib import Path


def _strip_declarations(run_dir: Path) -> dict:
    """The run.json of a janus-eval from before the declarations: no kind, no metric declarations. Returns the original."""
    card = json.loads((run_dir / "run.json").read_text())
    old = json.loads(json.dumps(card))
    for task_card in card["tasks"].values():
        del task_card["metrics"], task_card["kind"]
    (run_dir / "run.json").write_text(json.dumps(card))
    return old


def test_an_old_run_is_refused_then_rescored_into_a_readable_one(tmp_path, cli_invoke, model_loads):
    out = tmp_path / "run"
    code, _, err = cli_invoke("run", "--tasks", "pope,mme", "--limit", "3", "--batch-size", "3", "--workers", "0",
                              "--out", str(out), "--no-progress")  # fmt: skip
    assert code == 0, err
    results = (out / "results.json").read_text()
    old = _strip_declarations(out)
    code, _, err = cli_invoke("table", str(out))
    assert code == 2 and err.strip().count("\n") == 0 and "rerun `janus-eval rescore DIR`" in err, err
    model_loads.clear()

    code, printed, err = cli_invoke("rescore", str(out))
    assert code == 0, err
    assert "rescored pope, mme" in printed and model_loads == []
    assert (out / "results.json").read_text() == results
    card = json.loads((out / "run.json").read_text())
    for name in ("pope", "mme"):
        assert card["tasks"][name] == old["tasks"][name]
    code, table, err = cli_invoke("table", str(out), "--no-paper")
    assert code == 0 and "POPE" in table, err


def test_rescore_of_a_folder_without_a_run_is_one_line(tmp_path, cli_invoke):
    for target in (tmp_path / "missing", tmp_path):
        code, _, err = cli_invoke("rescore", str(target))
        assert code == 2 and err.strip().count("\n") == 0 and str(target) in err, err


def test_rescore_of_an_unfinished_run_changes_nothing(tmp_path, cli_invoke):
    out = tmp_path / "run"
    code, _, err = cli_invoke("run", "--tasks", "pope", "--limit", "2", "--batch-size", "2", "--workers", "0",
                              "--out", str(out), "--no-progress")  # fmt: skip
    assert code == 0, err
    card = json.loads((out / "run.json").read_text())
    card["tasks"]["pope"]["samples"] = 5  # more than the records hold: the run did not finish
    (out / "run.json").write_text(json.dumps(card))
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    code, _, err = cli_invoke("rescore", str(out))
    assert code == 2 and err.strip().count("\n") == 0 and "finish the run" in err, err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
