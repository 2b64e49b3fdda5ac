"""What every MM-Vet grader shares: the capabilities, the ground truth as the judge sees it, and which
judge outcomes count as a score."""

from __future__ import annotations

from typing import Any

CAPABILITIES = ("rec", "ocr", "know", "gen", "spat", "math")


def spaced_answer(answer: str) -> str:
    """The ground truth as every grader puts it in the judge prompt: ``<AND>`` -> ``" <AND> "``, ``<OR>`` -> ``" <OR> "``."""
    return str(answer).replace("<AND>", " <AND> ").replace("<OR>", " <OR> ")


def judged_flags(graded: dict[str, Any]) -> dict[str, Any]:
    """``judged``, and why not: a judge that never gave a usable number leaves the sample unjudged.

    lmms-eval (and VLMEvalKit) record 0.0 for such a sample and average it in; that 0 measures
    the judge, not the model, so we keep the reference's 0.0 in ``score`` for inspection but leave
    the sample out of every mean and count it in ``mmvet_unjudged`` instead.
    """
    if graded.get("judge_outcome") == "scored":
        return {"judged": True}
    reply = str(graded.get("judge_reply", ""))[:80]
    return {"judged": False, "unjudged_reason": f"judge gave no usable score ({graded.get('judge_outcome')}; last reply {reply!r})"}
