"""SEED-Bench scoring checked against lmms-eval 0.7.3's rules (seed_process_result + seed_aggregation_result)."""

from pathlib import Path

import pytest

from janus_eval.registry import get_task
from janus_eval.task import split_scores

TASK = get_task("seed")


def doc(answer: str = "B", data_type: str = "image", type_id: int = 1, qid: str = "7") -> dict:
    return {"question_id": qid, "question": "Which?", "choice_a": "cat", "choice_b": "dog", "choice_c": "cow",
            "choice_d": "owl", "answer": answer, "data_type": data_type, "question_type_id": type_id}  # fmt: skip


@pytest.mark.parametrize(
    "prediction, answer, score",
    [
        ("B", "B", 1.0),
        ("b", "B", 1.0),  # compared case-insensitively
        ("  B \n", "B", 1.0),  # stripped before taking the first character
        ("B.", "B", 1.0),  # first character only
        ("B. dog", "B", 1.0),
        ("(B)", "B", 0.0),  # first character "("
        ("**B**", "B", 0.0),  # "*"
        ("The answer is B", "B", 0.0),  # "T"
        ("Answer: A", "A", 1.0),  # "A" of "Answer" happens to be right
        ("Answer: B", "B", 0.0),
        ("Because it barks", "B", 1.0),  # any word starting with the letter counts
        ("dog", "B", 0.0),  # option text is not matched
        ("", "B", 0.0),
    ],
)
def test_score_sample(prediction, answer, score):
    assert TASK.score_sample(doc(answer), prediction)["score"] == score


def test_prompt_and_generation():
    assert TASK.prompt(doc()) == (
        "Which?\nA. cat\nB. dog\nC. cow\nD. owl\nAnswer with the option's letter from the given choices directly."
    )
    assert TASK.generation.until == ("ASSISTANT:",) and TASK.generation.max_new_tokens == 32
    assert TASK.postprocess("B ASSISTANT: C").strip() == "B"  # cut at the stop string


def test_aggregate_per_data_type_and_question_type():
    records = [
        TASK.score_sample(doc("A", "image", 1, "1"), "A"),  # right
        TASK.score_sample(doc("B", "image", 1, "2"), "C"),  # wrong
        TASK.score_sample(doc("C", "image", 2, "3"), "c"),  # right
        TASK.score_sample(doc("D", "video", 10, "4"), "(D)"),  # wrong
    ]
    result = TASK.aggregate(records)
    assert result["seed_image"] == pytest.approx(2 / 3) and result["seed_video"] == 0.0
    assert result["seed_all"] == 0.5
    assert result["seed_image_accuracy"] == pytest.approx(200 / 3)
    assert result["seed_all/1"] == 0.5 and result["seed_all/2"] == 1.0 and result["seed_all/10"] == 0.0
    assert list(k for k in result if k.startswith("seed_all/")) == ["seed_all/1", "seed_all/2", "seed_all/10"]


def test_aggregate_without_video_or_image_rows():
    only_images = TASK.aggregate([TASK.score_sample(doc("A"), "A")])
    assert "seed_video" not in only_images and only_images["seed_image"] == 1.0
    only_video = TASK.aggregate([TASK.score_sample(doc("A", "video", 11), "A")])
    assert "seed_image" not in only_video and "seed_image_accuracy" not in only_video and only_video["seed_all"] == 1.0


def test_aggregate_accepts_samples_jsonl_records():
    scored = TASK.score_sample(doc("A", "video", 11), "A")
    scores, info = split_scores(scored)
    assert TASK.aggregate([{"id": "7", "scores": scores, "score_info": info}]) == TASK.aggregate([scored])


def test_fixture_has_image_and_video_rows():
    docset = TASK.load(None)
    assert 6 <= len(docset) <= 16
    kinds = {}
    for i, d in enumerate(docset.docs):
        kinds.setdefault(d["data_type"], []).append(len(TASK.images(docset.full_doc(i))))
    assert set(kinds) == {"image", "video"}
    assert set(kinds["image"]) == {1} and min(kinds["video"]) > 1  # every frame of a video row is sent
    assert all(d["answer"] in "ABCD" for d in docset.docs)


# -- --protocol vlmevalkit ------------------------------------------------------------------------
VLM = get_task("seed", protocol="vlmevalkit")


def test_vlmevalkit_prompt():
    assert VLM.prompt(doc()) == ("<image_placeholder>\nWhich?\nA. cat\nB. dog\nC. cow\nD. owl\n\n"
                                 "Answer with the option's letter from the given choices directly.")  # fmt: skip


@pytest.mark.parametrize(
    "prediction, letter",
    [
        ("(B)", "B"),  # brackets become spaces: a whole token B
        ("B.", "B"),
        ("The answer is B", "B"),  # PR #541: the one letter token wins wherever it is
        ("**B**", "B"),
        ("b", "Z"),  # lower-case is not a letter, and "b" is no option text
        ("dog", "B"),  # can_infer_text: option text "dog"
        ("A or B", "Z"),  # two letters: ambiguous, and no option text
        ("Cannot determine the answer", "Z"),  # refusal phrase
        ("I think it is A because the dog is big", "A"),  # HEAD's last-4-tokens rule is not applied
        ("The answer is d", "Z"),  # HEAD's "answer is X" regex is not applied
        ("", "Z"),  # "nan" after the xlsx round trip: unreadable, wrong (no random letter offline)
    ],
)
def test_vlmevalkit_can_infer(prediction, letter, monkeypatch):
    monkeypatch.delenv("VERBOSE", raising=False)  # VLMEvalKit's VERBOSE adds the "A is an article" rule
    scored = VLM.score_sample(doc("B"), VLM.postprocess(prediction))
    assert scored["prediction"] == letter and scored["score"] == float(letter == "B")


def test_vlmevalkit_keeps_image_rows_and_reports_fractions():
    docset = VLM.load(None)
    assert len(docset) > 0 and all(d["data_type"] == "image" for d in docset.docs)
    assert len(docset) < len(TASK.load(None))  # the fixture's video rows are not in SEEDBench_IMG
    records = [VLM.score_sample(doc("B", type_id=1), "B"), VLM.score_sample(doc("B", type_id=1), "C"),
               VLM.score_sample(doc("B", type_id=9), "B")]  # fmt: skip
    result = VLM.aggregate(records)
    assert result["Overall"] == pytest.approx(2 / 3) and result["seed_image_accuracy"] == pytest.approx(200 / 3)
    assert result["Scene Understanding"] == 0.5 and result["Text Understanding"] == 1.0


def test_vlmevalkit_judge_matches_unreadable_replies(tmp_path: Path):
    """With a judge, VLMEvalKit's matcher settles what ``can_infer`` cannot; offline the row stays wrong."""
    from fake_chat_server import serve

    from janus_eval.metrics.answer_judge import vlmevalkit_prompt
    from janus_eval.metrics.judge import JudgeSettings
    from janus_eval.contract import RunContext

    docs = [doc("B", qid="1"), doc("B", qid="2"), doc("C", qid="3")]
    predictions = ["a barking animal", "B", "a hooting bird"]
    with serve(lambda request, n: (200, "B" if "barking" in request["body"]["messages"][0]["content"] else "D")) as (url, seen):
        ctx = RunContext(task_dir=tmp_path, judge=JudgeSettings(url, "m"))
        records = VLM.score_samples(docs, predictions, ctx)
    choices = {"A": "cat", "B": "dog", "C": "cow", "D": "owl"}
    assert [r["body"]["messages"][0]["content"] for r in seen] == [vlmevalkit_prompt("Which?", choices, p) for p in predictions[::2]]
    assert [(r["prediction"], r["hit"], r["matched_by"]) for r in records] == [("B", 1.0, "judge"), ("B", 1.0, "heuristic"),
                                                                                ("D", 0.0, "judge")]  # fmt: skip
    assert VLM.aggregate(records)["Overall"] == pytest.approx(2 / 3)
    offline = VLM.score_samples(docs, predictions, None)
    assert [(r["hit"], r["matched_by"]) for r in offline] == [(0.0, "none"), (1.0, "heuristic"), (0.0, "none")]
