"""Judge-assisted multiple-choice matching: the LLM matcher the references ask when their heuristic reads no letter.

Two references do it, with the same few-shot prompt apart from the "no option" letter:

- lmms-eval 0.7.3, ``mmbench_en_dev`` (``MMBench_Evaluator.extract_answer_from_item``): prompt with
  ``E`` as "no option" and the options ``build_option_str`` lists (A-D up to the first missing one,
  the string ``"nan"`` included); judge ``MODEL_VERSION`` (default ``gpt-4o-2024-11-20``), temperature
  0, ``max_tokens`` 256. One *call* asks up to 5 times while the reply is empty (``patience``); up to 3
  calls, each reply read with the MMBench heuristic (letters A-E, then option text). A call with no
  reply, or whose reply holds no single letter, spends one of the 3; after the third the reference
  draws ``randint`` over ``ABCDE`` from the global ``random`` that ``eval_result`` seeded with 2680
  (replayed by the task's aggregate, ``LMMS_EVAL_FALLBACK_SEED``).
- VLMEvalKit b3a2f81 (``multiple_choice.extract_answer_from_item``, MMBench, SEED, MMMU): prompt with
  ``Z`` (the Chinese variant when the question holds a CJK character), options
  ``There are several options: \\n`` + ``"{L}. {text}\\n"`` per present option; judge ``chatgpt-0125``
  = ``gpt-3.5-turbo-0125`` (``OpenAIWrapper``: temperature 0, ``max_tokens`` 1024, ``retry`` 5 requests
  per call while the reply is empty or holds its failure text); up to 3 calls, each reply read with
  ``can_infer`` over the row's options (a ``Z`` reply reads ``Z``: no option, so wrong); after the third,
  ``rd.choice`` over the option letters plus ``Z``. VLMEvalKit never seeds that draw (and its API
  wrapper consumes the same generator for its sleeps), so we draw from ``random.Random`` seeded by the
  row's key (``vlmevalkit_fallback``) and record it.

Divergences, both recorded: a judge endpoint still failing after the client's own retries (HTTP errors,
timeouts) stops the run with a ``JudgeError`` (the references count it as a failed call and end in a
random letter: a verdict that measures the network, not the model); requests carry the prompt as a
plain string message (VLMEvalKit sends a one-part ``[{"type": "text"}]`` list: the same text).

Replies are cached by ``JudgeClient`` (model, prompt, temperature, max_tokens, request number for that
prompt), so a rerun replays every verdict without a request; rows with the same prompt are matched once;
``concurrency`` rows are matched at once, and neither changes a verdict.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from janus_eval.errors import JanusEvalError
from janus_eval.metrics.judge import JudgeClient, JudgeSettings

API_FAILURE = "Failed to obtain answer via API"
"""What both references' judge wrappers return after their inner retries; a reply holding it spends a call."""
LMMS_EVAL_FALLBACK_SEED = 2680
"""``MMBench_Evaluator.eval_result`` calls ``random.seed(2680)`` before matching any row."""
LMMS_EVAL_FALLBACK_LETTERS = "ABCDE"
"""lmms-eval's fallback letters: ``num_options`` counts the A-D *columns* (always 4), plus ``E``."""
NO_JUDGE = "heuristic only (no judge)"

_EXAMPLE_QUESTION = "What is the main object in image?"
_EXAMPLE_OPTIONS = "A. teddy bear B. rabbit C. cat D. dog"
_CJK = re.compile("[\u4e00-\u9fff]")


# -- prompts --------------------------------------------------------------------------------------
def matching_prompt(question: str, options: str, prediction: str, none_letter: str) -> str:
    """The English matcher prompt, two worked examples then the row; ``none_letter`` is ``E`` or ``Z``."""
    return (
        "You are an AI assistant who will help me to match an answer with several options of a single-choice "
        "question. You are provided with a question, several options, and an answer, and you need to find which "
        "option is most similar to the answer. If the meaning of all options are significantly different from the "
        f"answer, output {none_letter}. Your should output a single uppercase character in A, B, C, D (if they are "
        f"valid options), and {none_letter}. \n"
        f"Example 1: \nQuestion: {_EXAMPLE_QUESTION}\nOptions: {_EXAMPLE_OPTIONS}\nAnswer: a cute teddy bear\n"
        "Your output: A\n"
        f"Example 2: \nQuestion: {_EXAMPLE_QUESTION}\nOptions: {_EXAMPLE_OPTIONS}\nAnswer: Spider\n"
        f"Your output: {none_letter}\n"
        f"Example 3: \nQuestion: {question}?\nOptions: {options}\nAnswer: {prediction}\nYour output: "
    )


def _chinese_matching_prompt(question: str, options: str, prediction: str) -> str:
    """VLMEvalKit's ``build_prompt_cn`` (used when the question holds a CJK character)."""
    example = "问题: 图中最主要的物体是什么?\n选项: A. 泰迪熊 B. 兔子 C. 猫 D. 狗\n"
    return (
        "你是一个帮助我匹配答案与单选题中多个选项的 AI 助手。你会被提供：一个问题，多个选项，一个答案。"
        "你的任务是找到与答案意义最相近的选项。如果所有选项的意义都与答案显著不同，则输出 Z。"
        "你应该输出一个单个的大写字母，例如 A, B, C, D（如果它们是有效选项），或 Z。"
        f"例 1:{example}答案: 一只可爱的泰迪熊\n输出: A\n"
        f"例 2: \n{example}答案: 蜘蛛\n输出: Z\n"
        f"例 3: \n问题: {question}?\n选项: {options}\n答案: {prediction}\n输出: "
    )


def lmms_eval_prompt(question: str, options: Sequence[str], prediction: str) -> str:
    """lmms-eval's matcher prompt; ``options`` are A, B, ... in order (``extract_options``)."""
    listed = "".join(f"{chr(ord('A') + i)}. {option}\n" for i, option in enumerate(options))
    return matching_prompt(question, "There are several options: \n" + listed, prediction, "E")


def vlmevalkit_prompt(question: str, choices: Mapping[str, str], prediction: str) -> str:
    """VLMEvalKit's matcher prompt for a row's present options (``build_option_str``), English or Chinese."""
    options = "There are several options: \n" + "".join(f"{letter}. {text}\n" for letter, text in choices.items())
    if _CJK.search(question):
        return _chinese_matching_prompt(question, options, prediction)
    return matching_prompt(question, options, prediction, "Z")


# -- asking ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MatcherSpec:
    """One reference's judge request and retry rules."""

    reference: str
    default_model: str
    max_tokens: int
    temperature: float = 0.0
    requests_per_call: int = 5
    """Requests one call makes while the reply is empty (lmms-eval ``patience``, VLMEvalKit ``retry``)."""
    calls: int = 3
    """Replies read before the reference falls back to a random letter."""
    reask_marker: str | None = None
    """A reply holding this is re-asked within the call (VLMEvalKit's wrapper failure text)."""


LMMS_EVAL_MATCHER = MatcherSpec("lmms-eval 0.7.3 MMBench_Evaluator.extract_answer_from_item", "gpt-4o-2024-11-20", 256)
VLMEVALKIT_MATCHER = MatcherSpec("VLMEvalKit b3a2f81 extract_answer_from_item", "gpt-3.5-turbo-0125", 1024,
                                 reask_marker=API_FAILURE + ". ")  # fmt: skip


@dataclass(frozen=True)
class Ask:
    """One row for the judge: its prompt and how a reply is read (the row's letter, or None)."""

    prompt: str
    read: Callable[[str], str | None]


@dataclass(frozen=True)
class Verdict:
    letter: str | None
    """The letter a reply named; None when every call failed to name one (the reference's random fallback)."""
    replies: tuple[str, ...]
    model: str

    def fields(self) -> dict[str, Any]:
        """What a record keeps of the judge's decision."""
        return {"judge_letter": self.letter, "judge_replies": list(self.replies), "judge_model": self.model}


def ask(client: JudgeClient, item: Ask, spec: MatcherSpec) -> Verdict:
    """The reference's loop: up to ``calls`` replies, each call re-asking while the reply is empty."""
    replies: list[str] = []
    model, request = client.model, 0
    for _ in range(spec.calls):
        reply = ""
        for _ in range(spec.requests_per_call):
            answer = client.complete(item.prompt, spec.temperature, spec.max_tokens, attempt=request)
            request += 1
            if answer.content and not (spec.reask_marker and spec.reask_marker in answer.content):
                reply, model = answer.content, answer.model
                break
        replies.append(reply)
        if reply and API_FAILURE not in reply:
            letter = item.read(reply)
            if letter:
                return Verdict(letter, tuple(replies), model)
    return Verdict(None, tuple(replies), model)


class AnswerMatcher:
    """A reference's matcher behind the run's judge: clients per (settings, cache folder), bounded concurrency."""

    def __init__(self, spec: MatcherSpec) -> None:
        self.spec = spec
        self._clients: dict[tuple[JudgeSettings, Path], JudgeClient] = {}
        self._lock = threading.Lock()

    def model(self, settings: JudgeSettings) -> str:
        return settings.model or self.spec.default_model

    def identity(self, settings: JudgeSettings | None) -> dict[str, Any] | None:
        """What verdicts depend on besides the prediction: endpoint, model and the reference's rules."""
        if settings is None:
            return None
        return {"endpoint": settings.endpoint, "model": self.model(settings), "matcher": self.spec.reference}

    def describe(self, settings: JudgeSettings | None) -> str:
        """The ``answer_matching`` line of the task card."""
        if settings is None:
            return NO_JUDGE
        return f"heuristic + judge {self.model(settings)} at {settings.endpoint} ({self.spec.reference})"

    def client(self, settings: JudgeSettings, cache_dir: Path) -> JudgeClient:
        key = (settings, Path(cache_dir))
        with self._lock:
            if key not in self._clients:
                self._clients[key] = JudgeClient(settings.url, self.model(settings), key[1], settings.key_env,
                                                 timeout_s=float(settings.timeout_s))  # fmt: skip
            return self._clients[key]

    def verdicts(self, settings: JudgeSettings, cache_dir: Path, items: Sequence[Ask | None]) -> list[Verdict | None]:
        """A verdict per ``Ask`` (None stays None); each distinct prompt asked once, ``concurrency`` at a time."""
        client = self.client(settings, cache_dir)
        unique = list(dict.fromkeys(item.prompt for item in items if item is not None))
        first = {item.prompt: item for item in items if item is not None and item.prompt in unique}
        workers = max(1, min(int(settings.concurrency), len(unique)))
        if workers == 1:
            found = {prompt: ask(client, first[prompt], self.spec) for prompt in unique}
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="answer-judge") as pool:
                found = dict(zip(unique, pool.map(lambda p: ask(client, first[p], self.spec), unique)))
        return [None if item is None else found[item.prompt] for item in items]


def judge_unread(matcher: AnswerMatcher, ctx: Any, items: Sequence[Ask | None]) -> list[Verdict | None]:
    """Verdicts of the run's judge (``ctx.judge``) for the rows that need one; all None without a judge.

    Replies are cached under ``ctx.task_dir / "judge_cache"`` (``<out>/<task>/judge_cache``).
    """
    settings = getattr(ctx, "judge", None)
    if settings is None or all(item is None for item in items):
        return [None] * len(items)
    task_dir = getattr(ctx, "task_dir", None)
    if task_dir is None:
        raise JanusEvalError("answer matching: a judge needs the run's task folder (ctx.task_dir) for its reply cache")
    return matcher.verdicts(settings, Path(task_dir) / "judge_cache", items)


def vlmevalkit_fallback(choices: Mapping[str, str], key: str) -> str:
    """VLMEvalKit's last resort, ``rd.choice(letters + ["Z"])``, drawn reproducibly per row (``key``)."""
    letters = [*choices, "Z"] if "Z" not in choices else []
    return random.Random(f"vlmevalkit-match:{key}").choice(letters)


def lmms_eval_fallback_stream() -> Callable[[], str]:
    """lmms-eval's fallback letters in matching order: ``randint(0, 4)`` after ``random.seed(2680)``."""
    rng = random.Random(LMMS_EVAL_FALLBACK_SEED)
    return lambda: LMMS_EVAL_FALLBACK_LETTERS[rng.randint(0, len(LMMS_EVAL_FALLBACK_LETTERS) - 1)]


class JudgeMatchedTask:
    """Task-class mixin: a protocol with an ``answer_matcher`` records which matcher ran and re-scores on a judge.

    Records scored without a judge (``matched_by: "none"``: the heuristic read nothing, nobody was
    asked) are scored again once a judge is configured; another judge changes the scoring identity,
    so every record is re-scored. Contexts are duck-typed (``judge``): metrics never import the runner.
    """

    protocol_rules: Any

    def _matcher(self) -> AnswerMatcher | None:
        return getattr(self.protocol_rules, "answer_matcher", None)

    def scoring_identity(self, ctx: Any) -> dict[str, Any]:
        base = super().scoring_identity(ctx)  # type: ignore[misc]
        matcher, settings = self._matcher(), getattr(ctx, "judge", None)
        if matcher is None or settings is None:
            return base  # unchanged without a judge: records scored offline stay valid
        return {**base, "answer_judge": matcher.identity(settings)}

    def needs_rescore(self, record: dict[str, Any], ctx: Any) -> bool:
        scored = record.get("score_info", {}) if isinstance(record.get("scores"), dict) else record
        asked_none = scored.get("matched_by") == "none"
        return self._matcher() is not None and getattr(ctx, "judge", None) is not None and asked_none

    def card(self, ctx: Any = None) -> dict[str, Any]:
        matcher = self._matcher()
        settings = getattr(ctx, "judge", None)
        matching = matcher.describe(settings) if matcher is not None else "heuristic only (the reference asks no judge)"
        return {**super().card(ctx), "answer_matching": matching}  # type: ignore[misc]
