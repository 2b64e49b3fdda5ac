"""Keep the CPU off the GPU's critical path: sample loading in worker processes, PNG writes in threads.

Understanding: reading a doc's image bytes from parquet, decoding them (JPEG/PNG -> RGB) and preparing
them for the encoder (resize, pad, 8-bit pixels) is the CPU-heavy part of a batch. ``loaded_windows`` does
it in forked DataLoader workers, in dataset order and ahead of the model, so the runner's batching,
sorting and bad-sample policy see exactly what they would have seen in-process: records do not depend
on the worker count. Workers never touch CUDA; for a CUDA model the DataLoader's pin thread copies the
prepared pixels into page-locked memory, so the adapter's ``.to(device, non_blocking=True)`` is asynchronous.

Generation: ``PngWriter`` encodes and writes images on threads (PIL's zlib releases the GIL) while the
next batch generates; writes stay atomic, so a kill loses queued images, never leaves a torn one.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from janus_eval.records import save_png_atomic
from janus_eval.task import JanusEvalError, UnderstandingTask

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from janus_eval.hfdata import DocSet

CHUNK = 4
"""Samples a worker loads per request: fewer round trips, still fine-grained enough to keep order cheap."""


def default_workers() -> int:
    """One CPU for the main process, at most 8 loaders (decoding outpaces any GPU well before that)."""
    return max(0, min(8, (os.cpu_count() or 1) - 1))


@dataclass
class Loaded:
    """One pending sample as the runner needs it: the full doc and its decoded images (or why not)."""

    index: int
    doc: dict[str, Any] | None
    images: list[Image.Image] | np.ndarray | torch.Tensor | JanusEvalError
    """PIL images, or prepared for the encoder (uint8 [n, S, S, 3], ``preprocess.pixel_levels``): an array,
    a pinned tensor once the DataLoader's pin thread has seen it."""
    doc_error: JanusEvalError | None = None
    """Reading the doc itself failed: fatal whatever ``--on-bad-image`` says, as when read in-process."""

    def pin_memory(self) -> Loaded:
        """Prepared pixels in page-locked memory; the DataLoader's pin thread calls this (``pin_memory=True``)."""
        if not isinstance(self.images, np.ndarray):
            return self
        import torch

        return replace(self, images=torch.from_numpy(self.images).pin_memory())


def load_sample(task: UnderstandingTask, docset: DocSet, index: int, image_size: int | None = None) -> Loaded:
    """The doc with its image bytes, decoded; errors are kept as values so the runner applies its policy.

    ``image_size``: also prepare the images as the Janus adapter's preprocessing does (resize, pad,
    8-bit pixels: ``preprocess.pixel_levels``), so that work leaves the main process too; the adapter
    takes them as they are, so its input is exactly what its own pass would have made. An array, not a
    tensor: it travels to the main process by value like the PIL images did, not as one shared-memory
    file descriptor per sample (a window's worth of those can exhaust the open-files limit).
    """
    try:
        doc = docset.full_doc(index)
    except JanusEvalError as err:
        return Loaded(index=index, doc=None, images=err, doc_error=err)
    try:
        images: list[Image.Image] | JanusEvalError = task.images(doc)
    except JanusEvalError as err:
        return Loaded(index=index, doc=doc, images=err)
    if image_size is not None:
        from janus_eval.model.preprocess import pixel_levels

        return Loaded(index=index, doc=doc, images=pixel_levels(images, image_size))
    return Loaded(index=index, doc=doc, images=images)


def _reopen(docset: DocSet) -> None:
    """Fresh file handles in a worker: a ParquetFile shared with the parent across fork is not safe to read."""
    from janus_eval.hfdata import DocSet, _open

    for value in vars(docset).values():
        if isinstance(value, DocSet):
            _reopen(value)
    docset._sources = [_open(source.path) for source in docset._sources]


class _Chunks:
    """A map-style dataset: chunk ``k`` of the pending indices, loaded."""

    def __init__(self, task: UnderstandingTask, docset: DocSet, indices: list[int], image_size: int | None,
                 release: tuple[Path, ...] = ()) -> None:  # fmt: skip
        self.task, self.docset, self.indices, self.image_size = task, docset, indices, image_size
        self.release = release
        """Files whose inherited descriptors a worker closes (the run's lock)."""

    def __len__(self) -> int:
        return -(-len(self.indices) // CHUNK)

    def __getitem__(self, k: int) -> list[Loaded]:
        return [load_sample(self.task, self.docset, i, self.image_size) for i in self.indices[k * CHUNK : (k + 1) * CHUNK]]


def _init_worker(worker_id: int) -> None:
    import torch.utils.data

    info = torch.utils.data.get_worker_info()
    assert info is not None
    _close_inherited(info.dataset.release)
    _reopen(info.dataset.docset)


def _close_inherited(paths: tuple[Path, ...]) -> None:
    """A forked worker must not hold the run's flock: after a SIGKILL of the main process the rerun
    would find ``--out`` in use until the orphaned worker noticed and exited."""
    fd_dir = Path("/proc/self/fd")
    wanted = {str(path.resolve()) for path in paths}
    if not wanted or not fd_dir.is_dir():
        return
    for name in os.listdir(fd_dir):
        try:
            if os.readlink(fd_dir / name) in wanted:
                os.close(int(name))
        except OSError:
            continue


def _as_is(chunk: list[Loaded]) -> list[Loaded]:
    """No collation: PIL images and docs travel as they are."""
    return chunk


def loader_kwargs(workers: int, ahead: int, device: str | torch.device) -> dict[str, Any]:
    """DataLoader settings for ``workers`` (> 0) forked loaders keeping about ``ahead`` samples ready.

    ``pin_memory`` only for a CUDA model: page-locked memory is what lets a host-to-device copy run
    asynchronously; for any other device pinning would only cost a copy.
    """
    import torch

    return {
        "batch_size": None, "shuffle": False, "num_workers": workers, "collate_fn": _as_is,
        "multiprocessing_context": multiprocessing.get_context("fork"), "worker_init_fn": _init_worker,
        "prefetch_factor": max(2, -(-ahead // (CHUNK * workers))), "pin_memory": torch.device(device).type == "cuda",
    }  # fmt: skip


def _loaded_stream(chunks: _Chunks, workers: int, ahead: int, device: str | torch.device) -> Iterator[Loaded]:
    """Every sample of ``chunks`` in order; with workers, about ``ahead`` samples loaded before they are asked for."""
    if workers == 0 or "fork" not in multiprocessing.get_all_start_methods():
        for k in range(len(chunks)):
            yield from chunks[k]
        return
    import torch.utils.data

    workers = min(workers, len(chunks))
    loader = torch.utils.data.DataLoader(chunks, **loader_kwargs(workers, ahead, device))
    iterator = _start(loader, device)
    try:
        for chunk in iterator:
            yield from chunk
    finally:
        del iterator  # stops the workers now, also when the runner stops early


def _start(loader: Any, device: str | torch.device) -> Iterator[list[Loaded]]:
    """``iter(loader)``; a pinning loader is started with the model's GPU current, since its pin thread works on
    the device current at this moment (otherwise GPU 0: one more CUDA context there for every torchrun rank)."""
    if not loader.pin_memory:
        return iter(loader)
    import torch

    with torch.cuda.device(torch.device(device)):
        return iter(loader)


def loaded_windows(task: UnderstandingTask, docset: DocSet, indices: list[int], window: int, workers: int,
                   image_size: int | None = None, release: tuple[Path, ...] = (),
                   device: str | torch.device = "cpu") -> Iterator[list[Loaded]]:  # fmt: skip
    """``indices`` loaded (see ``load_sample``), in windows of ``window`` samples; workers keep about a window ahead.

    A doc that cannot be read stops the run when its window comes up, as the in-process read did.
    ``release``: files (the run's lock) that workers must not keep open. ``device``: the model's; on CUDA
    the prepared pixels arrive pinned (with workers; in-process they stay pageable, there is nothing to overlap).
    """
    stream = _loaded_stream(_Chunks(task, docset, indices, image_size, release), workers, window, device)
    try:
        for start in range(0, len(indices), window):
            loaded = [next(stream) for _ in indices[start : start + window]]
            failed = next((item.doc_error for item in loaded if item.doc_error is not None), None)
            if failed is not None:
                raise failed
            yield loaded
    finally:
        stream.close()


class PngWriter:
    """PNG encode + atomic write on a few threads; ``flush`` waits and raises the first failure.

    At most ``limit`` images wait in memory: generation blocks rather than outrun the disk.
    """

    def __init__(self, threads: int, limit: int = 64) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="png") if threads > 0 else None
        self._slots = threading.BoundedSemaphore(limit)
        self._pending: list[Future[None]] = []

    def submit(self, path: Path, pixels: Any) -> Future[None] | None:
        """Queue the write; its future, or None when written in-line (no threads)."""
        if self._pool is None:
            save_png_atomic(path, pixels)
            return None
        self._slots.acquire()
        future = self._pool.submit(save_png_atomic, path, pixels)
        future.add_done_callback(lambda _: self._slots.release())
        self._pending.append(future)
        self._raise_failed()
        return future

    def _raise_failed(self) -> None:
        """A failed write stops generation at the next submit, not only at the end."""
        done = [f for f in self._pending if f.done()]
        self._pending = [f for f in self._pending if not f.done()]
        for future in done:
            future.result()

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        errors = [f.exception() for f in pending]
        first = next((e for e in errors if e is not None), None)
        if first is not None:
            raise first

    def close(self) -> None:
        """Flush, then stop the threads; on an error path the queued writes still finish (atomically)."""
        try:
            self.flush()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)

    def __enter__(self) -> PngWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
            return
        try:
            self.close()
        except Exception:  # noqa: BLE001 - the error already on its way out is the one to report
            pass
