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

Divergence, no LLM judge: rows the heuristic cannot read are sent by lmms-eval to a GPT judge
(``gpt-4o-2024-11-20`` by default, then a seeded random letter after 3 failed replies). We have no
judge for MMBench: such rows count as wrong, and their number is reported as ``mmbench_unresolved``
(rows) and ``mmbench_unresolved_questions`` (main questions whose outcome lmms-eval's judge would
decide: no row read wrong, at least one unread). Our accuracy is therefore a lower bound of
lmms-eval's, exact when both counts are 0 (``mmbench_en_dev_static`` would instead run a second,
regex extractor on those rows; we do not).

Metrics: ``gpt_eval_score`` (lmms-eval's reported value: accuracy x 100), ``overall_acc``,
``category_acc/<category>`` and ``l2_category_acc/<L2-category>`` (fractions, as in lmms-eval's
results file), the counts above, and the paper's number ``mmbench_accuracy`` (percent). Each
record's own ``score`` is that row's heuristic verdict (1 if read and right), not its group's.

Test split (no public answers): ``submission(records)`` builds the rows of the official submission
table and ``write_submission(rows, path)`` writes them (``.xlsx`` when openpyxl is installed, else
CSV); upload the file to the MMBench evaluation server (https://mmbench.opencompass.org.cn), which
scores it with its own judge.

``--protocol vlmevalkit`` scores as VLMEvalKit's ``MMBench_DEV_EN`` did for the paper (no LLM judge):
lmms-lab's ``"nan"`` hint/options are empty cells; the Janus wrapper's MCQ prompt
``<image>\n[Hint: {hint}\n]{question}\nA. ...\nB. ...[\nC. ...][\nD. ...]\n\nAnswer with the option's
letter from the given choices directly.``, no system prompt. Each row's letter comes from VLMEvalKit's
``can_infer`` (``janus_eval.metrics.vlmevalkit_mcq``) over its non-missing A-D options (``E`` is never
a letter; the ``A`` article rule only with ``VERBOSE`` set). Circular evaluation (``mcq_circular_eval``):
a group (``index % 1e6``) is 0 if any row reads as a wrong letter (a refusal reads ``Z``), 1 if every row
reads right, and 0 if some row cannot be read ("Failed in Prefetch": no judge offline). ``report_acc``
over the main rows, fractions: ``dev/Overall``, ``dev/<L2 abbreviation>`` (CP, FP-S, FP-C, LR, RR, AR),
``dev/<category>``; plus ``mmbench_unresolved`` (rows read as nothing). The paper's number is
``dev/Overall`` x 100 (``mmbench_accuracy``). Each record's ``score`` is its row's own verdict.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from janus_eval.metrics.choice import mmbench_choice
from janus_eval.metrics.vlmevalkit_mcq import (
    MMB_ABBREVIATIONS,
    can_infer,
    choices_of,
    janus_content,
    mcq_prompt,
    report_acc,
    split_overall,
)
from janus_eval.protocol import per_group
from janus_eval.registry import task
from janus_eval.task import (
    IMAGE_PLACEHOLDER,
    DatasetSpec,
    GenerationSettings,
    LmmsEvalProtocol,
    Metric,
    UnderstandingTask,
    VLMEvalKitProtocol,
    record_scores,
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


# -- lmms-eval ----------------------------------------------------------------------------------
class MMBenchLmmsEval(LmmsEvalProtocol):
    """``mmbench_doc_to_text``; each row read by the ``mmbench_choice`` heuristic; ``eval_result``'s
    circular evaluation, rows the heuristic cannot read counted wrong (no GPT judge)."""

    generation = GenerationSettings(max_new_tokens=1024, until=("ASSISTANT:",))
    prompt_template = "[{hint} ]{question} " + OPTIONS_HEADER + "\nA. {A}\nB. {B}[\nC. {C}][\nD. {D}]\n" + POST_PROMPT
    """Bracketed parts are left out when the hint or option is missing or ``"nan"``."""
    metrics = (
        Metric(HEADLINE, form="custom", headline=True, unit=QUESTION),  # circular: a question is right only if every copy is
        Metric("gpt_eval_score", form="custom", unit=QUESTION),
        Metric("overall_acc", form="custom", unit=QUESTION),
        Metric("category_acc/{category}", form="custom", group="category", unit=QUESTION),
        Metric("l2_category_acc/{L2-category}", form="custom", group="L2-category", unit=QUESTION),
        Metric("mmbench_questions", form="custom", unit=QUESTION),
        Metric("mmbench_unresolved", form="custom", higher_is_better=False, unit=QUESTION),
        Metric("mmbench_unresolved_questions", form="custom", higher_is_better=False, unit=QUESTION),
    )

    def prompt(self, doc: dict[str, Any]) -> str:
        hint = doc.get("hint")
        query = f"{doc['question']} {options_block(doc)}"
        if not _missing(hint) and hint != "nan":
            query = f"{hint} {query}"
        return f"{query}\n{POST_PROMPT}"

    def score_sample(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        """The row's heuristic verdict plus every column lmms-eval keeps (the submission row)."""
        row = {column: doc.get(column, "nan") for column in SUBMISSION_COLUMNS if column != "prediction"}
        row["index"] = str(doc["index"])  # a string keeps it out of the numeric scores
        row["prediction"] = prediction.strip()
        extracted = mmbench_choice(row["prediction"], scoring_choices(row))
        return {"score": float(extracted is not None and extracted == row["answer"]), "extracted": extracted, **row}

    def aggregate(self, records: list[dict[str, Any]]) -> dict[str, float]:
        hits: list[tuple[dict[str, Any], int]] = []
        unresolved_rows = unresolved_questions = 0
        for row, group in circular_groups(records):
            letters = [mmbench_choice(str(r["prediction"]), scoring_choices(r)) for r in group]
            wrong = any(x is not None and x != r["answer"] for x, r in zip(letters, group, strict=True))
            unread = sum(x is None for x in letters)
            unresolved_rows += unread
            unresolved_questions += int(unread > 0 and not wrong)
            hits.append((row, int(not wrong and unread == 0)))
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
class MMBenchVLMEvalKit(VLMEvalKitProtocol):
    """The Janus wrapper's MCQ prompt; ``can_infer`` per row; ``mcq_circular_eval`` then ``report_acc``."""

    prompt_template = (
        IMAGE_PLACEHOLDER + "\n[Hint: {hint}\n]{question}\nA. {A}\nB. {B}[\nC. {C}][\nD. {D}]\n" + POST_PROMPT
    )
    metrics = (
        Metric(HEADLINE, form="custom", headline=True, unit=QUESTION),  # dev/Overall x 100, circular
        Metric("dev/Overall", form="custom", unit=QUESTION),
        *(
            Metric(f"dev/{abbreviation}", form="custom", group="l2-category", group_value=l2, unit=QUESTION)
            for l2, abbreviation in MMB_ABBREVIATIONS.items()
        ),
        Metric("dev/{category}", form="custom", group="category", unit=QUESTION),
        Metric("mmbench_unresolved", form="custom", higher_is_better=False, unit=QUESTION),
    )

    def prompt(self, doc: dict[str, Any]) -> str:
        return janus_content(mcq_prompt(doc["question"], choices_of(doc, "ABCD"), doc.get("hint")))

    def score_sample(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        letter, answer = can_infer(prediction, choices_of(doc, "ABCD")), str(doc["answer"])
        return {"score": float(letter == answer), "index": str(doc["index"]), "extracted": letter,
                "answer": answer, "split": doc.get("split"), "category": doc.get("category"),
                "l2-category": doc.get("L2-category", doc.get("l2-category"))}  # fmt: skip

    def aggregate(self, records: list[dict[str, Any]]) -> dict[str, float]:
        """``mcq_circular_eval`` under ``exact_matching``, then ``report_acc`` on the main rows."""
        main_rows = []
        for row, group in circular_groups(records):
            wrong = any(r["extracted"] is not None and r["extracted"] != r["answer"] for r in group)
            unread = any(r["extracted"] is None for r in group)
            main_rows.append({**row, "hit": float(not wrong and not unread)})  # unread: no judge offline -> 0
        result = report_acc(main_rows) if main_rows else {}
        result["mmbench_unresolved"] = float(sum(r["extracted"] is None for r in map(record_scores, records)))
        result[HEADLINE] = 100.0 * split_overall(result, "dev")
        return result


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
def submission(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The official submission table's rows (lmms-eval's ``submission`` columns), sorted by index."""
    rows = []
    for record in records:
        scored = record_scores(record)
        row = {column: scored.get(column, "nan") for column in SUBMISSION_COLUMNS}
        row["index"] = int(row["index"])
        rows.append(row)
    return sorted(rows, key=lambda r: r["index"])


def write_submission(rows: list[dict[str, Any]], path: Path) -> Path:
    """Write the table as ``.xlsx`` (openpyxl installed) or ``.csv``; returns the path written.

    Upload it to the MMBench evaluation server (https://mmbench.opencompass.org.cn).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        from openpyxl import Workbook  # type: ignore[import-untyped]
    except ImportError:
        path = path.with_suffix(".csv")
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(SUBMISSION_COLUMNS))
            writer.writeheader()
            writer.writerows(rows)
        return path
    path = path.with_suffix(".xlsx")
    book = Workbook()
    sheet = book.active
    sheet.append(list(SUBMISSION_COLUMNS))
    for row in rows:
        sheet.append([row.get(column) for column in SUBMISSION_COLUMNS])
    book.save(path)
    return path


@task("mmbench")
class MMBench(UnderstandingTask):
    headline: ClassVar[str] = HEADLINE
    dataset: ClassVar[DatasetSpec] = DatasetSpec(
        repo="MMBench", split="dev", config="en", fixture="MMBench", columns=("index", "question", "A", "B", "image")
    )
    protocols = {"lmms-eval": MMBenchLmmsEval, "vlmevalkit": MMBenchVLMEvalKit}

    def doc_id(self, doc: dict[str, Any]) -> str:
        return str(doc["index"])
