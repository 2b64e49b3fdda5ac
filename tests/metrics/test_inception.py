"""The FID Inception backends on random weights: shapes, batch independence, strict loading, clear errors, cache."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

from janus_eval.metrics import inception
from janus_eval.errors import JanusEvalError

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")  # clean-fid's file is TorchScript


class TinyTorchScriptInception(torch.nn.Module):
    """Stand-in with the interface of clean-fid's TorchScript file: a ``layers`` submodule, [B, D, 1, 1] out."""

    def __init__(self, dim: int = 16) -> None:
        super().__init__()
        self.layers = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 13, stride=13), torch.nn.ReLU(),
                                          torch.nn.Conv2d(8, dim, 1), torch.nn.AdaptiveAvgPool2d(1))  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def tiny_torchscript(path, dim=16):
    torch.manual_seed(0)
    torch.jit.script(TinyTorchScriptInception(dim)).save(str(path))
    return path


@pytest.fixture(scope="module")
def random_fidelity_net():
    torch.manual_seed(0)
    net = inception.FidInceptionV3()
    with torch.no_grad():  # variance-preserving convs (O(1) features) and non-trivial batch-norm statistics
        for module in net.modules():
            if isinstance(module, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        for name, buf in net.named_buffers():
            if name.endswith("running_mean"):
                buf.copy_(torch.randn_like(buf) * 0.1)
            elif name.endswith("running_var"):
                buf.copy_(torch.rand_like(buf) + 0.5)
    return net.eval()


@pytest.fixture(scope="module")
def fidelity_weights(random_fidelity_net, tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / inception.TORCH_FIDELITY_WEIGHTS
    torch.save(random_fidelity_net.state_dict(), path)
    return path


def write_images(folder, n, size=(40, 32), seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"{i:03d}.png"
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_torch_fidelity_net_shapes_loading_and_batch_independence(random_fidelity_net, fidelity_weights):
    extractor = inception.load_inception(fidelity_weights, backend="torch-fidelity")
    assert extractor.weights_sha256 and extractor.backend == "torch-fidelity"
    images = [np.random.default_rng(i).integers(0, 256, (48, 40, 3), dtype=np.uint8) for i in range(2)]
    together = extractor.features(images)
    assert together.shape == (2, 2048) and together.dtype == np.float32 and np.isfinite(together).all()
    alone = extractor.features(images[1:])  # batch size 1 vs 2: same features
    np.testing.assert_allclose(together[1:], alone, rtol=1e-5, atol=1e-6)
    loaded = extractor.module.state_dict()  # the weights in use are the saved ones, all of them
    assert all(torch.equal(loaded[k], v) for k, v in random_fidelity_net.state_dict().items())


def test_torch_fidelity_strict_key_check(tmp_path, random_fidelity_net):
    state = dict(random_fidelity_net.state_dict())
    partial = {k: v for k, v in list(state.items())[:5]}
    torch.save({**partial, "extra.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(JanusEvalError, match=r"missing keys .*1 unexpected keys \['extra.weight'\]"):
        inception.load_inception(tmp_path / "bad.pth", backend="torch-fidelity")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(JanusEvalError, match="cannot read .* as a state dict"):
        inception.load_inception(tmp_path / "junk.pth", backend="torch-fidelity")
    with pytest.raises(ValueError, match="uint8"):
        random_fidelity_net(torch.zeros(1, 3, 8, 8))


def test_missing_weights_name_the_file_and_where_to_fetch_it(tmp_path):
    with pytest.raises(JanusEvalError, match=r"inception-2015-12-05\.pt.*nvlabs-fi-cdn\.nvidia\.com"):
        inception.load_inception(tmp_path / "nope.pt")
    with pytest.raises(JanusEvalError, match=r"no Inception weights given.*weights-inception-2015-12-05-6726825d\.pth"):
        inception.load_inception(None, backend="torch-fidelity")
    with pytest.raises(JanusEvalError, match="unknown FID backend"):
        inception.load_inception(tmp_path / "x.pt", backend="pytorch-fid")
    assert inception.default_weights("clean-fid", tmp_path) == tmp_path / "weights" / "inception-2015-12-05.pt"
    assert inception.default_weights("clean-fid", None) is None


def test_clean_fid_torchscript_backend(tmp_path, fidelity_weights):
    path = tiny_torchscript(tmp_path / "inception-2015-12-05.pt")
    extractor = inception.load_inception(path)
    batch = [np.full((299, 299, 3), 128.0, dtype=np.float32), np.zeros((299, 299, 3), dtype=np.float32)]
    feats = extractor.features(batch)
    module = torch.jit.load(str(path))
    with torch.no_grad():  # clean-fid's InceptionV3W: layers((x - 128) / 128)
        x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2)
        expected = module.layers((x - 128) / 128).reshape(2, -1).numpy()
    np.testing.assert_allclose(feats, expected, rtol=1e-5, atol=1e-6)  # TorchScript may fuse differently per call
    with pytest.raises(JanusEvalError, match="not a TorchScript file.*torch-fidelity"):
        inception.load_inception(fidelity_weights, backend="clean-fid")
    torch.jit.script(torch.nn.Linear(2, 2)).save(str(tmp_path / "nolayers.pt"))
    with pytest.raises(JanusEvalError, match="no 'layers' submodule"):
        inception.load_inception(tmp_path / "nolayers.pt")


@pytest.mark.parametrize("protocol", [inception.GIGAGAN_COCO, inception.CLEANFID_DEFAULT])
def test_image_features_do_not_depend_on_batch_size(tmp_path, protocol):
    extractor = inception.load_inception(tiny_torchscript(tmp_path / "t.pt"))
    paths = write_images(tmp_path / "img", 5) + write_images(tmp_path / "img2", 2, size=(30, 50), seed=1)
    one = inception.image_features(paths, extractor, protocol, batch_size=1)
    many = inception.image_features(paths, extractor, protocol, batch_size=4, workers=3)
    assert one.shape == (7, 16)
    np.testing.assert_allclose(one, many, rtol=1e-5, atol=1e-6)


def test_features_cache_hits_and_invalidates(tmp_path, monkeypatch):
    extractor = inception.load_inception(tiny_torchscript(tmp_path / "t.pt"))
    paths = write_images(tmp_path / "img", 3)
    cache = tmp_path / "features"
    first = inception.cached_image_features(paths, extractor, inception.CLEANFID_DEFAULT, cache, "generated")
    assert len(list(cache.glob("generated-*.npy"))) == 1
    real = inception.image_features
    monkeypatch.setattr(inception, "image_features", lambda *a, **k: pytest.fail("cache miss"))
    np.testing.assert_array_equal(inception.cached_image_features(paths, extractor, inception.CLEANFID_DEFAULT, cache, "generated"), first)
    monkeypatch.setattr(inception, "image_features", real)
    # Another protocol, or a rewritten file, is another key.
    inception.cached_image_features(paths, extractor, inception.GIGAGAN_COCO, cache, "generated")
    os.utime(paths[0], ns=(1, 1))
    inception.cached_image_features(paths, extractor, inception.CLEANFID_DEFAULT, cache, "generated")
    assert len(list(cache.glob("generated-*.npy"))) == 3
    assert not list(cache.glob(".*"))  # no temp files left behind


@pytest.mark.parametrize("protocol", [inception.GIGAGAN_COCO, inception.CLEANFID_DEFAULT])
def test_worker_processes_change_nothing(tmp_path, protocol):
    """Preprocessing in 2 worker processes gives the same network inputs, in the same order, as in-process."""
    extractor = inception.load_inception(tiny_torchscript(tmp_path / "t.pt"))
    paths = write_images(tmp_path / "img", 7) + write_images(tmp_path / "img2", 3, size=(50, 30), seed=1)
    batches = {w: list(inception.prepared_batches(paths, protocol, "clean-fid", 4, w)) for w in (0, 2)}
    assert [len(b) for b in batches[0]] == [4, 4, 2] == [len(b) for b in batches[2]]
    for serial, parallel in zip(batches[0], batches[2]):
        assert all(np.array_equal(a, b) and a.dtype == b.dtype == np.float32 for a, b in zip(serial, parallel))
    serial_feats = inception.image_features(paths, extractor, protocol, batch_size=4, workers=0)
    np.testing.assert_array_equal(inception.image_features(paths, extractor, protocol, batch_size=4, workers=2),
                                  serial_feats)  # fmt: skip


def test_unreadable_image_in_a_worker_is_one_clear_error(tmp_path):
    extractor = inception.load_inception(tiny_torchscript(tmp_path / "t.pt"))
    paths = write_images(tmp_path / "img", 3)
    paths[1].write_bytes(b"not an image")
    with pytest.raises(JanusEvalError, match=r"^cannot read image .*001.png for FID"):
        inception.image_features(paths, extractor, inception.CLEANFID_DEFAULT, batch_size=2, workers=2)


def test_reference_stats_cached_once_per_data_root(tmp_path, inception_calls):
    from janus_eval.metrics.fid import feature_stats

    extractor = inception.load_inception(tiny_torchscript(tmp_path / "t.pt"))
    root = tmp_path / "data"
    paths = write_images(root / "real" / "a", 3) + write_images(root / "real" / "b", 2, seed=1)
    groups = {"a": [0, 1, 2], "b": [3, 4], "tiny": [0]}
    seen = inception_calls
    first = inception.cached_reference_stats(paths, extractor, inception.CLEANFID_DEFAULT, root, tmp_path / "run1", groups)
    assert len(seen) == 5 and set(first) == {"all", "a", "b"}  # a one-image subset has no statistics
    [cached] = (root / inception.REFERENCE_CACHE).glob("fid-ref-*.npz")
    feats = inception.image_features(paths, extractor, inception.CLEANFID_DEFAULT)
    for name, members in (("all", slice(None)), ("a", [0, 1, 2]), ("b", [3, 4])):
        mu, sigma = feature_stats(feats[members])
        np.testing.assert_array_equal(first[name].mu, mu)
        np.testing.assert_array_equal(first[name].sigma, sigma)
    assert first["all"].n == 5 and first["b"].n == 2
    seen.clear()
    again = inception.cached_reference_stats(paths, extractor, inception.CLEANFID_DEFAULT, root, tmp_path / "run2", groups)
    assert seen == [] and not (tmp_path / "run2").exists()  # another run, same data root: read, not recomputed
    np.testing.assert_array_equal(again["all"].sigma, first["all"].sigma)
    # The key is the manifest (relative path, size, mtime), the protocol and the weights: a touched file misses.
    inception.cached_reference_stats(paths, extractor, inception.GIGAGAN_COCO, root, tmp_path / "run2", groups)
    os.utime(paths[0], ns=(1, 1))
    inception.cached_reference_stats(paths, extractor, inception.CLEANFID_DEFAULT, root, tmp_path / "run2", groups)
    assert len(seen) == 10 and len(list((root / inception.REFERENCE_CACHE).glob("fid-ref-*.npz"))) == 3
    assert cached.is_file()


def test_reference_stats_fall_back_to_the_run_folder(tmp_path, inception_calls):
    extractor = inception.load_inception(tiny_torchscript(tmp_path / "t.pt"))
    root = tmp_path / "data"
    paths = write_images(root, 3)
    (root / inception.REFERENCE_CACHE).write_text("a file where the cache folder would go")  # not writable there
    seen = inception_calls
    inception.cached_reference_stats(paths, extractor, inception.CLEANFID_DEFAULT, root, tmp_path / "run")
    assert len(list((tmp_path / "run").glob("fid-ref-*.npz"))) == 1
    inception.cached_reference_stats(paths, extractor, inception.CLEANFID_DEFAULT, root, tmp_path / "run")
    assert len(seen) == 3


def test_folder_images_globs_like_clean_fid(tmp_path):
    for rel in ("b/2.jpg", "a/1.JPG", "a/3.png", "c.jpeg", "notes.txt", "x.Jpg", ".hidden.jpg", ".cache/4.jpg"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    found = [p.relative_to(tmp_path).as_posix() for p in inception.folder_images(tmp_path)]
    assert found == ["a/1.JPG", "a/3.png", "b/2.jpg", "c.jpeg"]
    with pytest.raises(JanusEvalError, match="does not exist"):
        inception.folder_images(tmp_path / "missing")
