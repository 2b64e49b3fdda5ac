"""VLMEvalKit's MCQ helpers (PR #541): the rules every vlmevalkit MCQ task shares."""

import math

from janus_eval.metrics.vlmevalkit_mcq import can_infer, can_infer_option, choices_of, is_na, mcq_prompt, report_acc

CHOICES = {"A": "a cat", "B": "a dog"}


def test_missing_cells_follow_pandas_tsv_reading():
    assert is_na(None) and is_na(math.nan) and is_na("") and is_na("nan") and is_na("None") and not is_na("none")
    assert choices_of({"A": "x", "B": "nan", "C": None, "D": "y"}) == {"A": "x", "D": "y"}


def test_prompt_without_options_asks_directly():
    assert mcq_prompt("Q?", {}) == "\nQ?\nAnswer the question directly. "
    instruction = "\n\nAnswer with the option's letter from the given choices directly."
    assert mcq_prompt("Q?", {"A": "x"}, hint=math.nan) == "\nQ?\nA. x" + instruction


def test_can_infer_rules(monkeypatch):
    monkeypatch.delenv("VERBOSE", raising=False)
    assert can_infer("Z", CHOICES) == "Z"  # no letter but a Z token
    assert can_infer("Failed to obtain answer via API: a dog", CHOICES) == "B"  # no option match, text still read
    assert can_infer("a cat or a dog", CHOICES) is None  # two option texts
    assert can_infer_option("A dog is here, maybe", CHOICES, verbose=False) == "A"
    assert can_infer_option("A dog is here, maybe", CHOICES, verbose=True) is None  # VERBOSE: "A" may be the article
    monkeypatch.setenv("VERBOSE", "0")  # any non-empty value counts, even "0"
    assert can_infer("A dog is here, maybe", CHOICES) == "B"  # the letter rule rejected, the text "a dog" matches


def test_report_acc_per_split_and_group():
    rows = [{"hit": 1, "split": "dev", "category": "x"}, {"hit": 0, "split": "dev", "category": "y"},
            {"hit": 1, "split": "test", "category": "x"}]  # fmt: skip
    assert report_acc(rows) == {"dev/Overall": 0.5, "dev/x": 1.0, "dev/y": 0.0, "test/Overall": 1.0, "test/x": 1.0}
    assert report_acc([{"hit": 1}, {"hit": 0}]) == {"Overall": 0.5}
