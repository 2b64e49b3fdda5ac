"""Image preprocessing of the FID protocols, step by step, so each protocol is explicit and testable.

Which protocol uses which steps (every image, real and generated, goes through the same ones):

- COCO-30K (GigaGAN ``evaluation.py``, the protocol Janus's FID points to): ``load_rgb`` ->
  ``gigagan_coco_transform`` (centre crop to a square, PIL LANCZOS to 256x256, uint8) ->
  ``clean_resize`` (clean-fid "clean" mode) -> clean-fid's TorchScript Inception.
- MJHQ-30K (clean-fid ``compute_fid`` defaults): ``load_rgb`` -> ``clean_resize`` -> the same network;
  no crop, no 256 step.
- torch-fidelity (an alternative backend, not what the published numbers used): ``load_rgb`` (plus
  the GigaGAN step for COCO) -> uint8 tensor -> ``tf1_bilinear_resize`` to 299 *inside* the network
  (TensorFlow 1.x bilinear, no antialiasing) -> its Inception port. Its end-to-end FIDs differ from
  clean-fid's; only the Frechet formula is shared.

``clean_resize`` is clean-fid's ``make_resizer("PIL", quantize_after=False, "bicubic", (299, 299))``:
each uint8 channel becomes a float32 PIL "F" image, is resized with PIL BICUBIC (antialiased),
clipped to [0, 255] and kept as float32 (never rounded back to uint8); clean-fid's ``ToTensor``
leaves float input unscaled, so the network sees values in 0..255.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

INCEPTION_SIZE = 299
GIGAGAN_COCO_SIZE = 256


def load_rgb(path: Path | str) -> np.ndarray:
    """uint8 [H, W, 3], read as clean-fid reads files: ``Image.open(path).convert("RGB")`` (no EXIF rotation)."""
    with Image.open(path) as image:
        return np.array(image.convert("RGB"))


def center_crop_long_edge(pixels: np.ndarray) -> np.ndarray:
    """The centred square of side min(H, W), placed as torchvision's ``center_crop`` places it.

    torchvision computes the offset as ``int(round((size - side) / 2))`` with Python's
    round-half-to-even, so W=449, H=384 starts at column 32, not 33.
    """
    height, width = pixels.shape[:2]
    side = min(height, width)
    top = int(round((height - side) / 2.0))
    left = int(round((width - side) / 2.0))
    return pixels[top : top + side, left : left + side]


def gigagan_coco_transform(pixels: np.ndarray, size: int = GIGAGAN_COCO_SIZE) -> np.ndarray:
    """GigaGAN's ``custom_image_tranform`` for COCO: centre crop, then PIL LANCZOS to size x size (uint8)."""
    square = Image.fromarray(np.ascontiguousarray(center_crop_long_edge(pixels)))
    return np.array(square.resize((size, size), Image.LANCZOS))


def clean_resize(pixels: np.ndarray, size: int = INCEPTION_SIZE) -> np.ndarray:
    """clean-fid "clean" mode: per-channel float32 PIL bicubic resize to size x size, not quantised.

    Args:
        pixels: uint8 [H, W, 3].

    Returns:
        float32 [size, size, 3] with values in [0, 255].
    """
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"expected an RGB image [H, W, 3], got shape {pixels.shape}")
    channels = []
    for c in range(3):
        plane = Image.fromarray(np.ascontiguousarray(pixels[:, :, c]).astype(np.float32))  # mode "F"
        resized = np.asarray(plane.resize((size, size), resample=Image.BICUBIC))
        channels.append(resized.clip(0, 255).reshape(size, size, 1))
    return np.concatenate(channels, axis=2).astype(np.float32)


def tf1_bilinear_resize(x: torch.Tensor, size: tuple[int, int] = (INCEPTION_SIZE, INCEPTION_SIZE)) -> torch.Tensor:
    """TensorFlow 1.x ``resize_bilinear(align_corners=False)``, as torch-fidelity resizes inside its network.

    Output pixel i samples source coordinate ``i * in / out`` (no half-pixel centre), between the
    floor index and the next one clamped to the edge; no antialiasing when shrinking.

    Args:
        x: float [B, C, H, W].
        size: (out_h, out_w).
    """
    if x.dim() != 4 or not torch.is_floating_point(x):
        raise ValueError(f"expected a float [B, C, H, W] tensor, got {tuple(x.shape)} {x.dtype}")
    out_h, out_w = size
    in_h, in_w = x.shape[2], x.shape[3]

    def axis(n_out: int, n_in: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pos = torch.arange(n_out, dtype=x.dtype, device=x.device) * torch.tensor(n_in / n_out, dtype=torch.float32)
        lo = pos.long()
        hi = (lo + 1).clamp_max(n_in - 1)
        return lo, hi, pos - lo.to(pos.dtype)

    y_lo, y_hi, dy = axis(out_h, in_h)
    x_lo, x_hi, dx = axis(out_w, in_w)
    top, bottom = x[:, :, y_lo, :], x[:, :, y_hi, :]
    top_left, top_right = top[:, :, :, x_lo], top[:, :, :, x_hi]
    bottom_left, bottom_right = bottom[:, :, :, x_lo], bottom[:, :, :, x_hi]
    dx = dx.view(1, 1, 1, out_w)
    upper = top_left + (top_right - top_left) * dx
    lower = bottom_left + (bottom_right - bottom_left) * dx
    return upper + (lower - upper) * dy.view(1, 1, out_h, 1)
