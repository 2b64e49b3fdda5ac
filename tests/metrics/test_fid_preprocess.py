"""The protocols' image steps against direct PIL/numpy computations of what each reference does."""

import numpy as np
import pytest
import torch
from PIL import Image

from janus_eval.metrics import fid_preprocess as pre


def random_image(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("h, w, top, left", [(384, 449, 0, 32), (449, 384, 32, 0), (100, 103, 0, 2), (100, 105, 0, 2),
                                             (64, 64, 0, 0), (480, 640, 0, 80)])  # fmt: skip
def test_center_crop_offsets_round_half_to_even(h, w, top, left):
    image = random_image(h, w)
    side = min(h, w)
    np.testing.assert_array_equal(pre.center_crop_long_edge(image), image[top : top + side, left : left + side])


def test_gigagan_transform_is_crop_then_pil_lanczos_256():
    image = random_image(480, 640)
    out = pre.gigagan_coco_transform(image)
    expected = np.array(Image.fromarray(image).crop((80, 0, 560, 480)).resize((256, 256), Image.LANCZOS))
    assert out.dtype == np.uint8 and out.shape == (256, 256, 3)
    np.testing.assert_array_equal(out, expected)
    generated = random_image(384, 384, seed=1)  # Janus output: the crop is a no-op, LANCZOS 384 -> 256 is not
    np.testing.assert_array_equal(pre.gigagan_coco_transform(generated),
                                  np.array(Image.fromarray(generated).resize((256, 256), Image.LANCZOS)))  # fmt: skip


@pytest.mark.parametrize("shape", [(256, 256, 3), (384, 384, 3), (97, 211, 3)])
def test_clean_resize_is_float_bicubic_per_channel_not_quantised(shape):
    image = random_image(*shape[:2], seed=2)
    out = pre.clean_resize(image)
    assert out.shape == (299, 299, 3) and out.dtype == np.float32
    for c in range(3):
        plane = Image.fromarray(image[:, :, c].astype(np.float32))
        assert plane.mode == "F"
        expected = np.asarray(plane.resize((299, 299), Image.BICUBIC)).clip(0, 255)
        np.testing.assert_array_equal(out[:, :, c], expected)
    assert not np.array_equal(out, np.round(out))  # fractional values survive: no uint8 round trip
    assert out.min() >= 0 and out.max() <= 255
    quantised = np.asarray(Image.fromarray(image).resize((299, 299), Image.BICUBIC)).astype(np.float32)
    assert np.abs(out - quantised).max() > 0.0  # differs from the uint8 ("legacy") resize


def test_tf1_bilinear_resize_matches_a_direct_loop():
    x = torch.rand(1, 2, 5, 7) * 255
    out = pre.tf1_bilinear_resize(x, (3, 11))
    assert out.shape == (1, 2, 3, 11)
    src = x[0].numpy().astype(np.float64)
    for i in range(3):
        for j in range(11):
            y, xx = i * 5 / 3, j * 7 / 11
            y0, x0 = int(y), int(xx)
            y1, x1 = min(y0 + 1, 4), min(x0 + 1, 6)
            dy, dx = y - y0, xx - x0
            top = src[:, y0, x0] + (src[:, y0, x1] - src[:, y0, x0]) * dx
            bottom = src[:, y1, x0] + (src[:, y1, x1] - src[:, y1, x0]) * dx
            np.testing.assert_allclose(out[0, :, i, j].numpy(), top + (bottom - top) * dy, rtol=1e-5, atol=1e-3)
    same = torch.rand(2, 3, 8, 8)
    torch.testing.assert_close(pre.tf1_bilinear_resize(same, (8, 8)), same)


def test_load_rgb_converts_like_clean_fid(tmp_path):
    gray = Image.fromarray(random_image(10, 12)[:, :, 0])
    gray.save(tmp_path / "g.png")
    pixels = pre.load_rgb(tmp_path / "g.png")
    assert pixels.shape == (10, 12, 3) and pixels.dtype == np.uint8
    with pytest.raises(ValueError, match="RGB"):
        pre.clean_resize(np.zeros((4, 4), dtype=np.uint8))
