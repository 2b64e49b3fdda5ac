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


def pixel_values(images: list[Image.Image], size: int) -> torch.Tensor:
    """[N, 3, size, size] float32 in [-1, 1]."""
    if not images:
        return torch.empty(0, 3, size, size)
    arrays = [np.asarray(resize_and_pad(im, size), dtype=np.float32) / 255.0 for im in images]
    batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)
    return (batch - 0.5) / 0.5
