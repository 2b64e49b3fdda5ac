"""The FID Inception-v3 (the TensorFlow 2015-12-05 graph) as a 2048-d pool-feature extractor, from local files.

Two backends, each loading its library's published weight file and nothing else (never a download):

- ``clean-fid`` (the COCO-30K and MJHQ-30K protocols): the StyleGAN2-ADA TorchScript port
  ``inception-2015-12-05.pt`` that clean-fid downloads, loaded with ``torch.jit.load``; its ``layers``
  submodule is applied to ``(x - 128) / 128`` of clean-fid's float 299x299 input, as clean-fid's
  ``InceptionV3W`` does in "clean" mode.
- ``torch-fidelity``: our own module with the architecture (and state-dict keys) of
  torch-fidelity's ``FeatureExtractorInceptionV3``, loading ``weights-inception-2015-12-05-6726825d.pth``
  strictly; uint8 input, TF1 bilinear resize to 299 inside, then ``(x - 128) / 128``.

``image_features`` runs a list of image files through a protocol's preprocessing (in worker
processes) and a backend; ``cached_image_features`` keeps the result under a key of everything it
depends on; ``cached_reference_stats`` keeps a real set's mean and covariance once per data root.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from janus_eval.io import sha256_file, write_bytes_atomic
from janus_eval.metrics import fid_preprocess as pre
from janus_eval.errors import JanusEvalError

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


# -- torch-fidelity's architecture ----------------------------------------------------------------
class ConvBN(nn.Module):
    """Conv (no bias) + BatchNorm (eps 1e-3, as in the TF graph) + ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0) -> None:  # fmt: skip
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _chain(x: torch.Tensor, *layers: nn.Module) -> torch.Tensor:
    for layer in layers:
        x = layer(x)
    return x


def _avg_pool_tf(x: torch.Tensor) -> torch.Tensor:
    """3x3/1 average pool whose border averages skip the zero padding, as TensorFlow's does."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class MixedA(nn.Module):
    """35x35 block: 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg pool -> 1x1."""

    def __init__(self, c_in: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = ConvBN(c_in, 64, 1)
        self.branch5x5_1 = ConvBN(c_in, 48, 1)
        self.branch5x5_2 = ConvBN(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = ConvBN(c_in, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, padding=1)
        self.branch_pool = ConvBN(c_in, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch1x1(x),
            _chain(x, self.branch5x5_1, self.branch5x5_2),
            _chain(x, self.branch3x3dbl_1, self.branch3x3dbl_2, self.branch3x3dbl_3),
            self.branch_pool(_avg_pool_tf(x)),
        ], dim=1)  # fmt: skip


class ReductionB(nn.Module):
    """35 -> 17: 3x3/2 | 1x1 -> 3x3 -> 3x3/2 | max pool /2."""

    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.branch3x3 = ConvBN(c_in, 384, 3, stride=2)
        self.branch3x3dbl_1 = ConvBN(c_in, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch3x3(x),
            _chain(x, self.branch3x3dbl_1, self.branch3x3dbl_2, self.branch3x3dbl_3),
            F.max_pool2d(x, kernel_size=3, stride=2),
        ], dim=1)  # fmt: skip


class MixedC(nn.Module):
    """17x17 block with factorised 7x7 convolutions."""

    def __init__(self, c_in: int, c7: int) -> None:
        super().__init__()
        self.branch1x1 = ConvBN(c_in, 192, 1)
        self.branch7x7_1 = ConvBN(c_in, c7, 1)
        self.branch7x7_2 = ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = ConvBN(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = ConvBN(c_in, c7, 1)
        self.branch7x7dbl_2 = ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = ConvBN(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = ConvBN(c_in, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch1x1(x),
            _chain(x, self.branch7x7_1, self.branch7x7_2, self.branch7x7_3),
            _chain(x, self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                   self.branch7x7dbl_5),
            self.branch_pool(_avg_pool_tf(x)),
        ], dim=1)  # fmt: skip


class ReductionD(nn.Module):
    """17 -> 8: 1x1 -> 3x3/2 | 1x1 -> 1x7 -> 7x1 -> 3x3/2 | max pool /2."""

    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.branch3x3_1 = ConvBN(c_in, 192, 1)
        self.branch3x3_2 = ConvBN(192, 320, 3, stride=2)
        self.branch7x7x3_1 = ConvBN(c_in, 192, 1)
        self.branch7x7x3_2 = ConvBN(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = ConvBN(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = ConvBN(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            _chain(x, self.branch3x3_1, self.branch3x3_2),
            _chain(x, self.branch7x7x3_1, self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4),
            F.max_pool2d(x, kernel_size=3, stride=2),
        ], dim=1)  # fmt: skip


class MixedE(nn.Module):
    """8x8 block with split 1x3/3x1 heads; the TF graph pools by average in the first, by max in the second."""

    def __init__(self, c_in: int, pool: str) -> None:
        super().__init__()
        self.pool = pool
        self.branch1x1 = ConvBN(c_in, 320, 1)
        self.branch3x3_1 = ConvBN(c_in, 384, 1)
        self.branch3x3_2a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = ConvBN(c_in, 448, 1)
        self.branch3x3dbl_2 = ConvBN(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = ConvBN(c_in, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3_1(x)
        b = _chain(x, self.branch3x3dbl_1, self.branch3x3dbl_2)
        pooled = _avg_pool_tf(x) if self.pool == "avg" else F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        return torch.cat([
            self.branch1x1(x),
            self.branch3x3_2a(a), self.branch3x3_2b(a),
            self.branch3x3dbl_3a(b), self.branch3x3dbl_3b(b),
            self.branch_pool(pooled),
        ], dim=1)  # fmt: skip


class FidInceptionV3(nn.Module):
    """torch-fidelity's ``FeatureExtractorInceptionV3`` layout (same state-dict keys), 2048-d pool output.

    ``forward`` takes uint8 [B, 3, H, W] images and returns float32 [B, 2048].
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = ConvBN(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = ConvBN(32, 32, 3)
        self.Conv2d_2b_3x3 = ConvBN(32, 64, 3, padding=1)
        self.MaxPool_1 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Conv2d_3b_1x1 = ConvBN(64, 80, 1)
        self.Conv2d_4a_3x3 = ConvBN(80, 192, 3)
        self.MaxPool_2 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Mixed_5b = MixedA(192, pool_features=32)
        self.Mixed_5c = MixedA(256, pool_features=64)
        self.Mixed_5d = MixedA(288, pool_features=64)
        self.Mixed_6a = ReductionB(288)
        self.Mixed_6b = MixedC(768, c7=128)
        self.Mixed_6c = MixedC(768, c7=160)
        self.Mixed_6d = MixedC(768, c7=160)
        self.Mixed_6e = MixedC(768, c7=192)
        self.Mixed_7a = ReductionD(768)
        self.Mixed_7b = MixedE(1280, pool="avg")
        self.Mixed_7c = MixedE(2048, pool="max")
        self.AvgPool = nn.AdaptiveAvgPool2d(output_size=(1, 1))
        self.fc = nn.Linear(2048, 1008)  # logits head: unused for FID, kept for the strict key check

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected uint8 [B, 3, H, W] images, got {tuple(images.shape)} {images.dtype}")
        x = pre.tf1_bilinear_resize(images.to(torch.float32))  # [B, 3, 299, 299]
        x = (x - 128) / 128
        x = _chain(x, self.Conv2d_1a_3x3, self.Conv2d_2a_3x3, self.Conv2d_2b_3x3, self.MaxPool_1)  # [B, 64, 73, 73]
        x = _chain(x, self.Conv2d_3b_1x1, self.Conv2d_4a_3x3, self.MaxPool_2)  # [B, 192, 35, 35]
        x = _chain(x, self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a)  # [B, 768, 17, 17]
        x = _chain(x, self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e, self.Mixed_7a)  # [B, 1280, 8, 8]
        x = _chain(x, self.Mixed_7b, self.Mixed_7c, self.AvgPool)  # [B, 2048, 1, 1]
        return torch.flatten(x, 1).to(torch.float32)


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


# -- images -> features -----------------------------------------------------------------------------
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
    feats = image_features(paths, extractor, protocol, batch_size=batch_size, workers=workers)
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
    from janus_eval.metrics.fid import feature_stats

    groups = {group: members for group, members in (groups or {}).items() if len(members) >= 2}  # FID needs 2
    name = f"fid-ref-{reference_key(paths, data_root, extractor, protocol, groups)[:32]}.npz"
    targets = ([Path(data_root) / REFERENCE_CACHE / name] if data_root is not None else []) + [Path(run_cache) / name]
    names = ["all", *groups]
    for target in targets:
        cached = _read_stats(target, names)
        if cached is not None:
            return cached
    feats = image_features(paths, extractor, protocol, batch_size=batch_size, workers=workers)
    subsets = {"all": feats, **{group: feats[members] for group, members in groups.items()}}
    stats = {group: FeatureStats(*feature_stats(f), n=len(f)) for group, f in subsets.items() if len(f) >= 2}
    _write_stats(stats, targets)
    return stats


# -- helpers shared by the FID tasks ---------------------------------------------------------------
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


def pick_device(device: str | None) -> str:
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def weights_card(weights: Path | None, backend: str) -> dict[str, str | bool]:
    """What ``run.json`` records about the FID network: backend, file, sha256, whether it is the published file."""
    name, url = BACKENDS[backend]
    if weights is None:
        return {"backend": backend, "inception_weights": f"missing ({name} from {url})"}
    sha = sha256_file(Path(weights))
    return {"backend": backend, "inception_weights": str(weights), "inception_sha256": sha,
            "inception_official": sha == OFFICIAL_SHA256[backend]}  # fmt: skip

