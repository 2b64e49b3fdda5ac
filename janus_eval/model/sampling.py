"""Per-sample randomness that does not depend on the batch.

Each image's sampling noise is a pure function of (seed, step, vocabulary index): a counter-based
generator (SplitMix64 finalisers in int64 tensor arithmetic), so image i is the same whether it is
drawn alone, in a batch of 64, or on another GPU, and the noise is identical on CPU and CUDA.
Sampling uses the Gumbel-max trick, which draws exactly from softmax(logits / temperature).
"""

from __future__ import annotations

import torch


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


_GOLDEN = _signed(0x9E3779B97F4A7C15)
_MIX1 = _signed(0xBF58476D1CE4E5B9)
_MIX2 = _signed(0x94D049BB133111EB)
_STEP = _signed(0xD1B54A32D192ED03)


def _shift_right(x: torch.Tensor, n: int) -> torch.Tensor:
    """Logical right shift of int64 (torch's ``>>`` is arithmetic)."""
    return (x >> n) & ((1 << (64 - n)) - 1)


def _mix(x: torch.Tensor) -> torch.Tensor:
    x = x ^ _shift_right(x, 30)
    x = x * _MIX1
    x = x ^ _shift_right(x, 27)
    x = x * _MIX2
    return x ^ _shift_right(x, 31)


def uniform(seeds: torch.Tensor, step: int | torch.Tensor, vocab_size: int) -> torch.Tensor:
    """[B, V] float64 uniforms in (0, 1), a pure function of (seed, step, index).

    ``step`` may be a 0-d int64 tensor, so a compiled decode step sees one graph for every step.
    """
    seeds = seeds.to(torch.int64)
    key = _mix(seeds * _GOLDEN + torch.as_tensor(step, dtype=torch.int64, device=seeds.device) * _STEP)  # [B]
    index = torch.arange(vocab_size, device=seeds.device, dtype=torch.int64) * _GOLDEN
    bits = _shift_right(_mix(key[:, None] + index[None, :]), 11)  # 53 random bits
    return (bits.to(torch.float64) + 0.5) / float(1 << 53)


def sample(logits: torch.Tensor, seeds: torch.Tensor, step: int | torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """One token per row from softmax(logits / temperature), noise keyed by (seed, step)."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    gumbel = -torch.log(-torch.log(uniform(seeds, step, logits.shape[-1])))
    return (logits.double() / temperature + gumbel).argmax(dim=-1)


def cfg_logits(cond: torch.Tensor, uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance as the Janus release computes it: u + s (c - u)."""
    return uncond + scale * (cond - uncond)
