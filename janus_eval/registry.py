"""Task registration: ``@task`` on a Task class, ``get_task(name)``, ``list_tasks()``.

The suite is the eleven benchmarks of the Janus paper, in table order; what each one is (kind,
headline, data) its class says, so nothing here repeats it.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from typing import Callable, TypeVar

from janus_eval.errors import JanusEvalError
from janus_eval.task import Task

SUITE: tuple[str, ...] = ("vqav2", "gqa", "pope", "mme", "seed", "mmbench", "mmvet", "mmmu", "geneval", "coco30k", "mjhq30k")
"""The benchmarks of the Janus paper's Tables 2-4, in table order."""

PRESETS: dict[str, tuple[str, ...]] = {
    "table2": SUITE[:8],
    "table3": ("geneval",),
    "table4": ("coco30k", "mjhq30k"),
    "paper": SUITE,
}
"""``--tasks`` names that stand for a paper table's benchmarks (``paper``: Tables 2-4)."""


def expand_presets(names: list[str]) -> list[str]:
    """Presets replaced by their benchmarks, in order, each benchmark once."""
    expanded = [task for name in names for task in PRESETS.get(name, (name,))]
    return list(dict.fromkeys(expanded))


_REGISTRY: dict[str, type[Task]] = {}
_discovered = False
T = TypeVar("T", bound=type[Task])


def task(name: str) -> Callable[[T], T]:
    """Register a Task class under ``name`` (which must be one of the suite's benchmarks)."""

    def register(cls: T) -> T:
        if name not in SUITE:
            raise ValueError(f"{name!r} is not a benchmark of the suite: {', '.join(SUITE)}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return register


def _discover() -> None:
    """Import every module in ``janus_eval.tasks`` once, so their ``@task`` decorators run."""
    global _discovered
    if _discovered:
        return
    import janus_eval.tasks as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    _discovered = True


def list_tasks() -> list[str]:
    return list(SUITE)


def check_name(name: str) -> None:
    if name not in SUITE:
        close = difflib.get_close_matches(name, [*SUITE, *PRESETS], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise JanusEvalError(f"unknown task {name!r}{hint} (tasks: {', '.join(SUITE)}; presets: {', '.join(PRESETS)})")


def task_class(name: str) -> type[Task]:
    """The benchmark's class, for what it declares without building it (kind, protocols)."""
    check_name(name)
    _discover()
    return _REGISTRY[name]


def get_task(name: str, protocol: str = "lmms-eval") -> Task:
    return task_class(name)(protocol=protocol)
