"""Metric declarations in ``run.json``: parsing, templates, direction, closed forms, and the readers using them."""

from __future__ import annotations

import json

import pytest

from janus_eval.references import task_reference
from janus_eval.results.bootstrap import ClosedForm, closed_form, declared_form, paired_bootstrap, percentile_ci
from janus_eval.results.declared import MetricSpec, OldRunDir, UnitSpec, find_spec, parse_metrics
from janus_eval.results.gate import CannotCompare, run_gate
from janus_eval.results.leaderboard import build_leaderboard
from janus_eval.results.rundir import RunDir
from janus_eval.errors import JanusEvalError


def decl(name: str, form: str = "mean", headline: bool = False, **extra):
    unit = extra.pop("unit", {"kind": "sample"})
    return {"name": name, "form": form, "higher_is_better": extra.pop("higher", True), "headline": headline, "unit": unit, **extra}


def test_parse_defaults_and_templates(synth):
    specs = parse_metrics(synth.DECLARED["pope"], "run.json: task 'pope'")
    f1 = find_spec(specs, "pope_f1")
    assert f1 == MetricSpec("pope_f1", "custom", True, headline=True)
    assert find_spec(specs, "pope_accuracy") == MetricSpec("pope_accuracy", "mean", True, group=None)
    random = find_spec(specs, "pope_accuracy/random")
    assert random == MetricSpec("pope_accuracy/random", "mean", True, group="category", group_value="random")
    assert find_spec(specs, "pope_f1_score/popular").form == "custom"
    assert find_spec(specs, "pope_nonsense") is None and find_spec(specs, "pope_accuracy/") is None
    with pytest.raises(OldRunDir, match="no metric declarations"):
        parse_metrics(None, "x")  # a run from before declarations


def test_an_exact_name_wins_over_a_template():
    specs = parse_metrics([decl("acc/{tag}", group="tag"), decl("acc/all", "custom", headline=True)], "x")
    assert find_spec(specs, "acc/all").form == "custom" and find_spec(specs, "acc/red").group_value == "red"


@pytest.mark.parametrize("raw, message", [
    ({"name": "a"}, "must be a non-empty list"),
    ([], "must be a non-empty list"),
    (["a"], "expected an object"),
    ([decl("a", headline=True), {"form": "mean", "higher_is_better": True, "headline": False}], "'name' is missing"),
    ([decl("a", "median", headline=True)], "unknown form 'median'"),
    ([decl("a", headline=True, higher="yes")], "'higher_is_better' must be a bool"),
    ([decl("a", headline=True, scale=True)], "'scale' must be a finite number"),
    ([decl("a", headline=True, key="")], "'key' must be a non-empty string"),
    ([decl("a"), decl("b")], "exactly one metric must be the headline, found 0"),
    ([decl("a", headline=True), decl("b", headline=True)], "found 2 (a, b)"),
    ([decl("a", headline=True), decl("a")], "'a' is declared twice"),
    ([decl("a", headline=True, group_value="x")], "'group_value' needs a 'group'"),
    ([decl("a", "grouped", headline=True)], "form 'grouped' needs a 'group'"),
    ([decl("a/{tag}", headline=True, group="category")], "exactly one placeholder"),
    ([decl("a/{tag}/{tag}", headline=True, group="tag")], "exactly one placeholder"),
    ([decl("a/{tag}", "grouped", headline=True, group="tag")], "a template is form 'mean' or 'custom'"),
    ([decl("a/{tag}", headline=True, group="tag")], "must name one metric, not a template"),
    ([{k: v for k, v in decl("a", headline=True).items() if k != "unit"}], "has no resampling unit"),
    ([decl("a", headline=True, unit={"kind": "rows"})], "unknown unit kind 'rows'"),
    ([decl("a", headline=True, unit={"kind": "group"})], "a 'group' unit needs a 'key'"),
    ([decl("a", headline=True, unit={"kind": "sample", "key": "x"})], "others have neither"),
    ([decl("a", headline=True, unit={"kind": "group", "key": "x", "modulo": 0})], "positive 'modulo'"),
])  # fmt: skip
def test_malformed_declarations_are_rejected(raw, message):
    with pytest.raises(JanusEvalError) as info:
        parse_metrics(raw, "runs/a/run.json: task 'pope'")
    assert message in str(info.value) and str(info.value).startswith("runs/a/run.json: task 'pope'")


def test_rundir_reads_direction_and_kind_from_declarations(run_factory, synth):
    recs = synth.pope_records(30)
    run = RunDir.load(run_factory("d", {"pope": (recs, synth.pope_results(recs)), "coco30k": ([], {"fid": 9.0})}))
    assert run.metric_spec("pope", "pope_accuracy/adversarial").group_value == "adversarial"
    assert not run.higher_is_better("coco30k", "fid") and run.higher_is_better("pope", "pope_f1")
    assert run.kind("pope") == "understanding" and run.kind("coco30k") == "generation"
    assert run.metric_spec("coco30k", "fid").unit == UnitSpec("set")


@pytest.mark.parametrize("missing", ["metrics", "kind", "unit"])
def test_an_old_run_directory_gets_one_line_naming_the_rescore(run_factory, synth, cli_invoke, missing):
    """A run.json from before the declarations is refused, not guessed at: no name rules, no probing."""
    recs = synth.pope_records(30)
    path = run_factory("old", {"pope": (recs, synth.pope_results(recs))})
    card = json.loads((path / "run.json").read_text())
    if missing == "unit":
        for metric in card["tasks"]["pope"]["metrics"]:
            del metric["unit"]
    else:
        del card["tasks"]["pope"][missing]
    (path / "run.json").write_text(json.dumps(card))
    for command in (("table", str(path)), ("gate", "--baseline", str(path), "--candidate", str(path))):
        code, _, err = cli_invoke(*command)
        assert code == 2 and err.strip().count("\n") == 0, err
        assert "written by an older janus-eval" in err and "rerun `janus-eval rescore DIR`" in err


def test_a_declared_direction_is_the_only_direction(run_factory, synth):
    path = run_factory("odd", {"coco30k": ([], {"fid": 9.0})})
    synth.declare_metrics(path, {"coco30k": [decl("fid", "custom", headline=True, higher=True, unit={"kind": "set"})]})
    assert RunDir.load(path).higher_is_better("coco30k", "fid")


def test_headline_comes_from_the_declaration_and_must_agree(run_factory, synth):
    recs = synth.pope_records(30)
    path = run_factory("h", {"pope": (recs, synth.pope_results(recs))}, declare=True)
    card = json.loads((path / "run.json").read_text())
    del card["tasks"]["pope"]["headline"]
    (path / "run.json").write_text(json.dumps(card))
    assert RunDir.load(path).headline("pope") == "pope_f1"
    card["tasks"]["pope"]["headline"] = "pope_accuracy"
    (path / "run.json").write_text(json.dumps(card))
    with pytest.raises(JanusEvalError, match="headline 'pope_accuracy' is not the declared headline metric 'pope_f1'"):
        RunDir.load(path)


def test_a_malformed_declaration_is_a_one_line_cli_error(run_factory, synth, cli_invoke):
    path = run_factory("bad", {"coco30k": ([], {"fid": 9.0})})
    synth.declare_metrics(path, {"coco30k": [decl("fid", "median", headline=True)]})
    code, _, err = cli_invoke("table", str(path))
    assert code == 2 and "unknown form 'median'" in err and err.strip().count("\n") == 0


@pytest.mark.parametrize("spec, form", [
    (MetricSpec("a", "mean", True), ClosedForm("score", 1.0)),
    (MetricSpec("a", "mean", True, key="acc", scale=100.0, group="tag"), ClosedForm("acc", 100.0)),
    (MetricSpec("a/red", "mean", True, group="tag", group_value="red"), ClosedForm("score", 1.0, "tag", "red")),
    (MetricSpec("a", "grouped", True, scale=100.0, group="tag"), ClosedForm("score", 100.0, "tag")),
    (MetricSpec("a", "custom", True), None),
])  # fmt: skip
def test_declared_form(spec, form):
    assert declared_form(spec) == form


def test_the_closed_form_is_read_from_the_declaration(synth):
    recs = synth.pope_records(100)
    spec = MetricSpec("pope_accuracy/random", "mean", True, group="category", group_value="random")
    assert closed_form("pope_accuracy/random", spec, [recs]) == ClosedForm("score", 1.0, "category", "random")
    assert closed_form("pope_f1", MetricSpec("pope_f1", "custom", True), [recs]) is None


def test_declared_key_and_scale_drive_the_bootstrap(synth):
    base, cand = synth.pope_records(200, 0.8), synth.pope_records(200, 0.8, flip=set(range(0, 200, 4)))
    for record in base + cand:
        record["scores"]["exact"] = record["scores"]["score"]
    spec = MetricSpec("acc100", "mean", True, key="exact", scale=100.0)
    result = paired_bootstrap(base, cand, "acc100", spec, n_boot=200)
    mean = sum(r["scores"]["exact"] for r in base) / len(base)
    assert result.method == "paired bootstrap, mean exact x100" and result.baseline == pytest.approx(100 * mean)
    del base[3]["scores"]["exact"]
    with pytest.raises(JanusEvalError, match=r"1 of 200 records lack it"):
        percentile_ci(base, "acc100", spec, n_boot=10)


def test_custom_metrics_need_the_callers_reference(synth):
    base = synth.pope_records(100)
    with pytest.raises(JanusEvalError, match="cannot bootstrap 'pope_f1'"):
        paired_bootstrap(base, base, "pope_f1", MetricSpec("pope_f1", "custom", True), n_boot=10)


@pytest.fixture
def declared_pope_pair(run_factory, synth):
    base, worse = synth.pope_records(400, 0.85), synth.pope_records(400, 0.85, flip=set(range(0, 400, 5)))
    return [RunDir.load(run_factory(name, {"pope": (recs, synth.pope_results(recs))}, declare=True))
            for name, recs in (("base", base), ("worse", worse))]  # fmt: skip


def test_gate_on_declared_runs(declared_pope_pair):
    base, worse = declared_pope_pair
    drops = {("pope", "pope_accuracy"): 0.5, ("pope", "pope_accuracy/random"): 0.0}
    report = run_gate(base, worse, drops, n_boot=300, references=task_reference)
    verdicts = {v.metric: v for v in report.verdicts}
    assert verdicts["pope_f1"].verdict == "regression" and "aggregate" in verdicts["pope_f1"].method
    assert verdicts["pope_accuracy"].method == "paired bootstrap, mean score" and verdicts["pope_accuracy"].verdict == "pass"
    assert verdicts["pope_accuracy/random"].method == "paired bootstrap, mean score where category=random"


def test_gate_closed_forms_need_no_reference(declared_pope_pair, run_factory, synth):
    base, worse = declared_pope_pair
    with pytest.raises(JanusEvalError, match="cannot bootstrap 'pope_f1'"):  # custom: results cannot build the reference
        run_gate(base, worse, n_boot=50)
    gb, gc = synth.geneval_records(0.6, seed=1), synth.geneval_records(0.3, seed=2)
    b = RunDir.load(run_factory("gb", {"geneval": (gb, synth.geneval_results(gb))}, declare=True))
    c = RunDir.load(run_factory("gc", {"geneval": (gc, synth.geneval_results(gc))}, declare=True))
    overall, position = run_gate(b, c, {("geneval", "geneval_position"): 0.0}, n_boot=300).verdicts
    assert "averaged over tag" in overall.method and "where tag=position" in position.method
    assert overall.diff == pytest.approx(synth.geneval_results(gc)["geneval_overall"] - synth.geneval_results(gb)["geneval_overall"])


def _redeclare(run: RunDir, task: str, metrics: list[dict]) -> RunDir:
    """The run with ``task``'s declarations replaced."""
    card = json.loads((run.path / "run.json").read_text())
    card["tasks"][task]["metrics"] = metrics
    (run.path / "run.json").write_text(json.dumps(card))
    return RunDir.load(run.path)


def test_gate_direction_and_disagreeing_declarations(declared_pope_pair, synth):
    base, worse = declared_pope_pair
    inverted = [{**m, "higher_is_better": not m["higher_is_better"]} for m in synth.DECLARED["pope"]]
    lower_worse = _redeclare(worse, "pope", inverted)
    with pytest.raises(CannotCompare, match="declare 'pope_f1' differently"):
        run_gate(base, lower_worse, n_boot=10)
    lower_base = _redeclare(base, "pope", inverted)
    verdicts = run_gate(lower_base, lower_worse, {("pope", "pope_accuracy"): 0.0}, n_boot=300, references=task_reference).verdicts[1:]
    accuracy = verdicts[0]
    assert accuracy.metric == "pope_accuracy" and not accuracy.higher_is_better
    assert accuracy.verdict == "improvement"  # accuracy fell, and lower is better when so declared


def test_leaderboard_on_declared_runs(run_factory, synth):
    runs = []
    for name, accuracy, fid in (("a", 0.9, 9.0), ("b", 0.6, 8.0)):
        gen = synth.geneval_records(accuracy, seed=3)
        runs.append(RunDir.load(run_factory(name, {
            "geneval": (gen, synth.geneval_results(gen)), "coco30k": ([], {"fid": fid, "n_generated": 30000}),
        }, declare=True)))  # fmt: skip
    board = build_leaderboard(runs, n_boot=200)  # no references: every CI here has a declared closed form
    assert board.columns == [("geneval", "geneval_overall"), ("coco30k", "fid")]
    assert board.higher_is_better == {"geneval.geneval_overall": True, "coco30k.fid": False}
    ranks = {e.label: (e.cells["geneval.geneval_overall"].rank, e.cells["coco30k.fid"].rank) for e in board.entries}
    assert ranks == {"a": (1, 2), "b": (2, 1)}
    cell = board.entries[0].cells["geneval.geneval_overall"]
    assert cell.ci is not None and cell.ci[0] < cell.value < cell.ci[1]


def test_leaderboard_gives_custom_metrics_no_ci(declared_pope_pair):
    cell = build_leaderboard(declared_pope_pair[:1], n_boot=100).entries[0].cells["pope.pope_f1"]
    assert cell.ci is None
