"""Batch size from free GPU memory, so ``--batch-size auto`` fills an H100 without a trial-and-error loop.

The estimate is per sequence row and deliberately pessimistic: the KV cache of the whole sequence,
the prefill's transient activations for one layer (hidden states, MLP intermediates and a
materialised attention matrix, in case sdpa falls back to its math kernel), the vision tower's
activations per image and the fp32 logits. A CUDA out-of-memory error still halves the batch, so an
estimate that is too generous costs one retry, never the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

ModelCall = Literal["understand", "generate"]
"""Which of the model's two jobs a batch is for: their memory per sample differs."""

CPU_BATCH_SIZE = 8
"""On CPU memory is not the limit and larger batches do not run faster."""
MAX_BATCH = {"understand": 256, "generate": 128}
"""Beyond these, throughput stops growing (compute-bound) while padding and retry cost grow."""
USABLE_FRACTION = 0.85
HEADROOM_BYTES = 2 << 30
"""Left free for the allocator's fragmentation, cuBLAS workspaces and CUDA graph pools."""


@dataclass(frozen=True)
class Shapes:
    """The model dimensions the estimate needs, read once from a ``JanusConfig``."""

    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    vision_hidden: int
    vision_intermediate: int
    vision_layers_tokens: int
    gen_vocab: int

    @classmethod
    def from_config(cls, config: Any) -> Shapes:
        text, vision = config.text_config, config.vision_config
        heads = text.num_attention_heads
        patches = (vision.image_size // vision.patch_size) ** 2
        return cls(
            layers=text.num_hidden_layers,
            hidden=text.hidden_size,
            intermediate=text.intermediate_size,
            heads=heads,
            kv_heads=getattr(text, "num_key_value_heads", None) or heads,
            head_dim=getattr(text, "head_dim", None) or text.hidden_size // heads,
            vocab=text.vocab_size,
            vision_hidden=vision.hidden_size,
            vision_intermediate=int(vision.hidden_size * vision.mlp_ratio),
            vision_layers_tokens=patches,
            gen_vocab=config.vq_config.num_embeddings,
        )


def row_bytes(shapes: Shapes, seq_len: int, n_images: int, element: int, vocab: int) -> int:
    """Peak bytes one sequence row adds to a batched forward + decode."""
    kv_cache = 2 * shapes.layers * shapes.kv_heads * shapes.head_dim * seq_len * element
    prefill = seq_len * (6 * shapes.hidden + 3 * shapes.intermediate) * element
    attention = shapes.heads * seq_len * seq_len * element
    tokens = shapes.vision_layers_tokens
    vision = n_images * tokens * (6 * shapes.vision_hidden + 3 * shapes.vision_intermediate + tokens) * element
    logits = 3 * vocab * 4
    return kv_cache + prefill + attention + vision + logits


def free_bytes(device: torch.device) -> int | None:
    """Memory a batch may fill on ``device``: free device memory plus what torch's caching allocator holds but
    does not use; None where memory does not limit the batch (CPU). The one probe ``--batch-size auto`` reads."""
    if device.type != "cuda":
        return None
    free, _ = torch.cuda.mem_get_info(device)
    return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)


def auto_batch_size(config: Any, dtype: torch.dtype, kind: ModelCall, seq_len: int, n_images: int, free_bytes: int) -> int:
    """The largest power of two whose estimated peak fits in ``free_bytes`` (at least 1).

    ``kind="generate"`` counts two rows per image (conditional and unconditional) and no vision
    tower; ``seq_len`` is then prompt + image tokens. A power of two keeps compiled shapes few.
    """
    shapes = Shapes.from_config(config)
    element = torch.tensor([], dtype=dtype).element_size()
    if kind == "generate":
        per_sample = 2 * row_bytes(shapes, seq_len, 0, element, shapes.gen_vocab)
    else:
        per_sample = row_bytes(shapes, seq_len, n_images, element, shapes.vocab)
    budget = int(free_bytes * USABLE_FRACTION) - HEADROOM_BYTES
    fits = max(1, budget // per_sample)
    size = 1
    while size * 2 <= min(fits, MAX_BATCH[kind]):
        size *= 2
    return size
