"""MM-Vet under ``--protocol paper``, checked against MM-Vet's own evaluator (yuweihao/MM-Vet acde843,
mm-vet_evaluator.py), with the judge played by a fake chat-completions server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import pytest
from fake_chat_server import serve

from janus_eval.metrics.mmvet import official as mmvet_official
from janus_eval.metrics.judge import JudgeSettings
from janus_eval.registry import get_task
from janus_eval.contract import RunContext

OFFICIAL_PROMPT_SHA256 = "d1b3e0a5b4e72c888b77164489d705bba4dd149934fff564dfba6443d81afe3f"
"""sha256 of the evaluator's ``prompt`` string (UTF-8, trailing newline included), computed from its source."""
SUFFIX = "\nPredict the correctness of the answer (digit): "
DOC = {"question_id": "v1_9", "question": "What is x?", "answer": "-1<AND>-5", "capability": "math,ocr", "image": None}
SAMPLE_LINE = "\nWhat is x? | -1 <AND> -5 | x = 3 | "
"""``"\\n" + " | ".join([question, gt', prediction, ""])`` for DOC and the prediction ``x = 3``."""


def grade(replies: list[str | None], task_dir: Path, model: str | None = None, prediction: str = "x = 3",
          runs: int = 1) -> tuple[dict[str, Any], list[dict[str, Any]]]:  # fmt: skip
    """DOC graded by the paper protocol through a fake judge answering ``replies`` in turn (last one repeated)."""
    reply = lambda request, n: (200, replies[min(n, len(replies) - 1)])  # noqa: E731
    with serve(reply, record=lambda request: request["body"], model="gpt-4-0613-fake") as (url, seen):
        task = get_task("mmvet", protocol="paper")
        task.protocol_rules.num_runs = runs  # type: ignore[attr-defined]
        ctx = RunContext(task_dir=task_dir, judge=JudgeSettings(url, model))
        scored = task.score_samples([DOC], [prediction], ctx)[0]
    return scored, seen


def test_prompt_is_the_evaluator_s_string():
    assert hashlib.sha256(mmvet_official.PROMPT.encode("utf-8")).hexdigest() == OFFICIAL_PROMPT_SHA256
    assert mmvet_official.PROMPT_SHA256 == OFFICIAL_PROMPT_SHA256


def test_request_is_the_evaluator_s_byte_for_byte(tmp_path: Path):
    scored, seen = grade(["0.5"], tmp_path)
    (body,) = seen
    content = body["messages"][0]["content"]
    assert body["messages"] == [{"role": "user", "content": content}]  # one user message, no system message
    assert hashlib.sha256(content[: -len(SAMPLE_LINE)].encode()).hexdigest() == OFFICIAL_PROMPT_SHA256
    assert content.endswith(SAMPLE_LINE)
    assert body["model"] == "gpt-4-0613" and body["max_tokens"] == 3 and body["temperature"] == 0.0
    assert scored["score"] == 0.5 and scored["judged"] is True and scored["run_scores"] == [0.5]


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("0.7 because", 0.7),  # the text before the first space
        ("0.7\n", 0.7),  # stripped after the split
        ("1.0", 1.0),
        (" 0.4", None),  # a leading space: the first token is empty
        ("0.7\nx", None),  # no space: the whole reply is the token
        ("nan", None),  # divergence: the evaluator accepts nan, which would poison every sum
        ("inf", None),
        ("1.5", None),
        ("-0.1", None),
        ("", None),
        (None, None),  # a null content fails in the evaluator too (its split raises)
    ],
)
def test_read_score(reply: str | None, score: float | None):
    assert mmvet_official.read_score(reply) == score


def test_a_leading_space_from_the_endpoint_is_not_stripped_away(tmp_path: Path):
    scored, seen = grade([" 0.4", "0.7 because"], tmp_path)
    assert len(seen) == 2 and scored["score"] == 0.7


def test_retries_append_the_suffix_at_the_evaluator_s_temperatures(tmp_path: Path):
    scored, seen = grade(["no", "x", "0.5x", "nan", "**1**", "1.0"], tmp_path)
    assert [b["temperature"] for b in seen] == [0.0, 0.0, 0.5, 1.0, 1.5, 2.0]
    first = seen[0]["messages"][0]["content"]
    assert not first.endswith(SUFFIX) and all(b["messages"][0]["content"] == first + SUFFIX for b in seen[1:])
    # the sixth reply ("1.0") is requested but never read: the evaluator's 0.0; here the sample is unjudged
    assert scored["score"] == 0.0 and scored["judge_outcome"] == "failed" and scored["judged"] is False
    assert scored["judge_reply"] == "1.0"


def test_the_fifth_reply_is_still_read(tmp_path: Path):
    scored, seen = grade(["no", "no", "no", "no", "0.9"], tmp_path)
    assert len(seen) == 5 and scored["score"] == 0.9 and scored["judged"] is True


def test_runs_are_graded_independently_and_cached(tmp_path: Path):
    scored, seen = grade(["1.0", "0.5"], tmp_path, runs=2)
    assert scored["run_scores"] == [1.0, 0.5] and scored["score"] == 0.75 and len(seen) == 2
    again, seen = grade(["0.0"], tmp_path, runs=2)  # same folder: every reply from the cache
    assert again["run_scores"] == [1.0, 0.5] and seen == []


def test_card_names_the_evaluator_and_its_judge(tmp_path: Path):
    task = get_task("mmvet", protocol="paper")
    card = task.card(RunContext(task_dir=tmp_path, judge=JudgeSettings("http://127.0.0.1:1/v1", None)))
    judge = card["judge"]
    assert judge["model"] == "gpt-4-0613" and judge["max_tokens"] == 3 and judge["runs"] == 1
    assert judge["temperatures"] == [0.0, 0.0, 0.5, 1.0, 1.5, 2.0] and judge["prompt_sha256"] == OFFICIAL_PROMPT_SHA256
    assert card["protocol"] == "paper" and card["system_prompt"].startswith("You are a helpful assistant.")


def _reference_export(rows: list[tuple[str, list[float]]]) -> dict[str, float]:
    """The evaluator's export_result re-stated: per run sums over each capability's samples (a sample once per
    capability in its set) / count x 100; mean over runs, then numpy's round to 1 decimal; population std."""
    runs = len(rows[0][1])
    out: dict[str, float] = {}
    caps = sorted({c for capability, _ in rows for c in capability.split(",")})
    for cap in caps:
        members = [scores for capability, scores in rows if cap in set(capability.split(","))]
        per_run = [sum(s[i] for s in members) / len(members) * 100 for i in range(runs)]
        out[cap] = round(sum(per_run) / runs * 10) / 10  # rint(x * 10) / 10, numpy's decimals=1 rounding
    totals = [sum(s[i] for _, s in rows) / len(rows) * 100 for i in range(runs)]
    mean = sum(totals) / runs
    out["total"] = round(mean * 10) / 10
    out["std"] = round(math.sqrt(sum((t - mean) ** 2 for t in totals) / runs) * 10) / 10
    return out


def test_aggregate_is_the_evaluator_s_export_over_runs():
    rows = [("math,ocr", [1.0, 0.5]), ("ocr", [0.0, 0.0]), ("rec,ocr", [0.3, 0.6]), ("rec", [1.0, 1.0]),
            ("ocr,rec", [0.7, 0.2])]  # fmt: skip
    records = [{"score": sum(s) / 2, "run_scores": s, "judged": True, "judge_outcome": "scored", "capabilities": c}
               for c, s in rows]  # fmt: skip
    result = get_task("mmvet", protocol="paper").aggregate(records)
    expected = _reference_export(rows)
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, abs=1e-9), key
    assert result["rec"] == pytest.approx(63.3, abs=1e-9)  # each sample once per capability (VLMEvalKit: twice)
    assert result["cap_int/ocr_rec"] == pytest.approx(45.0, abs=1e-9)  # "rec,ocr" and "ocr,rec": one set
    assert result["run/0"] == 60.0 and result["run/1"] == 46.0
    assert result["mmvet_score"] == pytest.approx(53.0) and result["mmvet_unjudged"] == 0.0
