"""The bench's models: Janus with the released checkpoints' shapes and random weights (speed does not
depend on the values), or the embedded tiny model; ``janus_eval.bench`` times them."""

from __future__ import annotations

from typing import Any, Callable

import torch

from janus_eval.model.adapter import JanusAdapter
from janus_eval.model.chat import FORMATS


def janus_config(hidden: int, intermediate: int, layers: int, heads: int, max_positions: int) -> Any:
    """A Janus with DeepSeek-LLM text shapes, SigLIP-L/16 at 384, VQ-16 and 16,384 image codes."""
    from transformers import JanusConfig

    from janus_eval.model.tiny import TOKEN_IDS

    text = dict(model_type="llama", vocab_size=102400, hidden_size=hidden, intermediate_size=intermediate,
                num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                max_position_embeddings=max_positions, rms_norm_eps=1e-6,
                bos_token_id=TOKEN_IDS["<｜begin▁of▁sentence｜>"], eos_token_id=TOKEN_IDS["<｜end▁of▁sentence｜>"],
                pad_token_id=TOKEN_IDS["<｜▁pad▁｜>"], tie_word_embeddings=False)  # fmt: skip
    config = JanusConfig(text_config=text, vision_config={"projection_dim": hidden},
                         vq_config={"projection_dim": hidden, "image_token_embed_dim": hidden},
                         tie_word_embeddings=False, image_token_id=TOKEN_IDS["<image_placeholder>"])  # fmt: skip
    config._attn_implementation = "sdpa"
    return config


def janus_13b_config() -> Any:
    """Janus-1.3B (and Janus-Pro-1B): DeepSeek-LLM 1.3B, 24 x 2048."""
    return janus_config(hidden=2048, intermediate=5632, layers=24, heads=16, max_positions=4096)


def janus_pro_7b_config() -> Any:
    """Janus-Pro-7B: DeepSeek-LLM 7B, 30 x 4096."""
    return janus_config(hidden=4096, intermediate=11008, layers=30, heads=32, max_positions=16384)


SHAPES: dict[str, Callable[[], Any] | None] = {"tiny": None, "1.3b": janus_13b_config, "pro-7b": janus_pro_7b_config}


def random_adapter(shape: str | None, device: str, dtype: str | None) -> tuple[str, str, JanusAdapter]:
    """The bench's model: ``shape`` defaults to 1.3b on GPU and tiny on CPU; returns (shape, dtype name, adapter)."""
    from janus_eval.model import resolve_dtype

    shape = shape or ("1.3b" if device.startswith("cuda") else "tiny")
    torch_dtype = resolve_dtype(dtype, torch.device(device))
    return shape, str(torch_dtype).replace("torch.", ""), build_adapter(shape, device, torch_dtype)


def build_adapter(shape: str, device: str, dtype: torch.dtype) -> JanusAdapter:
    from transformers import JanusForConditionalGeneration
    from transformers.initialization import no_init_weights

    from janus_eval.model.tiny import build_tiny_model, build_tokenizer

    config_fn = SHAPES[shape]
    if config_fn is None:
        model = build_tiny_model()
    else:
        with no_init_weights(), torch.device(device):
            model = JanusForConditionalGeneration(config_fn()).to(dtype)
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            for param in model.parameters():
                param.normal_(0.0, 0.02)
    return JanusAdapter(model, build_tokenizer(), FORMATS["janus"], name=f"random-{shape}", device=device, dtype=dtype)
