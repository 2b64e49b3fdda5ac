"""Throughput on real-shaped random weights, as ratios against a reference measured in the same run.

``gen``: our batched CFG generation (static KV cache, CUDA-graph decode on GPU, cross-prompt
batches) against the release's loop (one prompt at a time, ``parallel_size`` images of it, a
growing cache and ``torch.multinomial``). ``und``: our batched greedy understanding on POPE-shaped
inputs (576 image tokens + ~60 text tokens, short answers) against transformers' ``generate`` at
batch 1. Random weights are fine for speed: the work per token does not depend on the values.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image

from janus_eval.model.adapter import JanusAdapter
from janus_eval.model.chat import FORMATS

POPE_QUESTION = "Is there a dining table in the image?\nAnswer the question using a single word or phrase."
GEN_PROMPTS = ["a photo of a bench", "a photo of a red cake and a blue bicycle", "a photo of four giraffes",
               "a photo of a dog right of a teddy bear", "a photo of a purple backpack"]  # fmt: skip


@dataclass
class BenchResult:
    mode: str
    shape: str
    device: str
    dtype: str
    batch_size: int
    ours_per_s: float
    reference_per_s: float
    unit: str
    date: str
    torch: str

    @property
    def speedup(self) -> float:
        return self.ours_per_s / self.reference_per_s


def janus_13b_config() -> Any:
    """Janus-1.3B's shapes: DeepSeek-LLM 1.3B (24 x 2048, vocab 102400), SigLIP-L/16 at 384, VQ-16."""
    from transformers import JanusConfig

    from janus_eval.model.tiny import TOKEN_IDS

    text = dict(model_type="llama", vocab_size=102400, hidden_size=2048, intermediate_size=5632, num_hidden_layers=24,
                num_attention_heads=16, num_key_value_heads=16, max_position_embeddings=4096, rms_norm_eps=1e-6,
                bos_token_id=TOKEN_IDS["<｜begin▁of▁sentence｜>"], eos_token_id=TOKEN_IDS["<｜end▁of▁sentence｜>"],
                pad_token_id=TOKEN_IDS["<｜▁pad▁｜>"], tie_word_embeddings=False)  # fmt: skip
    config = JanusConfig(text_config=text, vision_config={}, vq_config={}, tie_word_embeddings=False,
                         image_token_id=TOKEN_IDS["<image_placeholder>"])  # fmt: skip
    config._attn_implementation = "sdpa"
    return config


def build_adapter(shape: str, device: str, dtype: torch.dtype) -> JanusAdapter:
    from transformers import JanusForConditionalGeneration
    from transformers.initialization import no_init_weights

    from janus_eval.model.tiny import build_tiny_model, build_tokenizer

    if shape == "tiny":
        model = build_tiny_model()
    else:
        with no_init_weights(), torch.device(device):
            model = JanusForConditionalGeneration(janus_13b_config()).to(dtype)
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            for param in model.parameters():
                param.normal_(0.0, 0.02)
    return JanusAdapter(model, build_tokenizer(), FORMATS["janus"], name=f"random-{shape}", device=device, dtype=dtype)


def _timed(fn: Callable[[], Any], device: str) -> float:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


@torch.inference_mode()
def release_generation_loop(adapter: JanusAdapter, prompt: str, parallel_size: int, cfg_scale: float = 5.0) -> torch.Tensor:
    """The Janus release's sampling loop: one prompt, ``parallel_size`` images, cond/uncond interleaved."""
    ids = torch.tensor(adapter.generation_ids(prompt), device=adapter.device)
    rows = ids.repeat(parallel_size * 2, 1)
    rows[1::2, 1:-1] = adapter.ids.pad
    embeds = adapter.model.get_input_embeddings()(rows)
    lm, past, codes = adapter.model.model.language_model, None, []
    for _ in range(adapter.num_gen_tokens):
        out = lm(inputs_embeds=embeds, use_cache=True, past_key_values=past)
        past = out.past_key_values
        logits = adapter.model.model.generation_head(out.last_hidden_state[:, -1])
        mixed = logits[1::2] + cfg_scale * (logits[0::2] - logits[1::2])
        token = torch.multinomial(torch.softmax(mixed.float(), dim=-1), num_samples=1)
        codes.append(token[:, 0])
        embeds = adapter.model.prepare_embeddings_for_image_generation(torch.cat([token, token], 1).view(-1))[:, None]
    return adapter.decode_codes(torch.stack(codes, 1))


def bench_generation(adapter: JanusAdapter, batch_size: int, n_images: int, device: str) -> tuple[float, float]:
    prompts = [GEN_PROMPTS[i % len(GEN_PROMPTS)] for i in range(n_images)]
    seeds = list(range(n_images))
    adapter.generate_images(prompts[:batch_size], seeds[:batch_size])  # warm-up: compile and capture
    ours = _timed(lambda: [adapter.generate_images(prompts[i : i + batch_size], seeds[i : i + batch_size])
                           for i in range(0, n_images, batch_size)], device)  # fmt: skip
    parallel = min(16, n_images)
    release_generation_loop(adapter, prompts[0], parallel)  # warm-up
    reference = _timed(lambda: release_generation_loop(adapter, prompts[0], parallel), device)
    return n_images / ours, parallel / reference


def bench_understanding(adapter: JanusAdapter, batch_size: int, n_samples: int, device: str) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)) for _ in range(n_samples)]
    questions = [POPE_QUESTION] * n_samples
    adapter.understand(images[:batch_size], questions[:batch_size], 3)
    ours = _timed(lambda: [adapter.understand(images[i : i + batch_size], questions[i : i + batch_size], 3)
                           for i in range(0, n_samples, batch_size)], device)  # fmt: skip
    from janus_eval.model.preprocess import pixel_values

    n_ref = min(n_samples, 8)
    from transformers import GenerationConfig

    greedy3 = GenerationConfig(max_new_tokens=3, min_new_tokens=3, do_sample=False, pad_token_id=adapter.ids.pad,
                               eos_token_id=adapter.ids.eos)  # fmt: skip

    def reference_loop() -> None:
        for image in images[:n_ref]:
            ids = torch.tensor([adapter.understanding_ids(POPE_QUESTION, 1)], device=adapter.device)
            pv = pixel_values([image], adapter.image_size).to(adapter.device, adapter.dtype)
            adapter.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=pv,
                                   generation_config=greedy3)

    reference = _timed(reference_loop, device)
    return n_samples / ours, n_ref / reference


def run_bench(mode: str, shape: str | None, device: str, dtype: str | None, batch_size: int, n: int) -> BenchResult:
    from janus_eval.model import resolve_dtype

    shape = shape or ("1.3b" if device.startswith("cuda") else "tiny")
    torch_dtype = resolve_dtype(dtype, torch.device(device))
    adapter = build_adapter(shape, device, torch_dtype)
    if mode == "gen":
        ours, reference = bench_generation(adapter, batch_size, n, device)
        unit = "images/s"
    else:
        ours, reference = bench_understanding(adapter, batch_size, n, device)
        unit = "samples/s"
    name = torch.cuda.get_device_name() if device.startswith("cuda") else f"CPU ({platform.processor() or 'x86_64'})"
    return BenchResult(mode=mode, shape=shape, device=name, dtype=str(torch_dtype).replace("torch.", ""),
                       batch_size=batch_size, ours_per_s=ours, reference_per_s=reference, unit=unit,
                       date=datetime.now(timezone.utc).date().isoformat(), torch=torch.__version__)  # fmt: skip


def to_json(result: BenchResult) -> str:
    return json.dumps({**asdict(result), "speedup": result.speedup}, indent=2)
