"""POPE: object-hallucination yes/no questions (Li et al., 2023), scored as lmms-eval 0.7.3 scores `pope`.

Data: ``lmms-lab/POPE`` (now ``lmms-lab-encoder/POPE``), default config, split ``test``: 9,000 rows,
3,000 each of the adversarial, popular and random settings, in one task.

lmms-eval quirks kept on purpose (they decide whether our numbers equal theirs):
- a prediction counts only if ``prediction.lower().strip()`` is exactly ``yes`` or ``no``; ``"Yes."``
  or ``"Yes, there is a dog."`` are wrong and count as neither TP, FP nor FN;
- ``pope_yes_ratio`` is the share of ground-truth "yes", not of predicted "yes";
- any 0/0 in precision, recall or F1 is 0.
The paper's POPE number is F1 x 100, reported under ``pope_f1``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from janus_eval.registry import task
from janus_eval.task import DatasetSpec, GenerationSettings, UnderstandingTask, record_scores

POST_PROMPT = "\nAnswer the question using a single word or phrase."
SPLITS = ("adversarial", "popular", "random")


@task("pope")
class Pope(UnderstandingTask):
    headline: ClassVar[str] = "pope_f1"
    dataset: ClassVar[DatasetSpec] = DatasetSpec(repo="POPE", split="test", fixture="POPE")
    generation: ClassVar[GenerationSettings] = GenerationSettings(max_new_tokens=128)
    prompt_template: ClassVar[str] = "{question}" + POST_PROMPT

    # -- data ---------------------------------------------------------------------------------
    def doc_id(self, doc: dict[str, Any]) -> str:
        return str(doc["question_id"])

    # -- prompt -------------------------------------------------------------------------------
    def prompt(self, doc: dict[str, Any]) -> str:
        return doc["question"].strip() + POST_PROMPT

    # -- score --------------------------------------------------------------------------------
    def score_sample(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
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
        result = _pope_metrics(scored)
        for split in SPLITS:
            subset = [s for s in scored if s.get("category") == split]
            if subset:
                result.update({f"{k}/{split}": v for k, v in _pope_metrics(subset).items()})
        result[self.headline] = 100.0 * result["pope_f1_score"]
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
