"""MMMU val scoring checked against lmms-eval 0.7.3's rules (mmmu_process_results + mmmu_aggregate_results)."""

import random
from pathlib import Path

import pytest

from janus_eval.hfdata import decode_image
from janus_eval.registry import get_task
from janus_eval.contract import IMAGE_PLACEHOLDER
from janus_eval.task import JanusEvalError, split_scores
from janus_eval.metrics.mmmu_open import normalize, open_correct, parse_open
from janus_eval.tasks.mmmu import subject_of

TASK = get_task("mmmu")
MC_POST = "\n\nAnswer with the option's letter from the given choices directly."


def mc(doc_id: str = "validation_Math_1", answer: str = "B", options: tuple = ("3", "4", "5", "6"),
       question: str = "How many?") -> dict:  # fmt: skip
    return {"id": doc_id, "question": question, "options": repr(list(options)), "answer": answer,
            "question_type": "multiple-choice"}  # fmt: skip


def open_q(doc_id: str = "validation_Physics_1", answer: str = "42") -> dict:
    return {"id": doc_id, "question": "Compute it.", "options": "[]", "answer": answer, "question_type": "open"}


# -- prompt and images --------------------------------------------------------------------------------
def test_prompts():
    assert TASK.prompt(mc(options=("x", "y"))) == "How many?\nA. x\nB. y" + MC_POST
    assert TASK.prompt(open_q()) == "Compute it.\n\nAnswer the question using a single word or phrase."
    assert TASK.generation.max_new_tokens == 128 and TASK.generation.until == ("\n\n",)


def test_image_tokens_stay_and_distinct_images_go_first_sorted():
    """lmms-eval 0.7.3's simple-model input: ``<image k>`` left in the text, images apart (the chat format puts them first)."""
    docset = TASK.load(None)
    docs = {d["id"]: docset.full_doc(i) for i, d in enumerate(docset.docs)}
    two = docs["validation_Math_1"]
    assert TASK.prompt(two).startswith("How many shapes are there in <image 1> and <image 2> together?")
    assert IMAGE_PLACEHOLDER not in TASK.prompt(two)
    images = TASK.images(two)
    assert len(images) == 2 and images[0].tobytes() != images[1].tobytes()
    assert images[0].tobytes() == decode_image(two["image_1"], "t").tobytes()
    in_option = docs["validation_Computer_Science_1"]  # <image 1> is option A's text
    assert "A. <image 1>" in TASK.prompt(in_option) and len(TASK.images(in_option)) == 1
    repeated = docs["validation_Design_2"]  # <image 1> twice: one image, as lmms-eval's set of tokens
    assert TASK.prompt(repeated).count("<image 1>") == 2 and len(TASK.images(repeated)) == 1
    assert TASK.images(docs["validation_Math_2"]) == [] and IMAGE_PLACEHOLDER not in TASK.prompt(docs["validation_Math_2"])
    reversed_refs = {**mc(question="Is <image 2> bigger than <image 1>?"), "image_1": two["image_1"], "image_2": two["image_2"]}
    firsts = [im.tobytes() for im in TASK.images(reversed_refs)]
    assert firsts == [im.tobytes() for im in images]  # sorted by k, not in reading order


def test_a_token_without_its_image_is_a_clear_error():
    d = mc(question="See <image 3>.")
    with pytest.raises(JanusEvalError, match="image_3"):
        TASK.images(d)


# -- multiple choice ------------------------------------------------------------------------------
def test_mc_score_and_record():
    scored = TASK.score_sample(mc(answer="C"), "(C)")
    assert scored["score"] == 1.0 and scored["parsed_pred"] == "C" and scored["guessed"] is False
    assert scored["subdomain"] == "Math"
    numeric, info = split_scores(scored)
    assert numeric == {"score": 1.0} and info["guessed"] is False


def test_an_unreadable_row_is_left_for_lmms_eval_s_stream():
    scored = TASK.score_sample(mc(doc_id="validation_Art_3", answer="A", options=("x", "y", "z")), "**no idea**")
    assert scored["guessed"] is True and scored["parsed_pred"] is None and scored["score"] == 0.0
    assert scored["fallback_letters"] == "ABC"
    numeric, info = split_scores(scored)
    assert numeric == {"score": 0.0} and info["fallback_letters"] == "ABC"  # a string: never a numeric score


# Replies per row: readable ones, and unreadable ones over 4, 2 and 3 options (the stream's draws differ by count).
STREAM_ROWS = [
    (mc("validation_Art_1", "A"), "**D**"),
    (mc("validation_Math_1", "C"), ""),
    (mc("validation_Math_2", "B", ("1", "2")), "(B)"),
    (mc("validation_Math_3", "A", ("1", "2")), "b"),
    (open_q("validation_Physics_1", "42"), "it is 42"),
    (mc("validation_Design_1", "C"), "E"),
    (mc("validation_Design_2", "B", ("p", "q", "r")), "nothing"),
    (mc("validation_Art_2", "D"), "C)"),
]


def _records(rows):
    return [TASK.score_sample(doc, reply) for doc, reply in rows]


def test_aggregate_replays_lmms_eval_s_seeded_stream_in_document_order():
    """lmms-eval's own process_results and aggregation after its CLI's ``random.seed(0)``: the same numbers."""
    lmms = pytest.importorskip("lmms_eval.tasks.mmmu.utils")
    state = random.getstate()
    random.seed(0)  # what lmms-eval's simple_evaluate does before any task runs
    try:
        reference = [lmms.mmmu_process_results(doc, [reply])["mmmu_acc"] for doc, reply in STREAM_ROWS]
    finally:
        random.setstate(state)
    expected = lmms.mmmu_aggregate_results(reference)
    result = TASK.aggregate(_records(STREAM_ROWS))
    assert result["mmmu_acc"] == expected
    from janus_eval.tasks.mmmu import replay_guesses

    flags = [TASK.score_sample(doc, reply)["guessed"] for doc, reply in STREAM_ROWS]
    guessed = [r["parsed_pred"][0] for r, flag in zip(reference, flags) if flag]

    assert [x for x in replay_guesses(_records(STREAM_ROWS)) if x is not None] == guessed
    assert len(guessed) == 6  # every multiple-choice reply but "(B)"


def test_the_stream_follows_record_order_not_the_question():
    """The guess depends on the row's place among the guessed rows (lmms-eval's shared generator)."""
    from janus_eval.tasks.mmmu import replay_guesses

    records = _records(STREAM_ROWS)
    first = replay_guesses(records)
    assert replay_guesses(records) == first  # replayable
    assert replay_guesses(records[1:])[0] == first[0]  # Math_1 now takes Art_1's draw (both over ABCD)


def test_resumed_runs_replay_the_same_letters(tmp_path, tiny_adapter):
    """Batch size, interruption and the order records were written in never change the replayed letters."""
    import json

    from janus_eval.run_options import RunOptions

    from janus_eval.runner import Runner

    def run(out, batch_size):
        config = RunOptions(tasks=["mmmu"], out=out, batch_size=batch_size, show_progress=False)
        return Runner(config, model_factory=lambda: tiny_adapter).run()["mmmu"]

    whole = run(tmp_path / "a", 8)
    samples = tmp_path / "a" / "mmmu" / "samples.jsonl"
    records = [json.loads(line) for line in samples.read_text().splitlines()]
    assert any(r["score_info"].get("guessed") for r in records)
    (tmp_path / "b").mkdir()
    run(tmp_path / "b", 8)
    kept = records[3:][::-1]  # a run killed after some batches, records in the order batches finished
    (tmp_path / "b" / "mmmu" / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
    (tmp_path / "b" / "results.json").unlink()
    assert run(tmp_path / "b", 1) == whole
    from janus_eval.tasks.mmmu import replay_guesses

    merged = [json.loads(line) for line in (tmp_path / "b" / "mmmu" / "samples.jsonl").read_text().splitlines()]
    assert replay_guesses(merged) == replay_guesses(records)


# -- open questions -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "response, gold, correct",
    [
        ("42", "42", True),
        ("The answer is 42.", "42", True),  # "is " tail "42" (shortest tail among the indicators)
        ("42.0", "42", True),  # numbers compared after round(float, 2)
        ("4,200", "4200", True),  # commas dropped for numbers
        ("first line\nso the result is 7", "7", True),  # lines split; last line's shortest tail
        ("x = 7", "7", True),  # "=" is an indicator on the last line
        ("$1,234.50", "1234.5", False),  # yields 1,234 and 234.50, never 1234.5
        ("concatenate", "cat", True),  # string gold is a substring of the parsed string
        ("Red", "red", True),  # lower-cased
        ("box", "x", False),  # a 1-character gold must stand alone: " x" or "x "
        ("it is 41", "42", False),
        ("", "42", False),
    ],
)
def test_open_answers(response, gold, correct):
    assert open_correct(gold, parse_open(response)) is correct
    assert TASK.score_sample(open_q(answer=gold), response)["score"] == float(correct)


def test_open_parse_keeps_every_candidate_0_7_3_behaviour():
    # The version trap (GitHub code before 0.7.3) kept only the first candidate string; 0.7.3 keeps the list.
    parsed = parse_open("so it is blue\nthe answer is 3")
    assert set(parsed) == {"blue", 3.0}  # the tail "3" is numeric, so it normalises to 3.0
    assert open_correct("3", parsed) and open_correct("blue", parsed)
    assert "answer: 5" in parse_open("answer: 5")  # "answer " needs a space: the whole reply stays a candidate
    assert normalize("a") == [" a", "a "] and normalize(" 1,000 ") == [1000.0]


# -- aggregate ------------------------------------------------------------------------------------
def test_aggregate_rounds_lmms_eval_metric_but_not_headline():
    records = [TASK.score_sample(mc("validation_Math_1", "A"), "A"), TASK.score_sample(mc("validation_Math_2", "A"), "(B)"),
               TASK.score_sample(mc("validation_Math_3", "A"), "(B)"), TASK.score_sample(mc("validation_Art_1", "A"), "A"),
               TASK.score_sample(open_q("validation_Physics_1", "42"), "42"),
               TASK.score_sample(open_q("validation_Physics_2", "42"), "7")]  # fmt: skip
    result = TASK.aggregate(records)
    assert result["mmmu_acc/Math"] == round(1 / 3, 5) and result["mmmu_acc/Art"] == 1.0
    assert result["mmmu_acc/Overall-Science"] == round(2 / 5, 5)  # Math and Physics, instance-weighted
    assert result["mmmu_acc/Overall-Art and Design"] == 1.0
    assert "mmmu_acc/Overall-Business" not in result  # empty domain left out
    assert result["mmmu_acc"] == round(0.5, 5) and result["mmmu_accuracy"] == pytest.approx(50.0)
    thirds = TASK.aggregate(records[:3])
    assert thirds["mmmu_acc"] == 0.33333 and thirds["mmmu_accuracy"] == pytest.approx(100 / 3)


def test_subject_of():
    assert subject_of("validation_Art_Theory_12") == "Art_Theory"
    with pytest.raises(JanusEvalError):
        subject_of("nonsense")


def test_fixture_scores_perfect_answers():
    docset = TASK.load(None)
    assert 6 <= len(docset) <= 16 and {d["question_type"] for d in docset.docs} == {"multiple-choice", "open"}
    result = TASK.aggregate([TASK.score_sample(d, d["answer"]) for d in docset.docs])
    assert result["mmmu_acc"] == 1.0


# -- --protocol vlmevalkit ------------------------------------------------------------------------
VLM = get_task("mmmu", protocol="vlmevalkit")


def test_vlmevalkit_prompts_put_every_image_first():
    two = {**mc(options=("x", "y"), question="Compare <image 1> and <image 2>."), "image_1": "a", "image_2": "b"}
    assert VLM.prompt(two) == (f"{IMAGE_PLACEHOLDER}{IMAGE_PLACEHOLDER}\nCompare <image 1> and <image 2>.\nA. x\nB. y"
                               "\n\nAnswer with the option's letter from the given choices directly.")  # fmt: skip
    # open question: "\n{question}\nAnswer the question directly. ", stripped by the Janus processor
    assert VLM.prompt({**open_q(), "image_1": "a"}) == f"{IMAGE_PLACEHOLDER}\nCompute it.\nAnswer the question directly."


@pytest.mark.parametrize(
    "prediction, answer, score",
    [
        ("15", "5", 1.0),  # open -> MCQ with A = "5": the gold text is a substring of "15"
        ("1,200", "1200", 0.0),  # "1200" is not a substring of "1,200"
        ("A", "42", 1.0),  # a bare A is the gold option
        ("other answers", "42", 0.0),  # option B text
        ("forty-two", "42", 0.0),  # number words fail
        ("", "42", 0.0),  # "nan": unreadable, wrong (no random letter)
    ],
)
def test_vlmevalkit_open_questions_become_two_option_mcqs(prediction, answer, score):
    assert VLM.score_sample(open_q(answer=answer), VLM.postprocess(prediction))["score"] == score


def test_vlmevalkit_multiple_choice_and_report_acc():
    records = [VLM.score_sample(mc(answer="B"), "(B)"), VLM.score_sample(mc(answer="B"), "b"),
               VLM.score_sample(mc(answer="C"), "5"), VLM.score_sample(open_q(answer="42"), "42")]  # fmt: skip
    assert [r["score"] for r in records] == [1.0, 0.0, 1.0, 1.0]  # "b" fails; "5" is option C's text
    result = VLM.aggregate(records)
    assert result["validation/Overall"] == 0.75 and result["mmmu_accuracy"] == 75.0
    assert result["validation/Math"] == pytest.approx(2 / 3) and result["validation/Science"] == 0.75


def test_vlmevalkit_judge_sees_mmmu_preproc_options(tmp_path: Path):
    """An open question's judge prompt offers A = the gold text and B = "Other Answers", as ``MMMU_preproc`` makes it."""
    from fake_chat_server import serve

    from janus_eval.metrics.answer_judge import vlmevalkit_prompt
    from janus_eval.metrics.judge import JudgeSettings
    from janus_eval.contract import RunContext

    with serve(lambda request, n: (200, "A")) as (url, seen):
        ctx = RunContext(task_dir=tmp_path, judge=JudgeSettings(url, "m"))
        (record,) = VLM.score_samples([open_q(answer="42")], ["forty-two"], ctx)
    assert seen[0]["body"]["messages"][0]["content"] == vlmevalkit_prompt("Compute it.", {"A": "42", "B": "Other Answers"}, "forty-two")
    assert record["hit"] == 1.0 and record["matched_by"] == "judge" and record["judge_letter"] == "A"
    assert VLM.card(ctx)["answer_matching"].startswith("heuristic + judge m at")
    assert TASK.card(ctx)["answer_matching"] == "heuristic only (the reference asks no judge)"


def test_score_command_replays_the_stream_in_dataset_order_whatever_the_file_order(tmp_path: Path):
    """``janus-eval score``: predictions listed in any order give the letters a run in dataset order gives."""
    import json

    from janus_eval.scoring import score_predictions

    ids = [TASK.doc_id(d) for d in TASK.load(None).docs]
    lines = [json.dumps({"id": i, "prediction": "no letter here"}) for i in ids]
    forward, backward = tmp_path / "f.jsonl", tmp_path / "b.jsonl"
    forward.write_text("\n".join(lines) + "\n")
    backward.write_text("\n".join(reversed(lines)) + "\n")
    first = score_predictions("mmmu", forward, None, "lmms-eval")["metrics"]
    assert score_predictions("mmmu", backward, None, "lmms-eval")["metrics"] == first
