"""MMBench-EN dev scoring checked against lmms-eval 0.7.3's rules (mmbench_doc_to_text + MMBench_Evaluator.eval_result)."""

from pathlib import Path

import pytest
from fake_chat_server import serve

from janus_eval.metrics.vlmevalkit_mcq import MMB_ABBREVIATIONS
from janus_eval.registry import get_task
from janus_eval.task import split_scores
from janus_eval.io import write_xlsx
from janus_eval.tasks.mmbench import SUBMISSION_COLUMNS, submission

TASK = get_task("mmbench")
POST = "\n\nAnswer with the option's letter from the given choices directly."


def doc(index: int, answer: str, options: list[str], *, hint: str | None = "nan", category: str = "cat1",
        l2: str = "L2a") -> dict:  # fmt: skip
    cells = {letter: options[i] if i < len(options) else "nan" for i, letter in enumerate("ABCD")}
    return {"index": index, "question": "What color is it?", "hint": hint, "answer": answer, **cells,
            "category": category, "L2-category": l2, "source": "src", "comment": "nan", "split": "dev"}  # fmt: skip


def rotations(i: int, options: list[str], right: str, copies: int) -> list[dict]:
    """Question i and its circular copies, options rotated as in the published dev set."""
    out = []
    for k in range(copies + 1):
        rotated = options[k:] + options[:k]
        out.append(doc(i + k * 1_000_000, "ABCD"[rotated.index(right)], rotated))
    return out


# -- prompt -----------------------------------------------------------------------------------------
def test_prompt_without_hint_skips_nan_options():
    d = doc(0, "A", ["red", "blue"])
    assert TASK.prompt(d) == "What color is it? There are several options:\nA. red\nB. blue" + POST


def test_prompt_with_hint_and_missing_values():
    d = doc(0, "A", ["red", "blue", "green"], hint="Look closely.")
    d["D"] = None  # a null option is skipped like "nan"
    assert TASK.prompt(d) == "Look closely. What color is it? There are several options:\nA. red\nB. blue\nC. green" + POST
    d["hint"] = None  # a null hint is dropped like "nan"
    assert TASK.prompt(d).startswith("What color is it? There")


def test_generation_settings():
    assert TASK.generation.max_new_tokens == 1024 and TASK.generation.until == ("ASSISTANT:",)


# -- per sample -------------------------------------------------------------------------------------
def test_score_sample_keeps_the_submission_row():
    scored = TASK.score_sample(doc(7, "B", ["red", "blue"]), "  B  ")
    assert scored["score"] == 1.0 and scored["extracted"] == "B" and scored["prediction"] == "B"
    assert scored["index"] == "7" and scored["E"] == "nan" and scored["L2-category"] == "L2a"
    numeric, _ = split_scores(scored)
    assert numeric == {"score": 1.0}  # the index stays out of the numeric scores


@pytest.mark.parametrize(
    "prediction, answer, score",
    [
        ("B", "B", 1.0),
        ("blue", "B", 1.0),  # option text
        ("E", "B", 0.0),  # read as E: wrong without a judge call
        ("b", "B", 0.0),  # unresolved: counted wrong here
    ],
)
def test_row_score(prediction, answer, score):
    assert TASK.score_sample(doc(0, answer, ["red", "blue", "green", "yellow"]), prediction)["score"] == score


# -- circular evaluation ------------------------------------------------------------------------------
def score(pairs: list[tuple[dict, str]]) -> dict[str, float]:
    return TASK.aggregate([TASK.score_sample(d, p) for d, p in pairs])


def right(d: dict) -> str:
    return d["answer"]


def test_a_question_counts_only_if_every_rotation_is_right():
    q0 = rotations(0, ["red", "blue", "green", "yellow"], "red", 3)
    q1 = rotations(1, ["red", "blue", "green", "yellow"], "blue", 3)
    pairs = [(d, right(d)) for d in q0] + [(d, right(d)) for d in q1[:-1]] + [(q1[-1], "A" if right(q1[-1]) != "A" else "B")]
    result = score(pairs)
    assert result["gpt_eval_score"] == pytest.approx(50.0) and result["overall_acc"] == pytest.approx(0.5)
    assert result["mmbench_accuracy"] == result["gpt_eval_score"]
    assert result["mmbench_questions"] == 2 and result["mmbench_unresolved"] == 0


def test_answering_by_option_text_survives_rotation():
    q = rotations(3, ["red", "blue", "green", "yellow"], "green", 3)
    assert score([(d, "It is green.") for d in q])["gpt_eval_score"] == 100.0


def test_unresolved_rows_fail_their_question_and_are_counted():
    q0 = rotations(0, ["red", "blue"], "red", 1)
    q1 = rotations(1, ["red", "blue"], "red", 1)
    q2 = rotations(2, ["red", "blue"], "red", 1)
    pairs = [(q0[0], right(q0[0])), (q0[1], "no idea")]  # unresolved: lmms-eval would ask its judge
    pairs += [(q1[0], "blue"), (q1[1], "no idea")]  # read wrong first: the judge would never be asked
    pairs += [(d, right(d)) for d in q2]
    result = score(pairs)
    assert result["overall_acc"] == pytest.approx(1 / 3)
    assert result["mmbench_unresolved"] == 2  # rows the heuristic could not read
    assert result["mmbench_unresolved_questions"] == 1  # only q0's outcome depends on a judge


def test_copies_without_their_main_row_are_not_scored():
    q0 = rotations(0, ["red", "blue"], "red", 1)
    q5 = rotations(5, ["red", "blue"], "red", 1)
    result = score([(d, right(d)) for d in q0] + [(q5[1], "nonsense")])  # q5's main row missing (a --limit cut)
    assert result["mmbench_questions"] == 1 and result["overall_acc"] == 1.0


def test_category_and_l2_accuracy_over_main_questions():
    a = doc(0, "A", ["red", "blue"], category="color", l2="Perception")
    b = doc(1, "A", ["red", "blue"], category="color", l2="Reasoning")
    c = doc(2, "A", ["red", "blue"], category="shape", l2="Perception")
    result = score([(a, "A"), (b, "B"), (c, "A")])
    assert result["category_acc/color"] == 0.5 and result["category_acc/shape"] == 1.0
    assert result["l2_category_acc/Perception"] == 1.0 and result["l2_category_acc/Reasoning"] == 0.0


def test_aggregate_accepts_samples_jsonl_records():
    scored = [TASK.score_sample(d, right(d)) for d in rotations(0, ["red", "blue"], "red", 1)]
    records = []
    for s in scored:
        numeric, info = split_scores(s)
        records.append({"id": s["index"], "prediction": s["prediction"], "scores": numeric, "score_info": info})
    assert TASK.aggregate(records) == TASK.aggregate(scored)


# -- fixture and submission -------------------------------------------------------------------------
def test_fixture_has_circular_copies_and_nan_cells():
    docset = TASK.load(None)
    indices = [d["index"] for d in docset.docs]
    assert 6 <= len(indices) <= 16 and any(i >= 1_000_000 for i in indices)
    assert all(i % 1_000_000 in indices for i in indices)  # every copy has its main question
    assert any(d["hint"] == "nan" for d in docset.docs) and any(d["D"] == "nan" for d in docset.docs)
    assert len(TASK.images(docset.full_doc(0))) == 1
    perfect = TASK.aggregate([TASK.score_sample(d, d["answer"]) for d in docset.docs])
    assert perfect["mmbench_accuracy"] == 100.0


def test_submission_table(tmp_path: Path):
    docs = rotations(0, ["red", "blue"], "red", 1)
    records = [{"id": str(docs[1]["index"]), "prediction": "B\x07 because\x00"},  # control characters XML cannot hold
               {"id": str(docs[0]["index"]), "skipped": True}]  # fmt: skip
    rows = submission(records, docs)
    assert [r["index"] for r in rows] == [0, 1_000_000] and [r["prediction"] for r in rows] == ["", "B\x07 because\x00"]
    assert list(rows[0])[:4] == ["index", "question", "answer", "prediction"] and rows[0]["E"] == "nan"
    assert rows[1]["A"] == docs[1]["A"] and rows[1]["answer"] == docs[1]["answer"]
    write_xlsx(tmp_path / "mmbench_en_test.xlsx", SUBMISSION_COLUMNS, rows)
    from openpyxl import load_workbook

    sheet = load_workbook(tmp_path / "mmbench_en_test.xlsx").active
    header, *cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert tuple(header) == SUBMISSION_COLUMNS and [c[0] for c in cells] == [0, 1_000_000]
    assert [c[3] for c in cells] == [None, "B because"]  # openpyxl reads an empty string back as an empty cell


# -- --protocol vlmevalkit ------------------------------------------------------------------------
VLM = get_task("mmbench", protocol="vlmevalkit")
VLM_POST = "\n\nAnswer with the option's letter from the given choices directly."


def test_vlmevalkit_prompts():
    # lmms-lab's "nan" hint/options are empty cells: no "Hint:" line, no option line
    assert VLM.prompt(doc(0, "A", ["red", "blue"])) == "<image_placeholder>\nWhat color is it?\nA. red\nB. blue" + VLM_POST
    assert VLM.prompt(doc(0, "A", ["red", "blue", "green"], hint="Look closely.")) == (
        "<image_placeholder>\nHint: Look closely.\nWhat color is it?\nA. red\nB. blue\nC. green" + VLM_POST
    )


@pytest.mark.parametrize(
    "prediction, extracted",
    [
        ("B", "B"),
        ("(B)", "B"),
        ("The answer is B", "B"),  # PR #541: letter token B -> B
        ("a", None),  # lower-case is not a letter
        ("E", None),  # choices are the present options only: E is never a letter
        ("banana", None),  # "nan" options are missing, not option text
        ("blue", "B"),  # option text
        ("I'm sorry, but without the image provided I cannot say", "Z"),  # refusal
    ],
)
def test_vlmevalkit_row_extraction(prediction, extracted):
    assert VLM.score_sample(doc(0, "B", ["red", "blue"]), prediction)["extracted"] == extracted


def test_vlmevalkit_circular_groups():
    def group(i: int, replies: list[str]) -> list[dict]:
        return [VLM.score_sample(row, reply) for row, reply in zip(rotations(i, ["red", "blue", "green"], "red", 2), replies)]

    # group answers: i -> A, copy 1 -> C, copy 2 -> B (rotations of red/blue/green)
    records = group(0, ["A", "C", "B"]) + group(1, ["A", "C", "I do not know"]) + group(2, ["A", "blue", "nan"])
    result = VLM.aggregate(records)
    # group 0 all right -> 1; group 1: an unresolved row -> 0 offline; group 2: "blue" reads as a wrong letter -> 0
    assert result["dev/Overall"] == pytest.approx(1 / 3) and result["mmbench_accuracy"] == pytest.approx(100 / 3)
    assert result["dev/cat1"] == pytest.approx(1 / 3) and result["mmbench_unresolved"] == 2


def test_vlmevalkit_l2_names_are_abbreviated():
    row = {**doc(5, "A", ["red", "blue"]), "L2-category": "coarse_perception"}
    assert VLM.aggregate([VLM.score_sample(row, "A")])["dev/CP"] == 1.0


# -- judge-assisted matching (--judge-url) -----------------------------------------------------------
COLORS = ["red", "blue", "green", "yellow"]
TARGET = {"crimson": "red", "azure": "blue", "hush": "red"}
"""What the fake judge matches each unreadable prediction to (by option text, so rotations stay consistent)."""


def matcher_reply(asked: dict[str, int]):
    """A fake judge: the letter of the option a prediction means; ``mumble`` never a letter; ``nothing`` none."""
    import re as _re

    def reply(request: dict, n: int) -> tuple[int, str]:
        prompt = request["body"]["messages"][0]["content"]
        asked[prompt] = asked.get(prompt, 0) + 1
        row = prompt.split("Example 3: \n", 1)[1]
        prediction = _re.search(r"\nAnswer: (.*)\nYour output: $", row).group(1)
        none_letter = "Z" if "output Z." in prompt else "E"
        if prediction == "mumble":
            return 200, "I cannot decide."
        if prediction == "nothing":
            return 200, none_letter
        if prediction == "hush" and asked[prompt] == 1:
            return 200, ""  # an empty reply is asked again within the call
        letters = {text: letter for letter, text in _re.findall(r"^([A-D])\. (.*)$", row, _re.MULTILINE)}
        return 200, letters[TARGET[prediction]]

    return reply


def judge_rows() -> list[tuple[dict, str]]:
    """Questions whose unreadable rows only the judge can settle, in index order, with lmms-eval's traps."""
    rows = [(d, "crimson") for d in rotations(0, COLORS, "red", 3)]  # judged right -> 1
    rows += [(d, p) for d, p in zip(rotations(1, COLORS, "red", 3), ["crimson", "azure", "crimson", "crimson"])]  # 0
    q2 = rotations(2, COLORS, "red", 3)  # a heuristic-wrong row: lmms-eval never asks for the others
    rows += [(q2[0], "B"), *((d, "mumble") for d in q2[1:])]
    rows += [(d, "hush") for d in rotations(3, COLORS, "red", 3)]  # empty first reply, then right -> 1
    rows += [(d, "nothing") for d in rotations(4, COLORS, "red", 1)]  # "no option" -> 0
    for i in range(5, 17):  # questions of one row (copies cut off): each fallback letter decides its question
        rotated = COLORS[i % 4 :] + COLORS[: i % 4]
        rows.append((doc(i, "ABCD"[rotated.index("red")], rotated), "mumble"))
    for d, _ in rows:  # one question text per question: one prompt per row, as in the real data
        d["question"] = f"What color is thing {d['index'] % 1_000_000}?"
    return rows


def _judge_ctx(url: str, tmp_path: Path):
    from janus_eval.metrics.judge import JudgeSettings
    from janus_eval.contract import RunContext

    return RunContext(task_dir=tmp_path, judge=JudgeSettings(url, "fake-judge"))


def test_lmms_eval_judge_matching_equals_mmbench_evaluator_s(tmp_path: Path):
    """lmms-eval's own ``eval_result`` and our records + aggregate, each asking the same fake judge."""
    import random

    evals = pytest.importorskip("lmms_eval.tasks.mmbench.mmbench_evals")
    en_utils = pytest.importorskip("lmms_eval.tasks.mmbench.en_utils")
    rows = judge_rows()
    theirs: dict[str, int] = {}
    with serve(matcher_reply(theirs)) as (url, _):
        evaluator = evals.MMBench_Evaluator(API_KEY="k", API_URL=url + "/chat/completions", model_version="fake-judge")
        results = [en_utils.mmbench_process_results(d, [p])["gpt_eval_score"] for d, p in rows]
        state = random.getstate()
        try:
            reference, _, _ = evaluator.eval_result(results, eval_method="openai")
        finally:
            random.setstate(state)
    ours: dict[str, int] = {}
    with serve(matcher_reply(ours)) as (url, seen):
        records = TASK.score_samples([d for d, _ in rows], [p for _, p in rows], _judge_ctx(url, tmp_path))
    result = TASK.aggregate(records)
    assert result["gpt_eval_score"] == pytest.approx(100 * reference) and result["mmbench_unresolved"] == 0
    assert set(theirs) <= set(ours) and all(ours[p] == n for p, n in theirs.items())  # same prompts, same retries
    assert {r["body"]["model"] for r in seen} == {"fake-judge"} and {r["body"]["max_tokens"] for r in seen} == {256}
    by_prediction = {p: r["matched_by"] for (_, p), r in zip(rows, records)}
    assert by_prediction == {"crimson": "judge", "azure": "judge", "B": "heuristic", "mumble": "random",
                             "hush": "judge", "nothing": "judge"}  # fmt: skip
    assert round(result["overall_acc"] * 17) > 2  # beyond questions 0 and 3, seeded random letters were right


def test_lmms_eval_without_a_judge_counts_unread_rows_wrong():
    rows = judge_rows()
    records = TASK.score_samples([d for d, _ in rows], [p for _, p in rows], None)
    result = TASK.aggregate(records)
    assert result["gpt_eval_score"] == 0.0 and {r["matched_by"] for r in records} == {"none", "heuristic"}
    assert result["mmbench_unresolved"] == len(rows) - 1


def test_vlmevalkit_judge_matching_follows_extract_answer_from_item(tmp_path: Path):
    from janus_eval.metrics.answer_judge import vlmevalkit_fallback, vlmevalkit_prompt
    from janus_eval.metrics.vlmevalkit_mcq import choices_of

    rows = judge_rows()
    asked: dict[str, int] = {}
    with serve(matcher_reply(asked)) as (url, seen):
        records = VLM.score_samples([d for d, _ in rows], [p for _, p in rows], _judge_ctx(url, tmp_path))
    unread = [(d, p) for d, p in rows if p != "B"]
    assert set(asked) == {vlmevalkit_prompt(d["question"], choices_of(d, "ABCD"), p) for d, p in unread}
    assert {r["body"]["max_tokens"] for r in seen} == {1024} and {r["body"]["model"] for r in seen} == {"fake-judge"}
    for (d, p), record in zip(rows, records):
        if p == "mumble":  # three unreadable replies, then the recorded random letter over the options and Z
            assert record["matched_by"] == "random" and len(record["judge_replies"]) == 3
            assert record["extracted"] == vlmevalkit_fallback(choices_of(d, "ABCD"), str(d["index"]))
        elif p == "nothing":
            assert record["extracted"] == "Z" and record["score"] == 0.0
        elif p in TARGET:
            assert record["matched_by"] == "judge" and record["score"] == float(TARGET[p] == "red")
    hits = {int(r["index"]): r["hit"] for r in _main_hits(records)}
    assert VLM.aggregate(records)["dev/Overall"] == pytest.approx(sum(hits.values()) / len(hits))
    assert hits[0] == 1 and hits[1] == 0 and hits[2] == 0 and hits[3] == 1 and hits[4] == 0
    fallback = [vlmevalkit_fallback(choices_of(d, "ABCD"), str(d["index"])) == d["answer"] for d, p in rows[-12:]]
    assert [hits[i] for i in range(5, 17)] == [int(x) for x in fallback]
    assert VLM.aggregate(records)["mmbench_unresolved"] == 0


def _main_hits(records: list[dict]) -> list[dict]:
    """Each main row with its group's hit, as ``mcq_circular_eval`` scores it (via our aggregate's grouping)."""
    from janus_eval.tasks.mmbench import circular_groups

    out = []
    for row, group in circular_groups(records):
        out.append({"index": row["index"], "hit": int(all(r["extracted"] == r["answer"] for r in group))})
    return out


def test_card_scoring_identity_and_rescoring_say_which_matcher_ran(tmp_path: Path):
    from janus_eval.metrics.judge import JudgeSettings
    from janus_eval.contract import RunContext

    offline, judged = RunContext(), RunContext(task_dir=tmp_path, judge=JudgeSettings("http://127.0.0.1:9/v1", "m"))
    for task, reference in ((TASK, "lmms-eval 0.7.3"), (VLM, "VLMEvalKit b3a2f81")):
        assert task.card(offline)["answer_matching"] == "heuristic only (no judge)"
        assert task.card(judged)["answer_matching"].startswith("heuristic + judge m at http://127.0.0.1:9/v1/chat/completions")
        assert reference in task.card(judged)["answer_matching"]
        assert task.scoring_identity(offline) == {} and task.scoring_identity(judged)["answer_judge"]["model"] == "m"
        unread = task.score_sample(doc(0, "A", ["red", "blue"]), "mumble")
        record = {"id": "0", "scores": {"score": 0.0}, "score_info": {k: v for k, v in unread.items() if k != "score"}}
        assert task.needs_rescore(record, judged) and not task.needs_rescore(record, offline)
        read = task.score_sample(doc(0, "A", ["red", "blue"]), "A")
        assert not task.needs_rescore({"scores": {"score": 1.0}, "score_info": {"matched_by": read["matched_by"]}}, judged)


@pytest.mark.parametrize("protocol", ["lmms-eval", "vlmevalkit"])
def test_cli_run_then_rerun_with_a_judge_matches_the_stored_predictions(tmp_path: Path, cli_invoke, monkeypatch, protocol):
    """Through the CLI: offline records say no judge ran; ``--judge-url`` later re-scores them without the model."""
    import json

    from janus_eval.model import JanusAdapter

    monkeypatch.setattr(JanusAdapter, "understand", lambda self, images, questions, *a, **k: ["crimson"] * len(questions))
    out = tmp_path / "run"
    args = ["run", "--tasks", "mmbench", "--protocol", protocol, "--out", str(out), "--limit", "6", "--no-progress"]
    code, _, err = cli_invoke(*args)
    assert code == 0, err
    card = json.loads((out / "run.json").read_text())["tasks"]["mmbench"]
    assert card["answer_matching"] == "heuristic only (no judge)"
    records = [json.loads(line) for line in (out / "mmbench" / "samples.jsonl").read_text().splitlines()]
    assert {r["score_info"]["matched_by"] for r in records} == {"none"}

    def no_model(self, *args, **kwargs):
        raise AssertionError("re-matching must not generate")

    monkeypatch.setattr(JanusAdapter, "understand", no_model)
    with serve(lambda request, n: (200, "A")) as (url, seen):
        code, _, err = cli_invoke(*args, "--judge-url", url, "--judge-model", "fake-judge")
    assert code == 0, err
    card = json.loads((out / "run.json").read_text())["tasks"]["mmbench"]
    assert card["answer_matching"].startswith(f"heuristic + judge fake-judge at {url}/chat/completions")
    records = [json.loads(line) for line in (out / "mmbench" / "samples.jsonl").read_text().splitlines()]
    assert {r["score_info"]["matched_by"] for r in records} == {"judge"} and len(seen) == len(records)
    assert all(r["scores"]["score"] == float(r["score_info"]["answer"] == "A") for r in records)
    assert {r["score_info"]["judge_letter"] for r in records} == {"A"}

# -- --protocol paper -----------------------------------------------------------------------------
# Reference (VLMEvalKit b3a2f81 with the authors' circular=False in ImageMCQDataset.evaluate):
# mcq_vanilla_eval gives every TSV row its own hit (extracted letter == the row's answer; an
# unreadable reply is Z, wrong); report_acc's Overall is the mean hit over the rows of split dev.
PAPER = get_task("mmbench", protocol="paper")
PAPER_REPLIES = {  # fixture index -> reply (the fixture's rows are the lmms-lab en/dev layout)
    0: "D", 1_000_000: "C", 2_000_000: "A", 3_000_000: "A",  # one rotation wrong
    1: "A", 1_000_001: "B",  # both right
    2: "B",  # right, no copies
    3: "C",  # wrong
    4: "A", 1_000_004: "D", 2_000_004: "I don't know", 3_000_004: "B",  # one rotation unreadable
}


def _fixture_records(task) -> tuple[list[dict], list[dict]]:
    docs = list(task.load(None).docs)
    records = []
    for d in docs:
        scores, info = split_scores(task.score_sample(d, task.postprocess(PAPER_REPLIES[d["index"]])))
        records.append({"id": str(d["index"]), "scores": scores, "score_info": info})
    return docs, records


def test_fixture_rows_are_the_tsv_rows_the_vanilla_eval_scores():
    docs = list(PAPER.load(None).docs)
    assert sorted(d["index"] for d in docs) == sorted(PAPER_REPLIES)  # originals and copies, each a row
    assert {d["split"] for d in docs} == {"dev"}


def test_paper_headline_is_the_per_row_mean_over_originals_and_copies():
    docs, records = _fixture_records(PAPER)
    hit = {d["index"]: float(PAPER_REPLIES[d["index"]] == d["answer"]) for d in docs}  # unreadable -> never equal
    vanilla = 100 * sum(hit.values()) / len(hit)
    groups: dict[int, list[float]] = {}
    for index, h in hit.items():
        groups.setdefault(index % 1_000_000, []).append(h)
    circular = 100 * sum(all(g) for g in groups.values()) / len(groups)
    main_only = 100 * sum(h for i, h in hit.items() if i < 1_000_000) / len(groups)
    assert len({vanilla, circular, main_only}) == 3  # the fixture tells the three readings apart
    result = PAPER.aggregate(records)
    assert result["mmbench_accuracy"] == pytest.approx(vanilla) == pytest.approx(75.0)
    assert result["dev/Overall"] == pytest.approx(vanilla / 100)
    assert result["mmbench_circular_accuracy"] == pytest.approx(circular)
    assert VLM.aggregate(records)["mmbench_accuracy"] == pytest.approx(circular)  # vlmevalkit stays circular
    ar = [h for d in docs if d["L2-category"] == "Attribute Reasoning" for h in [hit[d["index"]]]]
    key = "dev/" + MMB_ABBREVIATIONS.get("Attribute Reasoning", "Attribute Reasoning")
    assert result[key] == pytest.approx(sum(ar) / len(ar)) == pytest.approx(6 / 8)  # rows too, not groups
    assert result["mmbench_unresolved"] == 1


def test_paper_rows_keep_their_own_verdict_without_their_main_row():
    _, records = _fixture_records(PAPER)
    copies = [r for r in records if int(r["id"]) >= 1_000_000]
    assert PAPER.aggregate(copies)["mmbench_accuracy"] == pytest.approx(100 * 5 / 7)  # no grouping, no filtering
