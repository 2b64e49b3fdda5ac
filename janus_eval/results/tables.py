"""``janus-eval table``: runs laid out as the paper's Tables 2-4, paper rows beside, in md, LaTeX or CSV.

One row per run, marked with its protocol; a number from a subset (``--limit``, fewer samples than
the benchmark, FID over fewer than 30K images) carries a double dagger and a footnote saying why,
because such numbers are not comparable with the paper's. ``‡`` is used because the paper's own
``†`` already marks models in its rows. A run number from another split than the paper's column
(VQAv2: the paper reports test-dev, janus-eval scores validation) carries the split's name, e.g.
``76.5 (val)``, and a footnote (CSV: the ``split`` column), so it is never read as a test number.
A run number whose protocol computes it otherwise than the paper's column (``lmms-eval`` POPE: F1 over
all three splits; the paper: the random split's) carries ``§`` and a note saying how
(``results/footnotes.py``); in CSV the note is in the ``notes`` column instead.

Reference rows come from the Janus paper by default (``--paper janus``); ``--paper janus-pro`` shows the
Janus-Pro report's rows instead and ``--paper all`` both. A row from another publication than the
Janus paper carries that publication's name beside the model (the report names no evaluation
protocol, so the source is the only honest label) and a note citing it. A reference-only column
(DPG-Bench, which janus-eval does not run) appears only when a reference row on display fills it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from janus_eval.results.declared import answers_private
from janus_eval.results.footnotes import protocol_note
from janus_eval.results.layout import TABLES, Column, TableSpec
from janus_eval.results.paper import DEFAULT_PAPER, PAPERS, check_paper_choice, load_paper_table, paper_number, paper_of
from janus_eval.results.rundir import RunDir, unique_labels
from janus_eval.errors import JanusEvalError

SUBSET_MARK = "‡"
PROTOCOL_MARK = "§"
NOTES_SEPARATOR = " | "
FORMATS = ("md", "latex", "csv")


@dataclass
class Row:
    """Display cells (label cells first, then one per column) and which value cells are subsets."""

    cells: list[str]
    marked: set[int] = field(default_factory=set)
    is_run: bool = False
    split: dict[int, str] = field(default_factory=dict)
    """Value cells from another split than the paper column's: cell index -> short split name."""
    protocol_notes: dict[int, str] = field(default_factory=dict)
    """Value cells whose protocol differs from the paper's column: cell index -> how."""
    source: str = "run"
    citation: str = ""
    """A reference row from another publication than the Janus paper: where its numbers come from."""
    """The CSV ``source`` column: ``run``, ``paper`` (the Janus paper) or another publication's ``--paper`` key."""


@dataclass
class Table:
    spec: TableSpec
    header: list[str]
    paper_rows: list[Row]
    run_rows: list[Row]
    footnotes: list[str]
    split_notes: list[str] = field(default_factory=list)
    reference_notes: list[str] = field(default_factory=list)
    protocol_notes: list[str] = field(default_factory=list)
    """Where reference rows from another publication than the Janus paper come from; reference-only columns."""


def janus_reference(task: str, metric: str | None = None) -> float | None:
    """The paper's Janus number for a task's column (``metric=None``: its headline), or None."""
    for spec in TABLES.values():
        for column in spec.columns:
            if column.task == task and column.metric == metric:
                return paper_number(load_paper_table(spec.csv_name).janus_row().get(column.header))
    return None


_SHORT_SPLIT = {"validation": "val", "val": "val", "train": "train", "test": "test", "testdev": "test-dev"}


def run_split(run: RunDir, task: str) -> str:
    """The dataset split the run scored for ``task``, from ``run.json``'s task card ("" when it records none)."""
    return str(run.task_card(task).get("split") or "")


def _split_mark(spec_column: Column, run: RunDir) -> str | None:
    """The short split name to show beside a run's cell, or None when it is the paper's split."""
    if spec_column.paper_split is None:
        return None
    split = run_split(run, spec_column.task)
    short = _SHORT_SPLIT.get(split, split)
    if not short or short.startswith(spec_column.paper_split):
        return None
    return short


def _graded_elsewhere(run: RunDir, task: str, label: str) -> str | None:
    """Why a task's cell is empty when the run chose a split whose answers only its server holds, else None."""
    card = run.task_card(task)
    if not answers_private(card):
        return None
    return f"{label}: {task} ran the {run_split(run, task)} split, whose answers are private: {card.get('graded_by')} grades its submission file"


def table_numbers(which: str) -> list[str]:
    if which == "all":
        return list(TABLES)
    if which not in TABLES:
        raise JanusEvalError(f"unknown --table {which!r}; expected one of: 2, 3, 4, all")
    return [which]


def _reference_row(row: dict[str, str], header: list[str]) -> Row:
    """A reference row's cells; a row from another publication than the Janus paper names it beside the model."""
    cells = [row.get(h, "-") or "-" for h in header]
    if paper_of(row) == DEFAULT_PAPER:
        return Row(cells, source="paper")
    cells[1] = f"{cells[1]} ({PAPERS[paper_of(row)]})"
    return Row(cells, source=paper_of(row), citation=row.get("source") or "")


def _reference_notes(shown: list[dict[str, str]], reference_only: list[Column]) -> list[str]:
    notes = []
    for row in shown:
        if paper_of(row) != DEFAULT_PAPER:
            note = (f"{PAPERS[paper_of(row)]}: {row.get('source') or 'no source recorded'}. It names no evaluation "
                    f"protocol (only that HAI-LLM ran it), so these rows are labelled by their source")  # fmt: skip
            if note not in notes:
                notes.append(note)
    notes += [f"{c.header}: reference numbers only; janus-eval does not run this benchmark" for c in reference_only]
    return notes


def build_table(spec: TableSpec, runs: list[RunDir], paper: bool = True, papers: str = DEFAULT_PAPER) -> Table:
    """``papers``: whose reference rows appear (``janus``, ``janus-pro`` or ``all``); none when ``paper`` is False."""
    reference = load_paper_table(spec.csv_name)
    shown = reference.rows_from(papers) if paper else []
    columns = [c for c in spec.columns
               if c.task is not None or any(paper_number(r.get(c.header)) is not None for r in shown)]  # fmt: skip
    header = reference.label_header + [c.header for c in columns]
    paper_rows = [_reference_row(row, header) for row in shown]
    reference_notes = _reference_notes(shown, [c for c in columns if c.task is None])
    run_rows, footnotes, split_notes, protocol_notes = [], [], [], []
    for run, label in zip(runs, unique_labels(runs)):
        protocols = sorted({run.protocol(c.task) for c in columns if c.task in run.results} or {run.protocol()})
        row = Row(["This run", f"{label} ({', '.join(protocols)})", "-"], is_run=True)
        for column in columns:
            value = run.value(column.task, column.metric) if column.task else None
            if value is None:
                row.cells.append("-")
                note = _graded_elsewhere(run, column.task, label) if column.task else None
                if note and note not in split_notes:
                    split_notes.append(note)
                continue
            reason = run.subset_reason(column.task)
            if reason:
                row.marked.add(len(row.cells))
                note = f"{label}: {column.task} {reason}"
                if note not in footnotes:
                    footnotes.append(note)
            difference = protocol_note(run.protocol(column.task), column.task)
            if difference:
                row.protocol_notes[len(row.cells)] = difference
                note = f"{PROTOCOL_MARK} {column.header}, {difference}"
                if note not in protocol_notes:
                    protocol_notes.append(note)
            mark = _split_mark(column, run)
            if mark:
                row.split[len(row.cells)] = mark
                note = (f"({mark}) {column.header}: the run's number is {column.task} {run_split(run, column.task)} "
                        f"accuracy, not the paper's {column.paper_split} split")  # fmt: skip
                if note not in split_notes:
                    split_notes.append(note)
            row.cells.append(f"{value:.{spec.digits}f}")
        run_rows.append(row)
    return Table(spec=spec, header=header, paper_rows=paper_rows, run_rows=run_rows, footnotes=footnotes,
                 split_notes=split_notes, reference_notes=reference_notes, protocol_notes=protocol_notes)  # fmt: skip


def _cell(row: Row, i: int, subset_mark: str) -> str:
    """A cell as displayed: the value, then its split name, the protocol mark and the subset mark."""
    text = row.cells[i]
    if i in row.split:
        text += f" ({row.split[i]})"
    if i in row.protocol_notes:
        text += PROTOCOL_MARK
    return text + (subset_mark if i in row.marked else "")


def _footnote_lines(table: Table) -> list[str]:
    lines = table.split_notes + table.protocol_notes
    if table.footnotes:
        lines.append(f"{SUBSET_MARK} subset, not comparable with the paper: " + "; ".join(table.footnotes))
    return lines + table.reference_notes


# -- markdown ---------------------------------------------------------------------------------------
def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(table: Table) -> str:
    lines = [f"### {table.spec.title}", "", "| " + " | ".join(_md_cell(h) for h in table.header) + " |"]
    lines.append("| " + " | ".join(["---"] * 3 + ["---:"] * (len(table.header) - 3)) + " |")
    for row in table.paper_rows + table.run_rows:
        cells = [_cell(row, i, SUBSET_MARK) for i in range(len(row.cells))]
        if row.is_run:
            cells[1] = f"**{cells[1]}**"
        lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    notes = _footnote_lines(table)
    return "\n".join(lines + ([""] + "\n\n".join(notes).split("\n") if notes else [])) + "\n"


# -- LaTeX ------------------------------------------------------------------------------------------
_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
    "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "†": r"$^\dagger$", "‡": r"$^\ddagger$", "α": r"$\alpha$",
    "<": r"$<$", ">": r"$>$", "|": r"$|$", "§": r"$^\S$",
}  # fmt: skip


def latex_escape(text: str) -> str:
    """Escape LaTeX specials and map the few non-ASCII symbols the paper's tables use."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def render_latex(table: Table) -> str:
    ncols = len(table.header)
    lines = [
        "% requires \\usepackage{booktabs}",
        "\\begin{table}[t]",
        "\\centering",
        "\\small",
        f"\\caption{{{latex_escape(table.spec.title)}}}",
        f"\\begin{{tabular}}{{lll{'r' * (ncols - 3)}}}",
        "\\toprule",
        " & ".join(latex_escape(h) for h in table.header) + " \\\\",
        "\\midrule",
    ]

    def render(row: Row) -> str:
        cells = [latex_escape(_cell(row, i, "")) + (r"$^\ddagger$" if i in row.marked else "") for i in range(len(row.cells))]
        return " & ".join(cells) + " \\\\"

    lines += [render(r) for r in table.paper_rows]
    if table.paper_rows and table.run_rows:
        lines.append("\\midrule")
    lines += [render(r) for r in table.run_rows]
    lines += ["\\bottomrule", "\\end{tabular}"]
    for note in _footnote_lines(table):
        lines.append("\\par\\smallskip{\\footnotesize " + latex_escape(note) + "}")
    lines.append("\\end{table}")
    return "\n".join(lines) + "\n"


# -- CSV --------------------------------------------------------------------------------------------
def render_csv(table: Table) -> str:
    """The table's cells plus ``split``, ``source``, ``subset`` and ``notes`` columns, so a script can filter rows.

    Cells stay plain numbers; ``split`` names each run cell from another split than the paper's
    column (``VQAv2 (test)=validation``), the CSV form of the md/LaTeX ``(val)`` mark and footnote.
    ``notes`` is the CSV form of the other footnotes, on the row they concern: for a run, each cell
    whose protocol differs from the paper's column (``POPE: lmms-eval: ...; paper: ...``, entries
    joined by `` | ``); for a reference row from another publication than the Janus paper, its
    citation. No comment or trailer lines: each table is one header and rows of the same width.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["table", *table.header, "split", "source", "subset", "notes"])
    for row in table.paper_rows:
        writer.writerow([table.spec.number, *row.cells, "", row.source, "", row.citation])
    for row in table.run_rows:
        split = ";".join(f"{table.header[i]}={_long_split(row.split[i])}" for i in sorted(row.split))
        subset = ";".join(table.header[i] for i in sorted(row.marked))
        notes = NOTES_SEPARATOR.join(f"{table.header[i]}: {row.protocol_notes[i]}" for i in sorted(row.protocol_notes))
        writer.writerow([table.spec.number, *row.cells, split, "run", subset, notes])
    return buffer.getvalue()


def _long_split(short: str) -> str:
    return {"val": "validation"}.get(short, short)


RENDERERS = {"md": render_markdown, "latex": render_latex, "csv": render_csv}


def render_tables(runs: list[RunDir], fmt: str = "md", which: str = "all", paper: bool = True,
                  papers: str = DEFAULT_PAPER) -> str:  # fmt: skip
    """The requested tables in one text; CSV tables are separated by a blank line (one header each)."""
    if fmt not in RENDERERS:
        raise JanusEvalError(f"unknown --format {fmt!r}; expected one of: {', '.join(FORMATS)}")
    check_paper_choice(papers)
    parts = [RENDERERS[fmt](build_table(TABLES[n], runs, paper, papers)) for n in table_numbers(which)]
    return "\n".join(parts)
