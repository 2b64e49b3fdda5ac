"""VQAv2 scoring checked against lmms-eval 0.7.3's rules (vqav2_process_results_val + mean)."""


import pytest

from janus_eval.registry import get_task
from janus_eval.task import split_scores
from janus_eval.tasks import vqav2 as vqav2_module

TASK = get_task("vqav2")


def doc(texts, qid=42, answer_type="number"):
    return {
        "question_id": qid,
        "question": "How many dogs are there?",
        "answer_type": answer_type,
        "answers": [{"answer": t, "answer_confidence": "yes", "answer_id": k + 1} for k, t in enumerate(texts)],
    }


TWO = ["2"] * 4 + ["3"] * 6  # "2" has 4 votes -> full credit; "3" has 6


@pytest.mark.parametrize(
    "prediction, texts, score",
    [
        ("2", TWO, 1.0),
        ("two", TWO, 1.0),  # number word -> digit
        ("Two.", TWO, 1.0),  # lower-cased, trailing period deleted
        ("  2 \n", TWO, 1.0),  # stripped
        ("There are 2.", TWO, 0.0),  # no answer extraction: "there are 2"
        ("The 2", TWO, 1.0),  # article dropped
        ("2 dogs", TWO, 0.0),
        ("", TWO, 0.0),
        ("yes", ["yes"] * 10, 1.0),
        ("Yes, it is.", ["yes"] * 10, 0.0),  # becomes "yes it is"
        ("dont know", ["don't know"] * 2 + ["no"] * 8, 0.6),  # contraction restored; 2 votes -> 0.6
        ("1,000", ["1000"] + ["900"] * 9, 0.3),  # digit comma deleted; 1 vote -> 0.3
        ("t-shirt", ["t shirt"] * 3 + ["shirt"] * 7, 0.9),  # hyphen spaced; 3 votes -> 0.9
    ],
)
def test_score_sample(prediction, texts, score):
    scored = TASK.score_sample(doc(texts), prediction)
    assert scored["score"] == pytest.approx(score) and scored["exact_match"] == scored["score"]


def test_doc_without_answers_scores_zero_and_keeps_text():
    scored = TASK.score_sample({"question_id": 7, "question": "q", "answers": None}, " Two. ")
    assert scored["score"] == 0.0 and scored["answer"] == "Two."


def test_prompt_keeps_question_verbatim():
    assert TASK.prompt(doc(TWO)) == "How many dogs are there?\nAnswer the question using a single word or phrase."
    assert TASK.generation.max_new_tokens == 16 and TASK.generation.until == ("\n\n",)


def test_aggregate_is_mean_and_headline_percent():
    records = [
        TASK.score_sample(doc(TWO, 1), "2"),  # 1.0
        TASK.score_sample(doc(["2"] + ["3"] * 9, 2), "2"),  # 0.3
        TASK.score_sample(doc(["yes"] * 10, 3, "yes/no"), "no"),  # 0.0
    ]
    result = TASK.aggregate(records)
    assert result["exact_match"] == pytest.approx(1.3 / 3)
    assert result["vqav2_accuracy"] == pytest.approx(130 / 3)
    assert result["exact_match/number"] == pytest.approx(0.65)
    assert result["exact_match/yes/no"] == 0.0


def test_aggregate_accepts_samples_jsonl_records():
    scored = TASK.score_sample(doc(TWO), "two")
    scores, info = split_scores(scored)
    assert "question_id" not in scores  # kept as text, not a metric
    assert TASK.aggregate([{"id": "42", "scores": scores, "score_info": info}]) == TASK.aggregate([scored])


def test_evalai_submission():
    a = TASK.score_sample(doc(TWO, 262148000), "Two.")
    scores, info = split_scores(TASK.score_sample(doc(TWO, 262148001), "The dog"))
    records = [a, {"id": "262148001", "scores": scores, "score_info": info}, {"id": "262148002", "skipped": True}]
    assert TASK.submission(records) == [
        {"question_id": 262148000, "answer": "2"},  # the normalised prediction, as lmms-eval submits it
        {"question_id": 262148001, "answer": "dog"},
        {"question_id": 262148002, "answer": ""},  # a corrupt image: answered empty, so the server grades the file
    ]


def test_fixture_loads_with_images():
    docset = TASK.load(None)
    assert 6 <= len(docset) <= 16
    first = docset.docs[0]
    assert len(first["answers"]) == 10 and set(first["answers"][0]) == {"answer", "answer_confidence", "answer_id"}
    images = TASK.images(docset.full_doc(0))
    assert len(images) == 1 and images[0].mode == "RGB"
    # the bundled ground truth is self-consistent: the majority answer gets full credit
    assert all(TASK.score_sample(d, d["multiple_choice_answer"])["score"] == 1.0 for d in docset.docs)


def test_vlmevalkit_protocol_says_it_scores_with_lmms_eval_rules():
    vlm = get_task("vqav2", protocol="vlmevalkit")
    assert vlm.card()["protocol_note"] == "VQAv2 is not in VLMEvalKit: scored with lmms-eval's rules"
    assert "VQAv2 is not in VLMEvalKit: scored with lmms-eval's rules" in vqav2_module.__doc__
    d = doc(TWO)
    assert vlm.prompt(d) == TASK.prompt(d) and vlm.score_sample(d, "2") == TASK.score_sample(d, "2")
