"""VQA answer normalisation and accuracy, as lmms-eval 0.7.3 applies them to VQAv2 (`vqav2_val`).

The steps follow the official VQA evaluation (punctuation, then digits/articles/contractions), with
the behaviour of lmms-eval's port kept where it departs from the intent, because parity with its
numbers is the goal:

- a comma between two digits anywhere in the text makes *every* listed mark be deleted instead of
  replaced by a space (``"1,000 (approx)"`` -> ``"1000 approx"``);
- periods not followed by a digit are deleted, but only the first 32 of them: ``re.UNICODE`` (= 32)
  lands in ``re.sub``'s ``count`` argument; a period after a digit is deleted too (``"2."`` -> ``"2"``);
- apostrophes and colons are never touched; a lone ``"a"`` normalises to ``""``;
- number words map only as whole tokens (``"two"`` -> ``"2"``, ``"twenty"`` stays);
- the contraction table's capitalised keys (``Im``, ``Ive``, ``Id've``, ``I'dve``) can never match
  lower-cased words, and its identity entries (``let's``, ``she's``) change nothing, so they are left
  out here; its reversed entry ``somebody'd`` -> ``somebodyd`` is kept.

Pure functions, no run state.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

# Marks handled one by one, in this order; the period is handled after them.
PUNCTUATION: tuple[str, ...] = tuple(';/[]"{}()=+\\_-><@`,?!')
PERIOD_DELETIONS = 32
"""How many periods lmms-eval deletes at most (``re.UNICODE`` passed where ``count`` goes)."""

_DIGIT_COMMA_DIGIT = re.compile(r"\d,+\d")
_PERIOD_NOT_BEFORE_DIGIT = re.compile(r"\.(?!\d)")

NUMBER_WORDS: dict[str, str] = {
    word: str(value)
    for value, words in enumerate(
        (("none", "zero"), ("one",), ("two",), ("three",), ("four",), ("five",), ("six",), ("seven",), ("eight",),
         ("nine",), ("ten",))
    )  # fmt: skip
    for word in words
}
ARTICLES = frozenset({"a", "an", "the"})

# Contracted form -> the spellings (apostrophes dropped or misplaced) that are rewritten to it.
_SPELLINGS: dict[str, tuple[str, ...]] = {
    "ain't": ("aint",), "aren't": ("arent",), "can't": ("cant",), "could've": ("couldve",),
    "couldn't": ("couldnt",), "couldn't've": ("couldn'tve", "couldnt've"), "didn't": ("didnt",),
    "doesn't": ("doesnt",), "don't": ("dont",), "hadn't": ("hadnt",), "hadn't've": ("hadnt've", "hadn'tve"),
    "hasn't": ("hasnt",), "haven't": ("havent",), "he'd": ("hed",), "he'd've": ("hed've", "he'dve"),
    "he's": ("hes",), "how'd": ("howd",), "how'll": ("howll",), "how's": ("hows",), "isn't": ("isnt",),
    "it'd": ("itd",), "it'd've": ("itd've", "it'dve"), "it'll": ("itll",), "ma'am": ("maam",),
    "mightn't": ("mightnt",), "mightn't've": ("mightnt've", "mightn'tve"), "might've": ("mightve",),
    "mustn't": ("mustnt",), "must've": ("mustve",), "needn't": ("neednt",), "not've": ("notve",),
    "o'clock": ("oclock",), "oughtn't": ("oughtnt",), "'ow's'at": ("ow's'at", "'ows'at", "'ow'sat"),
    "shan't": ("shant",), "she'd've": ("shed've", "she'dve"), "should've": ("shouldve",),
    "shouldn't": ("shouldnt",), "shouldn't've": ("shouldnt've", "shouldn'tve"),
    "somebodyd": ("somebody'd",),  # reversed in the reference table; kept for parity
    "somebody'd've": ("somebodyd've", "somebody'dve"), "somebody'll": ("somebodyll",),
    "somebody's": ("somebodys",), "someone'd": ("someoned",), "someone'd've": ("someoned've", "someone'dve"),
    "someone'll": ("someonell",), "someone's": ("someones",), "something'd": ("somethingd",),
    "something'd've": ("somethingd've", "something'dve"), "something'll": ("somethingll",),
    "that's": ("thats",), "there'd": ("thered",), "there'd've": ("thered've", "there'dve"),
    "there're": ("therere",), "there's": ("theres",), "they'd": ("theyd",),
    "they'd've": ("theyd've", "they'dve"), "they'll": ("theyll",), "they're": ("theyre",),
    "they've": ("theyve",), "'twas": ("twas",), "wasn't": ("wasnt",), "we'd've": ("wed've", "we'dve"),
    "we've": ("weve",), "weren't": ("werent",), "what'll": ("whatll",), "what're": ("whatre",),
    "what's": ("whats",), "what've": ("whatve",), "when's": ("whens",), "where'd": ("whered",),
    "where's": ("wheres",), "where've": ("whereve",), "who'd": ("whod",), "who'd've": ("whod've", "who'dve"),
    "who'll": ("wholl",), "who's": ("whos",), "who've": ("whove",), "why'll": ("whyll",), "why're": ("whyre",),
    "why's": ("whys",), "won't": ("wont",), "would've": ("wouldve",), "wouldn't": ("wouldnt",),
    "wouldn't've": ("wouldnt've", "wouldn'tve"), "y'all": ("yall",), "y'all'll": ("yall'll", "y'allll"),
    "y'all'd've": ("yall'd've", "y'alld've", "y'all'dve"), "you'd": ("youd",),
    "you'd've": ("youd've", "you'dve"), "you'll": ("youll",), "you're": ("youre",), "you've": ("youve",),
}  # fmt: skip
CONTRACTIONS: dict[str, str] = {spelling: target for target, spellings in _SPELLINGS.items() for spelling in spellings}


def process_punctuation(text: str) -> str:
    """Delete or space out punctuation; whether a mark is deleted is decided on the *input* text."""
    digit_comma = _DIGIT_COMMA_DIGIT.search(text) is not None
    out = text
    for mark in PUNCTUATION:
        spaced = f"{mark} " in text or f" {mark}" in text
        out = out.replace(mark, "" if spaced or digit_comma else " ")
    return _PERIOD_NOT_BEFORE_DIGIT.sub("", out, count=PERIOD_DELETIONS)


def process_digit_article(text: str) -> str:
    """Lower-case, map number words to digits, drop articles, restore contractions."""
    words = [NUMBER_WORDS.get(w, w) for w in text.lower().split()]
    return " ".join(CONTRACTIONS.get(w, w) for w in words if w not in ARTICLES)


def normalize_answer(text: str) -> str:
    """The full normalisation lmms-eval applies to a prediction and to every ground-truth answer."""
    text = text.replace("\n", " ").replace("\t", " ").strip()
    return process_digit_article(process_punctuation(text))


def vqa_accuracy(prediction: str, answers: Sequence[Mapping[str, Any]]) -> tuple[float, str]:
    """Leave-one-out VQA accuracy of ``prediction`` against the human answers, and the normalised prediction.

    For each answer, the other answers equal to the prediction are counted and scored
    ``min(1, count / 3)``; the result is the mean over answers (1 match -> 0.3, 2 -> 0.6, 3 -> 0.9).
    "Other" means every answer dict unequal to this one after normalisation, as lmms-eval compares
    whole dicts: two identical dicts (same text, confidence and id) exclude each other.
    """
    pred = normalize_answer(prediction)
    normalized = [{**a, "answer": normalize_answer(str(a["answer"]))} for a in answers]
    if not normalized:
        raise ValueError("no ground-truth answers to score against")
    per_answer = []
    for held_out in normalized:
        matches = sum(1 for other in normalized if other != held_out and other["answer"] == pred)
        per_answer.append(min(1.0, matches / 3))
    return statistics.mean(per_answer), pred
