"""Scoring a prompt's images while the model generates the next ones (GenEval's detector and CLIP).

Without it the detector waits for all 2,212 images of GenEval, then the GPU waits for the detector.
A prompt is scored whole, on one background thread, as soon as the last of its images is on disk, so
each scorer batch is the same fixed group as in a scoring-only rerun and records do not depend on
timing. What is not scored here (a run stopped early) the runner's scoring phase picks up.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable

from janus_eval.task import ImageRequest


class PromptScorer:
    """Calls ``score(group)`` once every image of the group is written, on a single background thread.

    ``written`` is called from the generating thread only; ``score`` runs on the scorer thread only.
    """

    def __init__(self, groups: Iterable[list[ImageRequest]], missing: set[str],
                 score: Callable[[list[ImageRequest]], None]) -> None:  # fmt: skip
        """``groups``: each prompt's images still to score; ``missing``: ids whose PNG is not on disk yet."""
        self._score = score
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scorer")
        self._jobs: list[Future[None]] = []
        self._groups = {group[0].doc_index: group for group in groups}
        self._waiting = {index: {r.id for r in group if r.id in missing} for index, group in self._groups.items()}
        self._writes: dict[int, list[Future[None]]] = {index: [] for index in self._groups}
        for index in [i for i, left in self._waiting.items() if not left]:
            self._start(index)

    def written(self, request: ImageRequest, write: Future[None] | None) -> None:
        """``request``'s PNG is queued (``write``: its pending write, None when already on disk)."""
        index = request.doc_index
        left = self._waiting.get(index)
        if left is None:
            return
        if write is not None:
            self._writes[index].append(write)
        left.discard(request.id)
        if not left:
            self._start(index)
        self._raise_failed()

    def _start(self, index: int) -> None:
        group, writes = self._groups[index], self._writes.pop(index)
        del self._waiting[index]

        def job() -> None:
            for write in writes:
                write.result()  # a failed write is the writer's error to report; do not score a torn file
            self._score(group)

        self._jobs.append(self._pool.submit(job))

    def _raise_failed(self) -> None:
        """A scorer error stops generation at the next image, not hours later."""
        for job in [j for j in self._jobs if j.done()]:
            job.result()
        self._jobs = [j for j in self._jobs if not j.done()]

    def close(self, wait_for_errors: bool = True) -> None:
        """Wait for the queued groups and raise the first scorer error; on an error path, drop the queue."""
        if not wait_for_errors:
            self._pool.shutdown(wait=True, cancel_futures=True)
            return
        try:
            for job in self._jobs:
                job.result()
        finally:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> PromptScorer:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.close(wait_for_errors=exc_type is None)
