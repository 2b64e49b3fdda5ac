"""MM-Vet scoring checked against lmms-eval 0.7.3's rules (mmvet_process_results + mmvet_aggregate_results),
with the judge played by a fake chat-completions server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pytest
from fake_chat_server import serve

from janus_eval.metrics.judge import JudgeClient, JudgeSettings
from janus_eval.registry import get_task
from janus_eval.contract import RunContext
from janus_eval.metrics.mmvet import official
from janus_eval.metrics.mmvet.lmms_eval import JUDGE_PROMPT_FILE, judge_prompt, read_score
from janus_eval.task import JanusEvalError, split_scores
from janus_eval.tasks.mmvet import MMVet

PROMPT_SHA256 = "4d9b806e960fcd3f25997104017744653443fb17f907aa0712b5efecea78438c"
"""sha256 of lmms-eval 0.7.3's MM_VET_PROMPT; any edit to the prompt file changes every judged score."""


def fake_judge(reply: Callable[[dict[str, Any], int], tuple[int, str | None]]):
    """A judge whose reply is ``reply(request_body, request_number)``; yields (url, request bodies)."""
    return serve(lambda request, n: reply(request["body"], n), record=lambda request: request["body"], model="judge-x")


def always(content: str | None) -> Callable[[dict[str, Any], int], tuple[int, str | None]]:
    return lambda body, n: (200, content)


def sequence(*contents: str | None) -> Callable[[dict[str, Any], int], tuple[int, str | None]]:
    return lambda body, n: (200, contents[min(n, len(contents) - 1)])


def judge_ctx(url: str, task_dir: Path, model: str | None = "judge-model", key_env: str = "JANUS_TEST_JUDGE_KEY",
              **settings: Any) -> RunContext:  # fmt: skip
    """A run whose judge is at ``url``; replies are cached under ``task_dir / "judge_cache"``."""
    return RunContext(task_dir=task_dir, judge=JudgeSettings(url, model, key_env, **settings))


def judged_task(url: str, task_dir: Path, protocol: str = "lmms-eval", **settings: Any) -> tuple[MMVet, RunContext]:
    task = get_task("mmvet", protocol=protocol)
    assert isinstance(task, MMVet)
    ctx = judge_ctx(url, task_dir, **settings)
    judge = task.protocol_rules.judge_client(ctx)
    assert judge is not None
    judge.sleep = lambda s: None  # no real backoff waits in tests
    return task, ctx


def judge_one(url: str, task_dir: Path, doc: dict[str, Any], prediction: str,
              protocol: str = "lmms-eval") -> dict[str, Any]:  # fmt: skip
    """One sample graded through ``score_samples`` with the run's judge (``score_sample`` has none)."""
    task, ctx = judged_task(url, task_dir, protocol)
    return task.score_samples([doc], [prediction], ctx)[0]


DOC = {"question_id": "v1_9", "question": "What is x?", "answer": "-1<AND>-5", "capability": "math,ocr", "image": None}


# -- prompt -------------------------------------------------------------------------------------
def test_prompt_and_generation():
    task = get_task("mmvet")
    assert task.prompt(DOC) == ("First please perform reasoning, and think step by step to provide best answer to the "
                                "following question: \n\nWhat is x?")  # fmt: skip
    assert task.generation.max_new_tokens == 1024 and task.generation.until == ("\n\n",)
    assert task.images(DOC) == []  # a null image: asked without one


def test_judge_prompt_is_lmms_eval_s():
    text = JUDGE_PROMPT_FILE.read_text(encoding="utf-8")
    assert hashlib.sha256(text.encode()).hexdigest() == PROMPT_SHA256
    prompt = judge_prompt("What is x?", "-1<AND>-5 <OR>2", "x = -1")
    # <AND>/<OR> get spaces around them, already-spaced ones twice; a blank line separates table and query
    assert prompt == text + "\nWhat is x? | -1 <AND> -5  <OR> 2 | x = -1 |"
    assert text.endswith("| 1.0\n")


@pytest.mark.parametrize(
    "reply, value",
    [("1", 1.0), (".5", 0.5), ("0.4 because", 0.4), ("1e-1", 0.1), ("0.7\nbecause", None), ("0.8,", None),
     ("**0.5**", None), ("Correctness: 0.8", None), ("1.5", 1.5)],
)  # fmt: skip
def test_read_score_splits_on_the_first_space_only(reply, value):
    assert read_score(reply) == value


# -- judged scoring -----------------------------------------------------------------------------
def test_score_then_cache_hit_on_rerun(tmp_path: Path):
    with fake_judge(always("0.5 The prediction finds one of two.")) as (url, seen):
        scored = judge_one(url, tmp_path, DOC, "x = -1")
        assert len(seen) == 1 and seen[0]["temperature"] == 0.0 and seen[0]["max_tokens"] == 128
        assert seen[0]["messages"][0]["content"].endswith("\nWhat is x? | -1 <AND> -5 | x = -1 |")
        rerun, ctx = judged_task(url, tmp_path)
        assert rerun.score_samples([DOC], ["x = -1"], ctx)[0] == scored
        judge = rerun.protocol_rules.judge_client(ctx)
        assert len(seen) == 1 and judge is not None and judge.requests_sent == 0
    assert scored["score"] == 0.5 and scored["judged"] is True and scored["judge_outcome"] == "scored"
    assert scored["judge_model"] == "judge-x" and scored["judge_calls"] == [0.0]


def test_retries_after_500_and_429(tmp_path: Path):
    statuses = [500, 429, 200]
    with fake_judge(lambda body, n: (statuses[min(n, 2)], "1.0")) as (url, seen):
        scored = judge_one(url, tmp_path, DOC, "x = -1 or x = -5")
    assert scored["score"] == 1.0 and len(seen) == 3


def test_unparseable_replies_escalate_temperature_then_zero(tmp_path: Path):
    with fake_judge(always("**0.5**")) as (url, seen):
        scored = judge_one(url, tmp_path, DOC, "x = 3")
    # each failed parse: +0.5, one extra (discarded) reply, ask again; at 2.0 the score is 0.0 (8 calls)
    assert [b["temperature"] for b in seen] == [0.0, 0.5, 0.5, 1.0, 1.0, 1.5, 1.5, 2.0]
    assert scored["score"] == 0.0 and scored["judge_outcome"] == "unparseable" and len(scored["judge_calls"]) == 8


def test_the_reply_after_an_escalation_is_discarded(tmp_path: Path):
    with fake_judge(sequence("Score: 0.9", "0.8", "0.6")) as (url, seen):
        scored = judge_one(url, tmp_path, DOC, "x = -5")
    # "0.8" (the extra call at 0.5) is never read; the next call at 0.5 gives 0.6
    assert [b["temperature"] for b in seen] == [0.0, 0.5, 0.5] and scored["score"] == 0.6


def test_empty_replies_three_attempts_then_zero(tmp_path: Path):
    with fake_judge(always("   ")) as (url, seen):
        scored = judge_one(url, tmp_path, DOC, "x = 3")
    assert len(seen) == 3 and scored["score"] == 0.0 and scored["judge_outcome"] == "empty"
    assert scored["judge_model"] == ""  # lmms-eval's eval_model is "" then


def test_an_empty_reply_is_asked_again(tmp_path: Path):
    with fake_judge(sequence(None, "0.3")) as (url, seen):
        scored = judge_one(url, tmp_path, DOC, "x = -5")
    assert len(seen) == 2 and scored["score"] == 0.3 and [b["temperature"] for b in seen] == [0.0, 0.0]


def test_out_of_range_is_asked_again_but_capped(tmp_path: Path):
    with fake_judge(always("1.5")) as (url, seen):
        scored = judge_one(url, tmp_path, DOC, "x = -5")
    assert len(seen) == 5 and scored["score"] == 0.0 and scored["judge_outcome"] == "out_of_range"
    with fake_judge(sequence("nan", "0.7")) as (url, seen):
        assert judge_one(url, tmp_path / "b", DOC, "x = -5")["score"] == 0.7
    assert [b["temperature"] for b in seen] == [0.0, 0.0]  # same temperature, fresh reply


# -- no judge ------------------------------------------------------------------------------------
def test_without_a_judge_there_is_no_score():
    task = get_task("mmvet")
    ctx = RunContext(judge=JudgeSettings.from_flags(None, None, "OPENAI_API_KEY"))  # no --judge-url/--judge-model
    scored = task.score_samples([DOC], ["x = -1"], ctx)[0]
    assert scored == task.score_sample(DOC, "x = -1")  # score_sample never judges
    assert scored["score"] == 0.0 and scored["judged"] is False
    assert task.aggregate([scored, scored], ctx) == {"mmvet_unjudged": 2.0}
    assert task.card(ctx)["judge"] is None and task.card()["judge"] is None
    assert task.scoring_identity(ctx) == {"judge": None} and not task.needs_rescore({"score_info": {}}, ctx)


# -- aggregate -----------------------------------------------------------------------------------
def record(capability: str, score: float) -> dict[str, Any]:
    return {"score": score, "judged": True, "capabilities": capability, "question_id": "q"}


def test_aggregate_capabilities_and_combinations():
    records = [record("rec", 1.0), record("rec,know", 0.5), record("know,rec", 0.0), record("ocr,math", 0.6),
               record("rec,ocr,know,gen,spat", 0.2)]  # fmt: skip
    result = get_task("mmvet").aggregate(records)
    assert result["gpt_eval_score"] == pytest.approx(100 * 2.3 / 5) and result["mmvet_score"] == result["gpt_eval_score"]
    assert result["capability/rec"] == pytest.approx(100 * 1.7 / 4)  # "contains" match
    assert result["capability/math"] == pytest.approx(60.0) and "capability/spat" in result
    assert result["combination/rec_know"] == pytest.approx(25.0)  # set equality, any order
    assert result["combination/math_ocr"] == pytest.approx(60.0) and result["combination/rec"] == 100.0
    assert "combination/spat_ocr" not in result  # empty combinations are left out
    assert not any("gen_ocr_know_spat" in k for k in result)  # a combination outside the 16 only counts in the total
    assert result["mmvet_unjudged"] == 0.0


def test_aggregate_accepts_samples_jsonl_records(tmp_path: Path):
    with fake_judge(always("0.4")) as (url, _):
        scored = judge_one(url, tmp_path, DOC, "x = -1")
    numeric, info = split_scores(scored)
    assert numeric == {"score": 0.4} and info["judged"] is True
    stored = {"id": "v1_9", "prediction": "x = -1", "scores": numeric, "score_info": info}
    assert get_task("mmvet").aggregate([stored]) == get_task("mmvet").aggregate([scored])


def test_card_records_the_judge(tmp_path: Path):
    task, ctx = judged_task("http://127.0.0.1:1/v1", tmp_path)
    judge = task.card(ctx)["judge"]
    assert judge["model"] == "judge-model" and judge["temperature"] == 0.0 and judge["max_tokens"] == 128
    assert judge["prompt_sha256"] == PROMPT_SHA256


def test_submission_file():
    records = [{"id": "v1_0", "prediction": "two", "scores": {"score": 0.0}, "score_info": {"question_id": "v1_0", "judged": False}},
               {"id": "v1_1", "skipped": True}]  # fmt: skip
    assert official.submission(records) == {"v1_0": "two", "v1_1": ""}
    assert "MM-Vet" in official.GRADER and "evaluator" in official.GRADER


def test_fixture_has_an_image_less_row():
    task = get_task("mmvet")
    docset = task.load(None)
    assert 6 <= len(docset) <= 16
    images = [task.images(docset.full_doc(i)) for i in range(len(docset))]
    assert sum(not ims for ims in images) == 1 and all(len(ims) <= 1 for ims in images)


def test_judge_defaults(tmp_path: Path):
    task = get_task("mmvet")
    ctx = RunContext(task_dir=tmp_path, judge=JudgeSettings.from_flags(None, "my-model", "MY_KEY"))
    judge = task.protocol_rules.judge_client(ctx)  # type: ignore[attr-defined]
    assert isinstance(judge, JudgeClient) and judge.url == "https://api.openai.com/v1/chat/completions"
    assert judge.key_env == "MY_KEY" and judge.model == "my-model"
    assert judge.cache_dir == tmp_path / "judge_cache" and task.protocol_rules.judge_client(ctx) is judge  # built once
    assert task.scoring_identity(ctx) == {"judge": {"endpoint": judge.url, "model": "my-model"}}
    default = RunContext(task_dir=tmp_path, judge=JudgeSettings.from_flags("http://127.0.0.1:1/v1", None))
    assert task.protocol_rules.judge_client(default).model == "gpt-4o-2024-11-20"  # type: ignore[attr-defined]
    assert get_task("mmvet", "vlmevalkit").card(default)["judge"]["model"] == "gpt-4-turbo"
    with pytest.raises(JanusEvalError, match="task folder"):
        task.score_samples([DOC], ["x"], RunContext(judge=ctx.judge))  # nowhere to cache replies


def test_run_without_judge_then_with_one_judges_the_stored_predictions(tmp_path: Path, tiny_adapter):
    """A rerun with --judge-url scores the recorded predictions; the model is not called again."""
    from janus_eval.run_options import RunOptions
    from janus_eval.runner import Runner

    class NoModel:
        def understand(self, *args: Any, **kwargs: Any) -> list[str]:
            raise AssertionError("the rerun must not generate")

    def run(adapter: Any, **judge: Any) -> dict[str, dict[str, float]]:
        config = RunOptions(tasks=["mmvet"], out=tmp_path / "r", show_progress=False, limit=3, batch_size=4, **judge)
        return Runner(config, model_factory=lambda: adapter).run()

    class ShortAnswers:  # MM-Vet allows 1024 tokens; 4 are enough to have predictions to judge
        def understand(self, images: Any, questions: Any, max_new_tokens: int, **kwargs: Any) -> list[str]:
            return tiny_adapter.understand(images, questions, 4, **kwargs)

    assert run(ShortAnswers()) == {"mmvet": {"mmvet_unjudged": 3.0}}
    with fake_judge(always("0.5")) as (url, requests):
        result = run(NoModel(), judge_url=url, judge_model="fake-judge")["mmvet"]
    assert result["mmvet_unjudged"] == 0.0 and result["mmvet_score"] == pytest.approx(50.0) and len(requests) == 3
    assert len(list((tmp_path / "r" / "mmvet" / "judge_cache").rglob("*.json"))) == 3  # <out>/mmvet/judge_cache


# -- --protocol vlmevalkit ------------------------------------------------------------------------
from janus_eval.metrics.mmvet import vlmevalkit as vlmevalkit_mmvet  # noqa: E402


def vlm_task() -> MMVet:
    task = get_task("mmvet", protocol="vlmevalkit")
    assert isinstance(task, MMVet)
    return task


def test_vlmevalkit_prompt_and_system_prompt():
    task = vlm_task()
    assert task.prompt({**DOC, "image": "png"}) == "<image_placeholder>\nWhat is x?"
    assert task.prompt(DOC) == "What is x?"  # no image: "\n" + question, stripped by the processor
    assert task.system_prompt == ("You are a helpful assistant. Please answer truthfully and write out your thinking "
                                  "step by step to be sure you get the right answer.")  # fmt: skip
    assert task.generation.max_new_tokens == 512


def test_vlmevalkit_judge_prompt():
    prompt = vlmevalkit_mmvet.judge_prompt("What is x?", "-1<AND>-5", "x = -1")
    assert prompt.startswith("\nCompare the ground truth") and "\nQuestion | Ground truth | Prediction | Correctness\n" in prompt
    assert prompt.endswith("| 1.0\n\nWhat is x? | -1 <AND> -5 | x = -1 | ")


@pytest.mark.parametrize(
    "reply, score", [(" 0.5\n", 0.5), (".5", 0.5), ("1e-1", 0.1), ("0.7 because", None), ("**1.0**", None),
                     ("0.8,", None), ("1.0.", None), ("", None), ("1.5", None), ("inf", None), ("nan", None)],
)  # fmt: skip
def test_vlmevalkit_reads_the_whole_reply(reply, score):
    assert vlmevalkit_mmvet.read_score(reply) == score


def test_vlmevalkit_retries_at_rising_temperatures(tmp_path: Path):
    with fake_judge(sequence("0.7 because", "**1.0**", "0.8")) as (url, seen):
        scored = judge_one(url, tmp_path, DOC, "x = -5", protocol="vlmevalkit")
    assert [b["temperature"] for b in seen] == [0.0, 0.5, 1.0] and all(b["max_tokens"] == 3 for b in seen)
    assert scored["score"] == 0.8 and scored["judged"] is True
    with fake_judge(always("no idea")) as (url, seen):
        scored = judge_one(url, tmp_path / "b", DOC, "x = 3", protocol="vlmevalkit")
    assert [b["temperature"] for b in seen] == [0.0, 0.5, 1.0, 1.5, 2.0] and scored["score"] == 0.0


def test_vlmevalkit_mmvet_acc_counts_single_capability_rows_twice():
    records = [{"score": 1.0, "judged": True, "capabilities": "rec"},
               {"score": 0.0, "judged": True, "capabilities": "rec,ocr"}]  # fmt: skip
    result = vlm_task().aggregate(records)
    assert result["Overall"] == result["mmvet_score"] == 50.0
    assert result["rec"] == pytest.approx(100 * 2 / 3)  # shared counter: tot 3 (the "rec" row twice), score 2
    assert result["ocr"] == 0.0 and result["fine/rec_ocr"] == 0.0
    assert result["fine/rec"] == result["rec"]  # the same counter serves the combination table


def test_vlmevalkit_without_judge_reports_no_score():
    task = vlm_task()
    assert task.aggregate([task.score_sample(DOC, "x")]) == {"mmvet_unjudged": 1.0}


# -- a judge that never gives a number: unjudged, not 0 ------------------------------------------
def test_a_judge_without_a_number_leaves_the_sample_unjudged(tmp_path: Path):
    with fake_judge(always("I cannot grade this")) as (url, _):
        scored = judge_one(url, tmp_path, DOC, "x = 3")
    assert scored["judged"] is False and scored["judge_outcome"] == "unparseable"
    assert "no usable score" in scored["unjudged_reason"] and scored["score"] == 0.0  # lmms-eval's value, kept
    assert get_task("mmvet").aggregate([scored, scored]) == {"mmvet_unjudged": 2.0}  # every sample: no score


def test_unjudged_samples_are_left_out_of_the_score_not_zero(tmp_path: Path):
    docs = [{**DOC, "question_id": f"v1_{i}", "question": f"q{i}"} for i in range(3)]

    def reply(body: dict[str, Any], n: int) -> tuple[int, str]:
        text = body["messages"][0]["content"]
        return 200, "0.9" if text.endswith("q0 | -1 <AND> -5 | x |") else ("" if "q1 |" in text else "1.0")

    with fake_judge(reply) as (url, _):
        task, ctx = judged_task(url, tmp_path)
        scored = task.score_samples(docs, ["x", "x", "x"], ctx)
    assert [s["judged"] for s in scored] == [True, False, True] and scored[1]["judge_outcome"] == "empty"
    result = task.aggregate(scored)
    assert result["mmvet_unjudged"] == 1.0 and result["mmvet_score"] == pytest.approx(95.0)  # (0.9 + 1.0) / 2
    # a record the judge failed on is asked again on a rerun (from the cache, no request)
    assert task.needs_rescore({"id": "v1_1", "scores": {"score": 0.0}, "score_info": split_scores(scored[1])[1]}, ctx)


def test_report_says_how_many_are_unjudged(tmp_path: Path):
    from janus_eval.results.report import summary_rows, result_notes

    card = {"tasks": {"mmvet": {**get_task("mmvet").card(), "samples": 3, "dataset_size": 3}}}  # names mmvet_unjudged
    partly = {"mmvet": {"mmvet_score": 95.0, "mmvet_unjudged": 1.0}}
    assert summary_rows(partly, card)[0][2] == "95.00 (1 unjudged)"
    assert "1 samples unjudged" in result_notes(partly, card)[0] and "leaves them out" in result_notes(partly, card)[0]
    wholly = {"mmvet": {"mmvet_unjudged": 3.0}}
    assert summary_rows(wholly, card)[0][2] == "- (3 unjudged)" and "no score is reported" in result_notes(wholly, card)[0]
    assert result_notes({"mmvet": {"mmvet_score": 50.0, "mmvet_unjudged": 0.0}}, card) == []


# -- judge timeout and concurrency ---------------------------------------------------------------
def test_judge_settings_timeout_and_concurrency(tmp_path: Path):
    task = get_task("mmvet")
    ctx = RunContext(task_dir=tmp_path, judge=JudgeSettings("http://127.0.0.1:1/v1", "m", "K"))  # positional
    assert task.protocol_rules.judge_client(ctx).timeout_s == 60.0 and ctx.judge.concurrency == 1
    settings = JudgeSettings("http://127.0.0.1:1/v1", "m", "K", timeout_s=5, concurrency=4)
    ctx = RunContext(task_dir=tmp_path, judge=settings)
    assert task.protocol_rules.judge_client(ctx).timeout_s == 5.0 and ctx.judge.concurrency == 4
    with pytest.raises(JanusEvalError, match="concurrency"):
        JudgeSettings("http://127.0.0.1:1/v1", "m", "K", concurrency=0)
    with pytest.raises(JanusEvalError, match="concurrency"):
        JudgeSettings.from_flags("http://127.0.0.1:1/v1", "m", "K", concurrency=0)
    with pytest.raises(JanusEvalError, match="judge URL 'notaurl'"):
        JudgeSettings("notaurl", "m", "K")
    with pytest.raises(JanusEvalError, match="judge URL 'notaurl'"):
        JudgeSettings.from_flags("notaurl", None)


def test_a_hanging_judge_fails_after_the_timeout(tmp_path: Path):
    """The judge never answers, so only the timeout ends a request (else this never returns). Each prompt
    asked is asked exactly twice (one timeout retry, not the 7 tries of the other transient failures); the
    second sample's prompt is asked only if its thread started before the first one gave the judge up."""
    with fake_judge(always("hang")) as (url, seen):
        task, ctx = judged_task(url, tmp_path, key_env="K", timeout_s=0.3, concurrency=2)
        scored = task.score_samples([DOC, {**DOC, "question_id": "v1_10", "question": "Other?"}], ["x", "y"], ctx)
    assert [s["judged"] for s in scored] == [False, False]  # kept, unjudged: a rerun only judges them
    asked = Counter(body["messages"][0]["content"] for body in seen)
    assert 1 <= len(asked) <= 2 and set(asked.values()) == {2}
    assert task.protocol_rules.judge_client(ctx).requests_sent == len(seen)
    message = task.scoring_failure([{"id": "a", "scores": {}, "score_info": s} for s in scored])
    assert message is not None and "\n" not in message and url in message and "0.3 s timeout (2 tries)" in message


def test_non_utf8_judge_reply_is_a_one_line_error(tmp_path: Path):
    with fake_judge(always(b"\xff\xfe not utf-8")) as (url, _):  # type: ignore[arg-type]
        scored = judge_one(url, tmp_path, DOC, "x")
    assert scored["judged"] is False and "not UTF-8" in scored["judge_error"] and "\n" not in scored["judge_error"]


@pytest.mark.parametrize("protocol", ["lmms-eval", "vlmevalkit"])
def test_concurrency_changes_neither_records_nor_cache(tmp_path: Path, protocol: str):
    """Replies depend only on the request; any concurrency gives the same records, order and cache files."""
    docs = [{**DOC, "question_id": f"v1_{i}", "question": f"question {i % 5}"} for i in range(12)]
    predictions = [f"x = {i % 4}" for i in range(12)]

    def reply(body: dict[str, Any], n: int) -> tuple[int, str]:
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).digest()
        return 200, ("not a number" if digest[0] % 3 == 0 else f"{digest[1] / 255:.2f}")

    results = {}
    for concurrency in (1, 4):
        cache = tmp_path / f"c{concurrency}" / "judge_cache"
        with fake_judge(reply) as (url, seen):
            task, ctx = judged_task(url, tmp_path / f"c{concurrency}", protocol, key_env="K", concurrency=concurrency)
            records = task.score_samples(docs, predictions, ctx)
        files = {p.relative_to(cache): p.read_text() for p in sorted(cache.rglob("*.json"))}
        results[concurrency] = (records, files, len(seen))
    assert results[1][0] == results[4][0] and [r["question_id"] for r in results[4][0]] == [d["question_id"] for d in docs]
    assert results[1][1] == results[4][1] and results[1][2] == results[4][2]
    replay, ctx = _configured(protocol, tmp_path / "c1")
    assert results[1][0] == [replay.score_samples([d], [p], ctx)[0] for d, p in zip(docs, predictions)]


def _configured(protocol: str, task_dir: Path) -> tuple[MMVet, RunContext]:
    """A judge that can only replay the cache (an unreachable URL): the sequential records, from cache."""
    task = get_task("mmvet", protocol=protocol)
    assert isinstance(task, MMVet)
    return task, judge_ctx("http://127.0.0.1:9/v1", task_dir, key_env="K")


# -- a judge that fails keeps the model's work (#24.14) ------------------------------------------
def mmvet_run(cli_invoke, out: Path, url: str) -> tuple[int, str, str]:
    return cli_invoke("run", "--tasks", "mmvet", "--judge-url", url, "--judge-key-env", "JANUS_TEST_JUDGE_KEY",
                      "--judge-timeout", "0.5", "--out", str(out), "--limit", "3", "--no-progress")  # fmt: skip


@pytest.mark.parametrize("failure", ["http-500", "hang", "garbage", "down"])
def test_a_failing_judge_keeps_the_predictions_and_a_rerun_only_judges(cli_invoke, tmp_path: Path, monkeypatch,
                                                                      model_loads, failure: str):  # fmt: skip
    import socket
    from contextlib import nullcontext

    from janus_eval.io import read_jsonl

    monkeypatch.setenv("JANUS_TEST_JUDGE_KEY", "k")
    out = tmp_path / "run"
    if failure == "down":  # a port nobody listens on
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        judge = nullcontext((f"http://127.0.0.1:{port}/v1", []))
    else:
        reply = {"http-500": (500, "x"), "hang": (200, "hang"), "garbage": (200, b"<html>oops</html>")}[failure]
        judge = serve(lambda request, n: reply)
    with judge as (url, _):
        code, _, err = mmvet_run(cli_invoke, out, url)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert "predictions are kept" in lines[0] and "only the judge runs" in lines[0], err
    records = read_jsonl(out / "mmvet" / "samples.jsonl")
    assert len(records) == 3 and all(isinstance(r["prediction"], str) for r in records)
    assert not any(r["score_info"]["judged"] for r in records)
    assert len(model_loads) == 1

    with serve(lambda request, n: (200, "0.5")) as (url, requests):  # the judge works again: nothing is generated
        code, _, err = mmvet_run(cli_invoke, out, url)
    assert code == 0, err
    assert len(model_loads) == 1 and len(requests) == 3
    results = json.loads((out / "results.json").read_text())["mmvet"]
    assert results["mmvet_unjudged"] == 0.0 and results["mmvet_score"] == pytest.approx(50.0)
