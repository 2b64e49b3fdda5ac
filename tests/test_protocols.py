"""Every task's declared metrics are what its aggregate reports, and closed forms are really closed.

results/ bootstraps a metric from its declaration alone (it never imports a task), so a declared
``mean``/``grouped`` form that differed from ``aggregate`` would give wrong confidence intervals.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fake_chat_server import serve

from janus_eval.metrics.judge import JudgeSettings
from janus_eval.protocol import Metric
from janus_eval.registry import get_task, list_tasks, task_class
from janus_eval.task import RunContext, UnderstandingTask, split_scores

UNDERSTANDING = [name for name in list_tasks() if task_class(name).kind == "understanding"]
CASES = [(name, protocol) for name in UNDERSTANDING for protocol in task_class(name).protocols]


def test_the_suite_has_its_understanding_tasks_under_both_protocols():
    assert UNDERSTANDING == ["vqav2", "gqa", "pope", "mme", "seed", "mmbench", "mmvet", "mmmu"]
    assert len(CASES) >= 2 * len(UNDERSTANDING) - 1  # VQAv2 has no VLMEvalKit scorer of its own


def _guesses(doc: dict[str, Any], i: int) -> str:
    """Right, wrong and malformed answers in turn, so every metric sees a mix."""
    answer = doc.get("answer")
    if isinstance(answer, list):
        answer = answer[0] if answer else ""
    options = [str(answer), "no", "yes", "A", "B", "(C)", "I cannot tell.", ""]
    return options[i % len(options)]


JUDGE_REPLIES = ("1.0", "0.5", "0.0", "0.3", "I cannot grade this")
"""A fake LLM judge's grades (and a reply without one), chosen by the prompt, so every judged metric sees a mix."""


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunContext]:
    """A run with a judge (MM-Vet reports no score without one); tasks without a judge ignore it."""

    def reply(request: dict[str, Any], n: int) -> tuple[int, str]:
        digest = hashlib.sha256(request["body"]["messages"][0]["content"].encode()).digest()
        return 200, JUDGE_REPLIES[digest[0] % len(JUDGE_REPLIES)]

    with serve(reply) as (url, _):
        yield RunContext(task_dir=tmp_path_factory.mktemp("run"), judge=JudgeSettings(url, "fake-judge"))


def _records(task: UnderstandingTask, ctx: RunContext) -> list[dict[str, Any]]:
    docs = list(task.load(None).docs)
    predictions = [task.postprocess(_guesses(doc, i)) for i, doc in enumerate(docs)]
    records = []
    for doc, prediction, scored in zip(docs, predictions, task.score_samples(docs, predictions, ctx), strict=True):
        scores, info = split_scores(scored)
        records.append({"id": task.doc_id(doc), "prediction": prediction, "scores": scores, "score_info": info})
    return records


def _pattern(metric: Metric) -> re.Pattern[str]:
    parts = re.split(r"\{[^}]+\}", metric.name)
    return re.compile("(.+)".join(re.escape(p) for p in parts) + r"\Z")


def _closed_form(metric: Metric, records: list[dict[str, Any]], group_value: str | None) -> float:
    def info(r: dict[str, Any]) -> dict[str, Any]:
        return r.get("score_info") or {}

    value = group_value if group_value is not None else metric.group_value
    if metric.form == "mean":
        chosen = [r for r in records if metric.group is None or value is None or str(info(r).get(metric.group)) == value]
        return metric.scale * sum(r["scores"][metric.key] for r in chosen) / len(chosen)
    groups: dict[str, list[float]] = {}
    for r in records:
        groups.setdefault(str(info(r).get(metric.group)), []).append(r["scores"][metric.key])
    return metric.scale * sum(sum(v) / len(v) for v in groups.values()) / len(groups)


@pytest.mark.parametrize(("name", "protocol"), CASES)
def test_declared_metrics_cover_the_aggregate_and_closed_forms_match_it(name: str, protocol: str, ctx: RunContext):
    task = get_task(name, protocol)
    assert isinstance(task, UnderstandingTask)
    metrics = task.metrics
    assert [m.name for m in metrics if m.headline] == [task.headline]
    records = _records(task, ctx)
    result = task.aggregate(records, ctx)
    assert task.headline in result
    checked = 0
    for key, value in result.items():
        matches = [(m, _pattern(m).match(key)) for m in metrics]
        matches = [(m, found) for m, found in matches if found]
        assert matches, f"{name}/{protocol}: {key!r} is reported but not declared"
        metric, found = matches[0]  # a literal name is declared before a template it also fits
        if metric.form == "custom":
            continue
        group_value = found.group(1) if found.groups() else None
        expected = _closed_form(metric, records, group_value)
        assert math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-9), (name, protocol, key, value, expected)
        checked += 1
    assert checked >= 1 or all(m.form == "custom" for m in metrics)


def test_run_json_records_each_task_s_declared_metrics(tmp_path, tiny_adapter):
    """results/ reads forms and directions from here instead of importing the tasks."""
    import json

    from janus_eval.runner import RunConfig, Runner

    config = RunConfig(tasks=["pope"], out=tmp_path, limit=2, batch_size=2, show_progress=False)
    Runner(config, model_factory=lambda: tiny_adapter).run()
    card = json.loads((tmp_path / "run.json").read_text())["tasks"]["pope"]
    declared = {m["name"]: m for m in card["metrics"]}
    assert declared["pope_f1"] == {"name": "pope_f1", "form": "custom", "higher_is_better": True, "headline": True,
                                   "key": "score", "scale": 1.0, "group": None, "group_value": None,
                                   "unit": {"kind": "sample", "key": None, "modulo": None}}  # fmt: skip
    assert declared["pope_accuracy/{category}"]["group"] == "category"
    assert sum(m["headline"] for m in card["metrics"]) == 1
    assert card["kind"] == "understanding" and card["unscored"] is None


@pytest.mark.parametrize(("name", "unit"), [
    ("mmbench", {"kind": "group", "key": "index", "modulo": 1_000_000}),  # circular copies of one question
    ("mme", {"kind": "group", "key": "question_id", "modulo": None}),  # the two questions about one image
    ("coco30k", {"kind": "set", "key": None, "modulo": None}),  # FID: no per-sample resampling
    ("mjhq30k", {"kind": "set", "key": None, "modulo": None}),
    ("geneval", {"kind": "sample", "key": None, "modulo": None}),
])  # fmt: skip
def test_the_headline_declares_the_unit_it_is_computed_over(name: str, unit: dict[str, Any]):
    for protocol in task_class(name).protocols:
        card = get_task(name, protocol).card()
        assert next(m["unit"] for m in card["metrics"] if m["headline"]) == unit, (name, protocol)


def test_mmvet_declares_its_placeholder_records():
    for protocol in task_class("mmvet").protocols:
        assert get_task("mmvet", protocol).card()["unscored"] == {"flag": "judged", "count_metric": "mmvet_unjudged"}


def test_generation_tasks_declare_their_headline_and_direction():
    for name, headline, higher in (("geneval", "geneval_overall", True), ("coco30k", "fid", False),
                                   ("mjhq30k", "fid", False)):  # fmt: skip
        task = get_task(name)
        assert [m.name for m in task.metrics if m.headline] == [headline] == [task.headline]
        assert task.higher_is_better is higher


@pytest.mark.parametrize(("name", "protocol"), [(n, p) for n in list_tasks() for p in task_class(n).protocols])
def test_every_declaration_is_one_results_can_read(name: str, protocol: str):
    """What a task declares, results/ accepts as run.json's ``metrics`` (templates, groups, one headline)."""
    from janus_eval.results.declared import parse_metrics

    task = get_task(name, protocol)
    specs = parse_metrics([m.card() for m in task.metrics], f"{name}/{protocol}")
    assert [s.name for s in specs if s.headline] == [task.headline]


def _rec(score: float, **info: str) -> dict[str, Any]:
    return {"id": "x", "scores": {"score": score}, "score_info": info}


def test_declarations_compute_themselves():
    """``aggregate``'s default applies the declarations: means, group means, templates, custom computations."""
    from janus_eval.protocol import apply_metrics, custom, grouped, mean

    calls: list[int] = []

    def counts(records: list[dict[str, Any]]) -> dict[str, float]:
        calls.append(len(records))
        return {"n/b": 2.0, "n/a": 1.0, "total": float(len(records)), "unrelated": 9.0}

    records = [_rec(1.0, tag="2"), _rec(0.0, tag="10"), _rec(1.0, tag="10"), _rec(1.0, tag="a")]
    metrics = (
        mean("acc", scale=100.0, headline=True),
        grouped("acc_by_tag", group="tag"),
        mean("acc/{tag}", group="tag"),
        mean("acc_ten", group="tag", group_value="10"),
        custom("total", counts),
        custom("n/{k}", counts, group="k"),
    )
    assert list(apply_metrics(metrics, records).items()) == [
        ("acc", 75.0), ("acc_by_tag", (1.0 + 0.5 + 1.0) / 3), ("acc/2", 1.0), ("acc/10", 0.5), ("acc/a", 1.0),
        ("acc_ten", 0.5), ("n/b", 2.0), ("n/a", 1.0), ("total", 4.0),  # one call, in its own order, undeclared left out
    ]  # fmt: skip
    assert calls == [4]
    with pytest.raises(TypeError, match="declares no computation"):
        apply_metrics((Metric("f1", form="custom"),), records)


def test_today_s_keywords_still_declare_a_metric():
    """Protocols declared with the keyword form keep working, with the default unit; their own aggregate wins."""
    from janus_eval.protocol import SAMPLE

    metric = Metric("pope_f1/random", form="custom", higher_is_better=True, headline=True, scale=100.0, group="category",
                    group_value="random")  # fmt: skip
    assert metric.unit == SAMPLE and metric.compute is None and metric.card()["unit"]["kind"] == "sample"
    assert type(get_task("pope").rules).aggregate is not type(get_task("gqa").rules).aggregate  # POPE still hand-writes it
