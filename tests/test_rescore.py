"""``janus-eval rescore DIR``: an old run directory (no declarations) is upgraded from its records, without the model."""

from __future__ import annotations

import json
import shutil
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


# -- a generation task under an older janus-eval's protocol label (#23) -----------------------------
GENEVAL = ("--tasks", "geneval", "-T", "geneval.images_per_prompt=1", "--limit", "1", "--no-progress")


def _label_as_an_older_janus_eval(run_dir: Path, task: str, protocol: str) -> None:
    """What a janus-eval from before generation tasks had a protocol of their own wrote: the run's --protocol,
    in the task card and in both copies of the task's identity (the card's and ``<task>/identity.json``)."""
    card = json.loads((run_dir / "run.json").read_text())
    task_card = card["tasks"][task]
    task_card["protocol"] = task_card["identity"]["inputs"]["protocol"] = protocol
    (run_dir / "run.json").write_text(json.dumps(card))
    stored = json.loads((run_dir / task / "identity.json").read_text())
    stored["inputs"]["protocol"] = protocol
    (run_dir / task / "identity.json").write_text(json.dumps(stored))


def test_an_old_generation_protocol_label_is_refused_by_gate_naming_rescore_which_relabels_it(
        tmp_path, cli_invoke, model_loads):  # fmt: skip
    """Older runs recorded GenEval under the run's --protocol ("lmms-eval"), current ones under its own ("official"):
    the same rules under two names. gate refuses the pair in one line naming `janus-eval rescore`; rescore relabels
    the old run (task card and identities alike), then gate compares them and a later run still resumes into it."""
    candidate, baseline = tmp_path / "candidate", tmp_path / "baseline"
    code, _, err = cli_invoke("run", *GENEVAL, "--out", str(candidate))
    assert code == 0, err
    shutil.copytree(candidate, baseline)
    _label_as_an_older_janus_eval(baseline, "geneval", "lmms-eval")
    gate = ("gate", "--baseline", str(baseline), "--candidate", str(candidate), "--bootstrap", "50")
    code, _, err = cli_invoke(*gate)
    assert code == 2 and err.strip().count("\n") == 0, err
    assert "different protocols (baseline lmms-eval, candidate official)" in err and "`janus-eval rescore DIR`" in err, err

    code, _, err = cli_invoke("rescore", str(baseline))
    assert code == 0, err
    task_card = json.loads((baseline / "run.json").read_text())["tasks"]["geneval"]
    stored = json.loads((baseline / "geneval" / "identity.json").read_text())
    assert task_card["protocol"] == stored["inputs"]["protocol"] == "official" and task_card["identity"] == stored
    assert stored == json.loads((candidate / "geneval" / "identity.json").read_text())
    code, printed, err = cli_invoke(*gate)
    assert code == 0 and "geneval.geneval_overall" in printed and "pass" in printed, err

    model_loads.clear()
    outputs = {p: p.read_bytes() for p in sorted((baseline / "geneval").rglob("*")) if p.is_file()}
    code, _, err = cli_invoke("run", *GENEVAL, "--out", str(baseline))
    assert code == 0, err
    assert {p: p.read_bytes() for p in sorted((baseline / "geneval").rglob("*")) if p.is_file()} == outputs
    assert model_loads == []  # resumed: nothing left to generate
