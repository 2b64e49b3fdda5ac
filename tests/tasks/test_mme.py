"""MME scoring checked against lmms-eval 0.7.3's rules (mme_process_results + mme_aggregate_results)."""

import pytest

from janus_eval.registry import get_task
from janus_eval.task import JanusEvalError, split_scores
from janus_eval.tasks.mme import parse_yes_no

TASK = get_task("mme")


def doc(answer="Yes", category="existence", qid="existence/0001.png", question="Is it?") -> dict:
    return {"question_id": qid, "question": question, "answer": answer, "category": category}


@pytest.mark.parametrize(
    "prediction, parsed",
    [
        ("Yes", "yes"),
        ("no.", "no"),  # every "." deleted first
        ("Y.", "yes"),  # single character y/n
        ("n", "no"),
        ("x", "other"),  # any other single character
        ("Yes, it is.", "yes"),  # "yes" within the first 4 characters
        ("No, there is not.", "no"),
        ("nope", "no"),  # "no" within the first 4 characters
        ("know", "no"),  # ... even inside a word
        ("noyes", "no"),  # head "noye": no "yes" in it, but "no"
        ("yeah", "other"),
        ("There is no dog", "other"),  # head "ther"
        ("Absolutely yes", "other"),
        ("**Yes**", "other"),  # head "**ye"
        ("on", "other"),
        ("", "other"),
    ],
)
def test_parse_yes_no(prediction, parsed):
    assert parse_yes_no(prediction) == parsed


@pytest.mark.parametrize(
    "prediction, answer, score",
    [("Yes", "Yes", 1.0), ("yes.", "Yes", 1.0), ("Yes", "No", 0.0), ("know", "No", 1.0), ("", "No", 0.0),
     ("yeah", "Yes", 0.0), ("No", "no.", 1.0)],  # ground truth lower-cased and dot-deleted too
)  # fmt: skip
def test_score_sample(prediction, answer, score):
    assert TASK.score_sample(doc(answer), prediction)["score"] == score


def test_non_yes_no_ground_truth_is_an_error():
    with pytest.raises(JanusEvalError, match="not Yes/No"):
        TASK.score_sample(doc("Maybe"), "yes")


def test_eval_type_by_category():
    assert TASK.score_sample(doc(category="OCR"), "yes")["eval_type"] == "perception"
    assert TASK.score_sample(doc(category="code_reasoning"), "yes")["eval_type"] == "cognition"
    assert TASK.score_sample(doc(category="ocr"), "yes")["eval_type"] == "cognition"  # unknown -> cognition


@pytest.mark.parametrize(
    "question, prompt",
    [
        ("Is there a dog? Please answer yes or no.", "Is there a dog?"),
        ("  Is it red? Please answer yes or no.  ", "Is it red?"),  # stripped first, then removed
        ("Is it red?Please answer yes or no.", "Is it red?Please answer yes or no."),  # no leading space: kept
        ("Is it red? Please answer yes or no", "Is it red? Please answer yes or no"),  # no period: kept
    ],
)
def test_prompt(question, prompt):
    assert TASK.prompt(doc(question=question)) == prompt + "\nAnswer the question using a single word or phrase."


def pair(category, image, first, second):
    qid = f"{category}/{image}.png"
    return [TASK.score_sample(doc("Yes", category, qid, "q1"), "yes" if first else "no"),
            TASK.score_sample(doc("No", category, qid, "q2"), "no" if second else "yes")]  # fmt: skip


def test_aggregate_acc_plus_and_sums():
    records = (
        pair("existence", 1, True, True)  # acc 100 + acc+ 100 = 200
        + pair("existence", 2, True, False)  # acc 50 + acc+ 0 = 50 -> existence (200 + 50) / 2 = 125
        + pair("color", 1, False, False)  # 0
        + pair("commonsense_reasoning", 1, True, True)  # 200
        + pair("numerical_calculation", 1, False, True)  # 50
    )
    result = TASK.aggregate(records)
    assert result["mme_perception_score"] == 125.0 and result["mme_perception"] == 125.0
    assert result["mme_cognition_score"] == 250.0
    assert result["mme_score/existence"] == 125.0
    assert result["mme_acc/existence"] == 75.0 and result["mme_acc_plus/existence"] == 50.0
    assert result["mme_score/color"] == 0.0 and result["mme_score/numerical_calculation"] == 50.0
    assert result["mme_incomplete_pairs"] == 0.0


def test_incomplete_pairs_are_dropped_and_counted():
    records = pair("existence", 1, True, True) + pair("existence", 2, False, False)[:1]
    records += pair("count", 1, True, True)[1:]
    result = TASK.aggregate(records)
    assert result["mme_perception_score"] == 200.0  # existence 200 (image 2 dropped), count has no complete pair
    assert "mme_score/count" not in result
    assert result["mme_incomplete_pairs"] == 2.0
    assert "mme_cognition_score" not in result  # no cognition samples at all, as lmms-eval


def test_more_than_two_records_per_image_is_an_error():
    records = pair("existence", 1, True, True) + pair("existence", 1, True, True)[:1]
    with pytest.raises(JanusEvalError, match="question_id 'existence/1.png'"):
        TASK.aggregate(records)


def test_aggregate_accepts_samples_jsonl_records():
    records = pair("existence", 1, True, False) + pair("code_reasoning", 1, True, True)
    as_jsonl = []
    for r in records:
        scores, info = split_scores(r)
        as_jsonl.append({"id": "x", "scores": scores, "score_info": info})
    assert TASK.aggregate(as_jsonl) == TASK.aggregate(records)


def test_fixture_holds_pairs_in_both_eval_types():
    docset = TASK.load(None)
    assert 6 <= len(docset) <= 16
    ids = [TASK.doc_id(d) for d in docset.docs]
    assert len(set(ids)) == len(ids)  # unique sample ids even though question_id is shared by a pair
    by_qid = {}
    for d in docset.docs:
        by_qid.setdefault(d["question_id"], []).append(d)
    assert all(len(v) == 2 for v in by_qid.values())
    types = {TASK.score_sample(d, "yes")["eval_type"] for d in docset.docs}
    assert types == {"perception", "cognition"}
    assert all(d["question"].endswith(" Please answer yes or no.") for d in docset.docs)
    assert TASK.images(docset.full_doc(0))[0].mode == "RGB"
    perfect = TASK.aggregate([TASK.score_sample(d, d["answer"]) for d in docset.docs])
    categories = {d["category"] for d in docset.docs}
    assert all(perfect[f"mme_score/{c}"] == 200.0 for c in categories)


# -- --protocol vlmevalkit ------------------------------------------------------------------------
VLM = get_task("mme", protocol="vlmevalkit")


def test_vlmevalkit_prompt_keeps_the_yes_no_instruction():
    d = doc(question="Is there a dog? Please answer yes or no.")
    assert VLM.prompt(d) == ("<image_placeholder>\nIs there a dog? Please answer yes or no.\n"
                             "Answer the question using a single word or phrase.")  # fmt: skip
    assert VLM.system_prompt == "" and VLM.generation.max_new_tokens == 512


@pytest.mark.parametrize(
    "prediction, extracted",
    [
        ("Yes", "Yes"),
        ("The answer is yes", "Yes"),  # YOrN_Extraction: the word anywhere (lmms-eval: "other")
        ("No, there is none.", "No"),
        ("y", "Unknown"),  # lmms-eval reads "y" as yes; VLMEvalKit needs the word
        ("Yes:", "Unknown"),  # ':' is kept by process_punctuation and glues to the word
        ("", "Unknown"),  # the xlsx round trip turns "" into "nan"
    ],
)
def test_vlmevalkit_extraction(prediction, extracted):
    scored = VLM.score_sample(doc("Yes"), VLM.postprocess(prediction))
    assert scored["prediction"] == extracted and scored["score"] == float(extracted == "Yes")


def test_vlmevalkit_rating_acc_plus_acc_and_sums():
    def rows(category, qid, *rights):
        return [VLM.score_sample(doc("Yes", category, qid), "Yes" if right else "No") for right in rights]

    records = (rows("existence", "e/1.png", 1, 1) + rows("existence", "e/2.png", 1, 0) + rows("count", "c/1.png", 0, 0)
               + rows("code_reasoning", "r/1.png", 1, 1) + rows("color", "k/1.png", 1, 1) + rows("color", "k/2.png", 1)
               + rows("OCR", "o/1.png", 1, 0, 1))  # fmt: skip
    result = VLM.aggregate(records)
    assert result["existence"] == pytest.approx(75 + 50)  # acc 3/4, acc+ mean(1*1, 1*0)
    assert result["count"] == 0.0 and result["code_reasoning"] == 200.0
    assert result["color"] == pytest.approx(100 + 100)  # single-question image: in acc, not in acc+
    assert result["OCR"] == pytest.approx(200 / 3 + 0)  # 3 questions: acc+ from the first two only (1*0)
    assert result["perception"] == result["mme_perception"] == pytest.approx(125 + 0 + 200 + 200 / 3)
    assert result["reasoning"] == 200.0
    assert result["mme_missing_categories"] == 14 - 5 and result["mme_incomplete_pairs"] == 1
