"""Janus's two decode loops, read top to bottom as gpt-fast lays them out: prefill, one step, the loop.

``Decoder`` holds the model with its KV-cache keyword bound once (``lm_compat.cache_keyword``, read
outside any compiled code); its steps take tensors and return tensors, with no host syncs. The loops
(``greedy_tokens``, ``image_tokens``) drive the steps; ``JanusAdapter`` batches the inputs, owns the
caches and hands ``image_tokens`` a warm-up hook that compiles the image step (and captures its CUDA
graph) on the first steps of a call, so the rest of the loop only replays a ready step.

Understanding: ``text_prefill`` (prompt with image features) -> logits, then ``greedy_pick`` and
``text_step`` (one token for every row) until EOS. Generation: ``image_prefill`` (conditional and
unconditional prompts) -> codes, then ``image_step`` (embed the codes, LM, CFG, sample) per image token.
NaN/inf logits are noted per row on the device (``note_bad_rows``) and raised once, after the loop.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from janus_eval.model import sampling
from janus_eval.model.lm_compat import cache_keyword

SYNC_EVERY = 8
"""Understanding decode asks the device whether every row has reached EOS once per this many steps."""

StepResult = tuple[torch.Tensor, torch.Tensor]
"""An image step's ([B] codes, [B] bad) on the device."""
WarmUp = Callable[[tuple[Any, ...]], tuple[StepResult, Callable[..., StepResult]]]
"""``warm_up(a first step's args)`` -> (its result, the step function for the steps after the warm-up)."""


class NonFiniteLogits(RuntimeError):
    """NaN or inf in the logits of some rows; ``rows`` are indices into the call's inputs."""

    def __init__(self, rows: list[int]) -> None:
        super().__init__(f"NaN or inf logits in rows {rows}")
        self.rows = rows


# -- NaN/inf bookkeeping, on the device ------------------------------------------------------------
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


def greedy_pick(logits: torch.Tensor, done: torch.Tensor, eos: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's argmax token, and which rows are done once it is taken (EOS now or earlier)."""
    tokens = logits.argmax(-1)
    return tokens, done | (tokens == eos)


def sample_codes(logits: torch.Tensor, seeds: torch.Tensor, step: torch.Tensor, cfg_scale: float,
                 temperature: float) -> StepResult:  # fmt: skip
    """CFG and counter-based sampling on [2B, V] logits (rows [0, B) conditional): ([B] codes, [B] bad).

    ``bad`` marks images whose conditional or unconditional logits hold a NaN or inf; it stays on the device.
    """
    batch = logits.shape[0] // 2
    bad = nonfinite(logits)
    mixed = sampling.cfg_logits(logits[:batch], logits[batch:], cfg_scale)
    return sampling.sample(mixed, seeds, step, temperature), bad[:batch] | bad[batch:]


def row_positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids that start at 0 on each row's first real token (left pads get 0)."""
    return (mask.cumsum(-1) - 1).clamp(min=0)


# -- the steps ------------------------------------------------------------------------------------
class Decoder:
    """A Janus model's prefill and decode steps; the language model's cache keyword is bound here, once."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self._lm = model.model.language_model
        self._cache_kw = cache_keyword(self._lm)
        """``cache`` or ``past_key_values``: this transformers' name (read once, outside compiled code)."""

    def _last_hidden(self, embeds: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache: Any,
                     cache_position: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """[B, D]: each row's last hidden state after feeding ``embeds``; ``cache_position`` places them in a static cache."""
        placed = {} if cache_position is None else {"cache_position": cache_position}
        out = self._lm(inputs_embeds=embeds, attention_mask=mask, position_ids=positions, use_cache=True,
                       **{self._cache_kw: cache}, **placed)  # fmt: skip
        return out.last_hidden_state[:, -1]

    # understanding
    def embed_prompt(self, ids: torch.Tensor, pixels: torch.Tensor, image_id: int) -> torch.Tensor:
        """[B, L, D] prompt embeddings, the image encoder's features scattered into the ``image_id`` slots in order."""
        embeds = self.model.get_input_embeddings()(ids)
        if len(pixels):
            features = self.model.model.get_image_features(pixels).pooler_output  # [n_img, N, D]
            slots = (ids == image_id).unsqueeze(-1)
            embeds = embeds.masked_scatter(slots, features.reshape(-1, embeds.shape[-1]).to(embeds.dtype))
        return embeds

    def _text_logits(self, embeds: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache: Any) -> torch.Tensor:
        """[B, V] float32 next-token logits after feeding ``embeds`` (the prompt, or one token per row)."""
        return self.model.lm_head(self._last_hidden(embeds, mask, positions, cache)).float()

    def text_prefill(self, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, pixels: torch.Tensor,
                     image_id: int, cache: Any) -> torch.Tensor:  # fmt: skip
        """Logits for the first answer token of each left-padded prompt row; fills ``cache``."""
        return self._text_logits(self.embed_prompt(ids, pixels, image_id), mask, positions, cache)

    def text_step(self, tokens: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache: Any) -> torch.Tensor:
        """Logits after one more token per row (``tokens`` [B], ``positions`` [B, 1], ``mask`` one column longer)."""
        return self._text_logits(self.model.get_input_embeddings()(tokens)[:, None], mask, positions, cache)

    # generation
    def image_prefill(self, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache: Any,
                      seeds: torch.Tensor, step: torch.Tensor, cfg_scale: float, temperature: float) -> StepResult:  # fmt: skip
        """The first image token of each image from its [2B, L] prompt rows; fills ``cache`` from position 0."""
        cache_position = torch.arange(ids.shape[1], device=ids.device)
        hidden = self._last_hidden(self.model.get_input_embeddings()(ids), mask, positions, cache, cache_position)
        return sample_codes(self.model.model.generation_head(hidden).float(), seeds, step, cfg_scale, temperature)

    def image_step(self, codes: torch.Tensor, mask: torch.Tensor, position: torch.Tensor, cache_position: torch.Tensor,
                   cache: Any, seeds: torch.Tensor, step: torch.Tensor, cfg_scale: float,
                   temperature: float) -> StepResult:  # fmt: skip
        """The next image token: embed the previous ``codes`` for the cond and uncond rows, the LM, CFG, sampling.

        Everything a step does is in here, so on CUDA one compiled graph covers it (no eager kernels between
        replays).
        """
        embeds = self.model.prepare_embeddings_for_image_generation(codes.repeat(2))[:, None]
        hidden = self._last_hidden(embeds, mask, position, cache, cache_position)
        return sample_codes(self.model.model.generation_head(hidden).float(), seeds, step, cfg_scale, temperature)


# -- the loops ------------------------------------------------------------------------------------
def greedy_tokens(decoder: Decoder, ids: torch.Tensor, mask: torch.Tensor, pixels: torch.Tensor, cache: Any,
                  max_new_tokens: int, *, image_id: int, eos: int, pad: int) -> list[list[int]]:  # fmt: skip
    """Each row's generated ids, as many per row as steps ran: the caller cuts each row at its first EOS.

    The loop never waits for the device inside a step: tokens go to a device buffer, the EOS and NaN/inf
    bookkeeping are tensor ops, and "all rows done?" is asked only every ``SYNC_EVERY`` steps (steps run
    after every row has finished are cut off at each row's EOS by the caller, so they change nothing).
    """
    rows = ids.shape[0]
    positions = row_positions(mask)
    logits = decoder.text_prefill(ids, mask, positions, pixels, image_id, cache)
    tokens = torch.full((rows, max_new_tokens), pad, dtype=torch.long, device=ids.device)
    done = torch.zeros(rows, dtype=torch.bool, device=ids.device)
    first_bad = no_bad_steps(rows, max_new_tokens, ids.device)
    positions, steps = positions[:, -1:], 0
    for step in range(max_new_tokens):
        first_bad = note_bad_rows(first_bad, nonfinite(logits) & ~done, step)
        next_ids, done = greedy_pick(logits, done, eos)
        tokens[:, step] = next_ids
        steps = step + 1
        if steps == max_new_tokens or (steps % SYNC_EVERY == 0 and bool(done.all())):
            break
        mask, positions = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1), positions + 1
        logits = decoder.text_step(next_ids.masked_fill(done, pad), mask, positions, cache)
    raise_if_bad(first_bad, max_new_tokens)
    return tokens[:, :steps].tolist()


def image_tokens(decoder: Decoder, ids: torch.Tensor, mask: torch.Tensor, full_mask: torch.Tensor, cache: Any,
                 seeds: torch.Tensor, steps: int, cfg_scale: float, temperature: float,
                 warm_up: WarmUp, warm_up_steps: int = 1) -> torch.Tensor:  # fmt: skip
    """[B, steps] image codes from [2B, L] prompt rows (``mask``) and the loop's one full-length mask.

    Every step has the same shapes (``full_mask`` covers the whole static cache), so one compiled graph
    serves them all; ``warm_up`` runs the first ``warm_up_steps`` steps (where compiling, recording a CUDA graph
    and falling back happen) and returns the step function the rest of the loop calls bare. Not one step runs
    twice: a transformers static cache writes each call to its next slot, whatever ``cache_position`` says.
    """
    batch, prompt_len, device = ids.shape[0] // 2, ids.shape[1], ids.device
    step_t = torch.arange(steps, dtype=torch.int64, device=device)
    positions = row_positions(mask)
    next_codes, bad = decoder.image_prefill(ids, full_mask, positions, cache, seeds, step_t[0], cfg_scale, temperature)
    codes = torch.empty((steps, batch), dtype=torch.long, device=device)
    first_bad = no_bad_steps(batch, steps, device)
    position, step_fn = positions[:, -1:], None
    for step in range(steps):
        codes[step] = next_codes  # copied out before the next replay overwrites a CUDA graph's outputs
        first_bad = note_bad_rows(first_bad, bad, step)
        if step + 1 == steps:
            break
        position = position + 1
        cache_position = torch.full((1,), prompt_len + step, dtype=torch.long, device=device)
        args = (codes[step], full_mask, position, cache_position, cache, seeds, step_t[step + 1], cfg_scale, temperature)
        if step_fn is None or step < warm_up_steps:
            (next_codes, bad), step_fn = warm_up(args)
        else:
            next_codes, bad = step_fn(*args)
    raise_if_bad(first_bad, steps)
    return codes.T.contiguous()
