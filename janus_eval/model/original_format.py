"""DeepSeek's original Janus release format <-> transformers' Janus modules, by our own key mapping.

The original checkpoints (``config.json`` with ``model_type: multi_modality``; Janus-1.3B ships
``model.safetensors``, Janus-Pro ``pytorch_model.bin``) hold a ``MultiModalityCausalLM``: a timm
SigLIP tower with fused ``qkv``, an MLP aligner as ``layers.0/2``, the VQ-16 model with
``conv_blocks``/``res``/``mid.0-2`` names, ``gen_embed``/``gen_aligner``/``gen_head`` and a
DeepSeek-LLM language model with its own (untied) ``lm_head``.

Loading is strict: every checkpoint tensor must be consumed (only the unused SigLIP attention-pool
head and the VQ ``codebook_used`` statistics are known leftovers), every model tensor filled, every
shape equal; otherwise the error lists what did not line up. The inverse (``write_original``, which
makes tiny checkpoints in the original layout) is test-only: ``tests/checkpoint_writers.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable

import torch
from transformers import JanusConfig, JanusForConditionalGeneration

from janus_eval.errors import JanusEvalError

# transformers key -> original key, applied in order (first matching rule wins).
_RULES: list[tuple[str, str]] = [
    (r"^model\.language_model\.(.*)$", r"language_model.model.\1"),
    (r"^lm_head\.weight$", r"language_model.lm_head.weight"),
    (r"^model\.vision_model\.embeddings\.patch_embedding\.(.*)$", r"vision_model.vision_tower.patch_embed.proj.\1"),
    (r"^model\.vision_model\.embeddings\.position_embedding\.weight$", r"vision_model.vision_tower.pos_embed"),
    (r"^model\.vision_model\.encoder\.layers\.(\d+)\.self_attn\.[qkv]_proj\.(weight|bias)$",
     r"vision_model.vision_tower.blocks.\1.attn.qkv.\2"),  # fmt: skip
    (r"^model\.vision_model\.encoder\.layers\.(\d+)\.self_attn\.projection_layer\.(.*)$",
     r"vision_model.vision_tower.blocks.\1.attn.proj.\2"),  # fmt: skip
    (r"^model\.vision_model\.encoder\.layers\.(\d+)\.layer_norm([12])\.(.*)$", r"vision_model.vision_tower.blocks.\1.norm\2.\3"),
    (r"^model\.vision_model\.encoder\.layers\.(\d+)\.mlp\.(.*)$", r"vision_model.vision_tower.blocks.\1.mlp.\2"),
    (r"^model\.vision_model\.post_layernorm\.(.*)$", r"vision_model.vision_tower.norm.\1"),
    (r"^model\.(aligner|generation_aligner)\.fc1\.(.*)$", r"\1.layers.0.\2"),
    (r"^model\.generation_embeddings\.(.*)$", r"gen_embed.\1"),
    (r"^model\.generation_head\.proj_out\.(.*)$", r"gen_head.output_mlp_projector.\1"),
    (r"^model\.generation_head\.(.*)$", r"gen_head.\1"),
    (r"^model\.vqmodel\.(.*)$", r"gen_vision_model.\1"),
]
_VQ_RENAMES = [(r"\.down\.", ".conv_blocks."), (r"\.up\.", ".conv_blocks."), (r"\.block\.", ".res."),
               (r"\.mid\.block_1\.", ".mid.0."), (r"\.mid\.attn_1\.", ".mid.1."), (r"\.mid\.block_2\.", ".mid.2.")]  # fmt: skip
_IGNORED = re.compile(r"^(vision_model\.vision_tower\.attn_pool\..*|gen_vision_model\.quantize\.codebook_used)$")
_QKV = re.compile(r"\.self_attn\.([qkv])_proj\.")

# Architecture of the released towers, which the original config names instead of spelling out.
SIGLIP_LARGE_384 = dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, patch_size=16, mlp_ratio=4.0)
VQ_16 = dict(base_channels=128, channel_multiplier=[1, 1, 2, 2, 4], latent_channels=256, num_res_blocks=2)


def original_key(hf_key: str) -> str:
    """The original checkpoint's name for a transformers Janus tensor."""
    hidden = re.match(r"^model\.(aligner|generation_aligner)\.hidden_layers\.(\d+)\.(.*)$", hf_key)
    if hidden:  # MLP projector: Linear, GELU, Linear, ... -> layers.0, layers.2, layers.4
        prefix = "aligner" if hidden.group(1) == "aligner" else "gen_aligner"
        return f"{prefix}.layers.{2 * (int(hidden.group(2)) + 1)}.{hidden.group(3)}"
    for pattern, replacement in _RULES:
        if re.match(pattern, hf_key):
            key = re.sub(pattern, replacement, hf_key)
            if key.startswith("gen_vision_model."):
                for old, new in _VQ_RENAMES:
                    key = re.sub(old, new, key)
            return key.replace("generation_aligner.", "gen_aligner.")
    raise KeyError(f"no original name for {hf_key}")


def original_groups(hf_keys: Iterable[str]) -> dict[str, list[str]]:
    """Original name -> the transformers tensors stored under it: three for the SigLIP tower's fused ``qkv``
    (the language model keeps its three projections apart), one for every other tensor."""
    groups: dict[str, list[str]] = {}
    for hf_key in hf_keys:
        groups.setdefault(original_key(hf_key), []).append(hf_key)
    return groups


def original_shapes(hf_shapes: dict[str, list[int]]) -> dict[str, list[int]]:
    """The shape each original-format tensor has, from the transformers model's shapes: a fused ``qkv`` stacks
    its three projections' rows, the position table keeps its leading batch axis."""
    shapes = {}
    for key, hf_keys in original_groups(hf_shapes).items():
        first = hf_shapes[hf_keys[0]]
        if len(hf_keys) == 3:
            shapes[key] = [3 * first[0], *first[1:]]
        else:
            shapes[key] = [1, *first] if key.endswith("pos_embed") else first
    return shapes


def config_from_original(config: dict[str, Any], image_token_id: int) -> JanusConfig:
    """A transformers JanusConfig from the original ``multi_modality`` config.json."""
    lang = config["language_config"]
    text = {k: lang[k] for k in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                                  "num_attention_heads", "num_key_value_heads", "max_position_embeddings",
                                  "rms_norm_eps", "hidden_act", "rope_theta", "bos_token_id", "eos_token_id",
                                  "pad_token_id") if k in lang}  # fmt: skip
    text.update(model_type="llama", tie_word_embeddings=False)
    vision_params = config["vision_config"]["params"]
    aligner = config["aligner_config"]["params"]
    vision = {**SIGLIP_LARGE_384, **vision_params.get("architecture", {})}
    vision.update(image_size=vision_params.get("image_size", 384), projection_dim=aligner["n_embed"], depth=aligner.get("depth", 2))
    vision["num_image_tokens"] = (vision["image_size"] // vision["patch_size"]) ** 2
    gen_vision = config["gen_vision_config"]["params"]
    gen_aligner = config["gen_aligner_config"]["params"]
    vq = {**VQ_16, **gen_vision.get("architecture", {})}
    vq.update(embed_dim=gen_vision["n_embed"], num_embeddings=gen_vision["image_token_size"],
              projection_dim=gen_aligner["n_embed"], num_hidden_layers=gen_aligner.get("depth", 2),
              image_token_embed_dim=config["gen_head_config"]["params"]["image_token_embed"])  # fmt: skip
    janus = JanusConfig(text_config=text, vision_config=vision, vq_config=vq, image_token_id=image_token_id,
                        tie_word_embeddings=False)  # fmt: skip
    janus._attn_implementation = "sdpa"  # never the release's flash_attention_2
    return janus


def _read_weights(files: list[Path]) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    for file in files:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            state.update(load_file(str(file)))
        else:
            state.update(torch.load(file, map_location="cpu", weights_only=True))
    return state


def load_original(path: Path, image_token_id: int, files: list[Path]) -> JanusForConditionalGeneration:
    """The release's checkpoint at ``path`` (its ``config.json``; ``files``: its weight files, which the caller
    found and checked) as a transformers model, every tensor mapped and none left over."""
    config = config_from_original(json.loads((path / "config.json").read_text()), image_token_id)
    state = _read_weights(files)
    from transformers.initialization import no_init_weights

    with no_init_weights():  # every tensor is overwritten below: skip the random init
        model = JanusForConditionalGeneration(config)
    expected = model.state_dict()
    wanted = original_groups(expected)
    unused = sorted(k for k in state if k not in wanted and not _IGNORED.match(k))
    missing = sorted(k for k in wanted if k not in state)
    if unused or missing:
        raise JanusEvalError(
            f"checkpoint {path} does not match the Janus architecture of its config: {len(unused)} unmapped "
            f"checkpoint tensors {unused[:5]}, {len(missing)} missing {missing[:5]}"
        )
    converted: dict[str, torch.Tensor] = {}
    for orig, hf_keys in wanted.items():
        tensor = state[orig]
        if len(hf_keys) == 3:  # fused qkv -> q, k, v (rows in that order)
            parts = dict(zip("qkv", tensor.chunk(3, dim=0)))
            for hf_key in hf_keys:
                converted[hf_key] = parts[_QKV.search(hf_key).group(1)]  # type: ignore[union-attr]
        else:
            converted[hf_keys[0]] = tensor.squeeze(0) if orig.endswith("pos_embed") else tensor
    wrong = [f"{k}: {tuple(v.shape)} vs {tuple(expected[k].shape)}" for k, v in converted.items() if v.shape != expected[k].shape]
    if wrong:
        raise JanusEvalError(f"checkpoint {path}: {len(wrong)} tensors have the wrong shape, e.g. {wrong[:3]}")
    model.load_state_dict(converted, strict=True, assign=True)
    return model.eval()
