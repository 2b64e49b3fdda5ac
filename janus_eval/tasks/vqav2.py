"""VQAv2: open-ended visual questions (Goyal et al., 2017), scored as lmms-eval 0.7.3 scores `vqav2_val`.

Data: ``lmms-lab/VQAv2`` (now ``lmms-lab-encoder/VQAv2``), default config, split ``validation``
(214,354 questions, 10 human answers each). The paper reports **test-dev** (107,394 questions), whose
answers are private: ``-T vqav2.split=testdev`` (or ``test``) runs that split, reports no local metric,
and writes ``<out>/vqav2/submission/vqav2-testdev.json`` to upload to eval.ai, challenge "VQA Challenge",
phase test-dev. Locally the validation split is scored with the VQA accuracy below.

Scoring (``janus_eval.metrics.vqa_normalize``): prediction and every human answer are normalised
(punctuation, number words, articles, contractions), then the leave-one-out accuracy
``mean over answers of min(1, #other matching answers / 3)``.

lmms-eval quirks kept on purpose:
- normalisation is applied to both sides always (the official evaluation normalises only when the
  human answers disagree, and never digit/article-processes them);
- only the first 32 periods are deleted; a comma between two digits makes every punctuation mark be
  deleted instead of spaced; see ``vqa_normalize`` for the rest;
- "other answers" are found by comparing whole answer dicts, so identical dicts exclude each other;
- a doc without ``answers`` scores 0; the submission answer is the *normalised* prediction;
- lmms-eval mutates the doc's answers in place; we do not (a single pass scores the same).
``exact_match`` is lmms-eval's mean in [0, 1]; the paper's number is ``vqav2_accuracy`` (x 100).

``--protocol vlmevalkit``: VQAv2 is not in VLMEvalKit: scored with lmms-eval's rules (the prompt,
answer normalisation, VQA accuracy and metric names above; ``reference`` stays lmms-eval 0.7.3), while
generation follows the run's protocol (VLMEvalKit's Janus settings: no system prompt, greedy, 512 new
tokens, the .xlsx round trip before scoring). ``card()`` says so under ``protocol_note``.

``--protocol paper``: the paper's VQAv2 column is **test-dev**, scored by the EvalAI server, not by
VLMEvalKit (which has no VQAv2 at b3a2f81; PR #541 does not mention it). So under ``paper`` VQAv2 is
the vlmevalkit variant above (VLMEvalKit's Janus generation settings, lmms-eval's local scoring of a
split with answers), and the paper's number comes from uploading the submission file of a
``-T vqav2.split=testdev`` run; ``protocol_note`` in the card says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from janus_eval.io import write_json
from janus_eval.metrics.vqa_normalize import vqa_accuracy
from janus_eval.protocol import LMMS_EVAL_REFERENCE
from janus_eval.protocol import custom
from janus_eval.registry import task
from janus_eval.contract import DatasetSpec, RunContext
from janus_eval.task import (
    SHORT_ANSWER_PROMPT,
    Option,
    GenerationSettings,
    LmmsEvalProtocol,
    UnderstandingTask,
    PaperProtocol,
    VLMEvalKitProtocol,
    record_scores,
    split_option,
)

POST_PROMPT = SHORT_ANSWER_PROMPT
VLMEVALKIT_NOTE = "VQAv2 is not in VLMEvalKit: scored with lmms-eval's rules"
PAPER_NOTE = (
    "the paper's VQAv2 is test-dev, scored by the EvalAI server (-T vqav2.split=testdev writes the file); VQAv2 is not in "
    "VLMEvalKit, so a local score uses lmms-eval's rules with VLMEvalKit's Janus generation settings"
)


def vqa_aggregate(records: list[dict[str, Any]]) -> dict[str, float]:
    """``exact_match`` overall and per ``answer_type``, and the paper's ``vqav2_accuracy`` (x 100)."""
    scored = [record_scores(r) for r in records]
    if not scored:
        return {}
    result = {"exact_match": _mean([s["exact_match"] for s in scored])}
    for answer_type in sorted({str(s.get("answer_type")) for s in scored if s.get("answer_type")}):
        subset = [s["exact_match"] for s in scored if s.get("answer_type") == answer_type]
        result[f"exact_match/{answer_type}"] = _mean(subset)
    result["vqav2_accuracy"] = 100.0 * result["exact_match"]
    return result


def _mean(values: list[float]) -> float:
    """lmms-eval's ``mean`` aggregation: ``sum / len`` (float sums depend on order at the last ulp)."""
    return sum(values) / len(values)


# -- lmms-eval ----------------------------------------------------------------------------------
class VQAv2LmmsEval(LmmsEvalProtocol):
    """The question plus the short-answer post-prompt; normalised answers, leave-one-out VQA accuracy."""

    generation = GenerationSettings(max_new_tokens=16)
    prompt_template = "{question}" + POST_PROMPT
    note: ClassVar[str | None] = None
    metrics = (
        custom("vqav2_accuracy", vqa_aggregate, headline=True),  # exact_match x 100
        custom("exact_match", vqa_aggregate),
        custom("exact_match/{answer_type}", vqa_aggregate, group="answer_type"),
    )

    def prompt(self, doc: dict[str, Any]) -> str:
        return f"{doc['question']}{POST_PROMPT}"

    def score_sample(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        return vqa_score(doc, prediction)


def vqa_score(doc: dict[str, Any], prediction: str) -> dict[str, Any]:
    """lmms-eval's ``vqav2_process_results``: VQA accuracy of the stripped prediction."""
    answers = doc.get("answers")
    prediction = prediction.strip()  # lmms-eval's framework strips before process_results
    if answers:
        accuracy, answer = vqa_accuracy(prediction, answers)
    else:  # no human answers (the test split): lmms-eval scores 0 and submits the raw text
        accuracy, answer = 0.0, prediction
    return {
        "score": accuracy,
        "exact_match": accuracy,
        "answer": answer,
        "question_id": str(doc["question_id"]),  # a string, so it stays out of the numeric scores
        "answer_type": doc.get("answer_type"),
    }


# -- VLMEvalKit ---------------------------------------------------------------------------------
class VQAv2VLMEvalKit(VLMEvalKitProtocol, VQAv2LmmsEval):
    """Not in VLMEvalKit: VLMEvalKit's generation, system prompt and .xlsx round trip (first base), then
    lmms-eval's prompt, scoring and metrics (second base)."""

    reference = LMMS_EVAL_REFERENCE  # not in VLMEvalKit: its lmms-eval scoring stays
    note: ClassVar[str | None] = VLMEVALKIT_NOTE


class VQAv2Paper(PaperProtocol, VQAv2VLMEvalKit):
    """The vlmevalkit variant (lmms-eval's scoring) with the paper's note: its number is EvalAI's test-dev."""

    reference = LMMS_EVAL_REFERENCE  # not in VLMEvalKit: its lmms-eval scoring stays
    note: ClassVar[str | None] = PAPER_NOTE


@task("vqav2")
class VQAv2(UnderstandingTask):
    headline: ClassVar[str] = "vqav2_accuracy"
    dataset: ClassVar[DatasetSpec] = DatasetSpec(
        repo="VQAv2", split="validation", fixture="VQAv2", columns=("question_id", "question", "image"),
        types=(("question_id", "id"), ("image", "image")), splits=("validation", "testdev", "test"),
        private=("testdev", "test"),
    )
    protocols = {"lmms-eval": VQAv2LmmsEval, "vlmevalkit": VQAv2VLMEvalKit, "paper": VQAv2Paper}
    options: ClassVar[dict[str, Option]] = split_option(dataset)
    submission_server: ClassVar[str | None] = "eval.ai, VQA Challenge (phase test-dev or test-standard)"

    def doc_id(self, doc: dict[str, Any]) -> str:
        return str(doc["question_id"])

    def card(self, ctx: RunContext | None = None) -> dict[str, Any]:
        card = super().card(ctx)
        if note := getattr(self.protocol_rules, "note", None):
            card["protocol_note"] = note
        return card

    def write_submission(self, records: list[dict[str, Any]], docs: list[dict[str, Any]],
                         ctx: RunContext) -> Path | None:  # fmt: skip
        """A test split (test-dev: the paper's column) is scored by EvalAI only: write the file to upload there."""
        if not self.dataset.answers_private:
            return None
        assert ctx.task_dir is not None
        path = ctx.task_dir / "submission" / f"vqav2-{self.dataset.split}.json"
        write_json(path, self.submission(records))
        return path

    def submission(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """EvalAI's VQA result format: ``[{"question_id": int, "answer": str}]``, in record order.

        A sample skipped for a corrupt image answers "": the server grades a file only when it answers every
        question, and the run's card counts the skipped ones."""
        rows = []
        for record in records:
            if record.get("skipped"):
                rows.append({"question_id": int(record["id"]), "answer": ""})
                continue
            scored = record_scores(record)
            rows.append({"question_id": int(scored["question_id"]), "answer": str(scored["answer"])})
        return rows
