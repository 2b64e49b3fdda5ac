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
"""

from __future__ import annotations

from typing import Any, ClassVar

from janus_eval.metrics.yes_no import vlmevalkit_yes_no as yes_no_extraction
from janus_eval.registry import task
from janus_eval.task import (
    SHORT_ANSWER_PROMPT,
    IMAGE_PLACEHOLDER,
    DatasetSpec,
    GenerationSettings,
    UnderstandingTask,
    record_scores,
)

POST_PROMPT = SHORT_ANSWER_PROMPT
SPLITS = ("adversarial", "popular", "random")


@task("pope")
class Pope(UnderstandingTask):
    headline: ClassVar[str] = "pope_f1"
    dataset: ClassVar[DatasetSpec] = DatasetSpec(
        repo="POPE", split="test", fixture="POPE", columns=("question_id", "question", "answer", "image")
    )
    protocols: ClassVar[tuple[str, ...]] = ("lmms-eval", "vlmevalkit")
    generation = GenerationSettings(max_new_tokens=128)
    prompt_template = "{question}" + POST_PROMPT

    def __init__(self, protocol: str = "lmms-eval") -> None:
        super().__init__(protocol)
        if protocol == "vlmevalkit":
            self.prompt_template = IMAGE_PLACEHOLDER + "\n{question}" + POST_PROMPT

    # -- data ---------------------------------------------------------------------------------
    def doc_id(self, doc: dict[str, Any]) -> str:
        return str(doc["question_id"])

    # -- prompt -------------------------------------------------------------------------------
    def prompt(self, doc: dict[str, Any]) -> str:
        if self.protocol == "vlmevalkit":
            question = doc["question"].replace(" Please answer yes or no.", "")
            return f"{IMAGE_PLACEHOLDER}\n{question}{POST_PROMPT}"
        return doc["question"].strip() + POST_PROMPT

    # -- score --------------------------------------------------------------------------------
    def score_sample(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        if self.protocol == "vlmevalkit":
            extracted = yes_no_extraction(prediction)
            answer = str(doc["answer"]).capitalize()
            return {"score": float(extracted == answer), "prediction": extracted, "ground_truth": answer,
                    "category": doc.get("category")}  # fmt: skip
        pred = prediction.lower().strip()
        answer = str(doc["answer"]).lower().strip()
        return {
            "score": 1.0 if pred == answer else 0.0,
            "prediction": pred,
            "ground_truth": answer,
            "category": doc.get("category"),
        }

    # -- aggregate ----------------------------------------------------------------------------
    def aggregate(self, records: list[dict[str, Any]]) -> dict[str, float]:
        scored = [record_scores(r) for r in records]
        metrics = _vlmevalkit_rating if self.protocol == "vlmevalkit" else _pope_metrics
        result = metrics(scored)
        for split in SPLITS:
            subset = [s for s in scored if s.get("category") == split]
            if subset:
                result.update({f"{k}/{split}": v for k, v in metrics(subset).items()})
        result[self.headline] = result["Overall"] if self.protocol == "vlmevalkit" else 100.0 * result["pope_f1_score"]
        return result


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


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
