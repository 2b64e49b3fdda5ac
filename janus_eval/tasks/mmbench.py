"""MMBench English dev: circular multiple choice (Liu et al., 2023), as lmms-eval 0.7.3 scores `mmbench_en_dev`.

Data: ``lmms-lab/MMBench`` (now ``lmms-lab-encoder/MMBench``), config ``en``, split ``dev``: 4,329
rows, the legacy dev TSV that already holds the circular copies: question *i* has copies with
``index = i + k * 1,000,000`` whose options (and answer letter) are rotated. Missing options and
hints are the string ``"nan"``.

Prompt: ``"{hint} {question} {options}"`` (``"{question} {options}"`` when the hint is missing or
``"nan"``), where options is ``"There are several options:"`` and one ``"{L}. {text}"`` line per
option that is set and not ``"nan"``; then ``"\\n"`` + the post-prompt ``"\\nAnswer with the option's
letter from the given choices directly."`` (a blank line before the instruction). Generation:
greedy, ``max_new_tokens 1024``, stop at ``"ASSISTANT:"``.

Scoring (lmms-eval's ``MMBench_Evaluator.eval_result``): a main question (``index < 1e6``) is right only
if it and every copy present (``index % 1e6 == i``) are right. Each row's letter comes from the
heuristic in ``janus_eval.metrics.choice.mmbench_choice``; its quirks are kept:
- the letters are A-E for every question, so a bare ``"E"`` is read (and is wrong) rather than judged;
- a bare ``"A"`` in a reply of more than 3 tokens is taken for the article;
- lower-case letters (``"a"``) are not letters;
- option text matching is a case-insensitive substring test over A-D, where the string ``"nan"`` of a
  missing option counts, so ``"banana"`` matches it (and, with two missing options, is ambiguous);
- a row read as a wrong letter fails its whole group at once.

Judge (``--judge-url``/``--judge-model``, ``ctx.judge``): rows the heuristic cannot read go to the run's
judge with lmms-eval's matcher prompt, model default, retries and reply reading
(``janus_eval.metrics.answer_judge``: ``LMMS_EVAL_MATCHER``). A row whose 3 judge replies name no
letter gets lmms-eval's fallback: ``randint`` over ``ABCDE`` from the generator ``eval_result`` seeds
with 2680, drawn in lmms-eval's matching order (main questions by index, each group's rows by index,
judged rows only, a group's walk stopping at its first wrong row); ``aggregate`` replays that stream,
so the record keeps ``matched_by: "random"`` and ``score`` 0.0. Every record says how its letter was
found: ``matched_by`` ``heuristic``, ``judge`` (with ``judge_letter``, ``judge_replies``,
``judge_model``), ``random`` or ``none``. We ask the judge for every unread row (lmms-eval skips rows
of a group already lost); the extra verdicts are cached and never used. The task card's
``answer_matching`` says which matcher ran.

No judge (today's offline behaviour): rows the heuristic cannot read count as wrong
(``matched_by: "none"``), and their number is reported as ``mmbench_unresolved`` (rows) and
``mmbench_unresolved_questions`` (main questions whose outcome lmms-eval's judge would decide: no row
read wrong, at least one unread). Our accuracy is then a lower bound of lmms-eval's, exact when both
counts are 0. (lmms-eval without a working API key fails 3 x 5 requests per row, 3 s apart, and then
draws the seeded random letter; ``mmbench_en_dev_static`` would instead run a second, regex extractor
on those rows; we do neither.) Records scored offline are matched again once a judge is configured.

Metrics: ``gpt_eval_score`` (lmms-eval's reported value: accuracy x 100), ``overall_acc``,
``category_acc/<category>`` and ``l2_category_acc/<L2-category>`` (fractions, as in lmms-eval's
results file), the counts above, and the paper's number ``mmbench_accuracy`` (percent). Each
record's own ``score`` is that row's heuristic verdict (1 if read and right), not its group's.

Test split (6,666 rows, answers private): ``-T mmbench.split=test`` runs it, reports no local metric,
and writes ``<out>/mmbench/submission/mmbench_en_test.xlsx``, the rows of lmms-eval's submission table
(``submission(records)``), for the MMBench evaluation server (https://mmbench.opencompass.org.cn),
which scores it with its own judge.

``--protocol vlmevalkit`` scores as VLMEvalKit's ``MMBench_DEV_EN`` did for the paper (no LLM judge):
lmms-lab's ``"nan"`` hint/options are empty cells; the Janus wrapper's MCQ prompt
``<image>\n[Hint: {hint}\n]{question}\nA. ...\nB. ...[\nC. ...][\nD. ...]\n\nAnswer with the option's
letter from the given choices directly.``, no system prompt. Each row's letter comes from VLMEvalKit's
``can_infer`` (``janus_eval.metrics.vlmevalkit_mcq``) over its non-missing A-D options (``E`` is never
a letter; the ``A`` article rule only with ``VERBOSE`` set). Circular evaluation (``mcq_circular_eval``):
a group (``index % 1e6``) is 0 if any row reads as a wrong letter (a refusal reads ``Z``), 1 if every row
reads right, and 0 if some row cannot be read ("Failed in Prefetch": no judge offline). With a judge
(``ctx.judge``), unread rows are matched by VLMEvalKit's judge prompt and rules
(``answer_judge.VLMEVALKIT_MATCHER``): a reply read as a letter (``Z``: no option, wrong) decides the
row; after 3 replies without one, VLMEvalKit's random letter over the options plus ``Z`` (unseeded there,
drawn per row here: ``vlmevalkit_fallback``). The group is then 1 when every row's letter is right, as
``eval_circular_group`` decides it. Records say ``matched_by`` (``heuristic``, ``judge``, ``random``,
``none``). ``report_acc``
over the main rows, fractions: ``dev/Overall``, ``dev/<L2 abbreviation>`` (CP, FP-S, FP-C, LR, RR, AR),
``dev/<category>``; plus ``mmbench_unresolved`` (rows read as nothing). The paper's number is
``dev/Overall`` x 100 (``mmbench_accuracy``). Each record's ``score`` is its row's own verdict.

``--protocol paper``: the vlmevalkit rules **without circular evaluation**, as the Janus authors ran it
(PR #541's description: "MMBench w/o circular", 69.8 against the paper's 69.4). Checked in VLMEvalKit
b3a2f81 ``vlmeval/dataset/image_mcq.py``, ``ImageMCQDataset.evaluate``: ``circular`` is set True inside
the method for any name containing "mmbench" or "ccbench" (no argument turns it off; the authors
edited that line to ``circular=False``), and then ``mcq_vanilla_eval``
(``vlmeval/dataset/utils/multiple_choice.py``) runs instead of ``mcq_circular_eval``. It keeps every
row of the prediction file whose ``index`` is in the TSV, with the TSV's own answer, and scores each
row on its own (``eval_vanilla``: hit = extracted letter == GT; offline an unreadable reply is ``Z``,
wrong): no grouping by ``index % 1e6`` and no filtering to the main rows. ``report_acc`` then takes
the mean hit per ``split`` (all ``dev``), per ``l2-category`` and per ``category``. Rows: the
lmms-lab ``MMBench`` ``en``/``dev`` data is the legacy ``MMBench_DEV_EN`` TSV row for row (4,329 rows,
about 1.2K questions; the question count is from the notes, not re-counted here): each original
``index`` < 1e6 and its circular copies ``index + k * 1e6`` with rotated options and answer, each its
own row with ``split`` ``dev``. That is exactly what VLMEvalKit
infers on and scores; our bundled fixture has the same layout (12 rows, 5 questions, groups of 4, 2
and 1). So the paper's number is the per-row mean over originals and rotations together
(``mmbench_accuracy`` = ``dev/Overall`` x 100): not accuracy over the main questions, not circular
accuracy (which stays, as ``mmbench_circular_accuracy``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from janus_eval.metrics.answer_judge import (
    LMMS_EVAL_MATCHER,
    AnswerMatcher,
    Ask,
    JudgeMatchedTask,
    judge_unread,
    lmms_eval_fallback_stream,
    lmms_eval_prompt,
)
from janus_eval.metrics.choice import mmbench_choice
from janus_eval.metrics.vlmevalkit_mcq import (
    MMB_ABBREVIATIONS,
    VLMEvalKitMatching,
    choices_of,
    mcq_prompt,
    report_acc,
    split_overall,
)
from janus_eval.metrics.vlmevalkit_prompt import janus_content
from janus_eval.protocol import SAMPLE, Compute, Metric, Unit, custom, per_group
from janus_eval.registry import task
from janus_eval.contract import DatasetSpec, IMAGE_PLACEHOLDER, RunContext
from janus_eval.io import write_xlsx
from janus_eval.task import (
    GenerationSettings,
    Option,
    LmmsEvalProtocol,
    UnderstandingTask,
    PaperProtocol,
    VLMEvalKitProtocol,
    record_scores,
    split_option,
)

HEADLINE = "mmbench_accuracy"
OPTIONS_HEADER = "There are several options:"
POST_PROMPT = "\nAnswer with the option's letter from the given choices directly."
CIRCULAR = 1_000_000
"""Circular copies of question i have index i + k * CIRCULAR."""
QUESTION = per_group("index", modulo=CIRCULAR)
"""Every MMBench metric is computed over circular groups, so a bootstrap resamples whole groups."""
SUBMISSION_COLUMNS = ("index", "question", "answer", "prediction", "hint", "source", "split", "category",
                      "L2-category", "A", "B", "C", "D", "E")  # fmt: skip


def _report_acc_metrics(compute: Compute, overall_unit: Unit, **overall_group: str) -> tuple[Metric, ...]:
    """``report_acc``'s rows on the dev split: overall, per L2 category (abbreviated), per category."""
    unit = QUESTION
    return (
        custom("dev/Overall", compute, unit=overall_unit, **overall_group),
        *(custom(f"dev/{abbreviation}", compute, group="l2-category", group_value=l2, unit=unit)
          for l2, abbreviation in MMB_ABBREVIATIONS.items()),
        custom("dev/{category}", compute, group="category", unit=unit),
    )  # fmt: skip


# -- metrics (each protocol declares its names over one of these computations) -------------------
def _lmms_eval_scores(records: list[dict[str, Any]]) -> dict[str, float]:
    """``eval_result``: circular groups, the heuristic's letters, judged or replayed random letters for unread rows."""
    hits: list[tuple[dict[str, Any], int]] = []
    unresolved_rows = unresolved_questions = 0
    fallback = lmms_eval_fallback_stream()  # eval_result seeds it once, before the first group
    for row, group in circular_groups(records):
        letters = [mmbench_choice(str(r["prediction"]), scoring_choices(r)) for r in group]
        wrong = any(x is not None and x != r["answer"] for x, r in zip(letters, group, strict=True))
        unread = [r for x, r in zip(letters, group) if x is None]
        unmatched = sum(r.get("matched_by", "none") == "none" for r in unread)
        unresolved_rows += unmatched
        unresolved_questions += int(unmatched > 0 and not wrong)
        hits.append((row, int(not wrong and _judged_right(unread, fallback))))
    overall = sum(h for _, h in hits) / len(hits) if hits else 0.0
    result = {"gpt_eval_score": 100.0 * overall, "overall_acc": overall}
    for key, column in (("category_acc", "category"), ("l2_category_acc", "L2-category")):
        by: dict[str, list[int]] = defaultdict(list)
        for row, hit in hits:
            by[str(row.get(column))].append(hit)
        result.update({f"{key}/{name}": sum(v) / len(v) for name, v in sorted(by.items())})
    result["mmbench_questions"] = float(len(hits))
    result["mmbench_unresolved"] = float(unresolved_rows)
    result["mmbench_unresolved_questions"] = float(unresolved_questions)
    result[HEADLINE] = 100.0 * overall
    return result


def _vlmevalkit_scores(records: list[dict[str, Any]]) -> dict[str, float]:
    """``mcq_circular_eval`` under ``exact_matching``, then ``report_acc`` on the main rows."""
    main_rows = []
    for row, group in circular_groups(records):
        wrong = any(r["extracted"] is not None and r["extracted"] != r["answer"] for r in group)
        unread = any(r["extracted"] is None for r in group)
        main_rows.append({**row, "hit": float(not wrong and not unread)})  # unread: no judge -> 0
    result = report_acc(main_rows) if main_rows else {}
    result["mmbench_unresolved"] = float(sum(r["extracted"] is None for r in map(record_scores, records)))
    result[HEADLINE] = 100.0 * split_overall(result, "dev")
    return result


def _paper_scores(records: list[dict[str, Any]]) -> dict[str, float]:
    """``report_acc`` over every row, each row's hit its own verdict; plus the circular accuracy beside it."""
    rows = [{**scored, "hit": float(scored["score"])} for scored in map(record_scores, records)]
    result = report_acc(rows) if rows else {}
    result["mmbench_unresolved"] = float(sum(r["extracted"] is None for r in rows))
    result["mmbench_circular_accuracy"] = _vlmevalkit_scores(records)[HEADLINE]
    result[HEADLINE] = 100.0 * split_overall(result, "dev")
    return result


# -- lmms-eval ----------------------------------------------------------------------------------
class MMBenchLmmsEval(LmmsEvalProtocol):
    """``mmbench_doc_to_text``; each row read by the ``mmbench_choice`` heuristic; ``eval_result``'s
    circular evaluation, rows the heuristic cannot read counted wrong (no GPT judge)."""

    generation = GenerationSettings(max_new_tokens=1024, until=("ASSISTANT:",))
    prompt_template = "[{hint} ]{question} " + OPTIONS_HEADER + "\nA. {A}\nB. {B}[\nC. {C}][\nD. {D}]\n" + POST_PROMPT
    """Bracketed parts are left out when the hint or option is missing or ``"nan"``."""
    metrics = (
        custom(HEADLINE, _lmms_eval_scores, headline=True, unit=QUESTION),  # circular: right only if every copy is
        custom("gpt_eval_score", _lmms_eval_scores, unit=QUESTION),
        custom("overall_acc", _lmms_eval_scores, unit=QUESTION),
        custom("category_acc/{category}", _lmms_eval_scores, group="category", unit=QUESTION),
        custom("l2_category_acc/{L2-category}", _lmms_eval_scores, group="L2-category", unit=QUESTION),
        custom("mmbench_questions", _lmms_eval_scores, unit=QUESTION),
        custom("mmbench_unresolved", _lmms_eval_scores, higher_is_better=False, unit=QUESTION),
        custom("mmbench_unresolved_questions", _lmms_eval_scores, higher_is_better=False, unit=QUESTION),
    )

    def prompt(self, doc: dict[str, Any]) -> str:
        hint = doc.get("hint")
        query = f"{doc['question']} {options_block(doc)}"
        if not _missing(hint) and hint != "nan":
            query = f"{hint} {query}"
        return f"{query}\n{POST_PROMPT}"

    answer_matcher: ClassVar[AnswerMatcher] = AnswerMatcher(LMMS_EVAL_MATCHER)

    def score_sample(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        """The row's heuristic verdict plus every column lmms-eval keeps (the submission row); no judge here."""
        row = {column: doc.get(column, "nan") for column in SUBMISSION_COLUMNS if column != "prediction"}
        row["index"] = str(doc["index"])  # a string keeps it out of the numeric scores
        row["prediction"] = prediction.strip()
        extracted = mmbench_choice(row["prediction"], scoring_choices(row))
        return {"score": float(extracted is not None and extracted == row["answer"]), "extracted": extracted,
                "matched_by": "heuristic" if extracted else "none", **row}  # fmt: skip

    def score_samples(self, docs: list[dict[str, Any]], predictions: list[str],
                      ctx: RunContext | None = None) -> list[dict[str, Any]]:  # fmt: skip
        """Heuristic first; with ``ctx.judge``, unread rows are matched by lmms-eval's judge prompt and rules."""
        rows = [self.score_sample(doc, p) for doc, p in zip(docs, predictions, strict=True)]
        asks = [None if row["extracted"] is not None else judge_ask(row) for row in rows]
        for row, verdict in zip(rows, judge_unread(self.answer_matcher, ctx, asks)):
            if verdict is not None:  # no letter after 3 replies: aggregate draws lmms-eval's random one
                row.update(verdict.fields(), matched_by="judge" if verdict.letter else "random",
                           score=float(verdict.letter == row["answer"]))  # fmt: skip
        return rows



def _judged_right(unread: list[dict[str, Any]], fallback: Callable[[], str]) -> bool:
    """``eval_sub_data``'s second pass: each unread row's judged (or random) letter, in order, until one is wrong.

    A random letter is drawn only for rows reached, so the stream advances as lmms-eval's does. A row
    nobody matched (no judge) is wrong.
    """
    for row in unread:
        how = row.get("matched_by", "none")
        if how == "none":
            return False
        letter = row.get("judge_letter") if how == "judge" else fallback()
        if letter != row["answer"]:
            return False
    return True


def judge_ask(row: dict[str, Any]) -> Ask:
    """lmms-eval's matcher request for a row: options A-D up to the first missing one (``"nan"`` counts)."""
    options = []
    for letter in "ABCD":
        if _missing(row.get(letter)):
            break
        options.append(str(row[letter]))
    choices = scoring_choices(row)
    return Ask(lmms_eval_prompt(str(row["question"]), options, str(row["prediction"])),
               lambda reply: mmbench_choice(reply, choices))  # fmt: skip


def options_block(doc: dict[str, Any]) -> str:
    """``There are several options:`` + ``L. text`` lines for the options lmms-eval shows."""
    lines = [OPTIONS_HEADER]
    for letter in "ABCDE":
        value = doc.get(letter)
        if value and not _missing(value) and value != "nan":
            lines.append(f"{letter}. {value}")
    return "\n".join(lines)


def scoring_choices(row: dict[str, Any]) -> dict[str, str]:
    """A-D options as the heuristic sees them: all that are not None/NaN; the string ``"nan"`` stays."""
    return {letter: str(row[letter]) for letter in "ABCD" if not _missing(row.get(letter))}


# -- VLMEvalKit ---------------------------------------------------------------------------------
class MMBenchVLMEvalKit(VLMEvalKitMatching, VLMEvalKitProtocol):
    """The Janus wrapper's MCQ prompt; ``can_infer`` per row; ``mcq_circular_eval`` then ``report_acc``."""

    prompt_template = (
        IMAGE_PLACEHOLDER + "\n[Hint: {hint}\n]{question}\nA. {A}\nB. {B}[\nC. {C}][\nD. {D}]\n" + POST_PROMPT
    )
    metrics = (
        custom(HEADLINE, _vlmevalkit_scores, headline=True, unit=QUESTION),  # dev/Overall x 100, circular
        *_report_acc_metrics(_vlmevalkit_scores, QUESTION),
        custom("mmbench_unresolved", _vlmevalkit_scores, higher_is_better=False, unit=QUESTION),
    )

    def prompt(self, doc: dict[str, Any]) -> str:
        return janus_content(mcq_prompt(doc["question"], choices_of(doc, "ABCD"), doc.get("hint")))

    def mcq_choices(self, doc: dict[str, Any]) -> dict[str, str]:
        return choices_of(doc, "ABCD")

    def mcq_key(self, doc: dict[str, Any]) -> str:
        return str(doc["index"])

    def mcq_record(self, doc: dict[str, Any], letter: str | None) -> dict[str, Any]:
        answer = str(doc["answer"])
        return {"score": float(letter == answer), "index": str(doc["index"]), "extracted": letter,
                "answer": answer, "split": doc.get("split"), "category": doc.get("category"),
                "l2-category": doc.get("L2-category", doc.get("l2-category"))}  # fmt: skip



# -- the paper (VLMEvalKit + PR #541's changes) -------------------------------------------------------
class MMBenchPaper(PaperProtocol, MMBenchVLMEvalKit):
    """VLMEvalKit's MMBench with ``circular=False``: ``mcq_vanilla_eval`` scores every row, copies included."""

    metrics = (
        # every row its own verdict (dev/Overall x 100): resampled by row
        custom(HEADLINE, _paper_scores, group="split", group_value="dev", headline=True),
        *_report_acc_metrics(_paper_scores, SAMPLE, group="split", group_value="dev"),
        custom("mmbench_unresolved", _paper_scores, higher_is_better=False, unit=QUESTION),
        custom("mmbench_circular_accuracy", _paper_scores, unit=QUESTION),  # the vlmevalkit protocol's headline
    )



# -- both ---------------------------------------------------------------------------------------
def circular_groups(records: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each main row (``index < CIRCULAR``), by index, with its group: itself and its copies present, by index.

    Copies whose main question is absent (a ``--limit`` cut) are never scored, as in both frameworks.
    """
    rows = sorted((record_scores(r) for r in records), key=lambda r: int(r["index"]))
    groups: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[int(row["index"]) % CIRCULAR].append(row)
    for row in rows:
        if int(row["index"]) < CIRCULAR:
            yield row, groups[int(row["index"])]


def _missing(value: Any) -> bool:
    """pandas.isna for the scalars a row holds: None or a float NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


# -- test split: submission file ----------------------------------------------------------------
def submission(records: list[dict[str, Any]], docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The official submission table's rows, sorted by index: lmms-eval's ``submission`` columns, from each
    record's doc (whatever the protocol kept in its records) and its prediction.

    A sample skipped for a corrupt image keeps its row with an empty prediction, so the server sees every index."""
    by_id = {str(doc["index"]): doc for doc in docs}
    rows = []
    for record in records:
        doc = by_id[str(record["id"])]
        row = {column: doc.get(column, "nan") for column in SUBMISSION_COLUMNS}
        row["index"], row["prediction"] = int(doc["index"]), record.get("prediction") or ""
        rows.append(row)
    return sorted(rows, key=lambda r: r["index"])


@task("mmbench")
class MMBench(JudgeMatchedTask, UnderstandingTask):
    headline: ClassVar[str] = HEADLINE
    dataset: ClassVar[DatasetSpec] = DatasetSpec(
        repo="MMBench", split="dev", config="en", fixture="MMBench", columns=("index", "question", "A", "B", "image"),
        types=(("index", "id"), ("image", "image")), splits=("dev", "test"), private=("test",),
    )
    protocols = {"lmms-eval": MMBenchLmmsEval, "vlmevalkit": MMBenchVLMEvalKit, "paper": MMBenchPaper}
    options: ClassVar[dict[str, Option]] = split_option(dataset)
    submission_server: ClassVar[str | None] = "the MMBench evaluation server (https://mmbench.opencompass.org.cn)"

    def write_submission(self, records: list[dict[str, Any]], docs: list[dict[str, Any]],
                         ctx: RunContext) -> Path | None:  # fmt: skip
        """The test split's answers are private: write the table its evaluation server grades."""
        if not self.dataset.answers_private:
            return None
        assert ctx.task_dir is not None
        path = ctx.task_dir / "submission" / f"mmbench_{self.dataset.config}_{self.dataset.split}.xlsx"
        write_xlsx(path, SUBMISSION_COLUMNS, submission(records, docs))
        return path

    def doc_id(self, doc: dict[str, Any]) -> str:
        return str(doc["index"])
