"""GQA: compositional questions on real images (Hudson & Manning, 2019), scored as lmms-eval 0.7.3 scores `gqa`.

Data: ``lmms-lab/GQA`` (now ``lmms-lab-encoder/GQA``): questions from config
``testdev_balanced_instructions``, split ``testdev`` (12,578 rows); images from config
``testdev_balanced_images`` (columns ``id``, ``image``), joined on the question's ``imageId``.
lmms-eval decodes every image up front; here only an ``id -> row`` index is built and an image is
read when its question is asked.

Scoring is lmms-eval's generic ``exact_match`` with ``ignore_case`` and ``ignore_punctuation``
(no task-specific ``process_results``). Quirks kept on purpose:
- both sides are lower-cased and stripped of every ASCII ``string.punctuation`` character, then
  compared exactly: no whitespace collapsing (``"no ."`` -> ``"no "``, wrong), no articles or number
  words (``"two"`` != ``"2"``), non-ASCII punctuation kept (``"yes…"`` is wrong);
- the prediction is stripped first (by the framework), the answer is not;
- the strings go through numpy string arrays, which drop trailing NUL characters.
``exact_match`` is the mean in [0, 1]; the paper's number is ``gqa_accuracy`` (x 100).

``--protocol vlmevalkit`` scores as VLMEvalKit's ``GQA_TestDev_Balanced`` did for the paper: Janus has
no custom GQA prompt there, so the dataset's default applies, with **no newline** after the image:
``<image>{question}\nAnswer the question using a single word or phrase.``, no system prompt.
Scoring (``process_line(method='accuracy')``): the stripped, lower-cased prediction must equal the
stripped, lower-cased answer; no punctuation, article or number normalisation (``yes.`` is wrong
here, right under lmms-eval). ``Overall`` is the mean in percent, also the paper's ``gqa_accuracy``.

``--protocol paper``: exactly the vlmevalkit rules (``GQA_TestDev_Balanced``; PR #541's description
lists no change for GQA). Checked in VLMEvalKit b3a2f81 ``vlmeval/dataset/image_vqa.py``,
``ImageVQADataset.evaluate`` with ``process_line(method='accuracy')``: exact match after strip/lower,
``Overall`` x 100.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from janus_eval.hfdata import DocSet, load_docset
from janus_eval.protocol import custom
from janus_eval.registry import task
from janus_eval.contract import DatasetSpec, IMAGE_PLACEHOLDER, RunContext
from janus_eval.task import (
    SHORT_ANSWER_PROMPT,
    GenerationSettings,
    JanusEvalError,
    LmmsEvalProtocol,
    Metric,
    UnderstandingTask,
    PaperProtocol,
    VLMEvalKitProtocol,
    record_scores,
    vlmevalkit_cell,
)

POST_PROMPT = SHORT_ANSWER_PROMPT
IMAGES = DatasetSpec(repo="GQA", config="testdev_balanced_images", split="testdev", fixture="GQA",
                     columns=("id", "image"), types=(("image", "image"),))
_DROP_PUNCTUATION = str.maketrans("", "", string.punctuation)


# -- lmms-eval ----------------------------------------------------------------------------------
class GQALmmsEval(LmmsEvalProtocol):
    """The question plus the short-answer post-prompt; ``exact_match`` ignoring case and ASCII punctuation."""

    generation = GenerationSettings(max_new_tokens=16)
    prompt_template = "{question}" + POST_PROMPT
    metrics = (
        Metric("exact_match", form="mean", key="exact_match"),
        Metric("gqa_accuracy", form="mean", key="exact_match", scale=100.0, headline=True),
    )

    def prompt(self, doc: dict[str, Any]) -> str:
        return f"{doc['question']}{POST_PROMPT}"

    def score_sample(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        pred = _exact_match_form(prediction.strip())
        answer = _exact_match_form(str(doc["answer"]))
        score = 1.0 if pred == answer else 0.0
        return {"score": score, "exact_match": score, "prediction": pred, "ground_truth": answer}


def _exact_match_form(text: str) -> str:
    """What lmms-eval's ``exact_match(ignore_case, ignore_punctuation)`` compares."""
    return text.rstrip("\x00").lower().translate(_DROP_PUNCTUATION)


def _vlmevalkit_scores(records: list[dict[str, Any]]) -> dict[str, float]:
    """Custom, not a mean: VLMEvalKit scales before dividing (100 * hits / n), which rounds unlike 100 x the mean."""
    scored = [record_scores(r) for r in records]
    if not scored:
        return {}
    overall = 100.0 * sum(s["score"] for s in scored) / len(scored)
    return {"Overall": overall, "gqa_accuracy": overall}


# -- VLMEvalKit ---------------------------------------------------------------------------------
class GQAVLMEvalKit(VLMEvalKitProtocol):
    """The dataset's default prompt (no newline after the image); ``process_line(method='accuracy')``."""

    prompt_template = IMAGE_PLACEHOLDER + "{question}" + POST_PROMPT
    metrics = (
        custom("gqa_accuracy", _vlmevalkit_scores, headline=True),
        custom("Overall", _vlmevalkit_scores),
    )

    def prompt(self, doc: dict[str, Any]) -> str:
        return f"{IMAGE_PLACEHOLDER}{doc['question']}{POST_PROMPT}".strip()

    def score_sample(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        return _vlmevalkit_accuracy(prediction, str(doc["answer"]))


def _vlmevalkit_accuracy(prediction: str, answer: str) -> dict[str, Any]:
    """``process_line(method='accuracy')`` on the cells VLMEvalKit reads back from its prediction .xlsx.

    Both columns make the round trip (``str()`` of what ``pd.read_excel`` parsed), so a prediction
    "None"/"NA"/"" becomes "nan" and no longer matches an answer "none". ``vlmevalkit_cell`` is
    idempotent, so a prediction already post-processed by ``postprocess`` is unchanged by it.
    """
    pred, truth = vlmevalkit_cell(prediction).strip(), vlmevalkit_cell(answer).strip()
    return {"score": float(truth.lower() == pred.lower()), "prediction": pred, "ground_truth": truth}


# -- data ---------------------------------------------------------------------------------------
@dataclass
class JoinedDocSet(DocSet):
    """GQA questions whose ``full_doc`` adds the ``image`` of their ``imageId`` from the images config."""

    image_rows: DocSet
    row_of_image: dict[str, int]

    def full_doc(self, index: int) -> dict[str, Any]:
        doc = super().full_doc(index)
        image_id = str(doc["imageId"])
        row = self.row_of_image.get(image_id)
        if row is None:
            raise JanusEvalError(
                f"GQA question {doc.get('id')!r} refers to imageId {image_id!r}, which is not in "
                f"{self.image_rows.files[0].parent} ({IMAGES.config}/{IMAGES.split}-*.parquet)"
            )
        return {**doc, "image": self.image_rows.full_doc(row)["image"]}


class GQAPaper(PaperProtocol, GQAVLMEvalKit):
    """The Janus paper's rules for this benchmark: VLMEvalKit's, unchanged (only the protocol's name and reference)."""


@task("gqa")
class GQA(UnderstandingTask):
    headline: ClassVar[str] = "gqa_accuracy"
    dataset: ClassVar[DatasetSpec] = DatasetSpec(
        repo="GQA", config="testdev_balanced_instructions", split="testdev", fixture="GQA",
        columns=("id", "imageId", "question", "answer"),
    )
    protocols = {"lmms-eval": GQALmmsEval, "vlmevalkit": GQAVLMEvalKit, "paper": GQAPaper}

    def load(self, ctx: RunContext | Path | None = None) -> DocSet:
        """The questions, each joined on ``imageId`` to its row of the images config when read."""
        data_root = RunContext.of(ctx).data_root
        questions = load_docset(self.dataset, data_root)
        images = load_docset(IMAGES, data_root)
        row_of_image = {str(d["id"]): i for i, d in enumerate(images.docs)}
        return JoinedDocSet(
            docs=questions.docs,
            files=[*questions.files, *images.files],
            _sources=questions._sources,
            _locators=questions._locators,
            image_rows=images,
            row_of_image=row_of_image,
        )

    def doc_id(self, doc: dict[str, Any]) -> str:
        return str(doc["id"])

    def card(self, ctx: RunContext | None = None) -> dict[str, Any]:
        return {**super().card(ctx), "images": {"config": IMAGES.config, "split": IMAGES.split, "join": "imageId -> id"}}
