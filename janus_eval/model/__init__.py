"""Janus model adapter: ``load(ckpt)`` returns a ``JanusAdapter``; ``ckpt=None`` is the embedded tiny model."""

from __future__ import annotations

from pathlib import Path

import torch

from janus_eval.model.adapter import JanusAdapter
from janus_eval.model.decode import NonFiniteLogits
from janus_eval.model.chat import FORMATS
from janus_eval.errors import JanusEvalError

__all__ = ["JanusAdapter", "NonFiniteLogits", "load", "resolve_dtype", "TINY_NAME"]

TINY_NAME = "embedded-tiny-janus"
_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
           "float16": torch.float16, "fp16": torch.float16}  # fmt: skip


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """``None`` means bf16 on GPU (the paper's setting) and fp32 on CPU."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is None or dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if dtype not in _DTYPES:
        raise JanusEvalError(f"unknown dtype {dtype!r}; expected one of: {', '.join(_DTYPES)}")
    return _DTYPES[dtype]


def load(ckpt: str | Path | None = None, device: str | torch.device = "cpu",
         dtype: str | torch.dtype | None = None) -> JanusAdapter:  # fmt: skip
    """Load a checkpoint from a local path (never a hub id) into a batched adapter."""
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise JanusEvalError(f"bad --device {device!r}: {err}") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise JanusEvalError(f"--device {device} asked for, but CUDA is not available on this machine")
    torch_dtype = resolve_dtype(dtype, dev)
    if ckpt is None:
        from janus_eval.model.tiny import build_tiny_model, build_tokenizer

        return JanusAdapter(build_tiny_model(), build_tokenizer(), FORMATS["janus"], name=TINY_NAME,
                            device=dev, dtype=torch_dtype)  # fmt: skip
    from janus_eval.model.checkpoint import load_checkpoint

    model, tokenizer, variant = load_checkpoint(Path(ckpt))
    return JanusAdapter(model, tokenizer, FORMATS[variant], name=str(ckpt), device=dev, dtype=torch_dtype)
