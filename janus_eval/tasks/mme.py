"""MME: yes/no perception and cognition questions (Fu et al., 2023), scored as lmms-eval 0.7.3 scores `mme`.

Data: ``lmms-lab/MME`` (now ``lmms-lab-encoder/MME``), default config, split ``test`` (2,374 rows).
Each image is asked two questions (usually one "Yes" and one "No"); both rows share the image's
``question_id`` (e.g. ``code_reasoning/0020.png``), so a sample's id here is that plus a hash of
its question.

Per image: acc = mean of its two scores x 100, acc+ = 100 if both are right; a category's score is
the mean over its images of acc + acc+ (0-200); ``mme_perception_score`` / ``mme_cognition_score``
are the sums over the categories present (max 2000 / 800). The paper's MME number is the perception
sum, reported as ``mme_perception``. Per category: ``mme_score/<cat>``, ``mme_acc/<cat>``,
``mme_acc_plus/<cat>`` (lmms-eval only logs the score, rounded to 2 decimals).

lmms-eval quirks kept on purpose:
- the prompt drops every ``" Please answer yes or no."`` (with its leading space; other spellings
  stay) before appending the post-prompt;
- answer parsing: lower-case, strip, delete every ``.``; ``yes``/``no`` as is; a single character
  ``y``/``n``; otherwise ``yes`` anywhere in the first 4 characters, else ``no`` there, else "other"
  (so ``"nope"``, ``"know"``, ``"not sure"`` read as no, ``"yeah"`` and ``"there is no"`` as other);
- a category outside the ten perception categories counts as cognition;
- with the paper's ten perception categories, a missing one simply adds nothing to the sum.
Where lmms-eval asserts (a ``question_id`` group without exactly 2 records), we differ: a group
of 1, which a ``--limit`` run can cut, is dropped and counted in ``mme_incomplete_pairs``; a group
of more than 2 is a data error and raises. A ground truth other than yes/no raises, as lmms-eval does.

``--protocol vlmevalkit`` scores as VLMEvalKit's ``MME`` did for the paper (no LLM judge): the prompt
keeps ``" Please answer yes or no."`` and adds the Janus wrapper's instruction
(``<image>\n{question}\nAnswer the question using a single word or phrase.``), no system prompt;
``YOrN_Extraction`` reads the words ``yes``/``no`` anywhere (``"The answer is yes"`` is Yes; ``y``,
``Yes:`` are Unknown, and Unknown is wrong). ``MME_rating``: per category, acc (mean score x 100) +
acc+ (mean over images of first score x second score, x 100), max 200; ``perception`` and
``reasoning`` (VLMEvalKit's name for cognition) are the sums over their categories; the paper's
MME-P is ``perception`` (also under ``mme_perception``). Keys: ``perception``, ``reasoning`` and each
category's name. Divergences, for partial runs only: VLMEvalKit raises when any of the 14 categories
is missing (``KeyError``) or an image has a single question (``IndexError``); we sum the categories
present (listed missing in ``mme_missing_categories``, a count), and leave single-question images out
of acc+ (counted in ``mme_incomplete_pairs``; their score still counts in acc). An image with more
than 2 questions uses its first two for acc+, as VLMEvalKit does.

``--protocol paper``: exactly the vlmevalkit rules (PR #541's description: paper 1338.0, VLMEvalKit
1342.4; no change to MME was made). Checked in VLMEvalKit b3a2f81 ``vlmeval/dataset/utils/yorn.py``,
``MME_rating``: per category acc + acc+ (pairs by ``image_path``), ``perception`` = the sum of the ten
perception categories, which is the paper's MME-P column (``mme_perception``).
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from janus_eval.metrics.vlmevalkit_prompt import janus_content
from janus_eval.metrics.yes_no import vlmevalkit_yes_no
from janus_eval.protocol import custom, per_group
from janus_eval.registry import task
from janus_eval.task import (
    IMAGE_PLACEHOLDER,
    SHORT_ANSWER_PROMPT,
    DatasetSpec,
    GenerationSettings,
    JanusEvalError,
    LmmsEvalProtocol,
    UnderstandingTask,
    PaperProtocol,
    VLMEvalKitProtocol,
    record_scores,
)

POST_PROMPT = SHORT_ANSWER_PROMPT
REMOVED_INSTRUCTION = " Please answer yes or no."
PERCEPTION = ("existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark", "artwork", "OCR")
IMAGE_PAIR = per_group("question_id")
"""MME scores the two questions about an image together (acc+), so a bootstrap resamples images."""
COGNITION = ("commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning")


def _lmms_eval_scores(records: list[dict[str, Any]]) -> dict[str, float]:
    """lmms-eval's ``mme_aggregate_results`` per category (acc + acc+ over image pairs), summed per eval type."""
    scored = [record_scores(r) for r in records]
    result: dict[str, float] = {}
    incomplete = 0
    for eval_type in ("perception", "cognition"):
        subset = [s for s in scored if s["eval_type"] == eval_type]
        if not subset:
            continue
        categories, dropped = _category_scores(subset)
        incomplete += dropped
        result[f"mme_{eval_type}_score"] = sum(c["score"] for c in categories.values())
        for category, values in categories.items():
            result[f"mme_score/{category}"] = values["score"]
            result[f"mme_acc/{category}"] = values["acc"]
            result[f"mme_acc_plus/{category}"] = values["acc_plus"]
    if "mme_perception_score" in result:
        result["mme_perception"] = result["mme_perception_score"]
    result["mme_incomplete_pairs"] = float(incomplete)
    return result


def _vlmevalkit_scores(records: list[dict[str, Any]]) -> dict[str, float]:
    """VLMEvalKit's ``MME_rating``, plus the paper's number (its perception sum)."""
    result = _vlmevalkit_rating([record_scores(r) for r in records])
    if "perception" in result:
        result["mme_perception"] = result["perception"]
    return result


# -- lmms-eval ----------------------------------------------------------------------------------
class MMELmmsEval(LmmsEvalProtocol):
    """The question without " Please answer yes or no." plus the post-prompt; Otter's yes/no reading; pair sums."""

    generation = GenerationSettings(max_new_tokens=16)
    prompt_template = "{question without ' Please answer yes or no.'}" + POST_PROMPT
    metrics = (
        custom("mme_perception", _lmms_eval_scores, headline=True, unit=IMAGE_PAIR),
        custom("mme_perception_score", _lmms_eval_scores, unit=IMAGE_PAIR),
        custom("mme_cognition_score", _lmms_eval_scores, unit=IMAGE_PAIR),
        custom("mme_incomplete_pairs", _lmms_eval_scores, higher_is_better=False, unit=IMAGE_PAIR),
        custom("mme_score/{category}", _lmms_eval_scores, group="category", unit=IMAGE_PAIR),
        custom("mme_acc/{category}", _lmms_eval_scores, group="category", unit=IMAGE_PAIR),
        custom("mme_acc_plus/{category}", _lmms_eval_scores, group="category", unit=IMAGE_PAIR),
    )

    def prompt(self, doc: dict[str, Any]) -> str:
        return str(doc["question"]).strip().replace(REMOVED_INSTRUCTION, "") + POST_PROMPT

    def score_sample(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        answer = str(doc["answer"]).lower().strip().replace(".", "")
        if answer not in ("yes", "no"):
            raise JanusEvalError(f"mme sample {mme_doc_id(doc)}: answer {doc['answer']!r} is not Yes/No")
        parsed = parse_yes_no(prediction)
        category = str(doc["category"])
        return {
            "score": 1.0 if parsed == answer else 0.0,
            "prediction": parsed,
            "ground_truth": answer,
            "question_id": str(doc["question_id"]),
            "category": category,
            "eval_type": "perception" if category in PERCEPTION else "cognition",
        }


def parse_yes_no(prediction: str) -> str:
    """lmms-eval's (Otter's) MME reading of a reply: ``yes``, ``no`` or ``other``."""
    text = prediction.lower().strip().replace(".", "")
    if text in ("yes", "no"):
        return text
    if len(text) == 1:
        return {"y": "yes", "n": "no"}.get(text, "other")
    head = text[:4]
    if "yes" in head:
        return "yes"
    if "no" in head:
        return "no"
    return "other"


def _category_scores(scored: list[dict[str, Any]]) -> tuple[dict[str, dict[str, float]], int]:
    """Per category (in order of first appearance): score, acc, acc+; and the incomplete pairs dropped."""
    groups: dict[str, dict[str, list[float]]] = {}
    for s in scored:
        groups.setdefault(s["category"], {}).setdefault(s["question_id"], []).append(float(s["score"]))
    out: dict[str, dict[str, float]] = {}
    dropped = 0
    for category, by_image in groups.items():
        total = acc_sum = plus_sum = 0.0
        complete = 0
        for question_id, scores in by_image.items():
            if len(scores) > 2:
                raise JanusEvalError(
                    f"mme: {len(scores)} records share question_id {question_id!r} in category {category!r}; "
                    "MME scores pairs of questions per image"
                )
            if len(scores) < 2:
                dropped += 1
                continue
            acc = sum(scores) / len(scores) * 100.0
            acc_plus = (sum(scores) == 2) * 100.0
            total += acc_plus + acc
            acc_sum, plus_sum, complete = acc_sum + acc, plus_sum + acc_plus, complete + 1
        if complete:
            out[category] = {"score": total / complete, "acc": acc_sum / complete, "acc_plus": plus_sum / complete}
    return out, dropped


# -- VLMEvalKit ---------------------------------------------------------------------------------
class MMEVLMEvalKit(VLMEvalKitProtocol):
    """The Janus Y/N template keeping " Please answer yes or no."; ``YOrN_Extraction``; ``MME_rating``."""

    prompt_template = IMAGE_PLACEHOLDER + "\n{question}" + POST_PROMPT
    metrics = (
        custom("mme_perception", _vlmevalkit_scores, headline=True, unit=IMAGE_PAIR),
        custom("perception", _vlmevalkit_scores, unit=IMAGE_PAIR),
        custom("reasoning", _vlmevalkit_scores, unit=IMAGE_PAIR),
        custom("mme_missing_categories", _vlmevalkit_scores, higher_is_better=False, unit=IMAGE_PAIR),
        custom("mme_incomplete_pairs", _vlmevalkit_scores, higher_is_better=False, unit=IMAGE_PAIR),
        custom("{category}", _vlmevalkit_scores, group="category", unit=IMAGE_PAIR),  # last: it fits every name
    )

    def prompt(self, doc: dict[str, Any]) -> str:
        return janus_content(f"\n{doc['question']}{POST_PROMPT}")

    def score_sample(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        extracted, answer = vlmevalkit_yes_no(prediction), str(doc["answer"])
        return {"score": float(extracted == answer), "prediction": extracted, "ground_truth": answer,
                "question_id": str(doc["question_id"]), "category": str(doc["category"])}  # fmt: skip


def _vlmevalkit_rating(scored: list[dict[str, Any]]) -> dict[str, float]:
    """VLMEvalKit's ``MME_rating`` over the categories present: acc + acc+ per category, and the sums."""
    groups: dict[str, dict[str, list[float]]] = {}  # category -> image -> scores, in record order
    for s in scored:
        groups.setdefault(s["category"], {}).setdefault(s["question_id"], []).append(float(s["score"]))
    result: dict[str, float] = {}
    incomplete = 0
    for category, by_image in groups.items():
        scores = [x for values in by_image.values() for x in values]
        pairs = [values[0] * values[1] for values in by_image.values() if len(values) >= 2]
        incomplete += len(by_image) - len(pairs)
        acc_plus = 100.0 * sum(pairs) / len(pairs) if pairs else 0.0
        result[category] = 100.0 * sum(scores) / len(scores) + acc_plus
    for name, categories in (("perception", PERCEPTION), ("reasoning", COGNITION)):
        if any(c in result for c in categories):
            result[name] = sum(result.get(c, 0.0) for c in categories)
    result["mme_missing_categories"] = float(sum(c not in result for c in PERCEPTION + COGNITION))
    result["mme_incomplete_pairs"] = float(incomplete)
    return result


# -- data ---------------------------------------------------------------------------------------
def mme_doc_id(doc: dict[str, Any]) -> str:
    """The image's ``question_id`` (shared by its two questions) plus a hash of the question."""
    digest = hashlib.sha1(str(doc["question"]).encode("utf-8")).hexdigest()[:8]
    return f"{doc['question_id']}#{digest}"


class MMEPaper(PaperProtocol, MMEVLMEvalKit):
    """The Janus paper's rules for this benchmark: VLMEvalKit's, unchanged (only the protocol's name and reference)."""


@task("mme")
class MME(UnderstandingTask):
    headline: ClassVar[str] = "mme_perception"
    dataset: ClassVar[DatasetSpec] = DatasetSpec(
        repo="MME", split="test", fixture="MME", columns=("question_id", "question", "answer", "category", "image"),
        types=(("question_id", "id"), ("image", "image")),
    )
    protocols = {"lmms-eval": MMELmmsEval, "vlmevalkit": MMEVLMEvalKit, "paper": MMEPaper}

    def doc_id(self, doc: dict[str, Any]) -> str:
        return mme_doc_id(doc)
