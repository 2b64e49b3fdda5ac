"""The bootstrap draws the unit a metric is computed over (#24.8): MMBench's circular groups, MME's image pairs."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from janus_eval.references import task_reference
from janus_eval.registry import get_task
from janus_eval.results.bootstrap import Units, percentile_ci
from janus_eval.results.declared import MetricSpec, UnitSpec
from janus_eval.results.gate import run_gate
from janus_eval.results.rundir import RunDir
from janus_eval.task import split_scores

CIRCULAR = 1_000_000
COPIES = 4


def _record(task: Any, doc: dict[str, Any], doc_id: str, prediction: str) -> dict[str, Any]:
    scores, info = split_scores(task.score_sample(doc, prediction))
    return {"id": doc_id, "prompt": "q", "prediction": prediction, "scores": scores, "score_info": info}


def mmbench_records(questions: int, wrong_copy: set[int]) -> list[dict[str, Any]]:
    """``questions`` x ``COPIES`` circular rows, all answered right except copy 1 of the questions in ``wrong_copy``."""
    task = get_task("mmbench")
    records = []
    for q in range(questions):
        for k in range(COPIES):
            index = q + k * CIRCULAR
            doc = {"index": index, "question": f"Q{q}?", "A": "a", "B": "b", "C": "c", "D": "d", "answer": "ABCD"[k],
                   "category": "cat", "L2-category": "l2", "hint": None, "split": "dev", "source": "s"}  # fmt: skip
            answer = "ABCD"[(k + 1) % 4] if (q in wrong_copy and k == 1) else "ABCD"[k]
            records.append(_record(task, doc, str(index), answer))
    return records


def mmbench_run(run_factory, name: str, records: list[dict[str, Any]]) -> RunDir:
    return RunDir.load(run_factory(name, {"mmbench": (records, get_task("mmbench").aggregate(records))}))


def test_the_mmbench_headline_declares_circular_groups(run_factory):
    run = mmbench_run(run_factory, "m", mmbench_records(4, set()))
    assert run.declaration("mmbench", "mmbench_accuracy").unit == UnitSpec("group", "index", CIRCULAR)


def test_the_mmbench_ci_is_computed_over_circular_groups(run_factory, monkeypatch):
    """Every resample the task's aggregate sees holds whole circular groups, and the CI centres on the true change.

    Rows drawn one by one would drop a question's wrong copy about a third of the time, turning the
    question right: the baseline's resampled accuracy would sit near 68% while it is 50%.
    """
    base_records = mmbench_records(80, wrong_copy=set(range(0, 80, 2)))  # 50% under circular evaluation
    cand_records = mmbench_records(80, wrong_copy=set())  # 100%
    base, cand = mmbench_run(run_factory, "base", base_records), mmbench_run(run_factory, "cand", cand_records)
    seen: list[list[dict[str, Any]]] = []

    def spying(task: str, metric: str, protocol: str):
        reference = task_reference(task, metric, protocol)

        def recompute(records):
            seen.append(records)
            return reference(records)

        return recompute

    verdict = run_gate(base, cand, n_boot=200, seed=3, references=spying).verdicts[0]
    assert verdict.metric == "mmbench_accuracy" and verdict.diff == pytest.approx(50.0)
    assert "index groups" in verdict.method
    assert seen and all(_whole_groups(records) for records in seen)
    middle = (verdict.ci_low + verdict.ci_high) / 2
    assert verdict.ci_low < 50.0 < verdict.ci_high and abs(middle - 50.0) < 5.0


def _whole_groups(records: list[dict[str, Any]]) -> bool:
    """Each circular group present holds its ``COPIES`` rows equally often (a group drawn twice, twice each)."""
    per_group: dict[int, Counter] = {}
    for record in records:
        index = int(record["score_info"]["index"])
        per_group.setdefault(index % CIRCULAR, Counter())[index // CIRCULAR] += 1
    return all(len(c) == COPIES and len(set(c.values())) == 1 for c in per_group.values())


def mme_records(images: int, both_right: int) -> list[dict[str, Any]]:
    """Two questions per image: both answered right for the first ``both_right`` images, one right for the rest."""
    task = get_task("mme")
    records = []
    for i in range(images):
        for j, answer in enumerate(("Yes", "No")):
            doc = {"question_id": f"existence/{i:04d}.png", "question": f"Is there thing {j}?", "answer": answer,
                   "category": "existence"}  # fmt: skip
            prediction = answer if (i < both_right or j == 0) else ("No" if answer == "Yes" else "Yes")
            records.append(_record(task, doc, f"{i}#{j}", prediction))
    return records


def test_the_mme_ci_resamples_image_pairs(run_factory, synth):
    """acc+ needs both questions of an image: resampling rows put three answers on one image and MME refused."""
    runs = []
    for name, right in (("b", 30), ("c", 10)):
        records = mme_records(40, right)
        path = run_factory(name, {"mme": (records, get_task("mme").aggregate(records))})
        runs.append(RunDir.load(synth.declare_metrics(path, {"mme": get_task("mme").card()["metrics"]})))
    verdict = run_gate(*runs, n_boot=100, references=task_reference).verdicts[0]
    assert verdict.verdict == "regression" and "question_id groups" in verdict.method


def test_units_map_group_draws_onto_records():
    records = [{"scores": {"score": 1.0}, "score_info": {"g": g}} for g in ("a", "a", "b", "c", "c", "c")]
    units = Units(records, UnitSpec("group", "g"))
    assert units.count == 3 and units.of_record.tolist() == [0, 0, 1, 2, 2, 2]
    import numpy as np

    assert units.record_counts(np.array([[2.0, 0.0, 1.0]])).tolist() == [[2, 2, 0, 1, 1, 1]]
    drawn = units.draw(records, np.array([0, 0]))
    assert [r["score_info"]["g"] for r in drawn] == ["a", "a", "a~1", "a~1"]  # the second copy is another group


def test_a_group_unit_widens_a_mean_ci():
    """Scores that agree within a group carry less information than as many independent samples."""
    records = [{"scores": {"score": float(g % 2)}, "score_info": {"g": str(g)}} for g in range(40) for _ in range(10)]
    per_sample = percentile_ci(records, "acc", MetricSpec("acc", "mean", True), n_boot=400)
    per_group = percentile_ci(records, "acc", MetricSpec("acc", "mean", True, unit=UnitSpec("group", "g")), n_boot=400)
    assert per_sample is not None and per_group is not None
    assert per_group[1] - per_group[0] > 2 * (per_sample[1] - per_sample[0])
