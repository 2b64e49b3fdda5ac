"""What both pipelines share: a task's work (docs, ids, identity), its record files, batching under memory limits.

``TaskWork`` is one task of a run, loaded and limited, with the ids its records will carry.
``Batching`` sizes batches (``--batch-size`` or the model's estimate) and halves them for good on CUDA
out-of-memory. ``progress`` is the bar both pipelines show.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol, TypeVar

from janus_eval.distributed import World
from janus_eval.identity import TaskIdentity
from janus_eval.io import read_jsonl
from janus_eval.records import latest_by_id, read_task_records
from janus_eval.contract import RunContext
from janus_eval.task import GenerationTask, ImageRequest, JanusEvalError, Task

if TYPE_CHECKING:
    from janus_eval.hfdata import DocSet
    from janus_eval.model.memory import ModelCall

T = TypeVar("T")


class SizesBatches(Protocol):
    """A model that estimates the largest batch fitting free memory (``--batch-size auto``)."""

    def batch_size_for(self, kind: ModelCall, prompt: str, n_images: int = 0, new_tokens: int = 0,
                       system_prompt: str | None = None) -> int: ...  # fmt: skip


@dataclass
class TaskWork:
    """One task's docs, limited, with ids checked for uniqueness: what a pipeline works through."""

    task: Task
    docset: DocSet
    indices: list[int]
    ids: list[str] = field(default_factory=list)
    identity: TaskIdentity | None = None
    """Set by the runner once the task's inputs are known to match its folder."""
    ctx: RunContext = field(default_factory=RunContext)
    """What the run gives the task (data root, task folder, device, judge, scorer weights)."""
    requests: list[ImageRequest] = field(default_factory=list)
    """Generation tasks only: every image to make; ``ids`` are then the request ids."""
    full_size: int = 0
    """Samples in the whole benchmark (images for generation tasks), to mark subset runs."""

    @property
    def dir_name(self) -> str:
        return self.task.name

    @property
    def folder(self) -> Path:
        """``<out>/<task>``: the task's record files and images."""
        assert self.ctx.task_dir is not None, "a run's tasks always have a folder"
        return self.ctx.task_dir

    @property
    def scorer_key(self) -> str:
        assert self.identity is not None, "the runner sets identities before any pipeline runs"
        return self.identity.scorer_key

    def records_path(self, world: World) -> Path:
        """This rank's record file (``samples.jsonl`` when running alone)."""
        return self.folder / world.records_name()

    def done_ids(self, world: World) -> set[str]:
        """Ids recorded by any rank of any earlier launch (own file repaired if torn)."""
        read_jsonl(self.records_path(world), repair=True)
        return {r["id"] for r in read_task_records(self.folder)}

    def latest_records(self) -> list[dict[str, Any]]:
        """One record per id: the last one written (a re-scored record follows the one it replaces)."""
        return list(latest_by_id(read_task_records(self.folder)).values())


def plan_work(task: Task, ctx: RunContext, limit: int | None, seed: int) -> TaskWork:
    """Load the task's docs, keep the first ``limit``, and name every record to come (a generation task: its images)."""
    docset = task.load(ctx)
    count = len(docset) if limit is None else min(limit, len(docset))
    indices = list(range(count))
    requests: list[ImageRequest] = []
    if isinstance(task, GenerationTask):
        requests = task.requests([docset.docs[i] for i in indices], seed)
        ids = [r.id for r in requests]
        full_size = len(requests) if count == len(docset) else len(task.requests(docset.docs, seed))
    else:
        ids = [task.doc_id(docset.docs[i]) for i in indices]
        full_size = len(docset)
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise JanusEvalError(f"{task.name}: sample id {dup!r} occurs more than once in {docset.files[0].parent}")
    return TaskWork(task=task, docset=docset, indices=indices, ids=ids, ctx=ctx, requests=requests, full_size=full_size)


def windows(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def batches(items: list[T], size_of: Callable[[T], int]) -> Iterator[list[T]]:
    """Consecutive batches, each sized (lazily, after the previous one ran) from its first item."""
    start = 0
    while start < len(items):
        size = max(1, size_of(items[start]))
        yield items[start : start + size]
        start += size


class Batching:
    """Batch sizes for the whole run: ``--batch-size`` or the model's estimate, never above what an OOM left."""

    def __init__(self, batch_size: int | None, model: Callable[[], SizesBatches]) -> None:
        self.batch_size = batch_size
        self._model = model
        self._oom_limit: dict[str, int] = {}
        """Per task, the batch size that an out-of-memory error halved down to."""

    def size(self, task_name: str, kind: ModelCall, prompt: str, n_images: int = 0, new_tokens: int = 0,
             system_prompt: str | None = None) -> int:  # fmt: skip
        """``--batch-size``, or the largest that fits free memory for this prompt; never above an OOM's limit."""
        size = self.batch_size or self._model().batch_size_for(kind, prompt, n_images, new_tokens, system_prompt)
        return min(size, self._oom_limit.get(task_name, size))

    def within_memory(self, task_name: str, call: Callable[..., list[Any]], *columns: list[Any]) -> list[Any]:
        """``call`` over the batch; on CUDA out-of-memory halve the size, for this batch and the task's next ones.

        NaN/inf rows of a sub-slice are reported as rows of the whole batch.
        """
        import torch

        from janus_eval.model import NonFiniteLogits

        results: list[Any] = []
        start, total = 0, len(columns[0])
        while start < total:
            size = min(total - start, self._oom_limit.get(task_name, total))
            try:
                results += call(*(c[start : start + size] for c in columns))
            except NonFiniteLogits as err:
                raise NonFiniteLogits([start + row for row in err.rows]) from None
            except torch.cuda.OutOfMemoryError:
                if size == 1:
                    raise JanusEvalError("out of GPU memory with a batch of one sample; use a smaller model or dtype") from None
                torch.cuda.empty_cache()
                self._oom_limit[task_name] = size // 2
                continue
            start += size
        return results


class progress:
    """A rich progress bar (samples/s and ETA) that degrades to nothing when disabled."""

    def __init__(self, name: str, total: int, done: int, enabled: bool) -> None:
        self.name, self.total, self.done, self.enabled = name, total, done, enabled

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._start, self._new = time.perf_counter(), 0
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=Console(stderr=True),
        )  # fmt: skip
        self.progress.start()
        self.bar = self.progress.add_task(self.name, total=self.total, completed=self.done, rate="")

        def advance(n: int) -> None:
            self._new += n
            rate = self._new / max(time.perf_counter() - self._start, 1e-9)
            self.progress.update(self.bar, advance=n, rate=f"{rate:.1f} samples/s")

        return advance

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.progress.stop()
