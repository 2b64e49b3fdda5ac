"""POPE scoring checked against lmms-eval 0.7.3's rules (pope_process_results + pope_aggregate_*)."""

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
