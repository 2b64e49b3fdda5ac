"""The paper's reference tables (Tables 2-4), read from the copy bundled with the package.

The CSVs are transcribed once into ``results/paper/`` in the repository and shipped as package data
(``janus_eval/data/paper/``) so an installed, non-editable package still prints the paper rows.
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
