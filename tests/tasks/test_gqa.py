"""GQA scoring checked against lmms-eval 0.7.3's rules (generic exact_match, ignore_case + ignore_punctuation)."""

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from janus_eval.registry import get_task
from janus_eval.task import JanusEvalError, split_scores

TASK = get_task("gqa")
FIXTURE = Path(TASK.load(None).files[0]).parents[1]


def doc(answer: str) -> dict:
    return {"id": "201", "imageId": "n1", "question": "What color is the cup?", "answer": answer}


@pytest.mark.parametrize(
    "prediction, answer, score",
    [
        ("yes", "yes", 1.0),
        ("Yes", "yes", 1.0),  # case ignored
        ("yes.", "yes", 1.0),  # ASCII punctuation deleted
        ("  no  \n", "no", 1.0),  # prediction stripped by the framework
        ("no .", "no", 0.0),  # deletion leaves "no " and whitespace is not collapsed
        ("Yes, it is.", "yes", 0.0),  # "yes it is"
        ("two", "2", 0.0),  # no number-word mapping
        ("the red one", "red", 0.0),  # no article handling
        ("tshirt", "t-shirt", 1.0),  # hyphen deleted on both sides
        ("yes…", "yes", 0.0),  # non-ASCII ellipsis is not string.punctuation
        ("", "yes", 0.0),
        ("yes\x00", "yes", 1.0),  # numpy string arrays drop trailing NULs
        ("red", "red ", 0.0),  # the answer is not stripped
    ],
)
def test_score_sample(prediction, answer, score):
    scored = TASK.score_sample(doc(answer), prediction)
    assert scored["score"] == score and scored["exact_match"] == score


def test_prompt():
    assert TASK.prompt(doc("red")) == "What color is the cup?\nAnswer the question using a single word or phrase."
    assert TASK.generation.max_new_tokens == 16


def test_aggregate():
    records = [TASK.score_sample(doc("red"), p) for p in ("red", "Red.", "blue", "red ball")]
    assert TASK.aggregate(records) == {"exact_match": 0.5, "gqa_accuracy": 50.0}
    scores, info = split_scores(records[0])
    from_jsonl = TASK.aggregate([{"id": "201", "scores": scores, "score_info": info}])
    assert from_jsonl == {"exact_match": 1.0, "gqa_accuracy": 100.0}


def test_fixture_joins_images_on_image_id():
    docset = TASK.load(None)
    assert 6 <= len(docset) <= 16 and len(docset.files) == 2
    image_ids = {d["id"] for d in docset.image_rows.docs}
    assert {d["imageId"] for d in docset.docs} < image_ids  # one image is asked about by no question
    for i in range(len(docset)):
        full = docset.full_doc(i)
        assert "fullAnswer" in full and TASK.images(full)[0].mode == "RGB"
    # questions sharing an imageId get the same picture
    by_image = {}
    for i, d in enumerate(docset.docs):
        by_image.setdefault(d["imageId"], []).append(TASK.images(docset.full_doc(i))[0].tobytes())
    assert all(len(set(v)) == 1 for v in by_image.values())


def test_a_snapshot_missing_an_image_or_a_config(tmp_path: Path):
    """GQA's two configs (the shared layout test is ``test_snapshot_layout.py``)."""
    root = tmp_path / "GQA"
    shutil.copytree(FIXTURE, root)
    # a question whose imageId is not in the images config
    instructions = root / "testdev_balanced_instructions" / "testdev-00000-of-00001.parquet"
    table = pq.read_table(instructions)
    ids = table.column("imageId").to_pylist()
    column = table.schema.get_field_index("imageId")
    pq.write_table(table.set_column(column, "imageId", pa.array(["nX"] + ids[1:], type=pa.string())), instructions)
    with pytest.raises(JanusEvalError, match="imageId 'nX'"):
        TASK.load(tmp_path).full_doc(0)

    shutil.rmtree(root / "testdev_balanced_images")
    with pytest.raises(JanusEvalError, match=r"GQA/testdev_balanced_images/testdev-\*\.parquet"):
        TASK.load(tmp_path)

    shutil.rmtree(root / "testdev_balanced_instructions")
    (root / "questions.json").write_text("{}")
    with pytest.raises(JanusEvalError, match=r"GQA/testdev_balanced_instructions/testdev-\*\.parquet"):
        TASK.load(tmp_path)



# -- --protocol vlmevalkit ------------------------------------------------------------------------
VLM = get_task("gqa", protocol="vlmevalkit")


def test_vlmevalkit_prompt_has_no_newline_after_the_image():
    assert VLM.prompt(doc("red")) == ("<image_placeholder>What color is the cup?\n"
                                      "Answer the question using a single word or phrase.")  # fmt: skip


@pytest.mark.parametrize(
    "prediction, answer, score",
    [
        (" Yes\n", "yes", 1.0),  # strip + lower on both sides
        ("yes.", "yes", 0.0),  # no punctuation removal (right under lmms-eval)
        ("a laptop", "laptop", 0.0),  # no article removal
        ("2", "two", 0.0),  # no number words
        ("", "yes", 0.0),  # "" -> "nan" after the xlsx round trip
    ],
)
def test_vlmevalkit_exact_match(prediction, answer, score):
    assert VLM.score_sample(doc(answer), VLM.postprocess(prediction))["score"] == score


def test_vlmevalkit_overall_in_percent():
    records = [VLM.score_sample(doc("yes"), p) for p in ("yes", "no", "Yes", "yes.")]
    assert VLM.aggregate(records) == {"Overall": 50.0, "gqa_accuracy": 50.0}


# -- VLMEvalKit's .xlsx round trip (pandas' default NA strings become "nan") ------------------------
LMMS = get_task("gqa")


@pytest.mark.parametrize("prediction", ["None", "nan", "NaN", "NA", "", "null", "N/A", "NULL"])
def test_vlmevalkit_na_prediction_scores_zero_against_none(prediction):
    """VLMEvalKit reads "None" back as NaN -> "nan": wrong against the answer "none"."""
    assert VLM.score_sample(doc("none"), VLM.postprocess(prediction))["score"] == 0.0
    # the round trip is applied even to a prediction handed over without postprocess
    assert VLM.score_sample(doc("none"), prediction)["score"] == 0.0


def test_vlmevalkit_answer_makes_the_round_trip_too():
    """evaluate() str()s both read-back columns: an answer "None" is "nan" as well (VLMEvalKit scores 1)."""
    scored = VLM.score_sample(doc("None"), VLM.postprocess("None"))
    assert scored["prediction"] == "nan" and scored["ground_truth"] == "nan" and scored["score"] == 1.0
    assert VLM.score_sample(doc("None"), VLM.postprocess("none"))["score"] == 0.0


@pytest.mark.parametrize("answer", ["None", "none"])
def test_lmms_eval_keeps_none(answer):
    assert LMMS.score_sample(doc(answer), LMMS.postprocess("None"))["score"] == 1.0


def test_vlmevalkit_round_trip_is_idempotent():
    for prediction in ("None", "=1+1", "yes", "", "nan"):
        once = VLM.postprocess(prediction)
        assert VLM.score_sample(doc("yes"), once) == VLM.score_sample(doc("yes"), prediction)
