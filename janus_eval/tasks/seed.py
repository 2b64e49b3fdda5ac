"""SEED-Bench: 4-option multiple choice on images and videos (Li et al., 2023), as lmms-eval 0.7.3 scores `seedbench`.

Data: ``lmms-lab/SEED-Bench`` (now ``lmms-lab-encoder/SEED-Bench``), default config, split ``test``
(~18k rows). ``image`` is a list: one image for ``data_type == "image"`` rows, several frames for
``"video"`` rows; every one of them is sent, in order, as lmms-eval does.

Generation: lmms-eval's yaml sets only ``until: ["ASSISTANT:"]`` and leaves ``max_new_tokens`` to
each model adapter's default. We use **32** new tokens, through both front doors: ``janus-eval run``
takes ``generation`` below, and ``lmms-eval --model janus`` takes this same number for ``seedbench``
(its ``max_new_tokens`` default is janus-eval's number for a task whose yaml sets none; see
``janus_eval.interop.lmms_eval_model.default_max_new_tokens``), so the raw replies agree token for
token. Only the reply's first non-blank character is scored, so any budget that reaches it gives the
same score; 32 keeps runs fast where lmms-eval's own adapters would use 1024.

Scoring quirks kept on purpose: the stripped reply keeps only its **first character**, compared
case-insensitively with the answer letter. So ``"B"``, ``"b"``, ``"B. dog"`` and ``"Because..."``
(for B) are right, while ``"(B)"``, ``"**B**"``, ``"The answer is B"`` and ``""`` are wrong, and
``"Answer: A"`` is right exactly when the answer is A.

Metrics (lmms-eval's names, fractions in [0, 1]): ``seed_image``, ``seed_video`` (only when video
rows were scored, as in lmms-eval) and ``seed_all``; per ``question_type_id``: ``seed_all/<id>``.
The paper's SEED number is the image accuracy in percent, ``seed_image_accuracy``.

``--protocol vlmevalkit`` scores as VLMEvalKit's ``SEEDBench_IMG`` did for the paper (no LLM judge):
image rows only (``load`` drops ``data_type != "image"``); the Janus wrapper's MCQ prompt
``<image>\n{question}\nA. ...\nB. ...\nC. ...\nD. ...\n\nAnswer with the option's letter from the
given choices directly.``, no system prompt; the letter comes from VLMEvalKit's ``can_infer``
(``janus_eval.metrics.vlmevalkit_mcq``: ``(B)``, ``B.``, ``The answer is B`` and the option text
``dog`` are B; ``b`` is not a letter; a refusal is ``Z``), and an unreadable reply is wrong (no random
letter offline). With a judge (``--judge-url``, ``ctx.judge``) an unreadable reply goes to VLMEvalKit's
judge matcher (``janus_eval.metrics.answer_judge``: its prompt, ``gpt-3.5-turbo-0125`` by default, 3
replies read by ``can_infer``, then a random letter over the options plus ``Z``, drawn per question
here); records say ``matched_by`` and the card's ``answer_matching`` which matcher ran. lmms-eval's
``seedbench`` asks no judge. ``report_acc`` fractions: ``Overall`` and one key per category (the dimension name of
``question_type_id``); the paper's number is ``Overall`` x 100 (``seed_image_accuracy``).

``--protocol paper``: exactly the vlmevalkit rules (``SEEDBench_IMG``; PR #541's description: paper 63.7,
VLMEvalKit 63.8). Checked in VLMEvalKit b3a2f81 ``vlmeval/dataset/image_mcq.py``,
``ImageMCQDataset.evaluate``: SEED is not circular (its name holds neither "mmbench" nor "ccbench"), so
``mcq_vanilla_eval`` scores each row and ``report_acc``'s ``Overall`` is the paper's number.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from PIL import Image

from janus_eval.hfdata import DocSet, decode_image
from janus_eval.metrics.answer_judge import JudgeMatchedTask
from janus_eval.metrics.vlmevalkit_mcq import VLMEvalKitMatching, choices_of, mcq_prompt, report_acc
from janus_eval.metrics.vlmevalkit_prompt import janus_content
from janus_eval.protocol import custom
from janus_eval.registry import task
from janus_eval.contract import DatasetSpec, IMAGE_PLACEHOLDER, RunContext
from janus_eval.task import (
    GenerationSettings,
    LmmsEvalProtocol,
    Metric,
    UnderstandingTask,
    PaperProtocol,
    VLMEvalKitProtocol,
    record_scores,
)

POST_PROMPT = "\nAnswer with the option's letter from the given choices directly."
DIMENSIONS = {1: "Scene Understanding", 2: "Instance Identity", 3: "Instance Attributes", 4: "Instance Location",
              5: "Instances Counting", 6: "Spatial Relation", 7: "Instance Interaction", 8: "Visual Reasoning",
              9: "Text Understanding"}  # fmt: skip
"""VLMEvalKit's ``category`` of a SEED image row, by ``question_type_id``."""


# -- lmms-eval ----------------------------------------------------------------------------------
class SEEDLmmsEval(LmmsEvalProtocol):
    """Question, options A-D and the post-prompt; the reply's first character against the answer letter."""

    data_types: ClassVar[tuple[str, ...] | None] = None
    """Every row: images and videos."""
    generation = GenerationSettings(max_new_tokens=32, until=("ASSISTANT:",))
    prompt_template = "{question}\nA. {choice_a}\nB. {choice_b}\nC. {choice_c}\nD. {choice_d}" + POST_PROMPT
    metrics = (  # in lmms-eval's order; a video-free run reports no seed_video
        Metric("seed_image", form="mean", group="data_type", group_value="image"),
        Metric("seed_video", form="mean", group="data_type", group_value="video"),
        Metric("seed_all", form="mean"),
        Metric("seed_all/{question_type_id}", form="mean", group="question_type_id"),
        Metric("seed_image_accuracy", form="mean", scale=100.0, group="data_type", group_value="image",
               headline=True),
    )  # fmt: skip

    def prompt(self, doc: dict[str, Any]) -> str:
        options = "".join(f"\n{letter}. {doc[f'choice_{letter.lower()}']}" for letter in "ABCD")
        return f"{doc['question']}{options}{POST_PROMPT}"

    def score_sample(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        pred = prediction.strip()[:1]
        answer = str(doc["answer"])
        return {
            "score": 1.0 if pred.lower().strip() == answer.lower().strip() else 0.0,
            "prediction": pred,
            "answer": answer,
            "data_type": str(doc["data_type"]),
            "question_type_id": str(doc.get("question_type_id")),
        }


def _vlmevalkit_scores(records: list[dict[str, Any]]) -> dict[str, float]:
    """``report_acc`` (Overall, then each dimension), then the headline: Overall x 100."""
    scored = [record_scores(r) for r in records]
    if not scored:
        return {}
    result = report_acc(scored)
    return {**result, "seed_image_accuracy": 100.0 * result["Overall"]}


# -- VLMEvalKit ---------------------------------------------------------------------------------
class SEEDVLMEvalKit(VLMEvalKitMatching, VLMEvalKitProtocol):
    """``SEEDBench_IMG``: image rows, the Janus MCQ prompt, ``can_infer``'s letter, ``report_acc`` fractions."""

    data_types: ClassVar[tuple[str, ...] | None] = ("image",)
    """VLMEvalKit's ``SEEDBench_IMG`` holds the image questions only."""
    prompt_template = (
        IMAGE_PLACEHOLDER + "\n{question}\nA. {choice_a}\nB. {choice_b}\nC. {choice_c}\nD. {choice_d}\n" + POST_PROMPT
    )
    metrics = (
        # report_acc's means of ``hit`` in its own order and arithmetic, then the headline (Overall x 100)
        custom("seed_image_accuracy", _vlmevalkit_scores, headline=True),
        custom("Overall", _vlmevalkit_scores),
        custom("{category}", _vlmevalkit_scores, group="category"),  # last: it fits every name
    )

    def prompt(self, doc: dict[str, Any]) -> str:
        n_images = max(1, len(doc.get("image") or []))
        return janus_content(mcq_prompt(doc["question"], vlmevalkit_choices(doc)), n_images)

    def mcq_choices(self, doc: dict[str, Any]) -> dict[str, str]:
        return vlmevalkit_choices(doc)

    def mcq_key(self, doc: dict[str, Any]) -> str:
        return str(doc["question_id"])

    def mcq_record(self, doc: dict[str, Any], letter: str | None) -> dict[str, Any]:
        answer = str(doc["answer"])
        return {"score": float(letter == answer), "hit": float(letter == answer), "prediction": letter or "Z",
                "answer": answer, "category": DIMENSIONS.get(int(doc["question_type_id"]), "unknown")}  # fmt: skip


def vlmevalkit_choices(doc: dict[str, Any]) -> dict[str, str]:
    """VLMEvalKit's ``A``-``D`` columns (``choice_a``-``choice_d``), the missing ones left out."""
    return choices_of({letter: doc.get(f"choice_{letter.lower()}") for letter in "ABCD"})


# -- data ---------------------------------------------------------------------------------------
class SEEDPaper(PaperProtocol, SEEDVLMEvalKit):
    """The Janus paper's rules for this benchmark: VLMEvalKit's, unchanged (only the protocol's name and reference)."""


@task("seed")
class SEEDBench(JudgeMatchedTask, UnderstandingTask):
    headline: ClassVar[str] = "seed_image_accuracy"
    dataset: ClassVar[DatasetSpec] = DatasetSpec(
        repo="SEED-Bench", split="test", fixture="SEED-Bench",
        columns=("question_id", "question", "answer", "data_type", "question_type_id", "choice_a", "choice_b", "choice_c", "choice_d", "image"),
        types=(("question_id", "id"), ("question_type_id", "integer"), ("image", "images")),
    )
    protocols = {"lmms-eval": SEEDLmmsEval, "vlmevalkit": SEEDVLMEvalKit, "paper": SEEDPaper}

    def load(self, ctx: RunContext | Path | None = None) -> DocSet:
        """The rows of the data types the protocol holds (``data_types``; None: every row)."""
        docs = super().load(ctx)
        data_types = self.protocol_rules.data_types  # type: ignore[attr-defined]
        if data_types is None:
            return docs
        keep = [i for i, doc in enumerate(docs.docs) if doc.get("data_type") in data_types]
        locators = [docs._locators[i] for i in keep] if docs._locators else []
        return replace(docs, docs=[docs.docs[i] for i in keep], _locators=locators)

    def doc_id(self, doc: dict[str, Any]) -> str:
        return str(doc["question_id"])

    def images(self, doc: dict[str, Any]) -> list[Image.Image]:
        """Every image of the row's list: the image, or all frames of a video question."""
        where = f"{self.name} sample {self.doc_id(doc)}"
        return [decode_image(value, where=f"{where} image {k}") for k, value in enumerate(doc.get("image") or [])]
