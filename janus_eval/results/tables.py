"""``janus-eval table``: runs laid out as the paper's Tables 2-4, paper rows beside, in md, LaTeX or CSV.

One row per run, marked with its protocol; a number from a subset (``--limit``, fewer samples than
the benchmark, FID over fewer than 30K images) carries a double dagger and a footnote saying why,
because such numbers are not comparable with the paper's. ``‡`` is used because the paper's own
``†`` already marks models in its rows.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from janus_eval.results.paper import load_paper_table
from janus_eval.results.rundir import RunDir, unique_labels
from janus_eval.task import JanusEvalError

SUBSET_MARK = "‡"
FORMATS = ("md", "latex", "csv")


@dataclass(frozen=True)
class Column:
    """A paper column and where a run's number for it lives; ``metric=None`` means the task's headline."""

    header: str
    task: str
    metric: str | None = None


@dataclass(frozen=True)
class TableSpec:
    number: str
    title: str
    csv_name: str
    columns: tuple[Column, ...]
    digits: int


TABLES: dict[str, TableSpec] = {
    "2": TableSpec("2", "Table 2: multimodal understanding", "table2_understanding.csv", (
        Column("POPE", "pope"), Column("MME-P", "mme"), Column("MMB", "mmbench"), Column("SEED", "seed"),
        Column("VQAv2 (test)", "vqav2"), Column("GQA", "gqa"), Column("MMMU", "mmmu"), Column("MM-Vet", "mmvet"),
    ), digits=1),  # fmt: skip
    "3": TableSpec("3", "Table 3: GenEval", "table3_geneval.csv", (
        Column("Single Obj.", "geneval", "geneval_single_object"), Column("Two Obj.", "geneval", "geneval_two_object"),
        Column("Counting", "geneval", "geneval_counting"), Column("Colors", "geneval", "geneval_colors"),
        Column("Position", "geneval", "geneval_position"), Column("Color Attri.", "geneval", "geneval_color_attr"),
        Column("Overall", "geneval"),
    ), digits=2),  # fmt: skip
    "4": TableSpec("4", "Table 4: FID (lower is better)", "table4_fid.csv", (
        Column("COCO-30K", "coco30k"), Column("MJHQ-30K", "mjhq30k"),
    ), digits=2),  # fmt: skip
}


@dataclass
class Row:
    """Display cells (label cells first, then one per column) and which value cells are subsets."""

    cells: list[str]
    marked: set[int] = field(default_factory=set)
    is_run: bool = False


@dataclass
class Table:
    spec: TableSpec
    header: list[str]
    paper_rows: list[Row]
    run_rows: list[Row]
    footnotes: list[str]


def janus_reference(task: str, metric: str | None = None) -> float | None:
    """The paper's Janus number for a task's column (``metric=None``: its headline), or None."""
    from janus_eval.results.paper import paper_number

    for spec in TABLES.values():
        for column in spec.columns:
            if column.task == task and column.metric == metric:
                return paper_number(load_paper_table(spec.csv_name).janus_row().get(column.header))
    return None


def table_numbers(which: str) -> list[str]:
    if which == "all":
        return list(TABLES)
    if which not in TABLES:
        raise JanusEvalError(f"unknown --table {which!r}; expected one of: 2, 3, 4, all")
    return [which]


def build_table(spec: TableSpec, runs: list[RunDir], paper: bool = True) -> Table:
    reference = load_paper_table(spec.csv_name)
    labels_header = reference.header[:3]
    header = labels_header + [c.header for c in spec.columns]
    paper_rows = [Row([row.get(h, "-") or "-" for h in header]) for row in reference.rows] if paper else []
    run_rows, footnotes = [], []
    for run, label in zip(runs, unique_labels(runs)):
        protocols = sorted({run.protocol(c.task) for c in spec.columns if c.task in run.results} or {run.protocol()})
        row = Row(["This run", f"{label} ({', '.join(protocols)})", "-"], is_run=True)
        for column in spec.columns:
            value = run.value(column.task, column.metric)
            if value is None:
                row.cells.append("-")
                continue
            reason = run.subset_reason(column.task)
            if reason:
                row.marked.add(len(row.cells))
                note = f"{label}: {column.task} {reason}"
                if note not in footnotes:
                    footnotes.append(note)
            row.cells.append(f"{value:.{spec.digits}f}")
        run_rows.append(row)
    return Table(spec=spec, header=header, paper_rows=paper_rows, run_rows=run_rows, footnotes=footnotes)


def _footnote_lines(table: Table) -> list[str]:
    if not table.footnotes:
        return []
    return [f"{SUBSET_MARK} subset, not comparable with the paper: " + "; ".join(table.footnotes)]


# -- markdown ---------------------------------------------------------------------------------------
def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(table: Table) -> str:
    lines = [f"### {table.spec.title}", "", "| " + " | ".join(_md_cell(h) for h in table.header) + " |"]
    lines.append("| " + " | ".join(["---"] * 3 + ["---:"] * (len(table.header) - 3)) + " |")
    for row in table.paper_rows + table.run_rows:
        cells = [c + (SUBSET_MARK if i in row.marked else "") for i, c in enumerate(row.cells)]
        if row.is_run:
            cells[1] = f"**{cells[1]}**"
        lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    notes = _footnote_lines(table)
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


# -- LaTeX ------------------------------------------------------------------------------------------
_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
    "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "†": r"$^\dagger$", "‡": r"$^\ddagger$", "α": r"$\alpha$",
    "<": r"$<$", ">": r"$>$", "|": r"$|$",
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
        cells = [latex_escape(c) + (r"$^\ddagger$" if i in row.marked else "") for i, c in enumerate(row.cells)]
        return " & ".join(cells) + " \\\\"

    lines += [render(r) for r in table.paper_rows]
    if table.paper_rows and table.run_rows:
        lines.append("\\midrule")
    lines += [render(r) for r in table.run_rows]
    lines += ["\\bottomrule", "\\end{tabular}"]
    notes = _footnote_lines(table)
    if notes:
        lines.append("\\par\\smallskip{\\footnotesize " + latex_escape(notes[0]) + "}")
    lines.append("\\end{table}")
    return "\n".join(lines) + "\n"


# -- CSV --------------------------------------------------------------------------------------------
def render_csv(table: Table) -> str:
    """The table's cells plus ``source`` and ``subset`` columns, so a script can filter rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["table", *table.header, "source", "subset"])
    for row in table.paper_rows:
        writer.writerow([table.spec.number, *row.cells, "paper", ""])
    for row in table.run_rows:
        subset = ";".join(table.header[i] for i in sorted(row.marked))
        writer.writerow([table.spec.number, *row.cells, "run", subset])
    return buffer.getvalue()


RENDERERS = {"md": render_markdown, "latex": render_latex, "csv": render_csv}


def render_tables(runs: list[RunDir], fmt: str = "md", which: str = "all", paper: bool = True) -> str:
    """The requested tables in one text; CSV tables are separated by a blank line (one header each)."""
    if fmt not in RENDERERS:
        raise JanusEvalError(f"unknown --format {fmt!r}; expected one of: {', '.join(FORMATS)}")
    parts = [RENDERERS[fmt](build_table(TABLES[n], runs, paper)) for n in table_numbers(which)]
    return "\n".join(parts)
