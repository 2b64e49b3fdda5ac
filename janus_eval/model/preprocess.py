"""Janus image preprocessing, as the official VLMImageProcessor does it, without torchvision.

Resize so the longest side equals the encoder's input size (bicubic, short side at least 14 px),
pad to a square centred on a (127, 127, 127) background, scale to [0, 1], normalise with
mean = std = 0.5.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

BACKGROUND = (127, 127, 127)
MIN_SIDE = 14


def resize_and_pad(image: Image.Image, size: int) -> Image.Image:
    image = image.convert("RGB")
    width, height = image.size
    longest = max(width, height)
    new_w = max(int(width / longest * size), MIN_SIDE)
    new_h = max(int(height / longest * size), MIN_SIDE)
    resized = image.resize((new_w, new_h), Image.Resampling.BICUBIC)
    if new_w == new_h == size:
        return resized
    canvas = Image.new("RGB", (size, size), BACKGROUND)
    canvas.paste(resized, ((size - new_w) // 2, (size - new_h) // 2))
    return canvas


def pixel_levels(images: list[Image.Image], size: int) -> np.ndarray:
    """[N, size, size, 3] uint8: each image resized and padded, channels last as PIL lays them out.

    The CPU-heavy half of preprocessing, so loader workers do it; as 8-bit levels it is a quarter of the
    float pixels' size to send between processes, pin and copy to the GPU.
    """
    if not images:
        return np.empty((0, size, size, 3), dtype=np.uint8)
    return np.stack([np.asarray(resize_and_pad(im, size), dtype=np.uint8) for im in images])


def level_values() -> torch.Tensor:
    """[256] float32: the encoder input for each 8-bit level, (x / 255 - 0.5) / 0.5 computed as the release does."""
    scaled = torch.from_numpy(np.arange(256, dtype=np.float32) / 255.0)
    return (scaled - 0.5) / 0.5


def normalise(levels: torch.Tensor, table: torch.Tensor | None = None) -> torch.Tensor:
    """[N, 3, S, S] encoder input from ``pixel_levels``' [N, S, S, 3]: a look-up in ``table`` (``level_values``,
    possibly cast and moved to ``levels``' device), so every device gets exactly the CPU's values (a division
    on the GPU may round differently). The result is a channels-last view, as the release's permute leaves it."""
    table = level_values().to(levels.device) if table is None else table
    return table[levels.long()].permute(0, 3, 1, 2)


def pixel_values(images: list[Image.Image], size: int) -> torch.Tensor:
    """[N, 3, size, size] float32 in [-1, 1]."""
    return normalise(torch.from_numpy(pixel_levels(images, size)))
