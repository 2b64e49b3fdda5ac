"""The FID caches: generated features per run, reference statistics once per data root, each keyed on all it depends on."""

import os

import numpy as np
import pytest

from image_writers import write_images
from janus_eval.metrics import fid_cache, fid_images, inception

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")  # clean-fid's file is TorchScript


def test_features_cache_hits_and_invalidates(tmp_path, tiny_weights, monkeypatch):
    extractor = inception.load_inception(tiny_weights)
    paths = write_images(tmp_path / "img", 3)
    cache = tmp_path / "features"
    first = fid_cache.cached_image_features(paths, extractor, fid_images.CLEANFID_DEFAULT, cache, "generated")
    assert len(list(cache.glob("generated-*.npy"))) == 1
    real = fid_images.image_features
    monkeypatch.setattr(fid_images, "image_features", lambda *a, **k: pytest.fail("cache miss"))
    np.testing.assert_array_equal(fid_cache.cached_image_features(paths, extractor, fid_images.CLEANFID_DEFAULT, cache, "generated"), first)
    monkeypatch.setattr(fid_images, "image_features", real)
    # Another protocol, or a rewritten file, is another key.
    fid_cache.cached_image_features(paths, extractor, fid_images.GIGAGAN_COCO, cache, "generated")
    os.utime(paths[0], ns=(1, 1))
    fid_cache.cached_image_features(paths, extractor, fid_images.CLEANFID_DEFAULT, cache, "generated")
    assert len(list(cache.glob("generated-*.npy"))) == 3
    assert not list(cache.glob(".*"))  # no temp files left behind


def test_reference_stats_cached_once_per_data_root(tmp_path, tiny_weights, inception_calls):
    from janus_eval.metrics.fid import feature_stats

    extractor = inception.load_inception(tiny_weights)
    root = tmp_path / "data"
    paths = write_images(root / "real" / "a", 3) + write_images(root / "real" / "b", 2, seed=1)
    groups = {"a": [0, 1, 2], "b": [3, 4], "tiny": [0]}
    seen = inception_calls
    first = fid_cache.cached_reference_stats(paths, extractor, fid_images.CLEANFID_DEFAULT, root, tmp_path / "run1", groups)
    assert len(seen) == 5 and set(first) == {"all", "a", "b"}  # a one-image subset has no statistics
    [cached] = (root / fid_cache.REFERENCE_CACHE).glob("fid-ref-*.npz")
    feats = fid_images.image_features(paths, extractor, fid_images.CLEANFID_DEFAULT)
    for name, members in (("all", slice(None)), ("a", [0, 1, 2]), ("b", [3, 4])):
        mu, sigma = feature_stats(feats[members])
        np.testing.assert_array_equal(first[name].mu, mu)
        np.testing.assert_array_equal(first[name].sigma, sigma)
    assert first["all"].n == 5 and first["b"].n == 2
    seen.clear()
    again = fid_cache.cached_reference_stats(paths, extractor, fid_images.CLEANFID_DEFAULT, root, tmp_path / "run2", groups)
    assert seen == [] and not (tmp_path / "run2").exists()  # another run, same data root: read, not recomputed
    np.testing.assert_array_equal(again["all"].sigma, first["all"].sigma)
    # The key is the manifest (relative path, size, mtime), the protocol and the weights: a touched file misses.
    fid_cache.cached_reference_stats(paths, extractor, fid_images.GIGAGAN_COCO, root, tmp_path / "run2", groups)
    os.utime(paths[0], ns=(1, 1))
    fid_cache.cached_reference_stats(paths, extractor, fid_images.CLEANFID_DEFAULT, root, tmp_path / "run2", groups)
    assert len(seen) == 10 and len(list((root / fid_cache.REFERENCE_CACHE).glob("fid-ref-*.npz"))) == 3
    assert cached.is_file()


def test_reference_stats_fall_back_to_the_run_folder(tmp_path, tiny_weights, inception_calls):
    extractor = inception.load_inception(tiny_weights)
    root = tmp_path / "data"
    paths = write_images(root, 3)
    (root / fid_cache.REFERENCE_CACHE).write_text("a file where the cache folder would go")  # not writable there
    seen = inception_calls
    fid_cache.cached_reference_stats(paths, extractor, fid_images.CLEANFID_DEFAULT, root, tmp_path / "run")
    assert len(list((tmp_path / "run").glob("fid-ref-*.npz"))) == 1
    fid_cache.cached_reference_stats(paths, extractor, fid_images.CLEANFID_DEFAULT, root, tmp_path / "run")
    assert len(seen) == 3
