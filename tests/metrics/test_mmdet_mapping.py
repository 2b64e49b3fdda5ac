"""The mmdet -> transformers Mask2Former mapping: round trip, strictness, full-size layout (offline, fast)."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from checkpoint_writers import write_mmdet_checkpoint
from PIL import Image

from janus_eval.metrics import geneval_models as gm
from janus_eval.metrics import mmdet_mapping as mm
from janus_eval.errors import JanusEvalError

# sha256 of the sorted "key:shape" lines of mmdet 2.28.2's state dict for the official GenEval config
# (mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco), measured with real mmdet: 649 tensors, 68,739,547
# parameters (relative position indices excluded).
MMDET_SWIN_S_LAYOUT_SHA256 = "50547bbc27b19d67a37b54f37adfa128a48a26cab75332d7c99842bd7e89611a"


def _tiny_model(seed: int = 0) -> torch.nn.Module:
    from transformers import Mask2FormerForUniversalSegmentation

    torch.manual_seed(seed)
    model = Mask2FormerForUniversalSegmentation(mm.mask2former_config(tiny=True)).eval()
    with torch.no_grad():  # non-trivial values everywhere (LayerNorms start at 1/0, the table at 0)
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    return model


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, Path]:
    model = _tiny_model()
    path = tmp_path_factory.mktemp("mmdet") / "tiny.pth"
    write_mmdet_checkpoint(model, path)
    return model, path


def _save(state: dict[str, torch.Tensor], path: Path) -> Path:
    torch.save({"meta": {}, "state_dict": state}, path)
    return path


def test_round_trip_gives_identical_outputs(tiny_checkpoint: tuple[torch.nn.Module, Path]) -> None:
    model, path = tiny_checkpoint
    loaded = mm.load_mmdet_mask2former(path, mm.mask2former_config(tiny=True))
    expected, got = model.state_dict(), loaded.state_dict()
    assert expected.keys() == got.keys()
    for key in expected:
        if key.startswith("model.pixel_level_module.encoder.swin.layernorm"):
            continue  # unused by the backbone, no mmdet counterpart: reset to identity
        assert torch.equal(expected[key], got[key]), key
    pixels = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        a, b = model(pixel_values=pixels), loaded(pixel_values=pixels)
    assert torch.equal(a.class_queries_logits, b.class_queries_logits)
    assert torch.equal(a.masks_queries_logits, b.masks_queries_logits)


def test_checkpoint_uses_mmdet_names(tiny_checkpoint: tuple[torch.nn.Module, Path]) -> None:
    state = mm.read_mmdet_state_dict(tiny_checkpoint[1])
    assert state["backbone.stages.0.blocks.0.attn.w_msa.qkv.weight"].shape == (96, 32)
    assert state["backbone.stages.0.downsample.reduction.weight"].shape == (64, 128)
    assert state["backbone.stages.0.blocks.0.attn.w_msa.relative_position_index"].shape == (49, 49)
    assert state["panoptic_head.cls_embed.weight"].shape == (81, 32)
    assert "panoptic_head.transformer_decoder.layers.0.attentions.1.attn.in_proj_weight" in state


def test_patch_merging_permutation_matches_unfold() -> None:
    """mmcv's PatchMerging gathers neighbours with nn.Unfold; transformers concatenates shifted views."""
    b, c, h, w = 2, 5, 6, 8
    x = torch.randn(b, h, w, c)
    unfolded = F.unfold(x.permute(0, 3, 1, 2), kernel_size=2, stride=2).transpose(1, 2)  # [B, L, 4C]
    views = [x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]]  # transformers' order
    concat = torch.cat(views, dim=-1).reshape(b, -1, 4 * c)
    assert torch.equal(concat, unfolded[..., mm._merge_perm(c)])


def test_extra_key_is_rejected(tiny_checkpoint: tuple[torch.nn.Module, Path], tmp_path: Path) -> None:
    state = dict(mm.read_mmdet_state_dict(tiny_checkpoint[1]))
    state["panoptic_head.extra.weight"] = torch.zeros(3)
    with pytest.raises(JanusEvalError, match=r"1 unexpected \(unmapped\) mmdet keys: panoptic_head\.extra\.weight"):
        mm.load_mmdet_mask2former(_save(state, tmp_path / "x.pth"), mm.mask2former_config(tiny=True))


def test_missing_key_is_rejected(tiny_checkpoint: tuple[torch.nn.Module, Path], tmp_path: Path) -> None:
    state = dict(mm.read_mmdet_state_dict(tiny_checkpoint[1]))
    del state["panoptic_head.query_feat.weight"]
    with pytest.raises(JanusEvalError, match=r"1 missing mmdet keys: panoptic_head\.query_feat\.weight"):
        mm.load_mmdet_mask2former(_save(state, tmp_path / "x.pth"), mm.mask2former_config(tiny=True))


def test_wrong_shape_is_rejected(tiny_checkpoint: tuple[torch.nn.Module, Path], tmp_path: Path) -> None:
    state = dict(mm.read_mmdet_state_dict(tiny_checkpoint[1]))
    state["panoptic_head.cls_embed.weight"] = torch.zeros(134, 32)  # a panoptic (80 + 53) head
    with pytest.raises(JanusEvalError, match=r"panoptic_head\.cls_embed\.weight \(134, 32\) \(expected \(81, 32\)\)"):
        mm.load_mmdet_mask2former(_save(state, tmp_path / "x.pth"), mm.mask2former_config(tiny=True))


def test_wrong_relative_position_index_is_rejected(tiny_checkpoint: tuple[torch.nn.Module, Path], tmp_path: Path) -> None:
    state = dict(mm.read_mmdet_state_dict(tiny_checkpoint[1]))
    key = "backbone.stages.1.blocks.0.attn.w_msa.relative_position_index"
    state[key] = state[key].flip(0)
    with pytest.raises(JanusEvalError, match=key.replace(".", r"\.")):
        mm.load_mmdet_mask2former(_save(state, tmp_path / "x.pth"), mm.mask2former_config(tiny=True))


def test_many_problems_are_summarised(tiny_checkpoint: tuple[torch.nn.Module, Path], tmp_path: Path) -> None:
    state = {k: v for k, v in mm.read_mmdet_state_dict(tiny_checkpoint[1]).items() if not k.startswith("backbone.")}
    with pytest.raises(JanusEvalError, match=r"\d+ missing mmdet keys: backbone\..*\(\+\d+ more\)"):
        mm.load_mmdet_mask2former(_save(state, tmp_path / "x.pth"), mm.mask2former_config(tiny=True))


class _Opaque:
    """Pickled metadata that torch's weights-only loader refuses."""


def test_unsafe_pickle_refused_unless_official(tmp_path: Path) -> None:
    path = tmp_path / "opaque.pth"
    torch.save({"meta": _Opaque(), "state_dict": {}}, path)
    with pytest.raises(JanusEvalError, match="refusing"):
        mm.read_mmdet_state_dict(path)
    torch.save({"meta": {}}, path)
    with pytest.raises(JanusEvalError, match="no 'state_dict'"):
        gm.load_detector(path)


def test_full_swin_s_layout_matches_mmdet() -> None:
    """Every key and shape of mmdet's GenEval model, checked against real mmdet's layout, on the meta device."""
    from transformers import Mask2FormerForUniversalSegmentation

    config = mm.mask2former_config()
    with torch.device("meta"):
        model = Mask2FormerForUniversalSegmentation(config)
    target = model.state_dict()
    links = mm.mmdet_links(config)
    shapes = {link.mm: mm._mm_shape(link, [target[h].shape for h in link.hf]) for link in links}
    area = config.backbone_config.window_size**2
    for s, depth in enumerate(config.backbone_config.depths):
        for b in range(depth):
            shapes[f"backbone.stages.{s}.blocks.{b}.attn.w_msa.relative_position_index"] = (area, area)
    text = "\n".join(f"{k}:{','.join(map(str, v))}" for k, v in sorted(shapes.items()))
    assert len(shapes) == 649
    assert hashlib.sha256(text.encode()).hexdigest() == MMDET_SWIN_S_LAYOUT_SHA256
    assert sum(math.prod(v) for k, v in shapes.items() if not k.endswith("index")) == 68_739_547
    filled = {h for link in links for h in link.hf}
    assert sorted(set(target) - filled) == sorted(mm._MODEL_ONLY)
    assert len(model.model.transformer_module.decoder.layers) == 9
    assert config.num_labels == 80 and target["class_predictor.weight"].shape == (81, 256)


# -- detector pre-processing (mmdet's test pipeline) -----------------------------------------------
def test_rescale_size_follows_mmcv() -> None:
    assert gm.rescale_size(384, 384, (1333, 800)) == (800, 800)
    assert gm.rescale_size(640, 427, (1333, 800)) == (1199, 800)
    assert gm.rescale_size(2000, 500, (1333, 800)) == (1333, 333)


def test_padding_is_128_before_normalisation() -> None:
    detector = gm.Mask2FormerDetector(model=None, official=False, name="t", scale=(100, 50))
    image = Image.fromarray(np.full((30, 45, 3), 200, dtype=np.uint8))
    tensor, (h, w) = detector._preprocess(image)
    assert (h, w) == (50, 75) and tensor.shape == (1, 3, 64, 96)
    mean, std = torch.tensor(gm.IMAGENET_MEAN).view(3, 1), torch.tensor(gm.IMAGENET_STD).view(3, 1)
    torch.testing.assert_close(tensor[0, :, 60, :], ((128 - mean) / std).expand(3, 96))
    torch.testing.assert_close(tensor[0, :, 10, 10], ((200 - mean) / std).flatten())


def test_mask_boxes_are_mask_extents() -> None:
    masks = torch.zeros(2, 10, 12, dtype=torch.bool)
    masks[0, 2:5, 3:9] = True
    assert gm._mask_boxes(masks).tolist() == [[3, 2, 9, 5], [0, 0, 0, 0]]
