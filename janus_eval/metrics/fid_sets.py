"""FID between a generated set and a reference set under one protocol: the single call the FID tasks make.

As clean-fid's ``compute_fid(fdir1, fdir2, mode=...)`` does, it strings the pieces together: the
protocol's preprocessing and the network (``fid_images``), the caches (``fid_cache``) and the Frechet
distance (``fid``). Subsets (MJHQ-30K's categories) are scored the same way, each generated subset
against the reference subset of the same name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from janus_eval.metrics.fid import frechet_distance_to_stats
from janus_eval.metrics.fid_cache import cached_image_features, cached_reference_stats
from janus_eval.metrics.fid_images import FidProtocol
from janus_eval.metrics.inception import InceptionExtractor


@dataclass(frozen=True)
class FidSets:
    """The FID of the whole sets, and of each named subset that has at least 2 images on both sides."""

    fid: float
    n_generated: int
    n_reference: int
    subsets: dict[str, float] = field(default_factory=dict)


def fid_between(
    generated: list[Path],
    reference: list[Path],
    extractor: InceptionExtractor,
    protocol: FidProtocol,
    cache_dir: Path,
    data_root: Path | None,
    subsets: dict[str, tuple[list[int], list[int]]] | None = None,
    batch_size: int = 32,
    workers: int | None = None,
) -> FidSets:
    """FID of ``generated`` against ``reference``, both prepared by ``protocol`` for ``extractor``.

    Args:
        cache_dir: the run's features folder: the generated features live there, and the reference
            statistics too when ``data_root`` is absent or not writable.
        data_root: where the reference statistics are cached once for every later run.
        subsets: name -> (indices into ``generated``, indices into ``reference``), in the order the
            result lists them.
    """
    subsets = subsets or {}
    gen = cached_image_features(generated, extractor, protocol, cache_dir, "generated", batch_size, workers)
    ref = cached_reference_stats(reference, extractor, protocol, data_root, cache_dir,
                                 {name: real for name, (_, real) in subsets.items()}, batch_size, workers)  # fmt: skip
    by_subset = {
        name: frechet_distance_to_stats(gen[mine], ref[name].mu, ref[name].sigma)
        for name, (mine, _) in subsets.items()
        if len(mine) >= 2 and name in ref
    }
    return FidSets(frechet_distance_to_stats(gen, ref["all"].mu, ref["all"].sigma), len(gen), ref["all"].n, by_subset)
