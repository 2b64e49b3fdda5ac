"""Batched Janus inference over transformers' Janus modules.

``understand``: left-padded batches, image features scattered into the placeholder positions,
positions counted from each row's first real token, KV cache, greedy, per-row stop at EOS.
``generate_images``: a conditional and an unconditional row per image in one forward, CFG on the
generation head's logits, per-image counter-based noise, VQ decode, uint8 like the release.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from PIL import Image
from transformers import DynamicCache, JanusForConditionalGeneration, PreTrainedTokenizerBase, StaticCache

from janus_eval.model import memory, sampling
from janus_eval.model.chat import BEGIN_OF_IMAGE, END_OF_IMAGE, IMAGE_PLACEHOLDER, ChatFormat
from janus_eval.model.lm_compat import cache_keyword
from janus_eval.model.preprocess import pixel_values


class NonFiniteLogits(RuntimeError):
    """NaN or inf in the logits of some rows; ``rows`` are indices into the call's inputs."""

    def __init__(self, rows: list[int]) -> None:
        super().__init__(f"NaN or inf logits in rows {rows}")
        self.rows = rows


@dataclass(frozen=True)
class SpecialIds:
    bos: int
    eos: int
    pad: int
    image: int
    begin_of_image: int
    end_of_image: int

    @classmethod
    def from_tokenizer(cls, tokenizer: PreTrainedTokenizerBase) -> SpecialIds:
        ids = tokenizer.convert_tokens_to_ids
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else ids("<｜▁pad▁｜>")
        return cls(
            bos=tokenizer.bos_token_id,
            eos=tokenizer.eos_token_id,
            pad=pad,
            image=ids(IMAGE_PLACEHOLDER),
            begin_of_image=ids(BEGIN_OF_IMAGE),
            end_of_image=ids(END_OF_IMAGE),
        )


ImageArg = Image.Image | Sequence[Image.Image] | None


PROMPT_BUCKET = 16
"""Generation prompts are left-padded to a multiple of this, so compiled steps see few shapes."""
CACHE_BUCKET = 128
"""The static KV cache (prompt + image tokens) is rounded up to a multiple of this: prompts of
different buckets then share one cache, one mask shape and one captured CUDA graph."""


def _left_pad(rows: list[list[int]], pad: int, multiple: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, L] ids and mask, padded on the left so every row's last token is aligned."""
    length = -(-max(len(r) for r in rows) // multiple) * multiple
    ids = torch.full((len(rows), length), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, length - len(row) :] = torch.tensor(row, dtype=torch.long)
        mask[i, length - len(row) :] = 1
    return ids, mask


def _positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids that start at 0 on each row's first real token (pads get 0)."""
    return (mask.cumsum(-1) - 1).clamp(min=0)


SYNC_EVERY = 8
"""Understanding decode asks the device whether every row has reached EOS once per this many steps."""


def _no_bad_steps(rows: int, limit: int, device: torch.device) -> torch.Tensor:
    """Per row, the first decode step with NaN/inf logits; ``limit`` means none (yet)."""
    return torch.full((rows,), limit, dtype=torch.long, device=device)


def _nonfinite(logits: torch.Tensor) -> torch.Tensor:
    """[rows] bool: the rows with a NaN or inf logit."""
    return ~torch.isfinite(logits).all(-1)


def _note_bad_rows(first_bad: torch.Tensor, bad: torch.Tensor, step: int) -> torch.Tensor:
    """``first_bad`` with ``step`` for the ``bad`` rows not already bad (tensor ops, no host sync)."""
    return first_bad.masked_fill(bad, step).minimum(first_bad)


def _raise_if_bad(first_bad: torch.Tensor, limit: int) -> None:
    """``NonFiniteLogits`` naming the rows of the earliest bad step: the rows a per-step check would have named."""
    earliest = int(first_bad.min()) if first_bad.numel() else limit
    if earliest < limit:
        raise NonFiniteLogits((first_bad == earliest).nonzero().flatten().tolist())


def _until(tokens: list[int], stop: int) -> list[int]:
    """``tokens`` up to (without) the first ``stop``."""
    return tokens[: tokens.index(stop)] if stop in tokens else tokens


class JanusAdapter:
    """The model surface the runner calls; it knows nothing about tasks or datasets."""

    def __init__(
        self,
        model: JanusForConditionalGeneration,
        tokenizer: PreTrainedTokenizerBase,
        chat: ChatFormat,
        *,
        name: str,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.device = torch.device(device)
        self.dtype = dtype
        self.model = model.to(device=self.device, dtype=dtype).eval()
        self.tokenizer = tokenizer
        self.chat = chat
        self.name = name
        self.ids = SpecialIds.from_tokenizer(tokenizer)
        config = model.config
        self.image_size: int = config.vision_config.image_size
        self.num_image_tokens: int = config.vision_config.num_image_tokens
        self.num_gen_tokens: int = config.vq_config.num_patches**2
        self.codebook_size: int = config.vq_config.num_embeddings
        self.decode_chunk = 8 if self.device.type == "cuda" else 1
        self.compile_decode = self.device.type == "cuda"
        """Capture the image-token decode step as a CUDA graph (torch.compile, reduce-overhead)."""
        self._compiled: Any = None
        self._fullgraph = True
        """Compile the decode step without graph breaks; cleared if that fails (see ``_fallback_step``)."""
        self._gen_cache: tuple[tuple[int, int], StaticCache] | None = None
        self._cache_kw = cache_keyword(model.model.language_model)
        """``cache`` or ``past_key_values``: this transformers' name (read once, outside compiled code)."""

    def batch_size_for(self, kind: memory.Kind, prompt: str, n_images: int = 0, new_tokens: int = 0,
                       system_prompt: str | None = None) -> int:  # fmt: skip
        """A batch size that fits free memory for prompts up to this one (``--batch-size auto``)."""
        if self.device.type != "cuda":
            return memory.CPU_BATCH_SIZE
        if kind == "generate":
            seq_len = -(-len(self.generation_ids(prompt)) // PROMPT_BUCKET) * PROMPT_BUCKET + self.num_gen_tokens
        else:
            seq_len = len(self.understanding_ids(prompt, n_images, system_prompt)) + new_tokens
        free = memory.free_cuda_bytes(self.device)
        return memory.auto_batch_size(self.model.config, self.dtype, kind, seq_len, n_images, free)

    # -- understanding ------------------------------------------------------------------------
    def _encode_text(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False).input_ids

    def understanding_ids(self, question: str, n_images: int, system_prompt: str | None = None) -> list[int]:
        """BOS + the chat-formatted prompt, each placeholder expanded to BOI + N image tokens + EOI."""
        text = self.chat.understanding(question, n_images, system_prompt)
        ids = [self.ids.bos]
        for token in self._encode_text(text):
            if token == self.ids.image:
                ids += [self.ids.begin_of_image] + [self.ids.image] * self.num_image_tokens + [self.ids.end_of_image]
            else:
                ids.append(token)
        return ids

    @property
    def context_length(self) -> int:
        """The language model's trained context (prompt + answer tokens)."""
        return int(self.model.config.text_config.max_position_embeddings)

    def prompt_length(self, question: str, n_images: int, system_prompt: str | None = None) -> int:
        """Tokens of the full understanding prompt, image tokens included."""
        return len(self.understanding_ids(question, n_images, system_prompt))

    @staticmethod
    def _as_list(images: ImageArg) -> list[Image.Image]:
        if images is None:
            return []
        if isinstance(images, Image.Image):
            return [images]
        return list(images)

    @torch.inference_mode()
    def understand(
        self,
        images: Sequence[ImageArg],
        questions: Sequence[str],
        max_new_tokens: int,
        system_prompt: str | None = None,
    ) -> list[str]:
        """Greedy answers, one per question; ``images[i]`` is an image, a list of images, or None."""
        if len(images) != len(questions):
            raise ValueError(f"{len(images)} image entries for {len(questions)} questions")
        per_row = [self._as_list(im) for im in images]
        rows = [self.understanding_ids(q, len(ims), system_prompt) for q, ims in zip(questions, per_row)]
        tokens = self.greedy(rows, [im for ims in per_row for im in ims], max_new_tokens)
        return [self.tokenizer.decode(t, skip_special_tokens=True) for t in tokens]

    def _embed(self, ids: torch.Tensor, images: list[Image.Image]) -> torch.Tensor:
        embeds = self.model.get_input_embeddings()(ids)
        if images:
            pv = pixel_values(images, self.image_size).to(self.device, self.dtype)
            features = self.model.model.get_image_features(pv).pooler_output  # [n_img, N, D]
            slots = (ids == self.ids.image).unsqueeze(-1)
            embeds = embeds.masked_scatter(slots, features.reshape(-1, embeds.shape[-1]).to(embeds.dtype))
        return embeds

    def greedy(self, rows: list[list[int]], images: list[Image.Image], max_new_tokens: int) -> list[list[int]]:
        """Token ids generated after each prompt row, EOS excluded.

        The loop never waits for the device inside a step: tokens go to a device buffer, the EOS and
        NaN/inf bookkeeping are tensor ops, and "all rows done?" is asked only every ``SYNC_EVERY``
        steps (steps run after every row has finished are cut off at each row's EOS, so they change nothing).
        """
        ids, mask = _left_pad(rows, self.ids.pad)
        ids, mask = ids.to(self.device), mask.to(self.device)
        embeds = self._embed(ids, images)
        cache = DynamicCache(config=self.model.config.text_config)
        positions = _positions(mask)
        lm = self.model.model.language_model
        tokens = torch.full((len(rows), max_new_tokens), self.ids.pad, dtype=torch.long, device=self.device)
        done = torch.zeros(len(rows), dtype=torch.bool, device=self.device)
        first_bad = _no_bad_steps(len(rows), max_new_tokens, self.device)
        steps = 0
        for step in range(max_new_tokens):
            hidden = lm(
                inputs_embeds=embeds, attention_mask=mask, position_ids=positions, use_cache=True, **{self._cache_kw: cache}
            ).last_hidden_state[:, -1]
            logits = self.model.lm_head(hidden).float()
            first_bad = _note_bad_rows(first_bad, _nonfinite(logits) & ~done, step)
            next_ids = logits.argmax(-1)
            tokens[:, step] = next_ids
            done = done | (next_ids == self.ids.eos)
            steps = step + 1
            if steps == max_new_tokens or (steps % SYNC_EVERY == 0 and bool(done.all())):
                break
            next_ids = torch.where(done, torch.full_like(next_ids, self.ids.pad), next_ids)
            embeds = self.model.get_input_embeddings()(next_ids)[:, None]
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            positions = positions[:, -1:] + 1
        _raise_if_bad(first_bad, max_new_tokens)
        return [_until(row, self.ids.eos) for row in tokens[:, :steps].tolist()]

    # -- generation ---------------------------------------------------------------------------
    def generation_ids(self, caption: str) -> list[int]:
        return [self.ids.bos, *self._encode_text(self.chat.generation(caption)), self.ids.begin_of_image]

    def _sample_codes(self, hidden: torch.Tensor, seeds: torch.Tensor, step: torch.Tensor, cfg_scale: float,
                      temperature: float) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """Generation head, CFG and counter-based sampling on [2B, D] hidden states: ([B] codes, [B] bad).

        ``bad`` marks images whose conditional or unconditional logits hold a NaN or inf; it stays on
        the device, so the decode loop never waits for it.
        """
        logits = self.model.model.generation_head(hidden).float()  # [2B, V]
        batch = logits.shape[0] // 2
        bad = _nonfinite(logits)
        mixed = sampling.cfg_logits(logits[:batch], logits[batch:], cfg_scale)
        return sampling.sample(mixed, seeds, step, temperature), bad[:batch] | bad[batch:]

    def _decode_step(self, codes: torch.Tensor, mask: torch.Tensor, position: torch.Tensor, cache_position: torch.Tensor,
                     cache: StaticCache, seeds: torch.Tensor, step: torch.Tensor, cfg_scale: float,
                     temperature: float) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """One image token: embed the previous codes (cond and uncond rows), the LM, then ``_sample_codes``.

        Everything a step does is in here, so on CUDA one compiled graph covers it (no eager kernels between replays).
        """
        embeds = self.model.prepare_embeddings_for_image_generation(codes.repeat(2))[:, None]
        hidden = self._lm_step(embeds, mask, position, cache_position, cache)
        return self._sample_codes(hidden, seeds, step, cfg_scale, temperature)

    @torch.inference_mode()
    def generate_tokens(
        self, prompts: Sequence[str], seeds: Sequence[int], cfg_scale: float = 5.0, temperature: float = 1.0
    ) -> torch.Tensor:
        """[B, num_gen_tokens] VQ codes; rows [0, B) conditional, [B, 2B) unconditional in one forward.

        The KV cache is allocated once for prompt + all image tokens (a static cache), the attention
        mask has that full length from the start, and prompts are left-padded to a multiple of
        ``PROMPT_BUCKET`` tokens, so every decode step has the same shapes: on CUDA the step (LM,
        head, CFG, sampling) is compiled once and replayed as a CUDA graph. Codes and the NaN/inf
        record stay on the device until the loop ends.
        """
        if len(prompts) != len(seeds):
            raise ValueError(f"{len(seeds)} seeds for {len(prompts)} prompts")
        cond = [self.generation_ids(p) for p in prompts]
        uncond = [[r[0]] + [self.ids.pad] * (len(r) - 2) + [r[-1]] for r in cond]
        ids, mask = _left_pad(cond + uncond, self.ids.pad, multiple=PROMPT_BUCKET)
        ids, mask = ids.to(self.device), mask.to(self.device)
        batch, prompt_len, steps = len(prompts), ids.shape[1], self.num_gen_tokens
        seed_t = torch.tensor(list(seeds), dtype=torch.int64, device=self.device)
        step_t = torch.arange(steps, dtype=torch.int64, device=self.device)
        cache_len = -(-(prompt_len + steps) // CACHE_BUCKET) * CACHE_BUCKET
        cache = self._static_cache(2 * batch, cache_len)
        tail = cache_len - prompt_len - steps  # slots never written: masked out
        full_mask = torch.cat([mask, torch.ones(2 * batch, steps, dtype=mask.dtype, device=self.device),
                               torch.zeros(2 * batch, tail, dtype=mask.dtype, device=self.device)], dim=1)  # fmt: skip
        positions = _positions(mask)
        hidden = self._lm_step(self.model.get_input_embeddings()(ids), full_mask, positions,
                               torch.arange(prompt_len, device=self.device), cache)  # fmt: skip
        position = positions[:, -1:]
        codes = torch.empty((steps, batch), dtype=torch.long, device=self.device)
        first_bad = _no_bad_steps(batch, steps, self.device)
        next_codes, bad = self._sample_codes(hidden, seed_t, step_t[0], cfg_scale, temperature)
        step_fn = self._compiled_step() if self.compile_decode else self._decode_step
        for step in range(steps):
            if step:
                position = position + 1
                cache_position = torch.full((1,), prompt_len + step - 1, dtype=torch.long, device=self.device)
                args = (codes[step - 1], full_mask, position, cache_position, cache, seed_t, step_t[step], cfg_scale,
                        temperature)  # fmt: skip
                (next_codes, bad), step_fn = self._step_with_fallback(step_fn, args)
            codes[step] = next_codes  # copied out before the next replay overwrites a CUDA graph's outputs
            first_bad = _note_bad_rows(first_bad, bad, step)
        _raise_if_bad(first_bad, steps)
        return codes.T.contiguous()

    def _step_with_fallback(self, step_fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Any, Callable[..., Any]]:
        """``step_fn(*args)`` and the step function to use from now on: a compiler failure must not cost the run."""
        try:
            return step_fn(*args), step_fn
        except Exception as err:  # noqa: BLE001 - any compiler failure; the eager step's own errors propagate
            if step_fn is self._decode_step:
                raise
            return self._step_with_fallback(self._fallback_step(err), args)

    def _fallback_step(self, err: Exception) -> Callable[..., Any]:
        """After a failed compiled step: recompile allowing graph breaks, and if that failed too, run eagerly."""
        reason = f"{type(err).__name__}: {err}"
        if self._fullgraph:
            warnings.warn(f"decode step does not compile as one graph ({reason}); compiling with graph breaks", stacklevel=2)
            self._fullgraph, self._compiled = False, None
            return self._compiled_step()
        warnings.warn(f"compiled decode step failed ({reason}); continuing eagerly", stacklevel=2)
        self.compile_decode = False
        return self._decode_step

    def _static_cache(self, rows: int, length: int) -> StaticCache:
        """The previous call's cache, zeroed, when the shape matches, else a new one (the old one freed first).

        Reuse keeps the cache tensors at fixed addresses, which a replayed CUDA graph needs; a fresh
        cache per call would make torch.compile re-record (and soon give up) on every batch.
        """
        if self._gen_cache is not None and self._gen_cache[0] == (rows, length):
            self._gen_cache[1].reset()
            return self._gen_cache[1]
        self._gen_cache = None
        cache = StaticCache(config=self.model.config.text_config, max_cache_len=length)
        self._gen_cache = ((rows, length), cache)
        return cache

    def _lm_step(self, embeds: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor,
                 cache_position: torch.Tensor, cache: StaticCache) -> torch.Tensor:  # fmt: skip
        """Last hidden state of each row after feeding ``embeds`` at ``cache_position``."""
        out = self.model.model.language_model(
            inputs_embeds=embeds, attention_mask=mask, position_ids=positions, **{self._cache_kw: cache},
            cache_position=cache_position, use_cache=True,
        )  # fmt: skip
        return out.last_hidden_state[:, -1]

    def _compiled_step(self) -> Any:
        """``_decode_step`` compiled for CUDA graphs (built on first use; ``_fullgraph`` says with or without breaks)."""
        if self._compiled is None:
            self._compiled = torch.compile(self._decode_step, mode="reduce-overhead", fullgraph=self._fullgraph,
                                           dynamic=False)  # fmt: skip
        return self._compiled

    @torch.inference_mode()
    def decode_codes(self, codes: torch.Tensor) -> np.ndarray:
        """VQ decode to uint8 [B, H, W, 3]: clip((x + 1) / 2 * 255), truncated like the release.

        Convolution kernels are picked by batch shape, and different kernels round differently, so
        decoding always runs in chunks of exactly ``decode_chunk`` images (the last one padded): an
        image's pixels then never depend on how many images shared its call.
        """
        chunk = self.decode_chunk
        padded = torch.cat([codes, codes[:1].expand((-chunk) % len(codes), -1)]) if len(codes) % chunk else codes
        pieces = [
            self.model.decode_image_tokens(padded[i : i + chunk].to(self.device)).float().cpu()
            for i in range(0, len(padded), chunk)
        ]
        pixels = torch.cat(pieces)[: len(codes)].numpy()
        return np.clip((pixels + 1) / 2 * 255, 0, 255).astype(np.uint8)

    def generate_images(
        self, prompts: Sequence[str], seeds: Sequence[int], cfg_scale: float = 5.0, temperature: float = 1.0
    ) -> np.ndarray:
        return self.decode_codes(self.generate_tokens(prompts, seeds, cfg_scale, temperature))
