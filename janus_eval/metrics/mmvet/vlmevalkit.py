"""MM-Vet grading as VLMEvalKit (PR #541 era) does it, for ``--protocol vlmevalkit``.

Why separate from its sibling ``lmms_eval``: VLMEvalKit uses its own copy of
MM-Vet's few-shot prompt (line-wrapped, header ``Question | ...``, starting with a newline), parses
the **whole** reply with ``float`` and retries at fixed temperatures, and its ``MMVet_acc`` counts
single-capability rows twice in their capability. Only the judge client and ``common`` are shared.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from janus_eval.metrics.judge import JudgeClient
from janus_eval.metrics.mmvet.common import CAPABILITIES, spaced_answer

DEFAULT_JUDGE_MODEL = "gpt-4-turbo"
JUDGE_MAX_TOKENS = 3
"""PR #541 era (2048 at HEAD)."""
TEMPERATURES = (0.0, 0.5, 1.0, 1.5, 2.0)
"""One judge call per temperature until a reply parses to a score in [0, 1]; then 0.0."""

JUDGE_PREFIX = """
Compare the ground truth and prediction from AI models, to give a correctness score for the prediction.
<AND> in the ground truth means it is totally right
only when all elements in the ground truth are present in the prediction,
and <OR> means it is totally right when any one element in the ground truth is present in the prediction.
The correctness score is 0.0 (totally wrong), 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, or 1.0 (totally right).
Just complete the last space of the correctness score.

Question | Ground truth | Prediction | Correctness
--- | --- | --- | ---
What is x in the equation? | -1 <AND> -5 | x = 3 | 0.0
What is x in the equation? | -1 <AND> -5 | x = -1 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -5 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -5 or 5 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -1 or x = -5 | 1.0
Can you explain this meme? | This meme is poking fun at the fact that the names of the countries
Iceland and Greenland are misleading. Despite its name, Iceland is known for its beautiful green landscapes,
while Greenland is mostly covered in ice and snow. The meme is saying that the person has trust issues
because the names of these countries do not accurately represent their landscapes. |
The meme talks about Iceland and Greenland. It's pointing out that despite their names,
Iceland is not very icy and Greenland isn't very green. | 0.4
Can you explain this meme? | This meme is poking fun at the fact that the names of the countries
Iceland and Greenland are misleading. Despite its name, Iceland is known for its beautiful green landscapes,
while Greenland is mostly covered in ice and snow. The meme is saying that the person has trust issues
because the names of these countries do not accurately represent their landscapes. |
The meme is using humor to point out the misleading nature of Iceland's and Greenland's names.
Iceland, despite its name, has lush green landscapes while Greenland is mostly covered in ice and snow.
The text 'This is why I have trust issues' is a playful way to suggest
that these contradictions can lead to distrust or confusion.
The humor in this meme is derived from the unexpected contrast between the names of the countries
and their actual physical characteristics. | 1.0
"""
"""VLMEvalKit's MM-Vet few-shot grading table (the data its judge sees, kept verbatim)."""
JUDGE_PREFIX_SHA256 = hashlib.sha256(JUDGE_PREFIX.encode("utf-8")).hexdigest()


def judge_prompt(question: str, answer: str, prediction: str) -> str:
    """The prefix, a newline, then ``question | answer' | prediction | `` (``<AND>``/``<OR>`` spaced)."""
    return JUDGE_PREFIX + "\n" + " | ".join([question, spaced_answer(answer), str(prediction), ""])


def read_score(reply: str) -> float | None:
    """``float`` of the whole reply, None when it does not parse or lies outside [0, 1].

    Divergence: VLMEvalKit accepts ``nan`` (every comparison with it is false), which would make the
    averages NaN; we count it as a failed try.
    """
    try:
        score = float(reply)
    except ValueError:
        return None
    return score if 0.0 <= score <= 1.0 and not math.isnan(score) else None


def grade(client: JudgeClient, prompt: str) -> dict[str, Any]:
    """Up to one call per ``TEMPERATURES`` entry; the first reply in range is the score, else 0.0."""
    calls: list[float] = []
    reply, model = "", client.model
    for temperature in TEMPERATURES:
        calls.append(temperature)
        answer = client.complete(prompt, temperature, JUDGE_MAX_TOKENS)
        reply, model = answer.content, answer.model
        score = read_score(reply)
        if score is not None:
            return {"score": score, "judge_outcome": "scored", "judge_reply": reply, "judge_model": model,
                    "judge_calls": calls}  # fmt: skip
    return {"score": 0.0, "judge_outcome": "failed", "judge_reply": reply, "judge_model": model, "judge_calls": calls}


def mmvet_acc(rows: list[dict[str, Any]]) -> dict[str, float]:
    """VLMEvalKit's ``MMVet_acc`` in percent: ``Overall``, per capability, and ``fine/<combination>``.

    One counter serves both tables, so a row whose category is exactly one capability counts twice
    in that capability (VLMEvalKit's quirk, kept). Combinations keep the row's order (``,`` -> ``_``).
    """
    total: dict[str, int] = {}
    score: dict[str, float] = {}
    combinations: list[str] = []

    def add(key: str, grade_: float) -> None:
        total[key] = total.get(key, 0) + 1
        score[key] = score.get(key, 0.0) + grade_

    for row in rows:
        category, grade_ = str(row["category"]), float(row["score"])
        combination = category.replace(",", "_")
        if combination not in combinations:
            combinations.append(combination)
        for capability in CAPABILITIES:
            if capability in category:
                add(capability, grade_)
        add("Overall", grade_)
        add(combination, grade_)
    result = {key: score[key] / total[key] * 100 for key in (*CAPABILITIES, "Overall") if total.get(key)}
    result.update({f"fine/{c}": score[c] / total[c] * 100 for c in combinations})
    return result
