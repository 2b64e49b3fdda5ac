"""The judge matcher's prompts, retries and fallbacks, against lmms-eval 0.7.3's code and VLMEvalKit b3a2f81's (restated)."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import pytest
from fake_chat_server import serve

from janus_eval.metrics.answer_judge import (
    LMMS_EVAL_MATCHER,
    VLMEVALKIT_MATCHER,
    AnswerMatcher,
    Ask,
    ask,
    lmms_eval_fallback_stream,
    lmms_eval_prompt,
    vlmevalkit_fallback,
    vlmevalkit_prompt,
)
from janus_eval.metrics.choice import mmbench_choice
from janus_eval.metrics.judge import JudgeClient, JudgeError, JudgeSettings
from janus_eval.metrics.vlmevalkit_mcq import can_infer

CHOICES = {"A": "red", "B": "blue {x}"}

VLMEVALKIT_EXPECTED = (
    "You are an AI assistant who will help me to match an answer with several options of a single-choice question. "
    "You are provided with a question, several options, and an answer, and you need to find which option is most "
    "similar to the answer. If the meaning of all options are significantly different from the answer, output Z. "
    "Your should output a single uppercase character in A, B, C, D (if they are valid options), and Z. \n"
    "Example 1: \nQuestion: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\n"
    "Answer: a cute teddy bear\nYour output: A\n"
    "Example 2: \nQuestion: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\n"
    "Answer: Spider\nYour output: Z\n"
    "Example 3: \nQuestion: What color??\nOptions: There are several options: \nA. red\nB. blue {x}\n\n"
    "Answer: It is bluish\nYour output: "
)
"""VLMEvalKit b3a2f81 ``build_prompt('What color?', build_option_str(CHOICES), 'It is bluish')``, restated."""
VLMEVALKIT_SHA256 = "6068f04557c2d73d2cd0b2ad6cedbb6d063d066097e49aaa813e46c6c783cb6d"
"""sha256 of that prompt as VLMEvalKit's own functions (read from the b3a2f81 sources) built it."""
VLMEVALKIT_CN_SHA256 = "6aba7aaa9687f77500ad10f625dd0fe67a92de8912af7155245f5d7254165dc8"
"""... and of ``build_prompt_cn('这是什么颜色', build_option_str(CHOICES), '蓝色')``."""


# -- prompts ----------------------------------------------------------------------------------------
def test_vlmevalkit_prompt_is_the_reference_s():
    prompt = vlmevalkit_prompt("What color?", CHOICES, "It is bluish")
    assert prompt == VLMEVALKIT_EXPECTED
    assert hashlib.sha256(prompt.encode()).hexdigest() == VLMEVALKIT_SHA256


def test_vlmevalkit_prompt_is_chinese_for_a_chinese_question():
    prompt = vlmevalkit_prompt("这是什么颜色", CHOICES, "蓝色")
    assert prompt.startswith("你是一个帮助我匹配答案") and prompt.endswith("答案: 蓝色\n输出: ")
    assert hashlib.sha256(prompt.encode()).hexdigest() == VLMEVALKIT_CN_SHA256


@pytest.mark.parametrize("options", [["red", "blue"], ["red", "blue", "nan"], ["a {b}", "c", "d", "e"]])
def test_lmms_eval_prompt_is_mmbench_evaluator_s(options):
    evals = pytest.importorskip("lmms_eval.tasks.mmbench.mmbench_evals")
    evaluator = evals.MMBench_Evaluator()
    expected = evaluator.build_prompt("Which one", evaluator.build_option_str(options), "my answer")
    assert lmms_eval_prompt("Which one", options, "my answer") == expected


# -- the retry loop ---------------------------------------------------------------------------------
def _client(url: str, tmp_path: Path) -> JudgeClient:
    return JudgeClient(url, "fake-judge", tmp_path / "cache", sleep=lambda s: None)


def _ask_lmms() -> Ask:
    choices = {"A": "red", "B": "blue"}
    return Ask(lmms_eval_prompt("Which", list(choices.values()), "crimson"), lambda r: mmbench_choice(r, choices))


@pytest.mark.parametrize(
    "replies, letter, requests",
    [
        (["A"], "A", 1),
        (["I would say B."], "B", 1),  # the MMBench heuristic reads the reply: "B." is a letter
        (["", "", "B"], "B", 3),  # empty replies are asked again within one call
        (["no idea", "hmm", "E"], "E", 3),  # "E" is a letter for lmms-eval (then wrong)
        (["no idea", "hmm", "nope"], None, 3),  # three unreadable replies: the random fallback
        ([""] * 15, None, 15),  # 3 calls of 5 empty replies each
        (["Failed to obtain answer via API", "A"], "A", 2),  # the wrapper's failure text spends a call
    ],
)
def test_lmms_eval_loop(tmp_path: Path, replies: list[str], letter: str | None, requests: int):
    with serve(lambda request, n: (200, replies[n] if n < len(replies) else "zzz")) as (url, seen):
        verdict = ask(_client(url, tmp_path), _ask_lmms(), LMMS_EVAL_MATCHER)
    assert verdict.letter == letter and len(seen) == requests
    assert {r["body"]["max_tokens"] for r in seen} == {256} and {r["body"]["temperature"] for r in seen} == {0.0}


def test_vlmevalkit_loop_reads_with_can_infer_and_reasks_on_its_failure_text(tmp_path: Path):
    choices = {"A": "red", "B": "blue"}
    item = Ask(vlmevalkit_prompt("Which", choices, "crimson"), lambda r: can_infer(r, choices))
    replies = ["Failed to obtain answer via API. ", "(B)"]
    with serve(lambda request, n: (200, replies[n])) as (url, seen):
        verdict = ask(_client(url, tmp_path), item, VLMEVALKIT_MATCHER)
    assert verdict.letter == "B" and len(seen) == 2 and seen[0]["body"]["max_tokens"] == 1024
    with serve(lambda request, n: (200, "Z")) as (url, _):
        assert ask(_client(url, tmp_path / "z"), item, VLMEVALKIT_MATCHER).letter == "Z"  # no option: wrong


def test_a_rerun_replays_the_cache(tmp_path: Path):
    replies = ["?", "??", "A"]
    with serve(lambda request, n: (200, replies[n])) as (url, _):
        first = ask(_client(url, tmp_path), _ask_lmms(), LMMS_EVAL_MATCHER)
    with serve(lambda request, n: (500, "down")) as (url, seen):
        again = ask(_client(url, tmp_path), _ask_lmms(), LMMS_EVAL_MATCHER)
    assert again == first and not seen
    assert first.fields() == {"judge_letter": "A", "judge_replies": ["?", "??", "A"], "judge_model": "fake-judge-1"}


def test_a_failing_endpoint_is_an_error_not_a_guess(tmp_path: Path):
    with serve(lambda request, n: (401, "no")) as (url, _), pytest.raises(JudgeError, match="HTTP 401"):
        ask(_client(url, tmp_path), _ask_lmms(), LMMS_EVAL_MATCHER)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_verdicts_are_per_prompt_and_independent_of_concurrency(tmp_path: Path, concurrency: int):
    def reply(request: dict[str, Any], n: int) -> tuple[int, str]:
        prompt = request["body"]["messages"][0]["content"]
        return 200, "A" if "Answer: red-ish" in prompt else "B"

    choices = {"A": "red", "B": "blue"}
    items = [None if p is None else Ask(vlmevalkit_prompt("Q", choices, p), lambda r: can_infer(r, choices))
             for p in ["red-ish", None, "blue-ish", "red-ish"]]  # fmt: skip
    with serve(reply) as (url, seen):
        settings = JudgeSettings(url, "m", concurrency=concurrency)
        verdicts = AnswerMatcher(VLMEVALKIT_MATCHER).verdicts(settings, tmp_path, items)
    assert [v and v.letter for v in verdicts] == ["A", None, "B", "A"]
    assert len(seen) == 2 and len(list(tmp_path.rglob("*.json"))) == 2  # the repeated prompt is asked once


# -- fallbacks ----------------------------------------------------------------------------------------
def test_lmms_eval_fallback_is_the_seed_2680_randint_stream():
    draw = lmms_eval_fallback_stream()
    rng = random.Random()
    rng.seed(2680)  # MMBench_Evaluator.eval_result: rd.seed(2680), then chars[rd.randint(0, 4)] per fallback
    assert [draw() for _ in range(20)] == ["ABCDE"[rng.randint(0, 4)] for _ in range(20)]


def test_vlmevalkit_fallback_is_a_recorded_per_row_choice_over_the_options_and_z():
    letters = {vlmevalkit_fallback({"A": "x", "B": "y"}, f"row{i}") for i in range(200)}
    assert letters == {"A", "B", "Z"}
    assert vlmevalkit_fallback({"A": "x", "B": "y"}, "row7") == vlmevalkit_fallback({"A": "x", "B": "y"}, "row7")


def test_identity_and_description():
    matcher = AnswerMatcher(LMMS_EVAL_MATCHER)
    assert matcher.describe(None) == "heuristic only (no judge)" and matcher.identity(None) is None
    settings = JudgeSettings("http://127.0.0.1:9/v1")
    assert matcher.describe(settings).startswith("heuristic + judge gpt-4o-2024-11-20 at http://127.0.0.1:9/v1/chat/completions")
    assert matcher.identity(settings)["model"] == "gpt-4o-2024-11-20"
    assert AnswerMatcher(VLMEVALKIT_MATCHER).model(settings) == "gpt-3.5-turbo-0125"
