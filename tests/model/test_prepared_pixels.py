"""Prepared pixels (issue #16): the loaders' uint8 levels give the encoder exactly the adapter's own input."""

import numpy as np
import pytest
import torch
from PIL import Image

from janus_eval.model.preprocess import level_values, normalise, pixel_levels, pixel_values, resize_and_pad


def release_pixel_values(images: list[Image.Image], size: int) -> torch.Tensor:
    """The preprocessing as it was written before the split into levels + look-up (float32 arithmetic)."""
    arrays = [np.asarray(resize_and_pad(im, size), dtype=np.float32) / 255.0 for im in images]
    return (torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2) - 0.5) / 0.5


def random_image(seed: int, size: tuple[int, int]) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


EVERY_LEVEL = Image.fromarray(np.arange(256, dtype=np.uint8).repeat(3).reshape(16, 16, 3))
IMAGES = [random_image(0, (40, 24)), random_image(1, (17, 61)), random_image(2, (640, 480)), EVERY_LEVEL]


@pytest.mark.parametrize("size", [16, 32, 384])
def test_levels_then_look_up_equal_the_release_arithmetic(size):
    """Same values and the same (channels-last) strides, so the encoder's convolution sees the same input."""
    ours, release = pixel_values(IMAGES, size), release_pixel_values(IMAGES, size)
    assert torch.equal(ours, release) and ours.stride() == release.stride() and ours.dtype == torch.float32


def test_look_up_in_a_low_precision_table_equals_casting_the_float32_values():
    levels = torch.from_numpy(pixel_levels(IMAGES, 32))
    for dtype in (torch.bfloat16, torch.float16):
        assert torch.equal(normalise(levels, level_values().to(dtype)), pixel_values(IMAGES, 32).to(dtype))


def test_no_images_give_an_empty_batch():
    assert pixel_levels([], 32).shape == (0, 32, 32, 3) and pixel_values([], 32).shape == (0, 3, 32, 32)


ROWS = [[random_image(3, (40, 24))], None, [random_image(4, (32, 32)), random_image(5, (64, 20))], random_image(6, (9, 90))]
QUESTIONS = ["Is there a dog?", "No image at all.", "<image_placeholder>\nCompare with <image_placeholder>.", "Describe."]


def _as_list(row):
    return [] if row is None else [row] if isinstance(row, Image.Image) else row


@pytest.mark.parametrize("kind", ["array", "tensor"])
def test_understand_takes_prepared_pixels_with_the_same_answers(tiny_adapter, kind):
    prepared = [pixel_levels(_as_list(row), tiny_adapter.image_size) for row in ROWS]
    if kind == "tensor":
        prepared = [torch.from_numpy(levels) for levels in prepared]
    expected = tiny_adapter.understand(ROWS, QUESTIONS, max_new_tokens=8)
    assert tiny_adapter.understand(prepared, QUESTIONS, max_new_tokens=8) == expected
    mixed = [prepared[0], ROWS[1], ROWS[2], prepared[3]]
    assert tiny_adapter.understand(mixed, QUESTIONS, max_new_tokens=8) == expected


def test_prepared_pixels_of_the_wrong_size_are_refused(tiny_adapter):
    wrong = pixel_levels([random_image(7, (8, 8))], tiny_adapter.image_size * 2)
    with pytest.raises(ValueError, match="prepared pixels must be uint8"):
        tiny_adapter.understand([wrong], ["Describe."], max_new_tokens=2)


def test_prepared_rows_go_to_the_device_without_blocking(tiny_adapter, monkeypatch):
    """Each row on its own (a host-side cat would drop the pinning) and with ``non_blocking=True``."""
    copies = []
    real_to = torch.Tensor.to

    def recording_to(self, *args, **kwargs):
        if self.dtype == torch.uint8 and self.dim() == 4:
            copies.append((tuple(self.shape), kwargs.get("non_blocking")))
        return real_to(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", recording_to)
    tiny_adapter.understand(ROWS[2:], QUESTIONS[2:], max_new_tokens=1)
    size = tiny_adapter.image_size
    assert copies[:2] == [((2, size, size, 3), True), ((1, size, size, 3), True)]
