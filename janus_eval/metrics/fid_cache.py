"""Inception features and reference statistics kept on disk, under a key of everything they depend on.

``cached_image_features`` keeps a run's generated-image features in its folder (a re-aggregation reads
them); ``cached_reference_stats`` keeps a real set's mean and covariance once per data root, so only the
first run on that root reads its 30K-40K reference images.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from janus_eval.errors import JanusEvalError
from janus_eval.io import write_bytes_atomic
from janus_eval.metrics import fid_images
from janus_eval.metrics.fid import feature_stats
from janus_eval.metrics.fid_images import FidProtocol
from janus_eval.metrics.inception import InceptionExtractor


def features_key(paths: list[Path], extractor: InceptionExtractor, protocol: FidProtocol) -> str:
    """sha256 over the file list (path, size, mtime), the protocol, the backend and the weights' sha256."""
    files = []
    for path in paths:
        stat = Path(path).stat()
        files.append([str(path), stat.st_size, stat.st_mtime_ns])
    blob = json.dumps({"protocol": protocol.name, "backend": extractor.backend, "weights": extractor.weights_sha256,
                       "files": files}, sort_keys=True)  # fmt: skip
    return hashlib.sha256(blob.encode()).hexdigest()


def cached_image_features(
    paths: list[Path],
    extractor: InceptionExtractor,
    protocol: FidProtocol,
    cache_dir: Path,
    label: str,
    batch_size: int = 32,
    workers: int | None = None,
) -> np.ndarray:
    """``image_features`` memoised as ``<cache_dir>/<label>-<key>.npy`` (atomic write; a torn file is recomputed)."""
    target = Path(cache_dir) / f"{label}-{features_key(paths, extractor, protocol)[:24]}.npy"
    if target.exists():
        try:
            cached = np.load(target)
            if cached.ndim == 2 and cached.shape[0] == len(paths):
                return cached
        except (OSError, ValueError):
            pass
    feats = fid_images.image_features(paths, extractor, protocol, batch_size=batch_size, workers=workers)
    buffer = io.BytesIO()
    np.save(buffer, feats)
    write_bytes_atomic(target, buffer.getvalue())
    return feats


# -- reference statistics, cached once per data root ----------------------------------------------
REFERENCE_CACHE = ".janus-eval-cache"
"""Folder under the data root holding ``fid-ref-<key>.npz`` (the real sets' mean and covariance)."""


@dataclass(frozen=True)
class FeatureStats:
    """A real set's Inception statistics as ``fid.feature_stats`` computes them, and its size."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int


def reference_manifest(paths: list[Path], root: Path | None) -> list[tuple[str, int, int]]:
    """(path relative to ``root``, size, mtime_ns) per file, in order: cheap to take for 40K files (one
    ``stat`` each, no reading) and it changes when a file is replaced, added, removed or reordered."""
    rows = []
    for path in paths:
        stat = Path(path).stat()
        name = os.path.relpath(path, root) if root is not None else str(path)
        rows.append((name, stat.st_size, stat.st_mtime_ns))
    return rows


def reference_key(paths: list[Path], root: Path | None, extractor: InceptionExtractor, protocol: FidProtocol,
                  groups: dict[str, list[int]]) -> str:  # fmt: skip
    """sha256 of (sha256 of the file manifest, protocol, backend, Inception weights sha256, subset groups)."""
    manifest = hashlib.sha256(json.dumps(reference_manifest(paths, root)).encode()).hexdigest()
    blob = json.dumps({"manifest_sha256": manifest, "protocol": protocol.name, "backend": extractor.backend,
                       "weights": extractor.weights_sha256, "groups": groups}, sort_keys=True)  # fmt: skip
    return hashlib.sha256(blob.encode()).hexdigest()


def _read_stats(path: Path, names: list[str]) -> dict[str, FeatureStats] | None:
    """The cached statistics, or None when the file is absent, torn or lacks a group."""
    try:
        with np.load(path) as data:
            return {name: FeatureStats(data[f"{name}.mu"], data[f"{name}.sigma"], int(data[f"{name}.n"])) for name in names}
    except (OSError, ValueError, KeyError, EOFError):
        return None


def _write_stats(stats: dict[str, FeatureStats], targets: list[Path]) -> None:
    """Into the first writable target: the data root's cache, else the run's folder (whose failure is an error)."""
    buffer = io.BytesIO()
    np.savez(buffer, **{f"{name}.{field}": getattr(s, field) for name, s in stats.items() for field in ("mu", "sigma", "n")})
    for target in targets[:-1]:
        try:
            return write_bytes_atomic(target, buffer.getvalue())
        except JanusEvalError:  # a read-only data root: the run folder keeps it instead
            continue
    write_bytes_atomic(targets[-1], buffer.getvalue())


def cached_reference_stats(
    paths: list[Path],
    extractor: InceptionExtractor,
    protocol: FidProtocol,
    data_root: Path | None,
    run_cache: Path,
    groups: dict[str, list[int]] | None = None,
    batch_size: int = 32,
    workers: int | None = None,
) -> dict[str, FeatureStats]:
    """Statistics of the real set (``"all"``) and of each subset in ``groups`` (indices into ``paths``;
    subsets of fewer than 2 images are left out).

    Kept as ``<data_root>/.janus-eval-cache/fid-ref-<key>.npz`` (``reference_key``), so every run on
    that data root after the first skips the 30K-40K reference images; when the data root is not
    writable (or there is none) the file goes to ``run_cache``. The key uses file sizes and mtimes,
    not contents: replacing a file with one of the same size and mtime would not be noticed.
    """
    groups = {group: members for group, members in (groups or {}).items() if len(members) >= 2}  # FID needs 2
    name = f"fid-ref-{reference_key(paths, data_root, extractor, protocol, groups)[:32]}.npz"
    targets = ([Path(data_root) / REFERENCE_CACHE / name] if data_root is not None else []) + [Path(run_cache) / name]
    names = ["all", *groups]
    for target in targets:
        cached = _read_stats(target, names)
        if cached is not None:
            return cached
    feats = fid_images.image_features(paths, extractor, protocol, batch_size=batch_size, workers=workers)
    subsets = {"all": feats, **{group: feats[members] for group, members in groups.items()}}
    stats = {group: FeatureStats(*feature_stats(f), n=len(f)) for group, f in subsets.items() if len(f) >= 2}
    _write_stats(stats, targets)
    return stats

