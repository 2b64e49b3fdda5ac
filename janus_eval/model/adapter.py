"""Batched Janus inference over transformers' Janus modules.

``understand``: left-padded batches, image features scattered into the placeholder positions,
positions counted from each row's first real token, KV cache, greedy, per-row stop at EOS.
``generate_images``: a conditional and an unconditional row per image in one forward, CFG on the
generation head's logits, per-image counter-based noise, VQ decode, uint8 like the release.

The decode loops and their steps (prefill, one step, the loop) live in ``decode``; this class batches
the inputs, owns the caches and the compiled image step, and warms that step up before the loop uses it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from PIL import Image
from transformers import DynamicCache, JanusForConditionalGeneration, PreTrainedTokenizerBase, StaticCache

from janus_eval.model import decode, memory
from janus_eval.model.chat import BEGIN_OF_IMAGE, END_OF_IMAGE, IMAGE_PLACEHOLDER, ChatFormat
from janus_eval.model.preprocess import level_values, normalise, pixel_levels


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


ImageArg = Image.Image | Sequence[Image.Image] | np.ndarray | torch.Tensor | None
"""One row's images: one, several, none, or already prepared (``JanusAdapter._row_levels``)."""


PROMPT_BUCKET = 16
"""Generation prompts are left-padded to a multiple of this, so compiled steps see few shapes."""
CACHE_BUCKET = 128
"""The static KV cache (prompt + image tokens) is rounded up to a multiple of this: prompts of
different buckets then share one cache, one mask shape and one captured CUDA graph."""


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def _left_pad(rows: list[list[int]], pad: int, multiple: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, L] ids and mask, padded on the left so every row's last token is aligned."""
    length = _round_up(max(len(r) for r in rows), multiple)
    ids = torch.full((len(rows), length), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, length - len(row) :] = torch.tensor(row, dtype=torch.long)
        mask[i, length - len(row) :] = 1
    return ids, mask


def _full_length_mask(mask: torch.Tensor, steps: int, cache_len: int) -> torch.Tensor:
    """The mask of every generation step at once: the prompt's, ``steps`` image tokens, then the static cache's
    never-written tail masked out; one shape for the whole loop, as a captured CUDA graph needs."""
    rows, tail = mask.shape[0], cache_len - mask.shape[1] - steps
    return torch.cat([mask, mask.new_ones(rows, steps), mask.new_zeros(rows, tail)], dim=1)


COMPILED_WARM_UP_STEPS = 3
"""A compiled step's first steps of each call: compile (and CUDA graph warm-up run), graph record, first replay.
Past these the loop calls the step bare: whatever can fail while compiling has failed by then."""


def out_of_memory(err: BaseException) -> BaseException | None:
    """The out-of-memory error ``err`` is or wraps (torch.compile wraps errors raised while compiling), else None."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, torch.cuda.OutOfMemoryError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


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
        self.decoder = decode.Decoder(self.model)
        self.decode_chunk = 8 if self.device.type == "cuda" else 1
        self.compile_decode = self.device.type == "cuda"
        """Capture the image-token decode step as a CUDA graph (torch.compile, reduce-overhead)."""
        self._compiled: Any = None
        self._fullgraph = True
        """Compile the decode step without graph breaks; cleared if that fails (see ``_fallback_step``)."""
        self._gen_cache: tuple[tuple[int, int], StaticCache] | None = None
        self._level_table = level_values().to(self.device, dtype)
        """Encoder input per 8-bit level, in the model's dtype on its device (``preprocess.normalise``)."""

    def batch_size_for(self, kind: memory.ModelCall, prompt: str, n_images: int = 0, new_tokens: int = 0,
                       system_prompt: str | None = None) -> int:  # fmt: skip
        """A batch size that fits free memory for prompts up to this one (``--batch-size auto``)."""
        free = memory.free_bytes(self.device)
        if free is None:
            return memory.CPU_BATCH_SIZE
        if kind == "generate":
            seq_len = _round_up(len(self.generation_ids(prompt)), PROMPT_BUCKET) + self.num_gen_tokens
        else:
            seq_len = len(self.understanding_ids(prompt, n_images, system_prompt)) + new_tokens
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

    def prompt_overflow(self, question: str, n_images: int, new_tokens: int, system_prompt: str | None = None) -> int | None:
        """The prompt's length in tokens when it and ``new_tokens`` exceed the context, else None.

        A token covers at most 4 characters' worth of bytes... or more: only prompts that could be too long
        are tokenised.
        """
        if 4 * len(question) + n_images * (self.num_image_tokens + 2) + new_tokens + 64 <= self.context_length:
            return None
        length = self.prompt_length(question, n_images, system_prompt)
        return length if length + new_tokens > self.context_length else None

    @property
    def loader_image_size(self) -> int:
        """The encoder's square input: loader workers resize, pad and quantise images to it (``preprocess.pixel_levels``)."""
        return self.image_size

    def _row_levels(self, images: ImageArg) -> torch.Tensor:
        """One row's images as uint8 [n, S, S, 3] encoder input (``preprocess.pixel_levels``), on the CPU.

        Loader workers hand rows over already prepared (an array, or a tensor pinned for the GPU copy);
        PIL images are prepared here. The values are the same either way.
        """
        if isinstance(images, (np.ndarray, torch.Tensor)):
            levels = torch.as_tensor(images)
            if levels.dtype != torch.uint8 or levels.shape[1:] != (self.image_size, self.image_size, 3):
                raise ValueError(f"prepared pixels must be uint8 [n, {self.image_size}, {self.image_size}, 3], "
                                 f"got {levels.dtype} {list(levels.shape)}")  # fmt: skip
            return levels
        if images is None:
            images = []
        return torch.from_numpy(pixel_levels([images] if isinstance(images, Image.Image) else list(images), self.image_size))

    @torch.inference_mode()
    def understand(
        self,
        images: Sequence[ImageArg],
        questions: Sequence[str],
        max_new_tokens: int,
        system_prompt: str | None = None,
    ) -> list[str]:
        """Greedy answers, one per question; ``images[i]``: an image, a list of images, None, or prepared pixels.

        Each row's pixels go to the device on their own: a pinned row's copy is then asynchronous
        (a ``torch.cat`` on the host first would land in pageable memory).
        """
        if len(images) != len(questions):
            raise ValueError(f"{len(images)} image entries for {len(questions)} questions")
        per_row = [self._row_levels(im) for im in images]
        rows = [self.understanding_ids(q, len(levels), system_prompt) for q, levels in zip(questions, per_row)]
        levels = torch.cat([row.to(self.device, non_blocking=True) for row in per_row])
        tokens = self.greedy(rows, levels, max_new_tokens)
        return [self.tokenizer.decode(t, skip_special_tokens=True) for t in tokens]

    def _encoder_input(self, images: Sequence[Image.Image] | torch.Tensor) -> torch.Tensor:
        """[N, 3, S, S] in the model's dtype on its device, from PIL images or ``_row_levels``' levels."""
        levels = images if isinstance(images, torch.Tensor) else self._row_levels(images)
        return normalise(levels.to(self.device, non_blocking=True), self._level_table)

    def greedy(self, rows: list[list[int]], images: Sequence[Image.Image] | torch.Tensor,
               max_new_tokens: int) -> list[list[int]]:  # fmt: skip
        """Token ids generated after each prompt row, EOS excluded; ``images``: every row's, in order."""
        ids, mask = (t.to(self.device) for t in _left_pad(rows, self.ids.pad))
        cache = DynamicCache(config=self.model.config.text_config)
        tokens = decode.greedy_tokens(self.decoder, ids, mask, self._encoder_input(images), cache, max_new_tokens,
                                      image_id=self.ids.image, eos=self.ids.eos, pad=self.ids.pad)  # fmt: skip
        return [_until(row, self.ids.eos) for row in tokens]

    # -- generation ---------------------------------------------------------------------------
    def generation_ids(self, caption: str) -> list[int]:
        return [self.ids.bos, *self._encode_text(self.chat.generation(caption)), self.ids.begin_of_image]

    def _cfg_rows(self, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """[2B, L] ids and mask on the device: the conditional rows, then the unconditional ones (BOS, pads, BOI),
        left-padded to a multiple of ``PROMPT_BUCKET``."""
        cond = [self.generation_ids(p) for p in prompts]
        uncond = [[r[0]] + [self.ids.pad] * (len(r) - 2) + [r[-1]] for r in cond]
        ids, mask = _left_pad(cond + uncond, self.ids.pad, multiple=PROMPT_BUCKET)
        return ids.to(self.device), mask.to(self.device)

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
        ids, mask = self._cfg_rows(prompts)
        steps = self.num_gen_tokens
        cache_len = _round_up(ids.shape[1] + steps, CACHE_BUCKET)
        cache, full_mask = self._static_cache(2 * len(prompts), cache_len), _full_length_mask(mask, steps, cache_len)
        seed_t = torch.tensor(list(seeds), dtype=torch.int64, device=self.device)
        warm_up_steps = COMPILED_WARM_UP_STEPS if self.compile_decode else 1
        return decode.image_tokens(self.decoder, ids, mask, full_mask, cache, seed_t, steps, cfg_scale, temperature,
                                   self._warm_up, warm_up_steps)  # fmt: skip

    def _warm_up(self, args: tuple[Any, ...]) -> tuple[decode.StepResult, Callable[..., decode.StepResult]]:
        """One of a call's first decode steps, and the step function for the steps after it.

        The compiled step is compiled (and its CUDA graph captured) here, on the loop's first steps. A compiler
        failure must not cost the run: recompile allowing graph breaks, then run eagerly; a compiler fails before
        the step runs, so the retry writes the same cache slot. A CUDA out-of-memory error is not a compiler
        failure: it goes straight to the caller's batch halving, and the compiled step and its graphs stay in use.
        """
        eager = self.decoder.image_step
        step_fn = self._compiled_step() if self.compile_decode else eager
        while step_fn != eager:
            try:
                return step_fn(*args), step_fn
            except Exception as err:  # noqa: BLE001 - any compiler failure; the eager step's own errors propagate
                oom = out_of_memory(err)
                if oom is not None:
                    raise oom from None
                step_fn = self._fallback_step(err)
        return eager(*args), eager

    def _fallback_step(self, err: Exception) -> Callable[..., Any]:
        """After a failed compiled step: recompile allowing graph breaks, and if that failed too, run eagerly."""
        reason = f"{type(err).__name__}: {err}"
        if self._fullgraph:
            warnings.warn(f"decode step does not compile as one graph ({reason}); compiling with graph breaks", stacklevel=2)
            self._fullgraph, self._compiled = False, None
            return self._compiled_step()
        warnings.warn(f"compiled decode step failed ({reason}); continuing eagerly", stacklevel=2)
        self.compile_decode = False
        return self.decoder.image_step

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

    def _compiled_step(self) -> Any:
        """``Decoder.image_step`` compiled for CUDA graphs (built on first use; ``_fullgraph``: with or without breaks)."""
        if self._compiled is None:
            self._compiled = torch.compile(self.decoder.image_step, mode="reduce-overhead", fullgraph=self._fullgraph,
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
        padded = torch.cat([codes, codes[:1].expand((-len(codes)) % chunk, -1)]) if len(codes) % chunk else codes
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
