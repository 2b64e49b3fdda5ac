"""Before the model loads: every task's rows and every prerequisite (weights, Inception file, runtimes).

A run of many tasks used to stop at its last one for want of a file, after hours of work on the
others. Here every task is loaded and asked for its prerequisites first, and everything missing is
reported at once, in one line, before the model factory runs or any task folder is written.
"""

from __future__ import annotations

from typing import Callable, TypeVar

from janus_eval.errors import JanusEvalError
from janus_eval.contract import RunContext
from janus_eval.task import Task

Prepared = TypeVar("Prepared")


def prepare_all(tasks: list[Task], prepare: Callable[[Task], Prepared],
                context: Callable[[Prepared], RunContext]) -> list[Prepared]:  # fmt: skip
    """``prepare(task)`` for every task, then each task's ``check_prerequisites``; all failures as one error."""
    prepared: list[Prepared] = []
    problems: list[str] = []
    for task in tasks:
        try:
            run = prepare(task)
            task.check_prerequisites(context(run))
            prepared.append(run)
        except JanusEvalError as err:
            problems.append(_named(task.name, str(err)))
    if len(problems) == 1:
        raise JanusEvalError(problems[0])
    if problems:
        raise JanusEvalError(f"cannot start, {len(problems)} tasks lack inputs (nothing was run or written): "
                             + " | ".join(problems))  # fmt: skip
    return prepared


def _named(task: str, message: str) -> str:
    """The message, prefixed with its task unless it already starts with it."""
    return message if message.startswith(task) else f"{task}: {message}"
