"""Throughput on real-shaped random weights, as ratios against a reference measured in the same run.

``gen``: our batched CFG generation (static KV cache, CUDA-graph decode on GPU, cross-prompt
batches) at several batch sizes against the release's loop (one prompt at a time, ``parallel_size``
16, a growing cache and ``torch.multinomial``), with the memory-bandwidth floor of each batch size.
``und``: our batched greedy understanding on POPE-shaped (3 answer tokens) and VQA-shaped (10)
inputs against transformers' ``generate`` at batch 1. ``agree``: how often batched greedy answers
are token-identical to that batch-1 reference (exact in fp32; bf16 on GPU rounds differently).
Random weights are fine for speed: the work per token does not depend on the values.
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

from janus_eval.bench_models import SHAPES, random_adapter  # noqa: F401 - SHAPES: the CLI's --shape choices
from janus_eval.model.adapter import PROMPT_BUCKET, JanusAdapter
from janus_eval.model.checkpoint import quiet_transformers
from janus_eval.model.lm_compat import cache_kwargs, output_cache

GEN_PROMPTS = ["a photo of a bench", "a photo of a red cake and a blue bicycle", "a photo of four giraffes",
               "a photo of a dog right of a teddy bear", "a photo of a purple backpack"]  # fmt: skip
OBJECTS = ["dining table", "person", "car", "chair", "traffic light", "giraffe", "toothbrush", "cup"]
VQA_QUESTIONS = ["What is the man holding in his left hand?", "How many people are in the picture?",
                 "What color is the bus parked next to the building on the corner?", "Why is the dog wet?"]  # fmt: skip
SHORT_ANSWER = "\nAnswer the question using a single word or phrase."
RELEASE_PARALLEL_SIZE = 16
BANDWIDTH_BYTES_PER_S = {"H200": 4.8e12, "H100 PCIe": 2.0e12, "H100": 3.35e12, "A100": 2.0e12}
"""HBM bandwidth by device name (first match), for the decode's memory floor."""


@dataclass(frozen=True)
class Workload:
    """An understanding input shape: questions (different lengths, so batches are padded), answer length."""

    name: str
    questions: tuple[str, ...]
    answer_tokens: int


WORKLOADS = (
    Workload("pope", tuple(f"Is there a {o} in the image?{SHORT_ANSWER}" for o in OBJECTS), 3),
    Workload("vqa", tuple(q + SHORT_ANSWER for q in VQA_QUESTIONS), 10),
)


@dataclass
class BenchResult:
    mode: str
    workload: str
    shape: str
    device: str
    dtype: str
    batch_size: int
    ours_per_s: float
    reference_per_s: float
    unit: str
    peak_memory_gib: float | None
    """Peak GPU memory allocated by our batched call (None on CPU)."""
    floor_per_s: float | None
    """Generation only: images/s if each decode step only had to read the weights and the KV cache once."""
    date: str
    torch: str

    @property
    def speedup(self) -> float:
        return self.ours_per_s / self.reference_per_s


@dataclass
class AgreementResult:
    workload: str
    shape: str
    device: str
    dtype: str
    batch_size: int
    samples: int
    exact_match: float
    """Share of samples whose whole answer (token ids up to EOS) equals the batch-1 reference."""
    first_token_match: float
    date: str
    torch: str


# -- measuring -------------------------------------------------------------------------------------
def _is_cuda(device: str) -> bool:
    return device.startswith("cuda")


def _timed(fn: Callable[[], Any], device: str) -> float:
    if _is_cuda(device):
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if _is_cuda(device):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def _timed_with_peak(fn: Callable[[], Any], device: str) -> tuple[float, float | None]:
    if not _is_cuda(device):
        return _timed(fn, device), None
    torch.cuda.reset_peak_memory_stats()
    seconds = _timed(fn, device)
    return seconds, torch.cuda.max_memory_allocated() / 2**30


def device_name(device: str) -> str:
    return torch.cuda.get_device_name() if _is_cuda(device) else f"CPU ({platform.processor() or 'x86_64'})"


def bandwidth(name: str) -> float | None:
    return next((bw for key, bw in BANDWIDTH_BYTES_PER_S.items() if key in name), None)


def generation_floor(adapter: JanusAdapter, batch: int, prompt_len: int, bytes_per_s: float) -> float:
    """Images/s if every decode step read the decoder weights once and each row's live KV cache once."""
    text = adapter.model.config.text_config
    element = torch.tensor([], dtype=adapter.dtype).element_size()
    modules = (adapter.model.model.language_model.layers, adapter.model.model.generation_head)
    weight_bytes = sum(p.numel() for m in modules for p in m.parameters()) * element
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    mean_len = prompt_len + adapter.num_gen_tokens / 2
    kv_bytes = 2 * batch * 2 * text.num_hidden_layers * text.num_key_value_heads * head_dim * mean_len * element
    step_seconds = (weight_bytes + kv_bytes) / bytes_per_s
    return batch / (adapter.num_gen_tokens * step_seconds)


@torch.inference_mode()
def release_generation_loop(adapter: JanusAdapter, prompt: str, parallel_size: int, cfg_scale: float = 5.0) -> np.ndarray:
    """The Janus release's sampling loop: one prompt, ``parallel_size`` images, cond/uncond interleaved."""
    ids = torch.tensor(adapter.generation_ids(prompt), device=adapter.device)
    rows = ids.repeat(parallel_size * 2, 1)
    rows[1::2, 1:-1] = adapter.ids.pad
    embeds = adapter.model.get_input_embeddings()(rows)
    lm, past, codes = adapter.model.model.language_model, None, []
    for _ in range(adapter.num_gen_tokens):
        out = lm(inputs_embeds=embeds, use_cache=True, **cache_kwargs(lm, past))
        past = output_cache(out)
        logits = adapter.model.model.generation_head(out.last_hidden_state[:, -1])
        mixed = logits[1::2] + cfg_scale * (logits[0::2] - logits[1::2])
        token = torch.multinomial(torch.softmax(mixed.float(), dim=-1), num_samples=1)
        codes.append(token[:, 0])
        embeds = adapter.model.prepare_embeddings_for_image_generation(torch.cat([token, token], 1).view(-1))[:, None]
    return adapter.decode_codes(torch.stack(codes, 1))


def bench_generation(adapter: JanusAdapter, batch_sizes: list[int], n_images: int, device: str) -> list[dict[str, Any]]:
    """Per batch size: ours images/s, its peak memory and floor; the release loop's images/s once."""
    prompts = [GEN_PROMPTS[i % len(GEN_PROMPTS)] for i in range(n_images)]
    parallel = min(RELEASE_PARALLEL_SIZE, n_images)
    release_generation_loop(adapter, prompts[0], parallel)  # warm-up
    reference = parallel / _timed(lambda: release_generation_loop(adapter, prompts[0], parallel), device)
    bytes_per_s = bandwidth(device_name(device))
    prompt_len = -(-max(len(adapter.generation_ids(p)) for p in GEN_PROMPTS) // PROMPT_BUCKET) * PROMPT_BUCKET
    rows = []
    for batch in batch_sizes:
        seeds = list(range(n_images))
        adapter.generate_images(prompts[:batch], seeds[:batch])  # warm-up: compile and capture this shape
        seconds, peak = _timed_with_peak(lambda: [adapter.generate_images(prompts[i : i + batch], seeds[i : i + batch])
                                                  for i in range(0, n_images, batch)], device)  # fmt: skip
        floor = generation_floor(adapter, batch, prompt_len, bytes_per_s) if bytes_per_s else None
        rows.append(dict(batch_size=batch, ours=n_images / seconds, reference=reference, peak=peak, floor=floor))
    return rows


def _images(n: int) -> list[Image.Image]:
    """Photo-sized random images, of two sizes, so preprocessing does real resizing."""
    rng = np.random.default_rng(0)
    sizes = ((480, 640), (427, 640))
    return [Image.fromarray(rng.integers(0, 256, (*sizes[i % 2], 3), dtype=np.uint8)) for i in range(n)]


def _questions(workload: Workload, n: int) -> list[str]:
    return [workload.questions[i % len(workload.questions)] for i in range(n)]


def reference_answer(adapter: JanusAdapter, image: Image.Image, question: str, max_new_tokens: int,
                     exact_length: bool = False) -> list[int]:  # fmt: skip
    """transformers' ``generate`` on one sample: greedy, no padding; token ids before EOS."""
    from transformers import GenerationConfig

    from janus_eval.model.preprocess import pixel_values

    config = GenerationConfig(max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens if exact_length else 0,
                              do_sample=False, pad_token_id=adapter.ids.pad, eos_token_id=adapter.ids.eos)  # fmt: skip
    ids = torch.tensor([adapter.understanding_ids(question, 1)], device=adapter.device)
    pv = pixel_values([image], adapter.image_size).to(adapter.device, adapter.dtype)
    with torch.inference_mode(), quiet_transformers():
        out = adapter.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=pv,
                                     generation_config=config)  # fmt: skip
    answer = out[0, ids.shape[1] :].tolist()
    return answer[: answer.index(adapter.ids.eos)] if adapter.ids.eos in answer else answer


def _batched_answers(adapter: JanusAdapter, images: list[Image.Image], questions: list[str], batch: int,
                     max_new_tokens: int) -> list[list[int]]:  # fmt: skip
    answers: list[list[int]] = []
    for i in range(0, len(questions), batch):
        rows = [adapter.understanding_ids(q, 1) for q in questions[i : i + batch]]
        with torch.inference_mode():
            answers += adapter.greedy(rows, images[i : i + batch], max_new_tokens)
    return answers


def bench_understanding(adapter: JanusAdapter, workload: Workload, batch_sizes: list[int], n: int,
                        device: str) -> list[dict[str, Any]]:  # fmt: skip
    images, questions = _images(n), _questions(workload, n)
    tokens = workload.answer_tokens
    n_ref = min(n, 8)
    reference_answer(adapter, images[0], questions[0], tokens, exact_length=True)  # warm-up
    ref_seconds = _timed(lambda: [reference_answer(adapter, images[i], questions[i], tokens, exact_length=True)
                                  for i in range(n_ref)], device)  # fmt: skip
    rows = []
    for batch in batch_sizes:
        _batched_answers(adapter, images[:batch], questions[:batch], batch, tokens)  # warm-up
        seconds, peak = _timed_with_peak(lambda: _batched_answers(adapter, images, questions, batch, tokens), device)
        rows.append(dict(batch_size=batch, ours=n / seconds, reference=n_ref / ref_seconds, peak=peak, floor=None))
    return rows


def run_bench(mode: str, shape: str | None, device: str, dtype: str | None, batch_sizes: list[int], n: int) -> list[BenchResult]:
    shape, dtype_name, adapter = random_adapter(shape, device, dtype)
    if mode == "gen":
        measured = [("cfg5", row) for row in bench_generation(adapter, batch_sizes, n, device)]
        unit = "images/s"
    else:
        measured = [(w.name, row) for w in WORKLOADS for row in bench_understanding(adapter, w, batch_sizes, n, device)]
        unit = "samples/s"
    common = dict(mode=mode, shape=shape, device=device_name(device), dtype=dtype_name,
                  unit=unit, date=datetime.now(timezone.utc).date().isoformat(), torch=torch.__version__)  # fmt: skip
    return [BenchResult(workload=name, batch_size=row["batch_size"], ours_per_s=row["ours"], reference_per_s=row["reference"],
                        peak_memory_gib=row["peak"], floor_per_s=row["floor"], **common)  # type: ignore[arg-type]
            for name, row in measured]  # fmt: skip


def run_agreement(shape: str | None, device: str, dtype: str | None, batch_size: int, n: int) -> list[AgreementResult]:
    """Batched greedy answers against transformers' one-at-a-time ``generate``, per workload."""
    shape, dtype_name, adapter = random_adapter(shape, device, dtype)
    results = []
    for workload in WORKLOADS:
        images, questions = _images(n), _questions(workload, n)
        ours = _batched_answers(adapter, images, questions, batch_size, workload.answer_tokens)
        ref = [reference_answer(adapter, im, q, workload.answer_tokens) for im, q in zip(images, questions)]
        results.append(AgreementResult(
            workload=workload.name, shape=shape, device=device_name(device), dtype=dtype_name,
            batch_size=batch_size, samples=n, exact_match=float(np.mean([a == b for a, b in zip(ours, ref)])),
            first_token_match=float(np.mean([a[:1] == b[:1] for a, b in zip(ours, ref)])),
            date=datetime.now(timezone.utc).date().isoformat(), torch=torch.__version__,
        ))  # fmt: skip
    return results


def to_json(results: list[BenchResult] | list[AgreementResult]) -> str:
    rows = [{**asdict(r), **({"speedup": r.speedup} if isinstance(r, BenchResult) else {})} for r in results]
    return json.dumps(rows, indent=2)


# -- GenEval end to end ----------------------------------------------------------------------------
@dataclass
class GenevalTiming:
    shape: str
    device: str
    dtype: str
    prompts: int
    images: int
    batch_size: int | None
    generation_s: float
    """Time inside ``generate_images`` (sampling and VQ decode)."""
    total_s: float
    """Whole run: generation, PNG writes, detection, colour, records and report."""
    scoring_device: str
    date: str
    torch: str


def official_sized_scorers(device: str) -> tuple[Any, Any]:
    """GenEval's detector (Mask2Former Swin-S) and CLIP ViT-L/14 at full size with random weights:
    the same work per image as the official models, without their files."""
    from transformers import CLIPConfig, CLIPModel, Mask2FormerForUniversalSegmentation

    from janus_eval.metrics.geneval_models import (
        OBJECT_NAMES,
        ClipColorClassifier,
        Mask2FormerDetector,
    )
    from janus_eval.metrics.mmdet_mapping import mask2former_config
    from janus_eval.model.tiny import build_tokenizer

    tokenizer = build_tokenizer()
    text = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id, hidden_act="quick_gelu")  # fmt: skip
    vision = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16, image_size=224,
                  patch_size=14, hidden_act="quick_gelu")  # fmt: skip
    with torch.random.fork_rng(devices=[]), torch.device(device):
        torch.manual_seed(0)
        detector = Mask2FormerForUniversalSegmentation(mask2former_config(num_labels=len(OBJECT_NAMES))).eval()
        clip = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=768)).eval()
    return (Mask2FormerDetector(model=detector, official=False, name="random full-size Mask2Former (bench)"),
            ClipColorClassifier(model=clip, tokenizer=tokenizer, name="random ViT-L/14 (bench)", official=False))  # fmt: skip


class _GenerationClock:
    """Delegates to the adapter and adds up the time spent in ``generate_images``."""

    def __init__(self, adapter: JanusAdapter, device: str) -> None:
        self.adapter, self.device, self.seconds = adapter, device, 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.adapter, name)

    def generate_images(self, *args: Any, **kwargs: Any) -> np.ndarray:
        images: np.ndarray = np.empty(0)

        def call() -> None:
            nonlocal images
            images = self.adapter.generate_images(*args, **kwargs)

        self.seconds += _timed(call, self.device)
        return images


def run_geneval_bench(shape: str | None, device: str, dtype: str | None, batch_size: int | None,
                      prompts: int | None, images_per_prompt: int = 4) -> GenevalTiming:  # fmt: skip
    """``janus-eval run --tasks geneval`` on the official prompts (all 553 unless ``prompts``) with
    real-shaped random Janus weights and full-size random scorers, timed."""
    import tempfile
    from pathlib import Path

    from janus_eval.registry import get_task
    from janus_eval.runner import Runner
    from janus_eval.run_options import RunOptions

    shape, dtype_name, adapter = random_adapter(shape, device, dtype)
    clock = _GenerationClock(adapter, device)
    task = get_task("geneval")
    task.configure(images_per_prompt=str(images_per_prompt))
    task._models = official_sized_scorers(device)
    with tempfile.TemporaryDirectory() as tmp:
        config = RunOptions(tasks=["geneval"], out=Path(tmp) / "run", data_root=Path(tmp), limit=prompts,
                            batch_size=batch_size, device=device, show_progress=False)  # fmt: skip
        runner = Runner(config, model_factory=lambda: clock, tasks=[task])  # type: ignore[arg-type, return-value]
        total = _timed(runner.run, device)
        images = json.loads((Path(tmp) / "run" / "run.json").read_text())["tasks"]["geneval"]["samples"]
    return GenevalTiming(shape=shape, device=device_name(device), dtype=dtype_name,
                         prompts=images // images_per_prompt, images=images, batch_size=batch_size,
                         generation_s=clock.seconds, total_s=total, scoring_device=device,
                         date=datetime.now(timezone.utc).date().isoformat(), torch=torch.__version__)  # fmt: skip
