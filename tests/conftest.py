"""Shared fixtures: the embedded tiny model is built once per session (it is deterministic)."""

from __future__ import annotations

import sys

import pytest
import torch


@pytest.fixture(scope="session")
def tiny_adapter():
    from janus_eval.model import load

    return load(None)


@pytest.fixture
def cli_invoke(monkeypatch, capsys):
    """Run ``janus-eval ARGS`` in-process; returns (exit code, stdout, stderr)."""
    from janus_eval import cli

    def invoke(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["janus-eval", *args])
        with pytest.raises(SystemExit) as exit_info:
            cli.main()
            raise SystemExit(0)
        captured = capsys.readouterr()
        return exit_info.value.code or 0, captured.out, captured.err

    return invoke


@pytest.fixture
def model_loads(monkeypatch) -> list[tuple]:
    """The arguments of every ``janus_eval.model.load`` call (the CLI's model factory): a run refused before
    the model loads leaves it empty."""
    import janus_eval.model

    calls: list[tuple] = []
    real = janus_eval.model.load

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(janus_eval.model, "load", counted)
    return calls


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
    """The image paths that go through ``fid_images.image_features`` (the only way to the network), in order."""
    from janus_eval.metrics import fid_images

    seen = []
    real = fid_images.image_features

    def counted(paths, *args, **kwargs):
        seen.extend(paths)
        return real(paths, *args, **kwargs)

    monkeypatch.setattr(fid_images, "image_features", counted)
    return seen
