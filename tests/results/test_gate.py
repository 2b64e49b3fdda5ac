"""``janus-eval gate``: paired bootstrap verdicts, exit codes 0/1/2, tolerances, JSON and JUnit outputs."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

import numpy as np
import pytest

from janus_eval.references import task_reference
from janus_eval.results.bootstrap import Units, paired_bootstrap
from janus_eval.results.declared import MetricSpec
from janus_eval.results.gate import CannotCompare, parse_max_drop, run_gate
from janus_eval.results.rundir import RunDir
from janus_eval.errors import JanusEvalError

BOOT = ("--bootstrap", "300")


@pytest.fixture
def pope_pair(run_factory, synth):
    """Baseline POPE run and a factory of candidates from the same ids."""
    base = synth.pope_records(400, 0.85)
    baseline = run_factory("base", {"pope": (base, synth.pope_results(base))})

    def candidate(name: str, records, **kwargs):
        return run_factory(name, {"pope": (records, synth.pope_results(records))}, **kwargs)

    return baseline, candidate


def test_no_change_passes(pope_pair, synth, cli_invoke):
    baseline, candidate = pope_pair
    same = candidate("same", synth.pope_records(400, 0.85))
    code, out, _ = cli_invoke("gate", "--baseline", str(baseline), "--candidate", str(same), *BOOT)
    assert code == 0 and "pope.pope_f1" in out and "pass" in out


def test_small_noise_passes(pope_pair, synth, cli_invoke):
    baseline, candidate = pope_pair
    noisy = candidate("noisy", synth.pope_records(400, 0.85, flip={3, 17, 40}))
    code, out, _ = cli_invoke("gate", "--baseline", str(baseline), "--candidate", str(noisy), *BOOT)
    assert code == 0 and "regression" not in out


def test_real_drop_fails_with_json_and_junit(pope_pair, synth, cli_invoke, tmp_path):
    baseline, candidate = pope_pair
    worse = candidate("worse", synth.pope_records(400, 0.85, flip=set(range(0, 400, 5))))  # 80 answers flipped
    report, junit = tmp_path / "gate.json", tmp_path / "gate.xml"
    code, out, _ = cli_invoke("gate", "--baseline", str(baseline), "--candidate", str(worse), *BOOT,
                              "--max-drop", "pope.pope_accuracy=0.5", "--json", str(report), "--junit", str(junit))  # fmt: skip
    assert code == 1 and "regression" in out
    data = json.loads(report.read_text())
    assert data["exit_code"] == 1
    verdicts = {f"{v['task']}.{v['metric']}": v for v in data["verdicts"]}
    assert verdicts["pope.pope_f1"]["verdict"] == "regression" and verdicts["pope.pope_f1"]["ci_high"] < 0
    assert "aggregate" in verdicts["pope.pope_f1"]["method"]  # F1 is not a mean: recomputed per resample
    assert verdicts["pope.pope_accuracy"]["verdict"] == "pass"  # tolerated: a drop of at most 0.5 accuracy
    assert verdicts["pope.pope_accuracy"]["method"] == "paired bootstrap, mean score"
    suite = ET.parse(junit).getroot()
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    failing = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failing == ["pope_f1"]


def test_max_drop_tolerates_a_known_drop(pope_pair, synth, cli_invoke):
    baseline, candidate = pope_pair
    worse = candidate("worse", synth.pope_records(400, 0.85, flip=set(range(0, 400, 5))))
    code, out, _ = cli_invoke("gate", "--baseline", str(baseline), "--candidate", str(worse), *BOOT,
                              "--max-drop", "pope.pope_f1=40")  # fmt: skip
    assert code == 0 and "regression" not in out


def test_improvement_is_reported(pope_pair, synth):
    baseline, candidate = pope_pair
    better = candidate("better", synth.pope_records(400, 0.999))
    report = run_gate(RunDir.load(baseline), RunDir.load(better), n_boot=300, references=task_reference)
    assert report.exit_code == 0 and report.verdicts[0].verdict == "improvement"


@pytest.mark.parametrize("case, message", [
    ("tasks", "different task sets"),
    ("ids", "differing sample ids"),
    ("disjoint", "share no sample ids"),
    ("protocol", "different protocols"),
])  # fmt: skip
def test_cannot_compare_exits_2(pope_pair, synth, run_factory, cli_invoke, tmp_path, case, message):
    baseline, candidate = pope_pair
    recs = synth.pope_records(400, 0.85)
    if case == "tasks":
        gen = synth.geneval_records()
        other = run_factory("other", {"pope": (recs, synth.pope_results(recs)), "geneval": (gen, synth.geneval_results(gen))})
    elif case == "ids":
        other = candidate("other", recs[:350])
    elif case == "disjoint":
        moved = [{**r, "id": f"x{r['id']}"} for r in recs]
        other = candidate("other", moved)
    else:
        other = candidate("other", recs, protocol="vlmevalkit")
    report = tmp_path / "gate.json"
    code, _, err = cli_invoke("gate", "--baseline", str(baseline), "--candidate", str(other), *BOOT, "--json", str(report))
    assert code == 2 and message in err and err.strip().count("\n") == 0
    assert json.loads(report.read_text())["exit_code"] == 2


def test_geneval_overall_uses_mean_of_tag_means(run_factory, synth):
    """GenEval's overall is a mean of per-tag means: detected and bootstrapped in closed form."""
    base, cand = synth.geneval_records(0.6, seed=1), synth.geneval_records(0.6, seed=1)
    for r in cand:
        if r["score_info"]["tag"] == "position":
            r["scores"]["score"] = 0.0
    b = run_factory("gb", {"geneval": (base, synth.geneval_results(base))})
    c = run_factory("gc", {"geneval": (cand, synth.geneval_results(cand))})
    report = run_gate(RunDir.load(b), RunDir.load(c), {("geneval", "geneval_position"): 0.0}, n_boot=300, references=task_reference)
    overall, position = report.verdicts
    assert "averaged over tag" in overall.method and "where tag=position" in position.method
    assert overall.diff == pytest.approx(synth.geneval_results(cand)["geneval_overall"] - synth.geneval_results(base)["geneval_overall"])
    assert position.verdict == "regression" and report.exit_code == 1


def test_fid_uses_absolute_tolerance(run_factory, synth):
    recs = synth.fid_records()
    b = RunDir.load(run_factory("fb", {"coco30k": (recs, {"fid": 10.0, "n_generated": 30000})}))
    for fid, expected in ((10.3, "pass"), (11.0, "regression"), (9.0, "improvement")):
        c = RunDir.load(run_factory(f"fc{fid}", {"coco30k": (recs, {"fid": fid, "n_generated": 30000})}))
        verdict = run_gate(b, c).verdicts[0]
        assert verdict.verdict == expected and verdict.ci_low is None and verdict.tolerance == 0.5 and not verdict.higher_is_better
    c = RunDir.load(run_factory("fc2", {"coco30k": (recs, {"fid": 11.0, "n_generated": 30000})}))
    assert run_gate(b, c, {("coco30k", "fid"): 2.0}).exit_code == 0


def test_max_drop_parsing_and_unknown_names(pope_pair, synth):
    assert parse_max_drop(["pope.pope_f1=0.5", "mjhq30k.fid/people=1"]) == {("pope", "pope_f1"): 0.5, ("mjhq30k", "fid/people"): 1.0}
    for bad in ("pope_f1=0.5", "pope.pope_f1", "pope.pope_f1=x", "pope.pope_f1=-1"):
        with pytest.raises(JanusEvalError):
            parse_max_drop([bad])
    baseline, _ = pope_pair
    run = RunDir.load(baseline)
    with pytest.raises(CannotCompare, match="neither run has"):
        run_gate(run, run, {("gqa", "gqa_accuracy"): 1.0}, n_boot=10, references=task_reference)
    with pytest.raises(CannotCompare, match="missing"):
        run_gate(run, run, {("pope", "pope_nonsense"): 1.0}, n_boot=10, references=task_reference)


def test_fast_and_aggregate_paths_agree(synth):
    """The closed-form CI and the recompute-everything CI estimate the same distribution."""
    base, cand = synth.pope_records(300, 0.85), synth.pope_records(300, 0.85, flip=set(range(0, 300, 6)))
    ref = task_reference("pope", "pope_accuracy", "lmms-eval")
    fast = paired_bootstrap(base, cand, "pope_accuracy", MetricSpec("pope_accuracy", "mean", True), n_boot=2000, seed=1)
    from janus_eval.results import bootstrap

    slow = bootstrap._aggregate_resamples(base, cand, Units(base, MetricSpec("a", "mean", True).unit), ref, ref, 2000, 1)
    assert fast.method.endswith("mean score")
    assert fast.low == pytest.approx(np.percentile(slow, 2.5), abs=0.01)
    assert fast.high == pytest.approx(np.percentile(slow, 97.5), abs=0.01)
