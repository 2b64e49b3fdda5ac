"""POPE: object-hallucination yes/no questions (Li et al., 2023), scored as lmms-eval 0.7.3 scores `pope`.

Data: ``lmms-lab/POPE`` (now ``lmms-lab-encoder/POPE``), default config, split ``test``: 9,000 rows,
3,000 each of the adversarial, popular and random settings, in one task.

lmms-eval quirks kept on purpose (they decide whether our numbers equal theirs):
- a prediction counts only if ``prediction.lower().strip()`` is exactly ``yes`` or ``no``; ``"Yes."``
  or ``"Yes, there is a dog."`` are wrong and count as neither TP, FP nor FN;
- ``pope_yes_ratio`` is the share of ground-truth "yes", not of predicted "yes";
- any 0/0 in precision, recall or F1 is 0.
The paper's POPE number is F1 x 100, reported under ``pope_f1``.

``--protocol vlmevalkit`` scores as VLMEvalKit's ``POPE`` did for the paper (no LLM judge): the prompt
is ``<image>\n{question}\nAnswer ...`` with no system prompt; ``YOrN_Extraction`` reads the words
``yes``/``no`` after punctuation processing (``"Yes, there is a dog."`` is Yes; ``"Yes, but no"`` is
Unknown); Unknown is wrong for accuracy and counts as a "no" for precision/recall/F1. Its numbers
are percentages: ``Overall`` (F1 x 100, the reported one), ``acc``, ``precision``, ``recall``, overall
and per setting.

``--protocol paper`` is the vlmevalkit protocol with the headline the Janus paper printed: the F1 of
the ``random`` setting x 100 (``Overall/random``), not the F1 over all rows. Checked in VLMEvalKit
b3a2f81 ``vlmeval/dataset/utils/yorn.py``, ``POPE_rating``: it explodes the comma-joined ``category``,
computes F1/precision/recall from TP, FP, FN with ``y_pred = extracted == "Yes"`` (Unknown is a "no"),
and returns one table row per split plus ``Overall``, whose column ``Overall`` is F1 x 100. PR #541's
description: 85.5 overall against 87.1 for the ``random`` row, beside the paper's 87.0. Every other
number (overall F1, the other two settings, acc/precision/recall) stays, as non-headline metrics. A
run without ``random`` rows (``--limit``) has no headline.
"""

from __future__ import annotations

from typing import Any, ClassVar

from janus_eval.metrics.yes_no import vlmevalkit_yes_no as yes_no_extraction
from janus_eval.protocol import custom
from janus_eval.registry import task
from janus_eval.contract import DatasetSpec, IMAGE_PLACEHOLDER
from janus_eval.task import (
    SHORT_ANSWER_PROMPT,
    GenerationSettings,
    LmmsEvalProtocol,
    UnderstandingTask,
    PaperProtocol,
    VLMEvalKitProtocol,
    record_scores,
)

POST_PROMPT = SHORT_ANSWER_PROMPT
SPLITS = ("adversarial", "popular", "random")


_LMMS_EVAL_NAMES = ("pope_accuracy", "pope_precision", "pope_recall", "pope_f1_score", "pope_yes_ratio")
"""lmms-eval's metrics, each also per setting as ``<name>/<setting>``; the first is the mean score."""


# -- metrics (each protocol declares its names over one of these computations) -------------------
def _lmms_eval_scores(records: list[dict[str, Any]]) -> dict[str, float]:
    """lmms-eval's POPE metrics overall, then per setting, then the headline (F1 x 100)."""
    result = _overall_and_per_split([record_scores(r) for r in records], _pope_metrics)
    result["pope_f1"] = 100.0 * result["pope_f1_score"]
    return result


def _pope_metrics(scored: list[dict[str, Any]]) -> dict[str, float]:
    pairs = [(s["prediction"], s["ground_truth"]) for s in scored]
    tp = sum(p == "yes" and g == "yes" for p, g in pairs)
    fp = sum(p == "yes" and g == "no" for p, g in pairs)
    fn = sum(p == "no" and g == "yes" for p, g in pairs)
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return {
        "pope_accuracy": _ratio(sum(s["score"] for s in scored), len(scored)),
        "pope_precision": precision,
        "pope_recall": recall,
        "pope_f1_score": _ratio(2 * precision * recall, precision + recall),
        "pope_yes_ratio": _ratio(sum(g == "yes" for _, g in pairs), len(pairs)),
    }


_VLMEVALKIT_NAMES = ("Overall", "acc", "precision", "recall")
"""``POPE_rating``'s columns (F1, accuracy, precision, recall in percent), each also per setting."""


def _vlmevalkit_scores(records: list[dict[str, Any]]) -> dict[str, float]:
    """``POPE_rating`` overall, then per setting, then the headline (the overall F1)."""
    result = _overall_and_per_split([record_scores(r) for r in records], _vlmevalkit_rating)
    result["pope_f1"] = result["Overall"]
    return result


def _vlmevalkit_rating(scored: list[dict[str, Any]]) -> dict[str, float]:
    """VLMEvalKit's ``POPE_rating`` in percent: Unknown counts as a "no" prediction for P/R/F1."""
    pairs = [(s["prediction"] == "Yes", s["ground_truth"] == "Yes") for s in scored]
    tp = sum(p and g for p, g in pairs)
    fp = sum(p and not g for p, g in pairs)
    fn = sum(not p and g for p, g in pairs)
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return {
        "Overall": 100.0 * _ratio(2 * precision * recall, precision + recall),
        "acc": 100.0 * _ratio(sum(s["score"] for s in scored), len(scored)),
        "precision": 100.0 * precision,
        "recall": 100.0 * recall,
    }


def _paper_scores(records: list[dict[str, Any]]) -> dict[str, float]:
    """VLMEvalKit's rating with the ``random`` setting's F1 as headline (none without ``random`` rows)."""
    result = _vlmevalkit_scores(records)
    del result["pope_f1"]
    if f"Overall/{PAPER_SPLIT}" in result:
        result["pope_f1"] = result[f"Overall/{PAPER_SPLIT}"]
    return result


def _overall_and_per_split(scored: list[dict[str, Any]], metrics: Any) -> dict[str, float]:
    """``metrics`` over every sample, then over each POPE setting as ``<metric>/<setting>``."""
    result = metrics(scored)
    for split in SPLITS:
        subset = [s for s in scored if s.get("category") == split]
        if subset:
            result.update({f"{k}/{split}": v for k, v in metrics(subset).items()})
    return result


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


# -- lmms-eval ----------------------------------------------------------------------------------
class PopeLmmsEval(LmmsEvalProtocol):
    """The question plus the short-answer post-prompt; exact "yes"/"no" after lower() and strip()."""

    generation = GenerationSettings(max_new_tokens=128)
    prompt_template = "{question}" + POST_PROMPT
    metrics = (
        custom("pope_f1", _lmms_eval_scores, headline=True),  # F1 x 100; computed last
        *(custom(name, _lmms_eval_scores) for name in _LMMS_EVAL_NAMES),
        *(custom(f"{name}/{{category}}", _lmms_eval_scores, group="category") for name in _LMMS_EVAL_NAMES),
    )

    def prompt(self, doc: dict[str, Any]) -> str:
        return doc["question"].strip() + POST_PROMPT

    def score_sample(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        pred = prediction.lower().strip()
        answer = str(doc["answer"]).lower().strip()
        return {"score": 1.0 if pred == answer else 0.0, "prediction": pred, "ground_truth": answer,
                "category": doc.get("category")}  # fmt: skip


# -- VLMEvalKit ---------------------------------------------------------------------------------
class PopeVLMEvalKit(VLMEvalKitProtocol):
    """``YOrN_Extraction`` of the reply; ``POPE_rating`` in percent, Unknown counted as "no" for P/R/F1."""

    prompt_template = IMAGE_PLACEHOLDER + "\n{question}" + POST_PROMPT
    metrics = (
        custom("pope_f1", _vlmevalkit_scores, headline=True),  # = Overall
        *(custom(name, _vlmevalkit_scores) for name in _VLMEVALKIT_NAMES),
        *(custom(f"{name}/{{category}}", _vlmevalkit_scores, group="category") for name in _VLMEVALKIT_NAMES),
    )

    def prompt(self, doc: dict[str, Any]) -> str:
        question = doc["question"].replace(" Please answer yes or no.", "")
        return f"{IMAGE_PLACEHOLDER}\n{question}{POST_PROMPT}"

    def score_sample(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        extracted = yes_no_extraction(prediction)
        answer = str(doc["answer"]).capitalize()
        return {"score": float(extracted == answer), "prediction": extracted, "ground_truth": answer,
                "category": doc.get("category")}  # fmt: skip


# -- the paper (VLMEvalKit + PR #541's changes) -------------------------------------------------------
PAPER_SPLIT = "random"
"""The POPE setting whose F1 the Janus paper's Table 2 prints (PR #541's description)."""


class PopePaper(PaperProtocol, PopeVLMEvalKit):
    """VLMEvalKit's POPE with the paper's column as headline: the ``random`` row's F1 (``Overall/random``)."""

    metrics = (
        custom("pope_f1", _paper_scores, headline=True),  # = Overall/random
        *(custom(name, _paper_scores) for name in _VLMEVALKIT_NAMES),
        *(custom(f"{name}/{{category}}", _paper_scores, group="category") for name in _VLMEVALKIT_NAMES),
    )


# -- both ---------------------------------------------------------------------------------------
@task("pope")
class Pope(UnderstandingTask):
    headline: ClassVar[str] = "pope_f1"
    dataset: ClassVar[DatasetSpec] = DatasetSpec(
        repo="POPE", split="test", fixture="POPE", columns=("question_id", "question", "answer", "image"),
        types=(("question_id", "id"), ("image", "image")),
    )
    protocols = {"lmms-eval": PopeLmmsEval, "vlmevalkit": PopeVLMEvalKit, "paper": PopePaper}

    def doc_id(self, doc: dict[str, Any]) -> str:
        return str(doc["question_id"])
