"""``janus-eval leaderboard``: checkpoints ranked per headline metric and by average rank.

Each task's headline metric is a column; a run's rank there is 1 for the best value (FID: lowest),
ties sharing the better rank; runs are ordered by their mean rank over the metrics they have.
Per-sample-score metrics carry a percentile bootstrap CI over the run's samples, so a reader sees
when two neighbours are not really apart. The paper's Janus row is shown for reference, unranked.
"""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

from janus_eval.io import write_atomic
from janus_eval.results.bootstrap import percentile_ci
from janus_eval.results.layout import in_table_order
from janus_eval.results.rundir import RunDir, unique_labels
from janus_eval.results.tables import janus_reference
from janus_eval.errors import JanusEvalError

FORMATS = (".md", ".html", ".csv")


@dataclass
class Cell:
    value: float
    ci: tuple[float, float] | None = None
    rank: int = 0


@dataclass
class Entry:
    label: str
    run: RunDir
    cells: dict[str, Cell] = field(default_factory=dict)

    @property
    def mean_rank(self) -> float:
        ranks = [c.rank for c in self.cells.values()]
        return sum(ranks) / len(ranks) if ranks else float("inf")


@dataclass
class Leaderboard:
    columns: list[tuple[str, str]]  # (task, metric)
    entries: list[Entry]
    paper: dict[str, float | None]
    alpha: float
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    """Per column key, from the declaration of the first run that has the column."""

    @staticmethod
    def key(task: str, metric: str) -> str:
        return f"{task}.{metric}"


def _rank(values: list[tuple[int, float]], higher: bool) -> dict[int, int]:
    """Competition ranks (1 = best; equal values share the better rank)."""
    ordered = sorted(values, key=lambda item: -item[1] if higher else item[1])
    ranks: dict[int, int] = {}
    for position, (index, value) in enumerate(ordered, 1):
        previous = ordered[position - 2] if position > 1 else None
        ranks[index] = ranks[previous[0]] if previous is not None and previous[1] == value else position
    return ranks


def _cell_ci(run: RunDir, task: str, metric: str, n_boot: int, seed: int, alpha: float) -> tuple[float, float] | None:
    """The run's CI for one metric over its declared units: none for set-level or custom metrics."""
    records = run.records(task)
    if not records or n_boot <= 0:
        return None
    return percentile_ci(records, metric, run.declaration(task, metric), n_boot=n_boot, seed=seed, alpha=alpha)


def build_leaderboard(runs: list[RunDir], n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> Leaderboard:
    """Rank ``runs`` by their headline metrics, each with a percentile CI where its declaration allows one."""
    if not runs:
        raise JanusEvalError("no run directory given")
    columns, higher = [], {}
    for task in in_table_order(list({t for r in runs for t in r.results})):
        owner = next(r for r in runs if task in r.results)
        metric = owner.headline(task)
        columns.append((task, metric))
        higher[Leaderboard.key(task, metric)] = owner.higher_is_better(task, metric)
    entries = [Entry(label, run) for run, label in zip(runs, unique_labels(runs))]
    for task, metric in columns:
        present = []
        for i, entry in enumerate(entries):
            value = entry.run.value(task, metric)
            if value is None:
                continue
            ci = _cell_ci(entry.run, task, metric, n_boot, seed, alpha)
            entry.cells[Leaderboard.key(task, metric)] = Cell(value, ci)
            present.append((i, value))
        for i, rank in _rank(present, higher[Leaderboard.key(task, metric)]).items():
            entries[i].cells[Leaderboard.key(task, metric)].rank = rank
    entries.sort(key=lambda e: (e.mean_rank, -len(e.cells), e.label))
    paper = {Leaderboard.key(t, m): janus_reference(t) for t, m in columns}
    return Leaderboard(columns, entries, paper, alpha, higher)


# -- rendering --------------------------------------------------------------------------------------
def _num(value: float) -> str:
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"


def _cell_text(cell: Cell | None) -> str:
    if cell is None:
        return "-"
    ci = f" [{_num(cell.ci[0])}, {_num(cell.ci[1])}]" if cell.ci else ""
    return f"{_num(cell.value)}{ci} (#{cell.rank})"


def _samples(run: RunDir) -> str:
    parts = []
    for task in run.tasks:
        samples, size = run.sample_counts(task)
        mark = "*" if run.subset_reason(task) else ""
        parts.append(f"{task} {samples if samples is not None else '?'}/{size if size is not None else '?'}{mark}")
    return ", ".join(parts)


def _meta(entry: Entry) -> list[str]:
    run = entry.run
    protocols = sorted({run.protocol(t) for t in run.tasks} or {run.protocol()})
    return [run.checkpoint_sha[:12] or "-", run.date[:19] or "-", ", ".join(protocols), _samples(run)]


META = ["checkpoint sha256", "date", "protocol", "samples (* subset)"]


def _header(board: Leaderboard) -> list[str]:
    heads = [f"{t} {m}" + ("" if board.higher_is_better[Leaderboard.key(t, m)] else " ↓") for t, m in board.columns]
    return ["rank", "run", "mean rank", *heads, *META]


def _rows(board: Leaderboard) -> list[list[str]]:
    rows = []
    for position, entry in enumerate(board.entries, 1):
        cells = [_cell_text(entry.cells.get(Leaderboard.key(t, m))) for t, m in board.columns]
        mean = "-" if not entry.cells else f"{entry.mean_rank:.2f}"
        rows.append([str(position), entry.label, mean, *cells, *_meta(entry)])
    paper = [("-" if board.paper[Leaderboard.key(t, m)] is None else _num(board.paper[Leaderboard.key(t, m)] or 0.0))
             for t, m in board.columns]  # fmt: skip
    rows.append(["", "Janus-1.3B (paper)", "", *paper, "", "", "paper", ""])
    return rows


def _caption(board: Leaderboard) -> str:
    level = f"{100 * (1 - board.alpha):g}%"
    return (
        f"Value [{level} percentile bootstrap CI over samples, where the metric is a mean of per-sample scores] (#rank). "
        "↓ lower is better. Runs ordered by mean rank over the metrics they have; the paper row is not ranked."
    )


def render_markdown(board: Leaderboard) -> str:
    header = _header(board)
    lines = ["# janus-eval leaderboard", "", "| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in _rows(board)]
    return "\n".join(lines + ["", _caption(board)]) + "\n"


def render_csv(board: Leaderboard) -> str:
    """Machine-readable: value, CI bounds and rank as separate columns per metric."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    metric_cols = [f"{Leaderboard.key(t, m)}{s}" for t, m in board.columns for s in ("", ":ci_low", ":ci_high", ":rank")]
    writer.writerow(["position", "run", "mean_rank", *metric_cols, "checkpoint_sha256", "date", "protocol", "samples", "path"])
    for position, entry in enumerate(board.entries, 1):
        values: list[str] = []
        for t, m in board.columns:
            cell = entry.cells.get(Leaderboard.key(t, m))
            if cell is None:
                values += ["", "", "", ""]
            else:
                values += [repr(cell.value), *(repr(x) for x in (cell.ci or ("", ""))), str(cell.rank)]
        run = entry.run
        writer.writerow([position, entry.label, f"{entry.mean_rank:.4f}" if entry.cells else "", *values, run.checkpoint_sha,
                         run.date, _meta(entry)[2], _samples(run), str(run.path)])  # fmt: skip
    paper_values: list[str] = []
    for t, m in board.columns:
        ref = board.paper[Leaderboard.key(t, m)]
        paper_values += ["" if ref is None else repr(ref), "", "", ""]
    writer.writerow(["", "Janus-1.3B (paper)", "", *paper_values, "", "", "paper", "", ""])
    return buffer.getvalue()


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;font-size:14px}
th,td{border-bottom:1px solid #ddd;padding:4px 10px;text-align:right}th{background:#f4f4f4}
td:nth-child(2),th:nth-child(2){text-align:left}tr.paper td{color:#666;font-style:italic}
.best{font-weight:bold;background:#eaf6ea}caption{caption-side:bottom;text-align:left;color:#555;padding-top:8px}"""


def render_html(board: Leaderboard) -> str:
    """A self-contained page (inline CSS, no scripts, no network)."""
    header = "".join(f"<th>{html.escape(h)}</th>" for h in _header(board))
    body = []
    n_metrics = len(board.columns)
    for row in _rows(board):
        paper = row[1].endswith("(paper)")
        cells = []
        for i, text in enumerate(row):
            best = 3 <= i < 3 + n_metrics and text.endswith("(#1)")
            attr = ' class="best"' if best else ""
            cells.append(f"<td{attr}>{html.escape(text)}</td>")
        attr = ' class="paper"' if paper else ""
        body.append(f"<tr{attr}>{''.join(cells)}</tr>")
    return (
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>janus-eval leaderboard</title>"
        f"<style>{_CSS}</style></head><body><h1>janus-eval leaderboard</h1><table><caption>{html.escape(_caption(board))}"
        f"</caption><thead><tr>{header}</tr></thead><tbody>{''.join(body)}</tbody></table></body></html>\n"
    )


RENDERERS = {".md": render_markdown, ".html": render_html, ".csv": render_csv}


def write_leaderboard(runs: list[RunDir], out: Path, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> Leaderboard:
    """Build and write the leaderboard in the format named by ``out``'s suffix."""
    suffix = out.suffix.lower()
    if suffix not in RENDERERS:
        raise JanusEvalError(f"--out {out}: unknown format {suffix or '(none)'}; use a .md, .html or .csv file name")
    board = build_leaderboard(runs, n_boot=n_boot, seed=seed, alpha=alpha)
    write_atomic(out, RENDERERS[suffix](board))
    return board
