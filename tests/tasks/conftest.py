"""Fixtures shared by the FID task tests."""

import pytest
import torch


class TinyTorchScriptInception(torch.nn.Module):
    """Stand-in for clean-fid's TorchScript Inception (``layers`` -> [B, 16, 1, 1]); never the real network."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 13, stride=13), torch.nn.ReLU(),
                                          torch.nn.Conv2d(8, 16, 1), torch.nn.AdaptiveAvgPool2d(1))  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "inception-2015-12-05.pt"
    torch.jit.script(TinyTorchScriptInception()).save(str(path))
    return path


@pytest.fixture
def inception_calls(monkeypatch):
    """The image paths that go through ``inception.image_features`` (the only way to the network), in order."""
    from janus_eval.metrics import inception

    seen = []
    real = inception.image_features

    def counted(paths, *args, **kwargs):
        seen.extend(paths)
        return real(paths, *args, **kwargs)

    monkeypatch.setattr(inception, "image_features", counted)
    return seen
