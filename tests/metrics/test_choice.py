"""Multiple-choice extraction, cases worked out by hand from lmms-eval 0.7.3's rules.

MMBench: ``MMBench_Evaluator.can_infer`` (token letter, then wrapped letter, then option text).
MMMU: ``parse_mmmu_multi_choice_response`` (bracket, ``X ``, ``X.``, option text, then a draw).
"""

import random

import pytest

from janus_eval.metrics.choice import mmbench_choice, mmbench_letter, mmmu_choice, option_letters, options_in_text

COLORS = {"A": "red", "B": "blue", "C": "green", "D": "yellow"}
PETS = {"A": "cat", "B": "dog"}


@pytest.mark.parametrize(
    "prediction, choices, expected",
    [
        ("B", COLORS, "B"),  # rule 1: one bare letter token
        ("B B", COLORS, "B"),  # rule 1 counts distinct letters, not occurrences
        ("A", COLORS, "A"),  # a bare A in a short reply is a letter
        ("A cat", PETS, "A"),  # 2 tokens: the article rule needs more than 3
        ("A dog is here", PETS, "B"),  # "A" + more than 3 tokens: article; falls to option text "dog"
        ("A is right, the answer", COLORS, None),  # article rule, then no wrapped form, no option text
        ("E", COLORS, "E"),  # E is a letter for every question (and is then simply wrong)
        ("b", COLORS, None),  # lower-case letters are not letters; "b" holds no option text
        ("B. blue", COLORS, "B"),  # wrapped form X.
        ("The answer is (C).", COLORS, "C"),  # wrapped form (X).
        ("Option :D", COLORS, "D"),  # wrapped form :X
        ("C, because", COLORS, "C"),  # wrapped form X,
        ("A or B", COLORS, None),  # two bare letters, no wrapped form, no text: unresolved (judge)
        ("B) or C)", COLORS, None),  # wrapped form X) matches two letters: ambiguous
        ("A) red, (B) blue", COLORS, "A"),  # X) matches only A first (forms are tried in order)
        ("It is Blue.", COLORS, "B"),  # option text, case-insensitive substring
        ("red and blue", COLORS, None),  # two option texts: ambiguous
        ("banana", {"A": "apple", "B": "pear", "C": "nan"}, "C"),  # the "nan" pseudo-option matches
        ("banana", {"A": "apple", "B": "pear", "C": "nan", "D": "nan"}, None),  # two "nan" options: ambiguous
        ("", COLORS, None),
        ("Failed to obtain answer via API: A", COLORS, None),  # lmms-eval's failure marker never reads a letter
    ],
)
def test_mmbench_choice(prediction, choices, expected):
    assert mmbench_choice(prediction, choices) == expected


def test_mmbench_letter_ignores_option_text():
    assert mmbench_letter("blue") is None
    assert mmbench_letter("(A)") == "A"


def _draw(letters_count: int, seed: str) -> str:
    return random.Random(seed).choice(option_letters(letters_count))


FOUR = ["stack", "queue", "tree", "graph"]


@pytest.mark.parametrize(
    "response, expected",
    [
        ("(B)", "B"),  # bracketed letter
        ("(B).", "B"),  # trailing "." stripped first
        ("B", "B"),  # padded " B " holds "B "
        ("B.", "B"),  # "." stripped, then "B "
        ("The answer is (B), not (A)", "A"),  # two brackets: the one written last wins
        ("A. no, B. no, C. yes", "A"),  # three "X." candidates, no " X " marker: first in option order
        ("I pick B then C then D", "D"),  # several "X " candidates: the last " X " wins
        ("NASA is great", "A"),  # "X " is a substring test: "NASA " holds "A "
        ("I believe that the correct one here is the queue", "B"),  # > 5 tokens: option text
        ("I believe that the queue or the stack", "A"),  # two texts: the one occurring last ("stack")
    ],
)
def test_mmmu_choice(response, expected):
    assert mmmu_choice(response, FOUR, random.Random("unused")) == expected


@pytest.mark.parametrize("response", ["", "b", "C)", "**D**", "queue", "E"])
def test_mmmu_choice_falls_back_to_the_seeded_draw(response):
    # "C)" keeps its ")" (not stripped) and holds no "C " or "C."; "queue" is text but the reply is <= 5 tokens;
    # "E" is no option of four.
    rng = random.Random("mmmu:validation_Art_1")
    state = rng.getstate()
    assert mmmu_choice(response, FOUR, rng) == _draw(4, "mmmu:validation_Art_1")
    assert rng.getstate() != state


def test_mmmu_choice_without_fallback_leaves_the_generator_alone():
    rng = random.Random(0)
    state = rng.getstate()
    mmmu_choice("(A)", FOUR, rng)
    assert rng.getstate() == state


def test_shared_helpers():
    assert option_letters(3) == ["A", "B", "C"]
    assert options_in_text("A Dog and a CAT", {"A": "cat", "B": "dog", "C": "cow"}) == ["A", "B"]
