"""VQA answer normalisation and accuracy, checked by hand against lmms-eval 0.7.3's EvalAIAnswerProcessor rules."""

import pytest

from janus_eval.metrics.vqa_normalize import (
    normalize_answer,
    process_digit_article,
    process_punctuation,
    vqa_accuracy,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("yes, it is.", "yes it is"),  # ", " -> comma deleted; period not before a digit deleted
        ("hello-world", "hello world"),  # "-" touches no space -> replaced by a space
        ("well - maybe", "well  maybe"),  # " -" occurs -> deleted (double space stays here)
        ("1,000", "1000"),  # comma between digits -> deleted
        ("1,000 (approx)", "1000 approx"),  # digit,digit present -> every mark deleted, none spaced
        ("(approx)", " approx "),  # no digit comma, no adjacent space -> parentheses spaced
        ("3.5", "3.5"),  # period before a digit kept
        ("2.", "2"),  # period after a digit still deleted
        ("e.g.", "eg"),
        ("it's 10:30", "it's 10:30"),  # apostrophes and colons never touched
        ("." * 40 + "x", "." * 8 + "x"),  # only the first 32 periods go (re.UNICODE passed as count)
        ("a?b!c", "a b c"),
    ],
)
def test_process_punctuation(text, expected):
    assert process_punctuation(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Two Dogs", "2 dogs"),  # lower-cased, number word -> digit
        ("the red one", "red 1"),  # article dropped
        ("A", ""),  # a lone article normalises to nothing
        ("an apple", "apple"),
        ("none", "0"),  # "none" is a number word
        ("twenty", "twenty"),  # only zero..ten are mapped
        ("dont", "don't"),  # contraction restored
        ("Isnt", "isn't"),  # after lower-casing
        ("im", "im"),  # the table's "Im" key never matches lower-cased text
        ("somebody'd", "somebodyd"),  # the table's reversed entry
        ("  yes \t no ", "yes no"),  # whitespace collapsed by split/join
    ],
)
def test_process_digit_article(text, expected):
    assert process_digit_article(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("\tTwo\n", "2"),  # tabs/newlines to spaces, stripped, then number word
        ("Yes, it is.", "yes it is"),
        ("The Red one.", "red 1"),
        ("t-shirt", "t shirt"),
        ("", ""),
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def answers(texts):
    return [{"answer": t, "answer_confidence": "yes", "answer_id": k + 1} for k, t in enumerate(texts)]


@pytest.mark.parametrize(
    "matching, expected",
    [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (10, 1.0)],
)
def test_leave_one_out_accuracy(matching, expected):
    # k of 10 answers match: 10-k subsets see k matches, k subsets see k-1; each scores min(1, n/3)
    texts = ["two"] * matching + ["3"] * (10 - matching)
    accuracy, pred = vqa_accuracy("2", answers(texts))
    assert accuracy == pytest.approx(expected)
    assert pred == "2"


def test_identical_answer_dicts_exclude_each_other():
    # lmms-eval finds "other answers" by dict inequality: four byte-identical "2" dicts see 0 matches
    # when held out; the six "3" answers each see 4 -> 1.0; mean 6/10.
    same = {"answer": "2", "answer_confidence": "yes", "answer_id": 1}
    texts = [dict(same) for _ in range(4)] + answers(["3"] * 6)
    assert vqa_accuracy("2", texts)[0] == pytest.approx(0.6)


def test_ground_truth_is_normalised_too():
    # "Two." and "2" both normalise to "2"; "the 2" drops its article
    assert vqa_accuracy("two", answers(["Two.", "2", "the 2"] + ["no"] * 7))[0] == pytest.approx(0.9)


def test_inputs_not_mutated():
    given = answers(["Two."] * 10)
    vqa_accuracy("2", given)
    assert given[0]["answer"] == "Two."
