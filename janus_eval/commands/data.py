"""The data: ``list`` what each task reads and whether it is found, ``download`` it (the only network access)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from janus_eval.commands.common import DataRoot, err_console, out_console, parse_task_options
from janus_eval.errors import JanusEvalError


def list_command(data_root: DataRoot = None) -> None:
    """Every benchmark: kind, headline metric, data source, whether its data is found, and its -T options."""
    from janus_eval.registry import SUITE, get_task

    table = Table("task", "kind", "headline", "source", "data", "options (-T task.NAME=VALUE)")
    missing = []
    for name in SUITE:
        task = get_task(name)
        try:
            where = task.locate_data(data_root) if data_root else "bundled fixture"
        except JanusEvalError:
            where = "missing"
            missing.append(name)
        table.add_row(name, task.kind, task.headline, task.source, where, ", ".join(task.options) or "-")
    out_console.print(table)
    if missing:
        out_console.print(f"To see what to fetch: janus-eval download --tasks {','.join(missing)} --data-root {data_root} --dry-run")


def download_command(
    data_root: Annotated[Path, typer.Option("--data-root", help="Where to put everything (the layout `run --data-root` reads).")],
    tasks: Annotated[Optional[str], typer.Option("--tasks", help="Comma-separated task names, or all.")] = None,
    weights: Annotated[bool, typer.Option("--weights", help="Also fetch the weights: Janus (--models), Inception, Mask2Former, CLIP.")] = False,
    models: Annotated[Optional[str], typer.Option("--models", help="Janus-1.3B (default), Janus-Pro-1B, Janus-Pro-7B, or all.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only print what would be fetched, from where, to where.")] = False,
    task_option: Annotated[Optional[list[str]], typer.Option("-T", "--task-option", help="TASK.split=SPLIT: another split than the task's default, e.g. vqav2.split=testdev.")] = None,
) -> None:
    """Fetch datasets (and with --weights the weight files) into the --data-root layout; resumable and verified."""
    from janus_eval.download import build_plan, fetch, plan_rows

    plan = build_plan(tasks, weights=weights, models=models, task_options=parse_task_options(task_option or []))
    header, rows = ("for", "source", "size", "destination", "status"), plan_rows(plan, data_root)
    if out_console.is_terminal:
        table = Table(title=f"download plan for {data_root}")
        for column in header:
            table.add_column(column, overflow="fold")  # fold, never truncate: the URLs and paths are the point
        for row in rows:
            table.add_row(*row)
        out_console.print(table)
    else:  # piped or logged: a markdown table whose URLs and paths stay whole on one line
        lines = [header, ("---",) * len(header), *rows]
        sys.stdout.write("".join("| " + " | ".join(cells) + " |\n" for cells in lines))
        sys.stdout.flush()
    if dry_run:
        return
    fetch(plan, data_root, log=lambda line: err_console.print(line, highlight=False, markup=False, soft_wrap=True))
    out_console.print(f"done: everything above is under {data_root}")
