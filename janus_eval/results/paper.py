"""The paper's reference tables (Tables 2-4), read from the copy bundled with the package.

The CSVs are transcribed once into ``results/paper/`` in the repository and shipped as package data
(``janus_eval/data/paper/``) so an installed, non-editable package still prints the paper rows.
Each row says which publication it comes from (``paper``: a key of ``PAPERS``) and cites it
(``source``): the Janus paper's own rows, and the Janus-Pro report's rows for Janus-Pro-1B/7B, whose
numbers were made with another (unnamed) protocol and so are labelled by their source.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from janus_eval.errors import JanusEvalError

REPO_COPY = Path(__file__).resolve().parents[2] / "results" / "paper"
JANUS_MODEL = "Janus (Ours)"
PAPERS: dict[str, str] = {"janus": "Janus paper", "janus-pro": "Janus-Pro report"}
"""``paper`` column value -> the short name a table shows beside a row from that publication."""
PAPER_CHOICES = (*PAPERS, "all")
DEFAULT_PAPER = "janus"
LABEL_COLUMNS = 3
"""Type, model and parameter count: the cells before the numbers in every reference CSV."""


@dataclass(frozen=True)
class PaperTable:
    """One CSV: its header and rows as strings (``-`` where the paper reports nothing)."""

    name: str
    header: list[str]
    rows: list[dict[str, str]]

    def janus_row(self) -> dict[str, str]:
        for row in self.rows:
            if row.get(self.header[1]) == JANUS_MODEL:
                return row
        raise JanusEvalError(f"paper table {self.name} has no {JANUS_MODEL!r} row")

    @property
    def label_header(self) -> list[str]:
        return self.header[:LABEL_COLUMNS]

    def rows_from(self, which: str) -> list[dict[str, str]]:
        """The rows of one publication (``janus``, ``janus-pro``) or of ``all``, in file order."""
        check_paper_choice(which)
        return [row for row in self.rows if which == "all" or paper_of(row) == which]


def paper_of(row: dict[str, str]) -> str:
    """Which publication a reference row comes from (a CSV without the column holds the Janus paper's)."""
    return row.get("paper") or DEFAULT_PAPER


def check_paper_choice(which: str) -> None:
    if which not in PAPER_CHOICES:
        raise JanusEvalError(f"unknown --paper {which!r}; expected one of: {', '.join(PAPER_CHOICES)}")


def _read_text(name: str) -> str:
    bundled = resources.files("janus_eval").joinpath("data", "paper", name)
    if bundled.is_file():
        return bundled.read_text(encoding="utf-8")
    fallback = REPO_COPY / name
    if fallback.is_file():
        return fallback.read_text(encoding="utf-8")
    raise JanusEvalError(f"paper table {name} is missing from the package (janus_eval/data/paper) and from {REPO_COPY}")


def load_paper_table(name: str) -> PaperTable:
    reader = csv.DictReader(io.StringIO(_read_text(name)))
    rows = [dict(row) for row in reader]
    return PaperTable(name=name, header=list(reader.fieldnames or []), rows=rows)


def paper_number(cell: str | None) -> float | None:
    """A paper cell as a number; ``-`` (not reported) is None."""
    if cell is None or cell.strip() in {"", "-"}:
        return None
    try:
        return float(cell)
    except ValueError:
        return None
