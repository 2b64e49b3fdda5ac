"""The FID Inception backends on random weights: shapes, batch independence, strict loading, clear errors."""

import numpy as np
import pytest
import torch

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
