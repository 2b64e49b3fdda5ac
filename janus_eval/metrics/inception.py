"""The FID Inception-v3 (the TensorFlow 2015-12-05 graph) as a 2048-d pool-feature extractor, from local files.

Two backends, each loading its library's published weight file and nothing else (never a download):

- ``clean-fid`` (the COCO-30K and MJHQ-30K protocols): the StyleGAN2-ADA TorchScript port
  ``inception-2015-12-05.pt`` that clean-fid downloads, loaded with ``torch.jit.load``; its ``layers``
  submodule is applied to ``(x - 128) / 128`` of clean-fid's float 299x299 input, as clean-fid's
  ``InceptionV3W`` does in "clean" mode.
- ``torch-fidelity``: ``inception_v3.FidInceptionV3`` (torch-fidelity's architecture and state-dict keys),
  loading ``weights-inception-2015-12-05-6726825d.pth`` strictly; uint8 input, TF1 bilinear resize to
  299 inside, then ``(x - 128) / 128``.

The bundled demo, which has no weight file, runs a labelled stand-in network (``stand_in_inception``).
The rest of FID lives beside this module: ``fid_images`` (image files -> network input -> features),
``fid_cache`` (features and reference statistics kept on disk), ``fid_sets`` (FID between two sets
under a protocol) and ``fid`` (the Frechet distance).
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from janus_eval.errors import JanusEvalError
from janus_eval.io import sha256_file
from janus_eval.metrics.inception_v3 import FidInceptionV3

CLEANFID_WEIGHTS = "inception-2015-12-05.pt"
CLEANFID_URL = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt"
TORCH_FIDELITY_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"
TORCH_FIDELITY_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
)
# sha256 of the published files (as janus_eval/download.py checks them); the torch-fidelity name carries
# the first 8 hex digits (torch.hub convention). Other files run, but are labelled non-official.
OFFICIAL_SHA256 = {
    "clean-fid": "f58cb9b6ec323ed63459aa4fb441fe750cfe39fafad6da5cb504a16f19e958f4",
    "torch-fidelity": "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
}
BACKENDS: dict[str, tuple[str, str]] = {
    "clean-fid": (CLEANFID_WEIGHTS, CLEANFID_URL),
    "torch-fidelity": (TORCH_FIDELITY_WEIGHTS, TORCH_FIDELITY_URL),
}
FEATURE_DIM = 2048


def default_weights(backend: str, data_root: Path | None) -> Path | None:
    """``<data_root>/weights/<the backend's file name>``; None without a data root."""
    check_backend(backend)
    return Path(data_root) / "weights" / BACKENDS[backend][0] if data_root is not None else None


def check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise JanusEvalError(f"unknown FID backend {backend!r}; expected one of: {', '.join(BACKENDS)}")


def missing_weights_error(backend: str, path: Path | None) -> JanusEvalError:
    name, url = BACKENDS[backend]
    where = f"{path} does not exist" if path is not None else "no Inception weights given"
    return JanusEvalError(
        f"{where}: FID ({backend}) needs the Inception file {name}; fetch it from {url} and pass its path "
        f"(--inception-weights or -T <task>.inception_weights=PATH) or put it at <data-root>/weights/{name}"
    )


# -- loading ----------------------------------------------------------------------------------------
@dataclass
class InceptionExtractor:
    """A loaded FID network: ``features(images)`` maps preprocessed images to float32 [N, 2048]."""

    backend: str
    weights: Path
    weights_sha256: str
    module: nn.Module
    device: str

    def features(self, images: list[np.ndarray]) -> np.ndarray:
        """One batch. clean-fid: float32 [299, 299, 3] arrays in 0..255; torch-fidelity: uint8 [H, W, 3]."""
        if not images:
            return np.zeros((0, FEATURE_DIM), dtype=np.float32)
        batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous().to(self.device)
        with torch.inference_mode():
            if self.backend == "clean-fid":
                feats = self.module.layers((batch - 128) / 128)  # type: ignore[operator]
            else:
                feats = self.module(batch)
        return feats.reshape(len(images), -1).to(torch.float32).cpu().numpy()  # [B, 2048] for the real networks


def load_inception(weights: Path | None, backend: str = "clean-fid", device: str = "cpu") -> InceptionExtractor:
    """Load a backend's local weight file; a missing or wrong file is a ``JanusEvalError`` saying what to fetch."""
    check_backend(backend)
    if weights is None or not Path(weights).is_file():
        raise missing_weights_error(backend, None if weights is None else Path(weights))
    weights = Path(weights)
    if backend == "clean-fid":
        module = _load_torchscript(weights, device)
    else:
        module = _load_state_dict(weights, device)
    return InceptionExtractor(backend, weights, sha256_file(weights), module.eval(), device)


STAND_IN = "tiny random Inception stand-in (non-comparable)"
"""What run.json, results and tables call the network the bundled demo computes FID with."""


class StandInInception(nn.Module):
    """16 random features (a strided conv and a mean): lets the bundled demo run Table 4 end to end, as
    GenEval's tiny random detector does Table 3. Its FID compares with nothing, and is labelled so."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Conv2d(3, 8, 13, stride=13), nn.ReLU(), nn.Conv2d(8, 16, 1), nn.AdaptiveAvgPool2d(1))
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for param in self.parameters():  # fixed weights, whatever the global RNG state
                param.copy_(torch.randn(param.shape, generator=generator) * 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """torch-fidelity's entry: uint8 [B, 3, H, W]; clean-fid calls ``layers`` on its scaled input."""
        return self.layers(x.to(torch.float32) / 128 - 1)


def stand_in_inception(backend: str = "clean-fid", device: str = "cpu") -> InceptionExtractor:
    """The labelled stand-in network, for a backend's input convention; its "sha256" hashes its weights."""
    check_backend(backend)
    module = StandInInception().eval()
    digest = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in module.parameters())).hexdigest()
    return InceptionExtractor(backend, Path(STAND_IN), f"stand-in:{digest}", module.to(device), device)


def stand_in_card(backend: str) -> dict[str, str | bool]:
    """``weights_card`` for the stand-in: never official, said in words."""
    return {"backend": backend, "inception_weights": STAND_IN, "inception_sha256": stand_in_inception(backend).weights_sha256,
            "inception_official": False, "inception_stand_in": True}  # fmt: skip


def _load_torchscript(path: Path, device: str) -> nn.Module:
    try:
        with warnings.catch_warnings():  # torch 2.13 deprecates torch.jit; clean-fid's file exists only as TorchScript
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location=device)
    except (RuntimeError, ValueError) as err:
        raise JanusEvalError(
            f"{path} is not a TorchScript file: the clean-fid backend needs {CLEANFID_WEIGHTS} from {CLEANFID_URL} "
            f"(for {TORCH_FIDELITY_WEIGHTS} use backend 'torch-fidelity')"
        ) from err
    if not hasattr(module, "layers"):
        raise JanusEvalError(f"{path} is TorchScript but has no 'layers' submodule; expected {CLEANFID_WEIGHTS} from {CLEANFID_URL}")
    return module


def _load_state_dict(path: Path, device: str) -> nn.Module:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a non-checkpoint file
        raise JanusEvalError(
            f"cannot read {path} as a state dict ({type(err).__name__}); the torch-fidelity backend needs "
            f"{TORCH_FIDELITY_WEIGHTS} from {TORCH_FIDELITY_URL}"
        ) from err
    if not isinstance(state, dict):
        raise JanusEvalError(f"{path} holds a {type(state).__name__}, not a state dict; expected {TORCH_FIDELITY_WEIGHTS}")
    module = FidInceptionV3()
    expected = set(module.state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise JanusEvalError(
            f"{path} does not match torch-fidelity's Inception-v3: {len(missing)} missing keys "
            f"{missing[:3]}, {len(unexpected)} unexpected keys {unexpected[:3]}; expected {TORCH_FIDELITY_WEIGHTS}"
        )
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise JanusEvalError(f"{path}: tensor shapes do not match torch-fidelity's Inception-v3: {err}") from err
    return module.to(device)


def weights_card(weights: Path | None, backend: str) -> dict[str, str | bool]:
    """What ``run.json`` records about the FID network: backend, file, sha256, whether it is the published file."""
    name, url = BACKENDS[backend]
    if weights is None:
        return {"backend": backend, "inception_weights": f"missing ({name} from {url})"}
    sha = sha256_file(Path(weights))
    return {"backend": backend, "inception_weights": str(weights), "inception_sha256": sha,
            "inception_official": sha == OFFICIAL_SHA256[backend]}  # fmt: skip

