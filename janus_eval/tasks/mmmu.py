"""MMMU validation: college-level multi-discipline questions (Yue et al., 2024), as lmms-eval 0.7.3 scores `mmmu_val`.

Data: ``lmms-lab/MMMU`` (now ``lmms-lab-encoder/MMMU``), split ``validation``: 900 rows over 30
subjects. ``options`` is a string holding a Python list literal (``"[]"`` for open questions);
images are the columns ``image_1`` ... ``image_7``, referenced in the text as ``<image k>``.

Prompt: multiple choice ``"{question}\\nA. {opt1}\\nB. {opt2}...\\n\\nAnswer with the option's letter from
the given choices directly."``; open ``"{question}\\n\\nAnswer the question using a single word or
phrase."``. The ``<image k>`` tokens **stay in the text** and the images go **first**: ``images()``
returns ``image_k`` for each distinct ``<image k>`` of the text (options included), sorted by k, and
the prompt holds no ``<image_placeholder>``, so the Janus chat format puts one placeholder per
image before the question. That is exactly what lmms-eval 0.7.3 gives a "simple" model, the kind
``lmms-eval --model janus`` is: ``mmmu_doc_to_text`` replaces ``<image k>`` only when the task
config's ``metadata.interleaved_format`` is true, and ``mmmu_val`` ships it false;
``mmmu_doc_to_visual`` returns the distinct referenced images, sorted; and a simple model receives
the text and the images separately, with no position for them, so our plugin (like lmms-eval's own
simple adapters) puts them before the text. ``janus-eval run`` and the plugin therefore hand the
adapter the same text and images for a doc (``tests/interop/test_lmms_eval_parity.py``). (lmms-eval
interleaves only for "chat" models, through ``mmmu_doc_to_messages``; Janus is not one there.)
Generation: greedy, ``max_new_tokens 128``, stop at ``"\\n\\n"``.

Scoring: the official MMMU rules as lmms-eval ships them (``janus_eval.metrics.choice.mmmu_choice``
for multiple choice, ``parse_open`` / ``open_correct`` here for open questions), quirks kept:
- several ``X.`` candidates (``"A. no, B. no, C. yes"``) resolve to the first in option order;
- a letter followed by a space is a substring test (``"NASA is"`` holds ``"A "``);
- open answers: ``"answer: 5"`` is not caught by the ``answer `` indicator, ``"$1,234.50"`` does not
  yield 1234.5, and a string gold is right when it is a *substring* of a parsed candidate
  (``"concatenate"`` is right for ``"cat"``); a list-looking gold string is compared as a string.
- 0.7.3 behaviour, not the version trap: the open-answer candidate list is kept whole. (lmms-eval
  from 2025-06-23 through the 0.7.2-era GitHub code collapsed it to its first string and then
  compared single characters, so open questions were nearly always wrong.)

Fallback guess, replayed: when no option letter can be read (``""``, ``"b"``, ``"**D**"``, short
text), lmms-eval draws ``random.choice`` over the letters from the global ``random``, which its CLI
seeds with ``random.seed(0)`` (``--seed``'s first value, default 0; numpy and torch get 1234) at the
start of ``simple_evaluate``, before the tasks load. Nothing else draws from it before MMMU's
``process_results`` in a single-task run (checked with lmms-eval 0.7.3 and the janus plugin: the first
draw sees a fresh ``Random(0)``), and the draws happen in document order (``process_results`` runs in
4 threads, but each call is short and they are submitted in order: the same letters on every run).
So ``score_sample`` leaves such a row unguessed (``guessed: true``, ``parsed_pred`` null, the letters
to draw from in ``fallback_letters``, ``score`` 0.0) and ``aggregate`` replays lmms-eval's stream: a
``random.Random(LMMS_EVAL_RANDOM_SEED)`` drawing one ``choice`` per guessed row in the order the
records come, which the runner makes the dataset order whatever the batching, resume or ranks
(``merge_task_records``); ``janus-eval score`` orders predictions the same way. The headline and
``mmmu_acc`` therefore equal lmms-eval's for a single-task run (``lmms-eval --tasks mmmu_val``).
They cannot agree when something else draws from that generator first: several tasks in one
lmms-eval process whose ``process_results`` use ``random`` before ``mmmu_val``'s (another MMMU
variant, a judge client's retry jitter), a ``--seed`` other than 0, ``--limit``/offsets that
differ, or a thread switch inside ``process_results`` that reorders two draws.

Subjects and domains with no samples (a ``--limit`` run) are left out of the per-group metrics,
where lmms-eval prints 0 for an empty domain.

Metrics: ``mmmu_acc`` (lmms-eval's reported value: instance-weighted accuracy over subjects, in
[0, 1], rounded to 5 decimals), ``mmmu_acc/<Subject>`` and ``mmmu_acc/Overall-<Domain>`` (what
lmms-eval prints, also rounded to 5 decimals), and the paper's number ``mmmu_accuracy``: the same
overall accuracy in percent, not rounded.

``--protocol vlmevalkit`` scores as VLMEvalKit's ``MMMU_DEV_VAL`` did for the paper (no LLM judge):
the Janus wrapper's MCQ custom prompt, **every image of the row first** (``image_1`` ... in column
order), then ``"\n{question}\nA. ...\n...\n\nAnswer with the option's letter from the given choices
directly."`` with the ``<image k>`` tokens left in the text; open questions
``"\n{question}\nAnswer the question directly."``; no system prompt. Scoring (``MMMU_preproc`` +
``mcq_vanilla_eval``): an open question becomes a 2-option MCQ, ``A`` = the gold text, ``B`` =
``"Other Answers"``, and a gold that is not a single capital letter becomes ``A``; then VLMEvalKit's
``can_infer`` (``janus_eval.metrics.vlmevalkit_mcq``). So ``15`` for gold ``5`` is right (substring),
``1,200`` for ``1200`` wrong; an unreadable reply is wrong (deterministic, no random letter). With a
judge (``--judge-url``, ``ctx.judge``) an unreadable reply goes to VLMEvalKit's judge matcher
(``janus_eval.metrics.answer_judge``) with the ``MMMU_preproc`` options (open: ``A. {gold}``,
``B. Other Answers``), then VLMEvalKit's random letter over the options plus ``Z`` after 3 unreadable
replies (drawn per question here); records say ``matched_by``, the card ``answer_matching``.
lmms-eval's ``mmmu_val`` asks no judge.
``report_acc`` fractions per split (``validation``): ``validation/Overall``,
``validation/<discipline>``, ``validation/<Subject>``; the paper's number is ``validation/Overall`` x 100
(``mmmu_accuracy``).

``--protocol paper``: exactly the vlmevalkit rules: the paper's MMMU is ``MMMU_DEV_VAL``'s
``validation`` split (a maintainer's reply in PR #541; paper 30.5, VLMEvalKit 31.2), which is already
the vlmevalkit headline. Checked in VLMEvalKit b3a2f81 ``vlmeval/dataset/utils/multiple_choice.py``:
``mcq_vanilla_eval`` applies ``MMMU_preproc`` when ``'MMMU' in dataset_name`` and maps every
non-letter answer to ``A``; ``report_acc`` reports ``Overall`` per ``split``.
"""

from __future__ import annotations

import ast
import random
import re
import string
from collections import defaultdict
from typing import Any, ClassVar

from PIL import Image

from janus_eval.hfdata import decode_image
from janus_eval.metrics.answer_judge import JudgeMatchedTask
from janus_eval.metrics.choice import mmmu_choice, option_letters
from janus_eval.metrics.mmmu_open import open_correct, parse_open
from janus_eval.metrics.vlmevalkit_mcq import (
    VLMEvalKitMatching,
    choices_of,
    mcq_prompt,
    report_acc,
    split_overall,
)
from janus_eval.metrics.vlmevalkit_prompt import janus_content
from janus_eval.protocol import custom
from janus_eval.registry import task
from janus_eval.contract import DatasetSpec, IMAGE_PLACEHOLDER, RunContext
from janus_eval.task import (
    GenerationSettings,
    JanusEvalError,
    LmmsEvalProtocol,
    UnderstandingTask,
    PaperProtocol,
    VLMEvalKitProtocol,
    record_scores,
)

HEADLINE = "mmmu_accuracy"
MC_PROMPT = "Answer with the option's letter from the given choices directly."
OPEN_PROMPT = "Answer the question using a single word or phrase."
IMAGE_TOKEN = re.compile(r"<image (\d+)>")
IMAGE_COLUMNS = tuple(f"image_{k}" for k in range(1, 8))
LMMS_EVAL_RANDOM_SEED = 0
"""``random.seed`` lmms-eval's CLI applies before evaluating (``--seed``'s first value, default 0)."""
OTHER_ANSWERS = "Other Answers"
"""Option B of an open question turned into a multiple-choice one by VLMEvalKit's ``MMMU_preproc``."""
DOMAINS: dict[str, tuple[str, ...]] = {
    "Art and Design": ("Art", "Art_Theory", "Design", "Music"),
    "Business": ("Accounting", "Economics", "Finance", "Manage", "Marketing"),
    "Science": ("Biology", "Chemistry", "Geography", "Math", "Physics"),
    "Health and Medicine": ("Basic_Medical_Science", "Clinical_Medicine", "Diagnostics_and_Laboratory_Medicine",
                            "Pharmacy", "Public_Health"),
    "Humanities and Social Science": ("History", "Literature", "Sociology", "Psychology"),
    "Tech and Engineering": ("Agriculture", "Architecture_and_Engineering", "Computer_Science", "Electronics",
                             "Energy_and_Power", "Materials", "Mechanical_Engineering"),
}  # fmt: skip


def options_of(doc: dict[str, Any]) -> list[str]:
    """The option texts: ``options`` is a Python list literal stored as a string."""
    value = doc.get("options") or "[]"
    return [str(o) for o in (ast.literal_eval(value) if isinstance(value, str) else value)]


def subject_of(doc_id: str) -> str:
    """``validation_Art_Theory_12`` -> ``Art_Theory`` (lmms-eval's ``extract_subset_name``)."""
    split = doc_id.split("_")[0]
    match = re.fullmatch(rf"{re.escape(split)}_(.+?)_\d+", doc_id)
    if match is None:
        raise JanusEvalError(f"MMMU id {doc_id!r} is not <split>_<Subject>_<n>")
    return match.group(1)


# -- metrics ------------------------------------------------------------------------------------
def _lmms_eval_scores(records: list[dict[str, Any]]) -> dict[str, float]:
    """lmms-eval's ``mmmu_aggregate_results`` with the fallback letters replayed over the records in dataset order."""
    by_subject: dict[str, list[float]] = defaultdict(list)  # insertion order = first appearance
    for scored, letter in zip(map(record_scores, records), replay_guesses(records)):
        correct = float(letter == scored["answer"]) if letter is not None else float(scored["score"])
        by_subject[scored["subdomain"]].append(correct)
    accuracy = {s: (sum(v) / len(v), len(v)) for s, v in by_subject.items()}
    result: dict[str, float] = {}
    for domain, subjects in DOMAINS.items():
        present = {s: accuracy[s] for s in subjects if s in accuracy}
        if present:  # lmms-eval prints 0 for a domain with no samples; we leave it out
            result[f"mmmu_acc/Overall-{domain}"] = round(_instance_weighted(present), 5)
    result.update({f"mmmu_acc/{s}": round(acc, 5) for s, (acc, _) in accuracy.items()})
    overall = _instance_weighted(accuracy)
    result["mmmu_acc"] = round(overall, 5)
    result[HEADLINE] = 100.0 * overall
    return result


# -- lmms-eval ----------------------------------------------------------------------------------
class MMMULmmsEval(LmmsEvalProtocol):
    """``construct_prompt`` with ``<image k>`` kept, the referenced images first; the official MMMU
    parsers (fallback letters replayed from lmms-eval's seeded stream); accuracy per subject and domain,
    instance-weighted."""

    generation = GenerationSettings(max_new_tokens=128)
    prompt_template = (
        "multiple-choice: {question}\nA. {option 1}\nB. {option 2}...\n\n" + MC_PROMPT
        + " | open: {question}\n\n" + OPEN_PROMPT + " | <image k> kept; image_k per distinct k, sorted, first"
    )  # fmt: skip
    metrics = (
        custom(HEADLINE, _lmms_eval_scores, headline=True),  # instance-weighted mean x 100, unrounded; guesses replayed
        custom("mmmu_acc", _lmms_eval_scores),  # rounded to 5 decimals
        *(custom(f"mmmu_acc/Overall-{domain}", _lmms_eval_scores) for domain in DOMAINS),  # rounded; no domain field
        custom("mmmu_acc/{subdomain}", _lmms_eval_scores, group="subdomain"),  # rounded
    )

    def image_columns(self, doc: dict[str, Any]) -> list[str]:
        """``mmmu_doc_to_visual``: ``image_k`` for each distinct ``<image k>`` of the text, sorted; put first."""
        return referenced_columns(text_prompt(doc))

    def prompt(self, doc: dict[str, Any]) -> str:
        return text_prompt(doc)  # <image k> kept, images first: lmms-eval's simple-model input (see module doc)

    fallback_replay: ClassVar[str] = (
        f"lmms-eval random stream: Random({LMMS_EVAL_RANDOM_SEED}), one choice per guessed row, dataset order"
    )
    """How ``aggregate`` draws the fallback letters (part of the scoring identity: records made before are re-scored)."""

    def score_sample(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        """The parsed answer; a multiple-choice row with no readable letter is left for ``aggregate`` to guess."""
        doc_id, answer = str(doc["id"]), str(doc["answer"])
        fallback = ""
        if doc["question_type"] == "multiple-choice":
            options = options_of(doc)
            parsed: Any = mmmu_choice(prediction, options)
            correct = parsed == answer
            if parsed is None:
                fallback = "".join(option_letters(len(options)))
        else:
            parsed = parse_open(prediction)
            correct = open_correct(answer, parsed)
        row = {"score": float(correct), "id": doc_id, "subdomain": subject_of(doc_id),
               "question_type": doc["question_type"], "answer": answer, "parsed_pred": parsed,
               "guessed": bool(fallback)}  # fmt: skip
        return {**row, "fallback_letters": fallback} if fallback else row


def replay_guesses(records: list[dict[str, Any]]) -> list[str | None]:
    """lmms-eval's fallback letter for each guessed record, drawn in the records' order; None for the others."""
    rng = random.Random(LMMS_EVAL_RANDOM_SEED)
    letters: list[str | None] = []
    for record in records:
        pool = record_scores(record).get("fallback_letters")
        letters.append(rng.choice(list(pool)) if pool else None)
    return letters


def text_prompt(doc: dict[str, Any]) -> str:
    """lmms-eval's ``construct_prompt`` text, ``<image k>`` tokens still in it."""
    if doc["question_type"] == "multiple-choice":
        lines = "\n".join(f"{chr(ord('A') + i)}. {option}" for i, option in enumerate(options_of(doc)))
        return f"{doc['question']}\n{lines}\n\n{MC_PROMPT}"
    return f"{doc['question']}\n\n{OPEN_PROMPT}"


def referenced_columns(text: str) -> list[str]:
    """``image_k`` for each distinct ``<image k>`` in ``text``, sorted as strings (lmms-eval's order)."""
    return sorted({f"image_{k}" for k in IMAGE_TOKEN.findall(text)})


def _instance_weighted(accuracy: dict[str, tuple[float, int]]) -> float:
    """Sum of accuracy x count over subjects / total count, as MMMU's ``calculate_ins_level_acc``."""
    total = sum(n for _, n in accuracy.values())
    return sum(acc * n for acc, n in accuracy.values()) / total if total else 0.0


def _vlmevalkit_scores(records: list[dict[str, Any]]) -> dict[str, float]:
    """``report_acc`` of the rows, then the headline: the ``validation`` split's overall x 100."""
    result = report_acc([record_scores(r) for r in records]) if records else {}
    return {**result, HEADLINE: 100.0 * split_overall(result, "validation")}


# -- VLMEvalKit ---------------------------------------------------------------------------------
class MMMUVLMEvalKit(VLMEvalKitMatching, VLMEvalKitProtocol):
    """The Janus wrapper's MCQ prompt with every image of the row first; ``MMMU_preproc`` + ``can_infer``;
    ``report_acc`` per split (``validation``), discipline and subject."""

    prompt_template = (
        "{one " + IMAGE_PLACEHOLDER + " per image}\n{question}\nA. {option 1}\nB. {option 2}...\n\n"
        + MC_PROMPT + " | open: {images}\n{question}\nAnswer the question directly. | <image k> kept"
    )  # fmt: skip
    # report_acc's means of ``hit`` (= score) per split, discipline and subject, in its own order and
    # arithmetic (a custom computation, so results keep VLMEvalKit's key order and rounding).
    metrics = (
        custom(HEADLINE, _vlmevalkit_scores, group="split", group_value="validation", headline=True),  # x 100
        custom("validation/Overall", _vlmevalkit_scores, group="split", group_value="validation"),
        *(custom(f"validation/{discipline}", _vlmevalkit_scores, group="l2-category", group_value=discipline)
          for discipline in DOMAINS),  # fmt: skip
        custom("validation/{category}", _vlmevalkit_scores, group="category"),
    )

    def image_columns(self, doc: dict[str, Any]) -> list[str]:
        """Every image of the row, in column order: the Janus wrapper puts them all first."""
        return [column for column in IMAGE_COLUMNS if doc.get(column) is not None]

    def prompt(self, doc: dict[str, Any]) -> str:
        return janus_content(mcq_prompt(doc["question"], vlmevalkit_choices(doc)), len(self.image_columns(doc)))

    def mcq_choices(self, doc: dict[str, Any]) -> dict[str, str]:
        """``MMMU_preproc``: an open question becomes A = the gold text, B = "Other Answers"."""
        choices = vlmevalkit_choices(doc)
        return choices if "A" in choices else {"A": str(doc["answer"]), "B": OTHER_ANSWERS}

    def mcq_key(self, doc: dict[str, Any]) -> str:
        return str(doc["id"])

    def mcq_record(self, doc: dict[str, Any], letter: str | None) -> dict[str, Any]:
        """Right when the letter is the gold one (a gold that is not a capital letter is ``A``)."""
        doc_id, answer = str(doc["id"]), str(doc["answer"])
        gold = answer if len(answer) == 1 and answer in string.ascii_uppercase else "A"
        subject = subject_of(doc_id)
        discipline = next((d for d, subjects in DOMAINS.items() if subject in subjects), "unknown")
        return {"score": float(letter == gold), "hit": float(letter == gold), "id": doc_id, "answer": answer,
                "gold_letter": gold, "extracted": letter or "Z", "split": doc_id.split("_")[0], "category": subject,
                "l2-category": discipline}  # fmt: skip


def vlmevalkit_choices(doc: dict[str, Any]) -> dict[str, str]:
    """The options as VLMEvalKit's TSV columns ``A``, ``B``, ... (missing ones left out)."""
    return choices_of({chr(ord("A") + i): option for i, option in enumerate(options_of(doc))})


class MMMUPaper(PaperProtocol, MMMUVLMEvalKit):
    """The Janus paper's rules for this benchmark: VLMEvalKit's, unchanged (only the protocol's name and reference)."""


@task("mmmu")
class MMMU(JudgeMatchedTask, UnderstandingTask):
    headline: ClassVar[str] = HEADLINE
    dataset: ClassVar[DatasetSpec] = DatasetSpec(
        repo="MMMU", split="validation", fixture="MMMU", columns=("id", "question", "options", "answer", "question_type")
    )
    protocols = {"lmms-eval": MMMULmmsEval, "vlmevalkit": MMMUVLMEvalKit, "paper": MMMUPaper}
    protocol_rules: MMMULmmsEval | MMMUVLMEvalKit

    def doc_id(self, doc: dict[str, Any]) -> str:
        return str(doc["id"])

    def scoring_identity(self, ctx: RunContext) -> dict[str, Any]:
        """Plus how fallback guesses are drawn (lmms-eval protocol): records guessed another way are re-scored."""
        base = super().scoring_identity(ctx)
        replay = getattr(self.protocol_rules, "fallback_replay", None)
        return {**base, "mmmu_fallback": replay} if replay else base

    def images(self, doc: dict[str, Any]) -> list[Image.Image]:
        """The images the protocol puts before the text (``image_columns``), in its order."""
        return [self._image(doc, column) for column in self.protocol_rules.image_columns(doc)]

    def _image(self, doc: dict[str, Any], column: str) -> Image.Image:
        where = f"{self.name} sample {self.doc_id(doc)} {column}"
        if column not in doc:
            k = column.split("_")[1]
            raise JanusEvalError(f"{where}: the text refers to <image {k}> but the row has no {column} column")
        return decode_image(doc[column], where=where)
