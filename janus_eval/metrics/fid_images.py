"""Image files -> network input -> Inception features, as clean-fid's ``get_folder_features`` reads a set.

``FidProtocol`` names the per-image steps (``fid_preprocess``) a benchmark applies before the network;
``prepared_batches`` runs them in worker processes, in order; ``image_features`` feeds the batches to a
loaded ``inception.InceptionExtractor``. ``folder_images`` and ``generated_paths`` list a set's files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from janus_eval.errors import JanusEvalError
from janus_eval.metrics import fid_preprocess as pre
from janus_eval.metrics.inception import FEATURE_DIM, InceptionExtractor


@dataclass(frozen=True)
class FidProtocol:
    """The per-image steps before the network; ``name`` goes into cache keys and ``run.json``."""

    name: str
    gigagan_crop_256: bool

    def prepare(self, path: Path, backend: str) -> np.ndarray:
        pixels = pre.load_rgb(path)
        if self.gigagan_crop_256:
            pixels = pre.gigagan_coco_transform(pixels)
        return pre.clean_resize(pixels) if backend == "clean-fid" else pixels


GIGAGAN_COCO = FidProtocol("gigagan-coco: center-crop + LANCZOS 256, then network input", gigagan_crop_256=True)
CLEANFID_DEFAULT = FidProtocol("clean-fid defaults: no crop", gigagan_crop_256=False)


def default_workers() -> int:
    """Preprocessing processes when the task does not say: one per CPU beside the main process, at most 8.

    PIL decoding and resizing hold the GIL, so threads do not scale; processes do, and 8 keep an
    H100's Inception batches (about 2,000 images/s) fed at clean-fid's 299x299.
    """
    return max(0, min(8, (os.cpu_count() or 1) - 1))


def prepare_image(path: Path, protocol: FidProtocol, backend: str) -> tuple[np.ndarray | None, str | None]:
    """(network input, None) or (None, why the file cannot be read): errors travel back from worker processes as text."""
    try:
        return protocol.prepare(path, backend), None
    except (OSError, SyntaxError, ValueError) as err:
        return None, f"cannot read image {path} for FID: {err}"


class _PreparedImages(torch.utils.data.Dataset):
    """Paths -> preprocessed arrays, so a ``DataLoader`` runs the protocol in worker processes, in order."""

    def __init__(self, paths: list[Path], protocol: FidProtocol, backend: str) -> None:
        self.paths, self.protocol, self.backend = paths, protocol, backend

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor | None, str | None]:
        """As a tensor: the loader moves tensors between processes through shared memory, not a pipe."""
        image, error = prepare_image(self.paths[index], self.protocol, self.backend)
        return (None if image is None else torch.from_numpy(image)), error


def _as_list(batch: list[tuple[torch.Tensor | None, str | None]]) -> list[tuple[torch.Tensor | None, str | None]]:
    """DataLoader collate that keeps items as they are (torch-fidelity input shapes may differ within a batch)."""
    return batch


def prepared_batches(paths: list[Path], protocol: FidProtocol, backend: str, batch_size: int,
                     workers: int) -> Iterator[list[np.ndarray]]:  # fmt: skip
    """Preprocessed images in path order, ``batch_size`` at a time; ``workers`` processes (0: this one).

    The loader keeps at most two batches per worker in flight, so memory stays bounded however
    slow the network is; each image's preprocessing is the same function in any process.
    """
    loader = torch.utils.data.DataLoader(
        _PreparedImages(paths, protocol, backend), batch_size=batch_size, shuffle=False, num_workers=workers,
        collate_fn=_as_list, prefetch_factor=2 if workers else None,
    )  # fmt: skip
    for batch in loader:
        errors = [error for _, error in batch if error is not None]
        if errors:
            raise JanusEvalError(errors[0])
        yield [image.numpy() for image, _ in batch if image is not None]


def image_features(
    paths: list[Path],
    extractor: InceptionExtractor,
    protocol: FidProtocol,
    batch_size: int = 32,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """float32 [len(paths), 2048]: preprocessing in ``workers`` processes, the network on batches, order kept.

    A batch's images are stacked only when they share a shape (always true for clean-fid's 299x299
    input); otherwise each shape runs on its own, which cannot change any image's features.
    """
    workers = default_workers() if workers is None else workers
    out: np.ndarray | None = None
    start = 0
    for images in prepared_batches(list(paths), protocol, extractor.backend, batch_size, workers):
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, image in enumerate(images):
            groups.setdefault(image.shape, []).append(i)
        for members in groups.values():
            feats = extractor.features([images[i] for i in members])
            if out is None:
                out = np.zeros((len(paths), feats.shape[1]), dtype=np.float32)
            out[[start + i for i in members]] = feats
        start += len(images)
        if progress is not None:
            progress(len(images))
    return out if out is not None else np.zeros((0, FEATURE_DIM), dtype=np.float32)


CLEANFID_EXTENSIONS = frozenset({"bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp",
                                 "JPEG", "JPG", "PNG"})  # fmt: skip


def folder_images(folder: Path) -> list[Path]:
    """The image files clean-fid's ``get_folder_features`` uses: a recursive glob over its extensions
    (case-sensitive, hidden files and folders skipped, as ``glob`` does), sorted by path string.
    clean-fid also reads ``.npy`` arrays; a dataset folder has none, so we leave them out.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise JanusEvalError(f"image folder {folder} does not exist")
    found = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder).parts
        if any(part.startswith(".") for part in relative) or not path.is_file():
            continue
        if path.suffix[1:] in CLEANFID_EXTENSIONS:
            found.append(path)
    return sorted(found, key=str)


def generated_paths(task_dir: Path, records: list[dict[str, object]], task_name: str) -> list[Path]:
    """Each record's image (``prediction``, relative to the task folder); all must exist, at least 2."""
    paths = [Path(task_dir) / str(record["prediction"]) for record in records]
    absent = [p for p in paths if not p.is_file()]
    if absent:
        raise JanusEvalError(f"{task_name}: {len(absent)} generated images are missing, e.g. {absent[0]}; rerun to regenerate")
    if len(paths) < 2:
        raise JanusEvalError(f"{task_name}: FID needs at least 2 generated images, got {len(paths)} (raise --limit)")
    return paths

