"""VLMEvalKit's multiple-choice machinery as of PR #541 (b3a2f81, Oct 2024), for ``--protocol vlmevalkit``.

Used by SEED-Bench, MMBench and MMMU (and, for ``is_na``, by every task under that protocol); the
wrapper's user turn around these prompts is ``vlmevalkit_prompt.janus_content``. Four pieces:

- ``mcq_prompt``: the wrapper's custom MCQ text: ``"\\n"`` + ``[Hint: {hint}\\n]`` + question + one
  ``"\\n{L}. {text}"`` per option + ``"\\n\\nAnswer with the option's letter ..."`` (no options:
  ``"\\nAnswer the question directly. "``).
- ``can_infer``: ``can_infer_option`` (whole upper-case letter tokens after replacing ``.()[],:;!*#{}``
  by spaces; refusal phrases -> ``Z``), then ``can_infer_text`` (the unique option whose lower-cased
  text is a substring of the lower-cased prediction). PR #541 behaviour: no "last 4 tokens" rule, no
  ``answer is X`` regex, no length cap (those came later, see the reference §10). Failure is ``None``;
  offline VLMEvalKit scores it wrong (no random letter).
- ``VLMEvalKitMatching``: a protocol's per-row letter: ``can_infer``, then, for rows it cannot read and
  only when the run has a judge, VLMEvalKit's judge matcher (``answer_judge.VLMEVALKIT_MATCHER``).
- ``report_acc``: accuracy per split, overall and per ``l2-category`` / ``category`` (fractions).

A cell counts as missing the way VLMEvalKit's TSV reader decides it: None, a float NaN, or a string
pandas reads as NA (``""``, ``"nan"``, ``"None"``, ``"N/A"``, ...).
"""

from __future__ import annotations

import math
import os
import string
from abc import abstractmethod
from collections import defaultdict
from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any, ClassVar

from janus_eval.metrics.answer_judge import (
    VLMEVALKIT_MATCHER,
    AnswerMatcher,
    Ask,
    judge_unread,
    vlmevalkit_fallback,
    vlmevalkit_prompt,
)
from janus_eval.protocol import vlmevalkit_cell

MCQ_INSTRUCTION = "\nAnswer with the option's letter from the given choices directly."
OPEN_INSTRUCTION = "\nAnswer the question directly. "
API_FAILURE = "Failed to obtain answer via API"
REFUSALS = (
    "Sorry, I can't help with images of people yet.",
    "I can't process this file.",
    "I'm sorry, but without the image provided",
    "Cannot determine the answer",
)
"""Replies ``can_infer_option`` maps to the letter ``Z`` (a wrong answer)."""
_SEPARATORS = str.maketrans({c: " " for c in ".()[],:;!*#{}"})
MMB_ABBREVIATIONS = {
    "coarse_perception": "CP",
    "finegrained_perception (instance-level)": "FP-S",
    "finegrained_perception (cross-instance)": "FP-C",
    "logic_reasoning": "LR",
    "relation_reasoning": "RR",
    "attribute_reasoning": "AR",
}
"""``report_acc`` shows MMBench's L2 categories under these names."""


def is_na(value: Any) -> bool:
    """True when VLMEvalKit would see the cell as NaN (pandas' TSV reading of the value)."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and vlmevalkit_cell(value) == "nan"


# -- prompt ---------------------------------------------------------------------------------------
def choices_of(row: Mapping[str, Any], letters: Iterable[str] = string.ascii_uppercase) -> dict[str, str]:
    """The row's options that are not missing, letter -> text, in letter order."""
    return {letter: str(row[letter]) for letter in letters if letter in row and not is_na(row[letter])}


def mcq_prompt(question: str, choices: Mapping[str, str], hint: Any = None) -> str:
    """The Janus wrapper's MCQ text (before images); hint shown only when not missing."""
    text = f"{question}" if is_na(hint) else f"Hint: {hint}\n{question}"
    text += "".join(f"\n{letter}. {option}" for letter, option in choices.items())
    return "\n" + text + ("\n" + MCQ_INSTRUCTION if choices else OPEN_INSTRUCTION)


# -- extraction -----------------------------------------------------------------------------------
def can_infer_option(prediction: str, choices: Mapping[str, str], verbose: bool | None = None) -> str | None:
    """The single option letter written as a whole token, ``Z`` for a refusal, else None.

    ``verbose`` mirrors VLMEvalKit's ``VERBOSE`` environment variable (any non-empty value, even
    ``"0"``): it additionally rejects a match when a token ``A`` is present among more than 3 tokens.
    """
    if API_FAILURE in prediction:
        return None
    if any(refusal in prediction for refusal in REFUSALS):
        return "Z"
    if verbose is None:
        verbose = bool(os.environ.get("VERBOSE", ""))
    tokens = prediction.translate(_SEPARATORS).split()
    found = [letter for letter in choices if letter in tokens]
    if len(found) == 1:
        if verbose and "A" in tokens and len(tokens) > 3:
            return None
        return found[0]
    if not found and "Z" in tokens:
        return "Z"
    return None


def can_infer_text(prediction: str, choices: Mapping[str, str]) -> str | None:
    """The one option whose lower-cased text occurs in the lower-cased prediction, else None."""
    lowered = prediction.lower()
    found = [letter for letter, option in choices.items() if str(option).lower() in lowered]
    return found[0] if len(found) == 1 else None


def can_infer(prediction: str, choices: Mapping[str, str]) -> str | None:
    """VLMEvalKit's ``can_infer`` (PR #541): letter token first, then option text; None when neither."""
    prediction = str(prediction)
    return can_infer_option(prediction, choices) or can_infer_text(prediction, choices)


class VLMEvalKitMatching:
    """``score_sample``/``score_samples`` of a VLMEvalKit MCQ protocol: ``extract_answer_from_item`` per row.

    ``can_infer`` reads the letter; a row it cannot read is, with a judge (``ctx.judge``), matched by
    VLMEvalKit's judge (then its random letter after 3 unreadable replies, drawn per row by
    ``vlmevalkit_fallback``); without one it stays unread (``None``: wrong, VLMEvalKit's
    ``exact_matching``). A protocol says what a row's options, key and record are.
    Records say ``matched_by``: ``heuristic``, ``judge``, ``random`` or ``none``.
    """

    answer_matcher: ClassVar[AnswerMatcher] = AnswerMatcher(VLMEVALKIT_MATCHER)

    @abstractmethod
    def mcq_choices(self, doc: dict[str, Any]) -> dict[str, str]:
        """The options VLMEvalKit's ``build_choices`` sees for the row (after ``MMMU_preproc`` for MMMU)."""

    @abstractmethod
    def mcq_key(self, doc: dict[str, Any]) -> str:
        """The row's id (seeds its random fallback)."""

    @abstractmethod
    def mcq_record(self, doc: dict[str, Any], letter: str | None) -> dict[str, Any]:
        """The record for the row's final letter (None: unread)."""

    def score_sample(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        letter = can_infer(prediction, self.mcq_choices(doc))
        return {**self.mcq_record(doc, letter), "matched_by": "heuristic" if letter else "none"}

    def score_samples(self, docs: list[dict[str, Any]], predictions: list[str], ctx: Any = None) -> list[dict[str, Any]]:
        rows = [self.score_sample(doc, p) for doc, p in zip(docs, predictions, strict=True)]
        asks = [None if row["matched_by"] != "none" else self._ask(doc, p) for doc, p, row in zip(docs, predictions, rows)]
        for i, verdict in enumerate(judge_unread(self.answer_matcher, ctx, asks)):
            if verdict is not None:
                doc = docs[i]
                letter = verdict.letter or vlmevalkit_fallback(self.mcq_choices(doc), self.mcq_key(doc))
                matched_by = "judge" if verdict.letter else "random"
                rows[i] = {**self.mcq_record(doc, letter), "matched_by": matched_by, **verdict.fields()}
        return rows

    def _ask(self, doc: dict[str, Any], prediction: str) -> Ask:
        choices = self.mcq_choices(doc)
        return Ask(vlmevalkit_prompt(str(doc["question"]), choices, prediction), partial(can_infer, choices=choices))


# -- aggregation ----------------------------------------------------------------------------------
def report_acc(rows: list[dict[str, Any]]) -> dict[str, float]:
    """VLMEvalKit's ``report_acc`` flattened: fractions of ``hit`` per split, overall and per group.

    Keys: ``Overall`` and ``<group value>`` for rows without a split (VLMEvalKit's split ``none``),
    else ``<split>/Overall`` and ``<split>/<group value>``. Groups are the ``l2-category`` then
    ``category`` values (MMBench L2 names abbreviated); a group with no rows in a split (VLMEvalKit's
    NaN cell) is left out.
    """
    by_split: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_split[str(row.get("split") or "none")].append(row)
    result: dict[str, float] = {}
    for split in sorted(by_split):
        prefix = "" if split == "none" else f"{split}/"
        subset = by_split[split]
        result[f"{prefix}Overall"] = _mean(subset)
        for group in ("l2-category", "category"):
            values = sorted({str(r[group]) for r in rows if r.get(group) is not None})
            for value in values:
                members = [r for r in subset if str(r.get(group)) == value]
                if members:
                    result[f"{prefix}{MMB_ABBREVIATIONS.get(value, value)}"] = _mean(members)
    return result


def split_overall(result: dict[str, float], split: str) -> float:
    """The ``Overall`` of ``split`` in a ``report_acc`` result (the first ``Overall`` if that split is absent)."""
    if f"{split}/Overall" in result:
        return result[f"{split}/Overall"]
    return next((value for key, value in result.items() if key.endswith("Overall")), 0.0)


def _mean(rows: list[dict[str, Any]]) -> float:
    return sum(float(r["hit"]) for r in rows) / len(rows)
