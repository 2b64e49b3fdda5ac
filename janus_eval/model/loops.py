"""The two decode loops' steps as small pure functions, read top to bottom (as gpt-fast lays them out).

Each takes the model (or a part of it) and tensors, and returns tensors: no adapter state, no host
syncs. ``JanusAdapter.greedy`` and ``JanusAdapter.generate_tokens`` are the short drivers around them;
``image_step`` is what ``torch.compile`` captures as a CUDA graph.

Understanding: ``text_prefill`` (prompt with image features) -> logits, then ``greedy_pick`` and
``text_step`` (one token for every row) until EOS. Generation: ``image_prefill`` (conditional and
unconditional prompts) -> codes, then ``image_step`` (embed the codes, LM, CFG, sample) per image token.
NaN/inf logits are noted per row on the device (``note_bad_rows``) and raised once, after the loop.
"""

from __future__ import annotations

from typing import Any

import torch

from janus_eval.model import sampling


class NonFiniteLogits(RuntimeError):
    """NaN or inf in the logits of some rows; ``rows`` are indices into the call's inputs."""

    def __init__(self, rows: list[int]) -> None:
        super().__init__(f"NaN or inf logits in rows {rows}")
        self.rows = rows


# -- shared ---------------------------------------------------------------------------------------
def last_hidden(lm: Any, embeds: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache: Any,
                cache_kw: str, cache_position: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """[B, D]: each row's last hidden state after feeding ``embeds``; ``cache_position`` places them in a static cache."""
    placed = {} if cache_position is None else {"cache_position": cache_position}
    out = lm(inputs_embeds=embeds, attention_mask=mask, position_ids=positions, use_cache=True, **{cache_kw: cache},
             **placed)  # fmt: skip
    return out.last_hidden_state[:, -1]


def nonfinite(logits: torch.Tensor) -> torch.Tensor:
    """[rows] bool: the rows with a NaN or inf logit."""
    return ~torch.isfinite(logits).all(-1)


def no_bad_steps(rows: int, limit: int, device: torch.device) -> torch.Tensor:
    """Per row, the first decode step with NaN/inf logits; ``limit`` means none (yet)."""
    return torch.full((rows,), limit, dtype=torch.long, device=device)


def note_bad_rows(first_bad: torch.Tensor, bad: torch.Tensor, step: int) -> torch.Tensor:
    """``first_bad`` with ``step`` for the ``bad`` rows not already bad (tensor ops, no host sync)."""
    return first_bad.masked_fill(bad, step).minimum(first_bad)


def raise_if_bad(first_bad: torch.Tensor, limit: int) -> None:
    """``NonFiniteLogits`` naming the rows of the earliest bad step: the rows a per-step check would have named."""
    earliest = int(first_bad.min()) if first_bad.numel() else limit
    if earliest < limit:
        raise NonFiniteLogits((first_bad == earliest).nonzero().flatten().tolist())


# -- understanding: prefill, one step, greedy pick ----------------------------------------------
def embed_prompt(model: Any, ids: torch.Tensor, pixels: torch.Tensor, image_id: int) -> torch.Tensor:
    """[B, L, D] prompt embeddings, the image encoder's features scattered into the ``image_id`` slots in order."""
    embeds = model.get_input_embeddings()(ids)
    if len(pixels):
        features = model.model.get_image_features(pixels).pooler_output  # [n_img, N, D]
        slots = (ids == image_id).unsqueeze(-1)
        embeds = embeds.masked_scatter(slots, features.reshape(-1, embeds.shape[-1]).to(embeds.dtype))
    return embeds


def text_logits(model: Any, embeds: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache: Any,
                cache_kw: str) -> torch.Tensor:  # fmt: skip
    """[B, V] float32 next-token logits after feeding ``embeds`` (the prompt, or one token per row)."""
    hidden = last_hidden(model.model.language_model, embeds, mask, positions, cache, cache_kw)
    return model.lm_head(hidden).float()


def text_prefill(model: Any, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, pixels: torch.Tensor,
                 image_id: int, cache: Any, cache_kw: str) -> torch.Tensor:  # fmt: skip
    """Logits for the first answer token of each left-padded prompt row; fills ``cache``."""
    return text_logits(model, embed_prompt(model, ids, pixels, image_id), mask, positions, cache, cache_kw)


def text_step(model: Any, tokens: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache: Any,
              cache_kw: str) -> torch.Tensor:  # fmt: skip
    """Logits after one more token per row (``tokens`` [B], ``positions`` [B, 1], ``mask`` one column longer)."""
    return text_logits(model, model.get_input_embeddings()(tokens)[:, None], mask, positions, cache, cache_kw)


def greedy_pick(logits: torch.Tensor, done: torch.Tensor, eos: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's argmax token, and which rows are done once it is taken (EOS now or earlier)."""
    tokens = logits.argmax(-1)
    return tokens, done | (tokens == eos)


# -- generation: prefill, one step, CFG sample --------------------------------------------------
def sample_codes(logits: torch.Tensor, seeds: torch.Tensor, step: torch.Tensor, cfg_scale: float,
                 temperature: float) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """CFG and counter-based sampling on [2B, V] logits (rows [0, B) conditional): ([B] codes, [B] bad).

    ``bad`` marks images whose conditional or unconditional logits hold a NaN or inf; it stays on the device.
    """
    batch = logits.shape[0] // 2
    bad = nonfinite(logits)
    mixed = sampling.cfg_logits(logits[:batch], logits[batch:], cfg_scale)
    return sampling.sample(mixed, seeds, step, temperature), bad[:batch] | bad[batch:]


def image_prefill(model: Any, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache: Any,
                  cache_kw: str, seeds: torch.Tensor, step: torch.Tensor, cfg_scale: float,
                  temperature: float) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """The first image token of each image from its [2B, L] prompt rows; fills ``cache`` from position 0."""
    cache_position = torch.arange(ids.shape[1], device=ids.device)
    hidden = last_hidden(model.model.language_model, model.get_input_embeddings()(ids), mask, positions, cache, cache_kw,
                         cache_position)  # fmt: skip
    return sample_codes(model.model.generation_head(hidden).float(), seeds, step, cfg_scale, temperature)


def image_step(model: Any, codes: torch.Tensor, mask: torch.Tensor, position: torch.Tensor, cache_position: torch.Tensor,
               cache: Any, cache_kw: str, seeds: torch.Tensor, step: torch.Tensor, cfg_scale: float,
               temperature: float) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """The next image token: embed the previous ``codes`` for the cond and uncond rows, the LM, CFG, sampling.

    Everything a step does is in here, so on CUDA one compiled graph covers it (no eager kernels between replays).
    """
    embeds = model.prepare_embeddings_for_image_generation(codes.repeat(2))[:, None]
    hidden = last_hidden(model.model.language_model, embeds, mask, position, cache, cache_kw, cache_position)
    return sample_codes(model.model.generation_head(hidden).float(), seeds, step, cfg_scale, temperature)
