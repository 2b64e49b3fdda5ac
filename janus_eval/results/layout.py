"""The paper's Tables 2-4 as data: which task and metric fill each column, and so the suite's table order.

Kept apart from the renderers so that ``RunDir`` can order a run's tasks as the paper does without
importing the task registry (``results`` reads run directories only).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """A paper column and where a run's number for it lives; ``metric=None`` means the task's headline.

    ``task=None`` marks a reference-only column: a benchmark janus-eval does not run (DPG-Bench), shown
    only when a reference row on display has a number in it.
    """

    header: str
    task: str | None
    metric: str | None = None
    paper_split: str | None = None
    """The split the paper's number comes from, when a run may score another one (VQAv2: test)."""


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
        Column("VQAv2 (test)", "vqav2", paper_split="test"), Column("GQA", "gqa"), Column("MMMU", "mmmu"), Column("MM-Vet", "mmvet"),
    ), digits=1),  # fmt: skip
    "3": TableSpec("3", "Table 3: GenEval", "table3_geneval.csv", (
        Column("Single Obj.", "geneval", "geneval_single_object"), Column("Two Obj.", "geneval", "geneval_two_object"),
        Column("Counting", "geneval", "geneval_counting"), Column("Colors", "geneval", "geneval_colors"),
        Column("Position", "geneval", "geneval_position"), Column("Color Attri.", "geneval", "geneval_color_attr"),
        Column("Overall", "geneval"), Column("DPG-Bench", None),
    ), digits=2),  # fmt: skip
    "4": TableSpec("4", "Table 4: FID (lower is better)", "table4_fid.csv", (
        Column("COCO-30K", "coco30k"), Column("MJHQ-30K", "mjhq30k"),
    ), digits=2),  # fmt: skip
}


TASK_ORDER: tuple[str, ...] = tuple(dict.fromkeys(c.task for spec in TABLES.values() for c in spec.columns if c.task))
"""Every task of the paper's tables, in table order (Table 2's columns, then GenEval, then FID)."""


def in_table_order(tasks: list[str]) -> list[str]:
    """``tasks`` sorted as the paper's tables show them; tasks outside the tables last, by name."""
    return sorted(tasks, key=lambda t: (TASK_ORDER.index(t) if t in TASK_ORDER else len(TASK_ORDER), t))
