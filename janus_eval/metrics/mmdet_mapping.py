"""mmdetection 2.x Mask2Former checkpoints <-> transformers' ``Mask2FormerForUniversalSegmentation``.

GenEval's official detector is mmdet's ``mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco`` checkpoint.
Running it through mmdet needs mmcv-full (a CUDA/C++ build); this module instead loads that very
checkpoint into transformers' modules with an explicit, strict key mapping, so the numbers stay
official-comparable without mmcv. Strict means: every checkpoint tensor is consumed, every model
parameter and persistent buffer is filled, and every shape is checked; anything else is a
``JanusEvalError`` naming the offending keys.

Layout differences handled here (everything else is a rename):

- Swin window attention: mmdet fuses q/k/v into one ``qkv`` linear; transformers has three.
- Swin patch merging: mmcv's ``PatchMerging`` gathers the 2x2 neighbourhood with ``nn.Unfold``, so
  its 4C input channels are ordered ``c * 4 + 2 * dy + dx``; transformers concatenates the four
  shifted views (dy, dx) = (0,0), (1,0), (0,1), (1,1), giving ``(2 * dx + dy) * C + c``. The
  reduction weight's input columns and the norm's parameters are permuted accordingly.
- Relative position index: a derived buffer; when the checkpoint carries it, it must equal the
  index transformers computes (then the bias tables map unchanged).
- Masked-attention decoder: mmdet's ``attentions.0`` is the cross-attention (operation order
  cross_attn, norm, self_attn, norm, ffn, norm), ``attentions.1`` the self-attention whose fused
  ``in_proj`` transformers splits into q/k/v; ``norms.0/1/2`` follow the same order.
- Model-only tensors with no mmdet counterpart: ``swin.layernorm`` (unused by the backbone: kept at
  its identity initialisation) and ``criterion.empty_weight`` (loss class weights, set from the config).
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from janus_eval.metrics.strict_mapping import convert_links, raise_misfits
from janus_eval.errors import JanusEvalError

#: sha256 prefix in the official checkpoint's file name (mmdet names published files by it).
OFFICIAL_SHA256_PREFIX = "743b7d99"


def mask2former_config(tiny: bool = False, num_labels: int = 80) -> Any:
    """mmdet's Swin-S Mask2Former COCO *instance* model as a transformers config (80 things + no-object).

    ``tiny=True`` keeps the architecture but shrinks every size (Swin depths [1, 1, 1, 1]) for tests
    and the offline stand-in detector.
    """
    from transformers import Mask2FormerConfig, SwinConfig

    stages = ["stage1", "stage2", "stage3", "stage4"]
    if tiny:
        backbone = SwinConfig(embed_dim=32, depths=[1, 1, 1, 1], num_heads=[1, 2, 4, 8], window_size=7, out_features=stages)
        sizes = dict(hidden_dim=32, mask_feature_size=32, feature_size=32, encoder_feedforward_dim=64,
                     dim_feedforward=64, decoder_layers=2, encoder_layers=1, num_queries=20, num_attention_heads=2)  # fmt: skip
    else:
        backbone = SwinConfig(embed_dim=96, depths=[2, 2, 18, 2], num_heads=[3, 6, 12, 24], window_size=7,
                              image_size=224, mlp_ratio=4.0, qkv_bias=True, drop_path_rate=0.3, out_features=stages)  # fmt: skip
        # transformers counts the prediction on the query features before the first layer as a decoder
        # layer: decoder_layers=10 builds mmdet's 9 masked-attention layers.
        sizes = dict(hidden_dim=256, mask_feature_size=256, feature_size=256, encoder_feedforward_dim=1024,
                     dim_feedforward=2048, decoder_layers=10, encoder_layers=6, num_queries=100, num_attention_heads=8)  # fmt: skip
    return Mask2FormerConfig(backbone_config=backbone, num_labels=num_labels, common_stride=4,
                             feature_strides=[4, 8, 16, 32], no_object_weight=0.1, pre_norm=False, **sizes)  # fmt: skip


# -- the mapping -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Link:
    """One mmdet tensor and the transformers tensor(s) it becomes."""

    mm: str
    hf: tuple[str, ...]
    kind: str = "copy"  # "copy" | "split3" (fused q/k/v along dim 0) | "merge" (patch-merging channel order)
    channels: int = 0  # C of the patch merging (its input has 4C channels)


def _merge_perm(channels: int) -> torch.Tensor:
    """``perm[hf_index] = mmdet_index`` over the 4C patch-merging channels (see module docstring)."""
    perm = torch.empty(4 * channels, dtype=torch.long)
    for dy in (0, 1):
        for dx in (0, 1):
            group = 2 * dx + dy
            c = torch.arange(channels)
            perm[group * channels + c] = c * 4 + 2 * dy + dx
    return perm


def _to_hf(link: _Link, tensor: torch.Tensor) -> list[torch.Tensor]:
    if link.kind == "split3":
        return list(tensor.chunk(3, dim=0))
    if link.kind == "merge":
        perm = _merge_perm(link.channels)
        return [tensor[:, perm] if tensor.dim() == 2 else tensor[perm]]
    return [tensor]


def _to_mm(link: _Link, tensors: list[torch.Tensor]) -> torch.Tensor:
    if link.kind == "split3":
        return torch.cat(tensors, dim=0)
    if link.kind == "merge":
        inverse = torch.argsort(_merge_perm(link.channels))
        t = tensors[0]
        return t[:, inverse] if t.dim() == 2 else t[inverse]
    return tensors[0]


def _mm_shape(link: _Link, hf_shapes: list[torch.Size]) -> tuple[int, ...]:
    if link.kind == "split3":
        return (sum(s[0] for s in hf_shapes), *hf_shapes[0][1:])
    return tuple(hf_shapes[0])


def _wb(mm: str, hf: str, bias: bool = True, kind: str = "copy", channels: int = 0) -> Iterator[_Link]:
    """weight (and bias) of one module; for split3 the q/k/v names come from ``hf`` with a ``{}``."""
    for p in ("weight", "bias") if bias else ("weight",):
        if kind == "split3":
            yield _Link(f"{mm}.{p}", tuple(hf.format(x) + f".{p}" for x in "qkv"), kind)
        else:
            yield _Link(f"{mm}.{p}", (f"{hf}.{p}",), kind, channels)


def mmdet_links(config: Any) -> list[_Link]:
    """The complete mmdet -> transformers key correspondence for a config from ``mask2former_config``."""
    bb = config.backbone_config
    links: list[_Link] = []
    sw = "model.pixel_level_module.encoder"
    links += _wb("backbone.patch_embed.projection", f"{sw}.swin.embeddings.patch_embeddings.projection")
    links += _wb("backbone.patch_embed.norm", f"{sw}.swin.embeddings.norm")
    for s, depth in enumerate(bb.depths):
        for b in range(depth):
            mm, hf = f"backbone.stages.{s}.blocks.{b}", f"{sw}.swin.encoder.layers.{s}.blocks.{b}"
            links += _wb(f"{mm}.norm1", f"{hf}.layernorm_before")
            links.append(_Link(f"{mm}.attn.w_msa.relative_position_bias_table",
                               (f"{hf}.attention.relative_position_bias.relative_position_bias_table",)))  # fmt: skip
            links += _wb(f"{mm}.attn.w_msa.qkv", f"{hf}.attention.{{}}_proj", kind="split3")
            links += _wb(f"{mm}.attn.w_msa.proj", f"{hf}.attention.o_proj")
            links += _wb(f"{mm}.norm2", f"{hf}.layernorm_after")
            links += _wb(f"{mm}.ffn.layers.0.0", f"{hf}.mlp.fc1")
            links += _wb(f"{mm}.ffn.layers.1", f"{hf}.mlp.fc2")
        if s < len(bb.depths) - 1:
            channels = bb.embed_dim * 2**s
            mm, hf = f"backbone.stages.{s}.downsample", f"{sw}.swin.encoder.layers.{s}.downsample"
            links += _wb(f"{mm}.norm", f"{hf}.norm", kind="merge", channels=channels)
            links += _wb(f"{mm}.reduction", f"{hf}.reduction", bias=False, kind="merge", channels=channels)
    for s in range(len(bb.depths)):
        links += _wb(f"backbone.norm{s}", f"{sw}.hidden_states_norms.stage{s + 1}")

    pd, hpd = "panoptic_head.pixel_decoder", "model.pixel_level_module.decoder"
    for i in range(3):  # lowest resolution first in both
        links += _wb(f"{pd}.input_convs.{i}.conv", f"{hpd}.input_projections.{i}.0")
        links += _wb(f"{pd}.input_convs.{i}.gn", f"{hpd}.input_projections.{i}.1")
    for i in range(config.encoder_layers):
        mm, hf = f"{pd}.encoder.layers.{i}", f"{hpd}.encoder.layers.{i}"
        for name in ("sampling_offsets", "attention_weights", "value_proj", "output_proj"):
            links += _wb(f"{mm}.attentions.0.{name}", f"{hf}.self_attn.{name}")
        links += _wb(f"{mm}.norms.0", f"{hf}.self_attn_layer_norm")
        links += _wb(f"{mm}.ffns.0.layers.0.0", f"{hf}.fc1")
        links += _wb(f"{mm}.ffns.0.layers.1", f"{hf}.fc2")
        links += _wb(f"{mm}.norms.1", f"{hf}.final_layer_norm")
    links.append(_Link(f"{pd}.level_encoding.weight", (f"{hpd}.level_embed",)))
    links += _wb(f"{pd}.lateral_convs.0.conv", f"{hpd}.adapter_1.0", bias=False)
    links += _wb(f"{pd}.lateral_convs.0.gn", f"{hpd}.adapter_1.1")
    links += _wb(f"{pd}.output_convs.0.conv", f"{hpd}.layer_1.0", bias=False)
    links += _wb(f"{pd}.output_convs.0.gn", f"{hpd}.layer_1.1")
    links += _wb(f"{pd}.mask_feature", f"{hpd}.mask_projection")

    td, htd = "panoptic_head.transformer_decoder", "model.transformer_module.decoder"
    for i in range(config.decoder_layers - 1):
        mm, hf = f"{td}.layers.{i}", f"{htd}.layers.{i}"
        links.append(_Link(f"{mm}.attentions.0.attn.in_proj_weight", (f"{hf}.cross_attn.in_proj_weight",)))
        links.append(_Link(f"{mm}.attentions.0.attn.in_proj_bias", (f"{hf}.cross_attn.in_proj_bias",)))
        links += _wb(f"{mm}.attentions.0.attn.out_proj", f"{hf}.cross_attn.out_proj")
        links.append(_Link(f"{mm}.attentions.1.attn.in_proj_weight",
                           tuple(f"{hf}.self_attn.{x}_proj.weight" for x in "qkv"), "split3"))  # fmt: skip
        links.append(_Link(f"{mm}.attentions.1.attn.in_proj_bias",
                           tuple(f"{hf}.self_attn.{x}_proj.bias" for x in "qkv"), "split3"))  # fmt: skip
        links += _wb(f"{mm}.attentions.1.attn.out_proj", f"{hf}.self_attn.out_proj")
        links += _wb(f"{mm}.ffns.0.layers.0.0", f"{hf}.fc1")
        links += _wb(f"{mm}.ffns.0.layers.1", f"{hf}.fc2")
        links += _wb(f"{mm}.norms.0", f"{hf}.cross_attn_layer_norm")
        links += _wb(f"{mm}.norms.1", f"{hf}.self_attn_layer_norm")
        links += _wb(f"{mm}.norms.2", f"{hf}.final_layer_norm")
    links += _wb(f"{td}.post_norm", f"{htd}.layernorm")
    for j in range(3):
        links += _wb(f"panoptic_head.mask_embed.{2 * j}", f"{htd}.mask_predictor.mask_embedder.{j}.0")
    links.append(_Link("panoptic_head.query_embed.weight", ("model.transformer_module.queries_embedder.weight",)))
    links.append(_Link("panoptic_head.query_feat.weight", ("model.transformer_module.queries_features.weight",)))
    links.append(_Link("panoptic_head.level_embed.weight", ("model.transformer_module.level_embed.weight",)))
    links += _wb("panoptic_head.cls_embed", "class_predictor")
    return links


#: transformers tensors with no mmdet counterpart (see module docstring).
_MODEL_ONLY = ("model.pixel_level_module.encoder.swin.layernorm.weight",
               "model.pixel_level_module.encoder.swin.layernorm.bias", "criterion.empty_weight")  # fmt: skip
_REL_INDEX = ".attn.w_msa.relative_position_index"


def _hf_rel_index(model: Any, mm_key: str) -> torch.Tensor:
    """transformers' relative position index for the block an mmdet ``relative_position_index`` key names."""
    parts = mm_key.split(".")  # backbone.stages.S.blocks.B.attn.w_msa.relative_position_index
    block = model.model.pixel_level_module.encoder.swin.encoder.layers[int(parts[2])].blocks[int(parts[4])]
    bias = block.attention.relative_position_bias
    return bias.relative_position_index.reshape(bias.window_area, bias.window_area)  # stored flat by transformers


def convert_state_dict(state_dict: dict[str, torch.Tensor], model: Any, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """mmdet tensors -> a complete transformers state dict for ``model``; strict (see module docstring)."""
    target = model.state_dict()
    result = convert_links(state_dict, target, mmdet_links(model.config), lambda link: link.mm, lambda link: link.hf,
                           _mm_shape, _to_hf)  # fmt: skip
    out = result.tensors
    for key in state_dict:
        if key in result.consumed:
            continue
        if key.endswith(_REL_INDEX) and key.startswith("backbone.stages."):
            try:
                reference = _hf_rel_index(model, key)
            except (IndexError, ValueError, AttributeError):
                result.unexpected.append(key)
                continue
            given = state_dict[key]
            if tuple(given.shape) != tuple(reference.shape) or not torch.equal(given.long(), reference.long()):
                result.wrong.append(f"{key} (differs from transformers' relative position index)")
            result.consumed.add(key)
            continue
        result.unexpected.append(key)
    unfilled = [k for k in target if k not in out and k not in _MODEL_ONLY]
    raise_misfits(result, unfilled, source, "mmdet's Mask2Former layout", "mmdet")
    # Model-only tensors: identity LayerNorm (never used) and the loss class weights.
    for name in _MODEL_ONLY:
        if name not in target:
            continue
        if name.endswith("empty_weight"):
            weight = torch.ones_like(target[name])
            weight[-1] = model.config.no_object_weight
            out[name] = weight
        else:
            out[name] = torch.ones_like(target[name]) if name.endswith("weight") else torch.zeros_like(target[name])
    return out


def to_mmdet_state_dict(model: Any) -> dict[str, torch.Tensor]:
    """The inverse of ``convert_state_dict``: a transformers model's tensors in mmdet's key layout."""
    state = model.state_dict()
    result: dict[str, torch.Tensor] = {}
    for link in mmdet_links(model.config):
        result[link.mm] = _to_mm(link, [state[h].detach().cpu() for h in link.hf]).contiguous().clone()
    swin_layers = model.model.pixel_level_module.encoder.swin.encoder.layers
    for s, layer in enumerate(swin_layers):
        for b in range(len(layer.blocks)):
            key = f"backbone.stages.{s}.blocks.{b}{_REL_INDEX}"
            result[key] = _hf_rel_index(model, key).detach().cpu().long().clone()
    return result


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_mmdet_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """``checkpoint["state_dict"]``, loaded weights-only when possible.

    mmdet checkpoints may carry pickled metadata that torch's weights-only loader refuses; a full
    unpickle (which can run code) is allowed only for the official file, identified by its sha256.
    """
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if not _sha256(path).startswith(OFFICIAL_SHA256_PREFIX):
            raise JanusEvalError(
                f"{path} needs a full (unsafe) unpickle and is not the official GenEval checkpoint "
                f"(sha256 prefix {OFFICIAL_SHA256_PREFIX}); refusing to load it: {error}"
            ) from error
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError) as error:
        raise JanusEvalError(f"cannot read mmdet checkpoint {path}: {error}") from error
    state = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise JanusEvalError(f"{path} is not an mmdet checkpoint: no 'state_dict' mapping")
    return state


def _model_for(config: Any, on_meta: bool = False) -> Any:
    from transformers import Mask2FormerForUniversalSegmentation

    if on_meta:
        with torch.device("meta"):
            return Mask2FormerForUniversalSegmentation(config)
    return Mask2FormerForUniversalSegmentation(config)


def load_mmdet_mask2former(path: Path, config: Any | None = None) -> Any:
    """mmdet's GenEval Mask2Former checkpoint as a transformers model in eval mode (strict mapping).

    ``config`` defaults to the official Swin-S instance model; tests pass ``mask2former_config(tiny=True)``.
    """
    config = config if config is not None else mask2former_config()
    state = read_mmdet_state_dict(Path(path))
    model = _model_for(config)
    converted = convert_state_dict(state, model, source=f"mmdet checkpoint {path}")
    model.load_state_dict(converted, strict=True)
    return model.eval()


__all__: list[str] = [
    "OFFICIAL_SHA256_PREFIX",
    "convert_state_dict",
    "load_mmdet_mask2former",
    "mask2former_config",
    "mmdet_links",
    "read_mmdet_state_dict",
    "to_mmdet_state_dict",
]
