"""Test-only writers: tiny checkpoints in the layouts the package reads (the inverses of its loaders).

- ``write_original``: a transformers Janus in DeepSeek's original release layout (``janus_eval.model.original_format``).
- ``write_mmdet_checkpoint``: a transformers Mask2Former as an mmdet 2.x checkpoint (``janus_eval.metrics.mmdet_mapping``).
- ``write_openai_clip_checkpoint`` / ``save_openai_state_dict``: a transformers CLIP (or OpenAI-layout tensors) as OpenAI's
  ``ViT-L-14.pt`` stores them (``janus_eval.metrics.clip_mapping``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch
from transformers import JanusConfig, JanusForConditionalGeneration

from janus_eval.metrics.clip_mapping import OPENAI_METADATA, _quiet_jit as quiet_jit, to_openai_state_dict
from janus_eval.metrics.mmdet_mapping import to_mmdet_state_dict
from janus_eval.model.original_format import original_key

_QKV = re.compile(r"\.self_attn\.([qkv])_proj\.")  # transformers' split attention projections (original: fused qkv)


# -- DeepSeek's original Janus release format ----------------------------------------------------
def write_original(model: JanusForConditionalGeneration, path: Path, weights: str = "safetensors") -> None:
    """Save ``model`` in the original release layout (config.json + model.safetensors or pytorch_model.bin)."""
    if model.config.tie_word_embeddings:
        raise ValueError("the original format has an untied lm_head: build the model with tie_word_embeddings=False")
    path.mkdir(parents=True, exist_ok=True)
    grouped: dict[str, dict[str, torch.Tensor]] = {}
    for hf_key, tensor in model.state_dict().items():
        grouped.setdefault(original_key(hf_key), {})[hf_key] = tensor.detach().clone().contiguous()
    state = {}
    for orig, parts in grouped.items():
        if len(parts) == 3:
            by_name = {_QKV.search(k).group(1): v for k, v in parts.items()}  # type: ignore[union-attr]
            state[orig] = torch.cat([by_name["q"], by_name["k"], by_name["v"]], dim=0)
        else:
            (tensor,) = parts.values()
            state[orig] = tensor.unsqueeze(0) if orig.endswith("pos_embed") else tensor
    if weights == "safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path / "model.safetensors"))
    else:
        torch.save(state, path / "pytorch_model.bin")
    (path / "config.json").write_text(json.dumps(original_config(model.config), indent=2))


def original_config(config: JanusConfig) -> dict[str, Any]:
    """The ``multi_modality`` config.json for ``config``; non-release shapes go under ``architecture``."""
    text, vision, vq = config.text_config, config.vision_config, config.vq_config
    language = {k: getattr(text, k) for k in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                                               "num_attention_heads", "num_key_value_heads", "max_position_embeddings",
                                               "rms_norm_eps", "bos_token_id", "eos_token_id", "pad_token_id")}  # fmt: skip
    language["_attn_implementation"] = "flash_attention_2"  # as released; the loader must override it
    return {
        "model_type": "multi_modality",
        "language_config": language,
        "vision_config": {"cls": "CLIPVisionTower", "params": {
            "image_size": vision.image_size, "model_name": "siglip_large_patch16_384", "select_layer": -1,
            "architecture": {k: getattr(vision, k) for k in ("hidden_size", "num_hidden_layers", "num_attention_heads",
                                                              "patch_size", "mlp_ratio")}}},  # fmt: skip
        "aligner_config": {"cls": "MlpProjector", "params": {"depth": vision.depth, "n_embed": vision.projection_dim,
                                                             "projector_type": "mlp_gelu"}},  # fmt: skip
        "gen_vision_config": {"cls": "VQ-16", "params": {
            "image_token_size": vq.num_embeddings, "n_embed": vq.embed_dim,
            "architecture": {k: getattr(vq, k) for k in ("base_channels", "channel_multiplier", "latent_channels",
                                                          "num_res_blocks")}}},  # fmt: skip
        "gen_aligner_config": {"cls": "MlpProjector", "params": {"depth": vq.num_hidden_layers, "n_embed": vq.projection_dim,
                                                                 "input_dim": vq.embed_dim, "projector_type": "mlp_gelu"}},  # fmt: skip
        "gen_head_config": {"cls": "vision_head", "params": {"image_token_embed": vq.image_token_embed_dim,
                                                             "image_token_size": vq.num_embeddings, "n_embed": vq.projection_dim}},  # fmt: skip
    }


# -- mmdet 2.x Mask2Former checkpoint -------------------------------------------------------------
def write_mmdet_checkpoint(model: Any, path: Path) -> None:
    """Save ``model`` as an mmdet checkpoint (``{"state_dict": ..., "meta": ...}``)."""
    meta = {"mmdet_version": "2.28.2", "CLASSES": None, "written_by": "janus-eval tests/checkpoint_writers.py"}
    torch.save({"meta": meta, "state_dict": to_mmdet_state_dict(model)}, path)


# -- OpenAI CLIP checkpoint (ViT-L-14.pt layout) ------------------------------------------------
def _scripted_holder(state: dict[str, torch.Tensor]) -> Any:
    """A TorchScript module whose ``state_dict`` carries exactly ``state``'s names (like OpenAI's archives)."""
    root = _Holder()
    for key, tensor in state.items():
        *path, leaf = key.split(".")
        module = root
        for part in path:
            if not hasattr(module, part):
                module.add_module(part, torch.nn.Module())
            module = getattr(module, part)
        if tensor.is_floating_point():
            module.register_parameter(leaf, torch.nn.Parameter(tensor, requires_grad=False))
        else:
            module.register_buffer(leaf, tensor)
    with quiet_jit():
        return torch.jit.script(root)


class _Holder(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def write_openai_clip_checkpoint(model: Any, path: Path, torchscript: bool = False, half: bool = False) -> None:
    """Save a transformers ``CLIPModel`` in OpenAI's layout (see ``save_openai_state_dict``)."""
    config = model.config
    metadata = (
        config.vision_config.image_size,
        config.text_config.max_position_embeddings,
        config.text_config.vocab_size,
    )
    save_openai_state_dict(to_openai_state_dict(model), path, torchscript, half, metadata)


def save_openai_state_dict(state: dict[str, torch.Tensor], path: Path, torchscript: bool = False, half: bool = False,
                           metadata: tuple[int, int, int] | None = None) -> None:  # fmt: skip
    """OpenAI-layout tensors as a plain ``torch.save`` file, or (``torchscript``) an archive like ``ViT-L-14.pt``
    carrying ``metadata`` = (input_resolution, context_length, vocab_size); ``half`` stores fp16 as OpenAI's files do."""
    state = {
        k: v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu() for k, v in state.items()
    }
    if not torchscript:
        torch.save(state, path)
        return
    if metadata is not None:
        state.update({k: torch.tensor(v) for k, v in zip(OPENAI_METADATA, metadata)})
    with quiet_jit():
        _scripted_holder(state).save(str(path))
