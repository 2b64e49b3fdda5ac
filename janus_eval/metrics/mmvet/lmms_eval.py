"""MM-Vet grading as lmms-eval 0.7.3 does it (``mmvet_process_results``, ``mmvet_aggregate_results``),
for ``--protocol lmms-eval``. Its siblings: ``vlmevalkit`` (VLMEvalKit's copy of the grader) and
``official`` (MM-Vet's evaluator); ``janus_eval.tasks.mmvet`` says what we do with unusable replies.

The judge prompt is the MM-Vet few-shot grading prompt
(``janus_eval/data/mmvet_judge_prompt.txt``, byte-identical to lmms-eval's ``MM_VET_PROMPT``, whose
table header reads ``gpt_query_prompt`` where MM-Vet's own evaluator says ``Question``) + ``"\\n"`` +
``"{question} | {answer'} | {prediction} |"``, where ``answer'`` has every ``<AND>`` replaced by
``" <AND> "`` and ``<OR>`` by ``" <OR> "``. One user message, ``temperature 0``, ``max_tokens 128``,
through any OpenAI-compatible endpoint (``janus_eval.metrics.judge``; lmms-eval's default judge is
``gpt-4o-2024-11-20``). The reply's text before the first space is read with ``float()``:
- in [0, 1]: the score;
- not a number (``"0.7\\nbecause"``, ``"**0.5**"``, ``"0.8,"``): the temperature rises by 0.5, one
  extra reply is requested and discarded, and the judge is asked again; at temperature 2.0 the
  score is 0.0 (8 calls for a judge that never answers with a number);
- empty: asked up to 3 times at the same temperature, then 0.0.
- outside [0, 1] (or nan): asked again at the same temperature. Divergence: lmms-eval loops forever
  on a judge that keeps answering so; we stop after ``MAX_OUT_OF_RANGE`` (5) such replies with 0.0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from janus_eval.metrics.judge import JudgeClient
from janus_eval.metrics.mmvet.common import CAPABILITIES, spaced_answer

JUDGE_PROMPT_FILE = Path(__file__).resolve().parents[2] / "data" / "mmvet_judge_prompt.txt"
DEFAULT_JUDGE_MODEL = "gpt-4o-2024-11-20"
"""lmms-eval's default judge; VLMEvalKit's is ``vlmevalkit.DEFAULT_JUDGE_MODEL``."""
JUDGE_TEMPERATURE = 0.0
JUDGE_MAX_TOKENS = 128
EMPTY_ATTEMPTS = 3
"""lmms-eval's ``patience``: asks per judge call while the reply is empty."""
TEMPERATURE_STEP, TEMPERATURE_LIMIT = 0.5, 2.0
MAX_OUT_OF_RANGE = 5
"""Our cap on re-asks after an out-of-range score (lmms-eval has none)."""
COMBINATIONS = ("rec_gen_know", "rec", "spat_ocr", "spat_math_ocr", "rec_spat", "ocr", "math_ocr", "rec_know",
                "rec_spat_gen_ocr", "rec_gen_ocr_know", "rec_spat_ocr", "rec_ocr", "know_spat_ocr", "rec_spat_know",
                "spat_gen_ocr", "rec_spat_math_ocr")  # fmt: skip


def judge_prompt(question: str, answer: str, prediction: str) -> str:
    """The grading prompt for one sample, exactly as lmms-eval builds it."""
    return f"{JUDGE_PROMPT_FILE.read_text(encoding='utf-8')}\n{question} | {spaced_answer(answer)} | {prediction} |"


def read_score(reply: str) -> float | None:
    """lmms-eval's parse: ``float`` of the text before the first space; None when it is not a number."""
    try:
        return float(reply.split(" ")[0].strip())
    except ValueError:
        return None


def grade(client: JudgeClient, prompt: str) -> dict[str, Any]:
    """Ask the judge as lmms-eval does until it gives a score in [0, 1] or the rules give up (then 0.0)."""
    temperature = JUDGE_TEMPERATURE
    calls: list[float] = []
    asked: dict[float, int] = {}

    def ask() -> tuple[str, str]:
        """One lmms-eval judge call: up to EMPTY_ATTEMPTS requests while the reply is empty."""
        for _ in range(EMPTY_ATTEMPTS):
            attempt = asked.get(temperature, 0)
            asked[temperature] = attempt + 1
            calls.append(temperature)
            reply = client.complete(prompt, temperature, JUDGE_MAX_TOKENS, attempt=attempt)
            if reply.content:
                return reply.content, reply.model
        return "", ""

    def outcome(score: float, how: str, reply: str, model: str) -> dict[str, Any]:
        return {"score": score, "judge_outcome": how, "judge_reply": reply, "judge_model": model, "judge_calls": calls}

    out_of_range = 0
    while True:
        reply, model = ask()
        if not reply:
            return outcome(0.0, "empty", reply, model)
        score = read_score(reply)
        if score is None:
            temperature += TEMPERATURE_STEP
            ask()  # lmms-eval requests one more reply here and never reads it
            if temperature >= TEMPERATURE_LIMIT:
                return outcome(0.0, "unparseable", reply, model)
            continue
        if 0.0 <= score <= 1.0:
            return outcome(score, "scored", reply, model)
        out_of_range += 1
        if out_of_range >= MAX_OUT_OF_RANGE:
            return outcome(0.0, "out_of_range", reply, model)


def gpt_eval_scores(scored: list[dict[str, Any]]) -> dict[str, float]:
    """lmms-eval's tables over judged samples (``score``, ``capabilities``), x 100: ``gpt_eval_score``,
    ``capability/<cap>`` (capability string *contains* the name) and ``combination/<combo>`` (capability
    set equal to the combo's); empty groups are left out."""
    result = {"gpt_eval_score": 100.0 * _mean([s["score"] for s in scored])}
    for cap in CAPABILITIES:
        values = [s["score"] for s in scored if cap in s["capabilities"]]
        if values:
            result[f"capability/{cap}"] = 100.0 * _mean(values)
    for combo in COMBINATIONS:
        wanted = set(combo.split("_"))
        values = [s["score"] for s in scored if set(s["capabilities"].split(",")) == wanted]
        if values:
            result[f"combination/{combo}"] = 100.0 * _mean(values)
    return result


def _mean(values: list[float]) -> float:
    """Plain left-to-right sum / count, as lmms-eval (``fsum`` could differ in the last bit)."""
    return sum(values) / len(values) if values else 0.0
