"""What the subcommands share: the consoles, the options several take, and parsing of their values."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from janus_eval.errors import JanusEvalError

out_console = Console()
err_console = Console(stderr=True)

DataRoot = Annotated[Optional[Path], typer.Option("--data-root", help="Folder of dataset snapshots; default: bundled fixtures.")]
Protocol = Annotated[str, typer.Option("--protocol", help="Understanding tasks: lmms-eval (default), vlmevalkit or paper (the Janus paper's Table 2). Generation tasks have one protocol.")]


def split_tasks(tasks: str) -> list[str]:
    return [t.strip() for t in tasks.split(",") if t.strip()]


def parse_task_options(items: list[str]) -> dict[str, dict[str, str]]:
    options: dict[str, dict[str, str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        task_name, dot, name = key.partition(".")
        if not sep or not dot or not task_name or not name:
            raise JanusEvalError(f"-T {item!r}: expected TASK.NAME=VALUE, e.g. geneval.images_per_prompt=2")
        if name in options.get(task_name, {}):
            raise JanusEvalError(f"-T {task_name}.{name} is given twice; pass each task option once")
        options.setdefault(task_name, {})[name] = value
    return options


def parse_batch_size(value: str) -> int | None:
    if value == "auto":
        return None
    try:
        return int(value)
    except ValueError:
        raise JanusEvalError(f"--batch-size must be a number or auto, got {value!r}") from None
