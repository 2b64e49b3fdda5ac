"""Task registration: ``@task`` on a Task class, ``get_task(name)``, ``list_tasks()``.

All eleven benchmarks of the paper are known from the start; one whose module is not built yet is
listed with its metadata and refuses to run with a clear message instead of silently doing nothing.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable, TypeVar

from janus_eval.task import JanusEvalError, Task, TaskNotImplemented


@dataclass(frozen=True)
class TaskInfo:
    """What ``janus-eval list`` shows without building a task."""

    name: str
    kind: str
    headline: str
    source: str


# The benchmark suite of the Janus paper (Tables 2-4), in table order.
SUITE: dict[str, TaskInfo] = {
    info.name: info
    for info in (
        TaskInfo("vqav2", "understanding", "vqav2_accuracy", "lmms-lab/VQAv2"),
        TaskInfo("gqa", "understanding", "gqa_accuracy", "lmms-lab/GQA"),
        TaskInfo("pope", "understanding", "pope_f1", "lmms-lab/POPE"),
        TaskInfo("mme", "understanding", "mme_perception", "lmms-lab/MME"),
        TaskInfo("seed", "understanding", "seed_image_accuracy", "lmms-lab/SEED-Bench"),
        TaskInfo("mmbench", "understanding", "mmbench_accuracy", "lmms-lab/MMBench"),
        TaskInfo("mmvet", "understanding", "mmvet_score", "lmms-lab/MMVet"),
        TaskInfo("mmmu", "understanding", "mmmu_accuracy", "lmms-lab/MMMU"),
        TaskInfo("geneval", "generation", "geneval_overall", "GenEval evaluation_metadata.jsonl"),
        TaskInfo("coco30k", "generation", "fid", "MS-COCO 2014 val"),
        TaskInfo("mjhq30k", "generation", "fid", "playgroundai/MJHQ-30K"),
    )
}

PRESETS: dict[str, tuple[str, ...]] = {
    "table2": tuple(name for name, info in SUITE.items() if info.kind == "understanding"),
    "table3": ("geneval",),
    "table4": ("coco30k", "mjhq30k"),
    "paper": tuple(SUITE),
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


def task_info(name: str) -> TaskInfo:
    check_name(name)
    return SUITE[name]


def is_implemented(name: str) -> bool:
    _discover()
    return name in _REGISTRY


def check_name(name: str) -> None:
    if name not in SUITE:
        close = difflib.get_close_matches(name, list(SUITE), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known tasks: {', '.join(SUITE)}"
        raise JanusEvalError(f"unknown task {name!r}{hint}")


def task_class(name: str) -> type[Task]:
    """The benchmark's class, for what it declares without building it (kind, protocols)."""
    check_name(name)
    _discover()
    return _REGISTRY[name]


def get_task(name: str, protocol: str = "lmms-eval") -> Task:
    return task_class(name)(protocol=protocol)
