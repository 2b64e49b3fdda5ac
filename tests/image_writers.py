"""Random PNG files on disk, for the tests that read image folders (FID's loaders and caches)."""

from pathlib import Path

import numpy as np
from PIL import Image


def write_images(folder: Path, n: int, size: tuple[int, int] = (40, 32), seed: int = 0) -> list[Path]:
    """``n`` random RGB PNGs ``000.png``... of ``size`` (width, height) in ``folder``, in name order."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"{i:03d}.png"
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths
