"""POPE scoring checked against lmms-eval 0.7.3's rules (pope_process_results + pope_aggregate_*)."""

from pathlib import Path

import pytest

from janus_eval.registry import get_task

TASK = get_task("pope")


def doc(answer: str, category: str = "random", qid: str = "1") -> dict:
    return {"question_id": qid, "question": " Is there a dog in the image? ", "answer": answer, "category": category}


@pytest.mark.parametrize(
    "prediction, answer, score",
    [
        ("yes", "yes", 1.0),
        ("YES", "yes", 1.0),  # lower-cased
        ("  no \n", "no", 1.0),  # stripped
        ("no.", "no", 0.0),  # the period makes it wrong in lmms-eval
        ("Yes, there is a dog.", "yes", 0.0),  # no word extraction
        ("", "no", 0.0),
        ("maybe", "no", 0.0),
        ("no", "No", 1.0),  # ground truth is lower-cased too
    ],
)
def test_score_sample(prediction, answer, score):
    assert TASK.score_sample(doc(answer), prediction)["score"] == score


def test_prompt_strips_question_and_appends_post_prompt():
    assert TASK.prompt(doc("yes")) == "Is there a dog in the image?\nAnswer the question using a single word or phrase."


def test_aggregate_counts_only_exact_yes_no_for_precision_recall():
    cases = [
        ("yes", "yes"),  # TP
        ("yes", "yes"),  # TP
        ("yes", "no"),  # FP
        ("no", "yes"),  # FN
        ("no", "no"),  # TN
        ("Yes.", "yes"),  # invisible to P/R, wrong for accuracy
        ("no.", "no"),  # invisible, wrong
    ]
    records = [TASK.score_sample(doc(gt), pred) for pred, gt in cases]
    result = TASK.aggregate(records)
    precision, recall = 2 / 3, 2 / 3
    assert result["pope_accuracy"] == pytest.approx(3 / 7)
    assert result["pope_precision"] == pytest.approx(precision)
    assert result["pope_recall"] == pytest.approx(recall)
    assert result["pope_f1_score"] == pytest.approx(2 * precision * recall / (precision + recall))
    assert result["pope_yes_ratio"] == pytest.approx(4 / 7)  # ground-truth yes share, not predicted
    assert result["pope_f1"] == pytest.approx(100 * result["pope_f1_score"])


def test_zero_denominators_give_zero():
    records = [TASK.score_sample(doc("no"), "no"), TASK.score_sample(doc("no"), "unrelated text")]
    result = TASK.aggregate(records)
    assert result["pope_precision"] == 0.0 and result["pope_recall"] == 0.0 and result["pope_f1_score"] == 0.0


def test_per_split_metrics():
    records = [TASK.score_sample(doc("yes", "adversarial"), "yes"), TASK.score_sample(doc("yes", "popular"), "no")]
    result = TASK.aggregate(records)
    assert result["pope_accuracy/adversarial"] == 1.0 and result["pope_accuracy/popular"] == 0.0
    assert "pope_accuracy/random" not in result


def test_aggregate_accepts_samples_jsonl_records():
    from janus_eval.task import split_scores

    scored = TASK.score_sample(doc("yes"), "yes")
    scores, info = split_scores(scored)
    assert TASK.aggregate([{"id": "1", "scores": scores, "score_info": info}]) == TASK.aggregate([scored])


def test_fixture_loads_with_images():
    docset = TASK.load(None)
    assert len(docset) >= 12
    assert {d["category"] for d in docset.docs} == {"adversarial", "popular", "random"}
    images = TASK.images(docset.full_doc(0))
    assert len(images) == 1 and images[0].mode == "RGB"


VLM = get_task("pope", protocol="vlmevalkit")


@pytest.mark.parametrize(
    "prediction, extracted",
    [
        ("Yes", "Yes"),
        ("Yes, there is a dog.", "Yes"),  # words, after punctuation processing
        ("There is no cat", "No"),
        ("Yes, but no", "Unknown"),  # both words
        ("No:", "Unknown"),  # ':' is kept and glues to the word
        ("**Yes**", "Unknown"),  # '*' is kept too
        ("Nope", "Unknown"),
        ("y", "Unknown"),
        ("nan", "Unknown"),  # an empty output after the xlsx round trip
    ],
)
def test_vlmevalkit_yes_no_extraction(prediction, extracted):
    scored = VLM.score_sample(doc("yes"), VLM.postprocess(prediction))
    assert scored["prediction"] == extracted and scored["score"] == float(extracted == "Yes")


def test_vlmevalkit_prompt_has_image_first_and_no_system_prompt():
    assert VLM.prompt(doc("yes")) == "<image_placeholder>\n Is there a dog in the image? \nAnswer the question using a single word or phrase."
    assert VLM.system_prompt == "" and VLM.generation.max_new_tokens == 512 and VLM.generation.until == ()


def test_vlmevalkit_rating_counts_unknown_as_no():
    cases = [("Yes", "yes"), ("Yes.", "yes"), ("maybe", "yes"), ("no", "no"), ("Yes", "no"), ("whatever", "no")]
    records = [VLM.score_sample(doc(gt), pred) for pred, gt in cases]
    result = VLM.aggregate(records)
    tp, fp, fn = 2, 1, 1  # "maybe" on a yes is a false negative; "whatever" on a no a true negative
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert result["precision"] == pytest.approx(100 * precision) and result["recall"] == pytest.approx(100 * recall)
    assert result["pope_f1"] == result["Overall"] == pytest.approx(100 * 2 * precision * recall / (precision + recall))
    assert result["acc"] == pytest.approx(100 * 3 / 6)  # Yes, Yes. and no are right; Unknown is wrong


def test_postprocess_per_protocol():
    from janus_eval.task import strip_reasoning_tags, vlmevalkit_cell

    assert TASK.postprocess(" yes\n\nmore text") == "yes"  # cut at "\n\n", stripped
    assert strip_reasoning_tags("<think>hmm</think> yes") == "yes"
    assert strip_reasoning_tags("reasoning</think>no") == "no"  # orphan end tag: keep what follows
    assert strip_reasoning_tags("<think>unclosed yes") == "<think>unclosed yes"
    assert vlmevalkit_cell("") == "nan" and vlmevalkit_cell("None") == "nan" and vlmevalkit_cell("=1+1") == "0"
    assert VLM.postprocess(" Yes\n\nmore") == " Yes\n\nmore"  # VLMEvalKit neither strips nor cuts


# -- --protocol paper -----------------------------------------------------------------------------
# Reference (VLMEvalKit b3a2f81, vlmeval/dataset/utils/yorn.py, POPE_rating): y_true = answer == "Yes",
# y_pred = extracted == "Yes" (Unknown is a "no"); F1 from TP/FP/FN, 0 on a 0 denominator; one row per split.
# PR #541: the paper's POPE is the `random` row's F1 x 100, not the Overall row's.
PAPER_PREDICTIONS = {  # fixture question_id -> reply; gt alternates yes/no within each split of 4
    "1": "Yes", "2": "Yes", "3": "Yes", "4": "Yes",  # adversarial: every "no" answered yes
    "5": "Yes", "6": "No", "7": "Yes", "8": "No",  # popular: all right
    "9": "No", "10": "No", "11": "Yes", "12": "I am not sure",  # random: a miss and an Unknown
}
EXTRACTED = {"Yes": True, "No": False, "I am not sure": False}  # Unknown counts as a "no" prediction


def _reference_f1(rows: list[tuple[bool, bool]]) -> float:
    """POPE_rating's cal_f1_score over (y_true, y_pred) pairs, x 100."""
    tp = sum(t and p for t, p in rows)
    fp = sum(p and not t for t, p in rows)
    fn = sum(t and not p for t, p in rows)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return 100 * (2 * precision * recall / (precision + recall) if precision + recall else 0.0)


def _paper_records(task) -> tuple[list[dict], list[dict]]:
    from janus_eval.task import split_scores

    docs = list(task.load(None).docs)
    records = []
    for d in docs:
        scores, info = split_scores(task.score_sample(d, task.postprocess(PAPER_PREDICTIONS[d["question_id"]])))
        records.append({"id": d["question_id"], "scores": scores, "score_info": info})
    return docs, records


def test_paper_headline_is_the_random_split_f1():
    task = get_task("pope", protocol="paper")
    docs, records = _paper_records(task)
    pairs = {d["question_id"]: (d["answer"] == "yes", EXTRACTED[PAPER_PREDICTIONS[d["question_id"]]]) for d in docs}
    random_f1 = _reference_f1([pairs[d["question_id"]] for d in docs if d["category"] == "random"])
    overall_f1 = _reference_f1(list(pairs.values()))
    assert round(random_f1, 6) != round(overall_f1, 6)  # the fixture tells the two protocols apart
    result = task.aggregate(records)
    assert result[task.headline] == pytest.approx(random_f1, abs=1e-9)
    assert result["Overall"] == pytest.approx(overall_f1, abs=1e-9)  # kept, not the headline
    assert get_task("pope", protocol="vlmevalkit").aggregate(records)["pope_f1"] == pytest.approx(overall_f1, abs=1e-9)
    assert task.card()["protocol"] == "paper" and "PR #541" in task.card()["reference"]


def test_paper_without_random_rows_has_no_headline():
    task = get_task("pope", protocol="paper")
    _, records = _paper_records(task)
    assert "pope_f1" not in task.aggregate([r for r in records if r["score_info"]["category"] != "random"])


def test_paper_protocol_through_the_score_command(cli_invoke, tmp_path: Path):
    import json

    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({"id": i, "prediction": p}) + "\n" for i, p in PAPER_PREDICTIONS.items()))
    code, out, _ = cli_invoke("score", "--task", "pope", "--predictions", str(preds), "--protocol", "paper")
    assert code == 0
    docs, _ = _paper_records(get_task("pope", protocol="paper"))
    random_pairs = [(d["answer"] == "yes", EXTRACTED[PAPER_PREDICTIONS[d["question_id"]]]) for d in docs
                    if d["category"] == "random"]  # fmt: skip
    assert json.loads(out)["metrics"]["pope_f1"] == pytest.approx(_reference_f1(random_pairs), abs=1e-9)
