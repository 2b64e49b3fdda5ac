"""The GPU check: every GPU-only path once, then bench/README.md's measurements, rows appended to RESULTS.md.

Run it through ``bench/gpu_check.sh`` (see bench/README.md). On CUDA (``--device cuda``, default shape
1.3b) it checks what CPU tests cannot: VQ decode in chunks of 8, the compiled decode step with its CUDA
graphs, pinned host-to-device copies, GenEval scoring on the GPU beside generation, and ``--batch-size
auto`` halving after a real out-of-memory error (the allocator capped with
``torch.cuda.set_per_process_memory_fraction``), then times the bench commands within ``--budget-s``.
``--device cpu --shape tiny`` is the dry mode: the same code on CPU in seconds, with CUDA-only parts
reported as skipped and out-of-memory errors simulated.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from janus_eval.bench import device_name, random_adapter
from janus_eval.errors import JanusEvalError
from janus_eval.model import memory
from janus_eval.model.adapter import JanusAdapter

Row = tuple[str, str, str]
"""(item, result, detail)."""
PROMPTS = ["a red cube", "two dogs on a green sofa", "a photo of a bench", "three apples on a table"]


def check_decode_chunks(adapter: JanusAdapter, cuda: bool) -> Row:
    """13 images' codes decoded 1, 3, 5, 8 and 13 at a time give the same pixels (chunks of exactly 8)."""
    adapter.decode_chunk = 8
    generator = torch.Generator().manual_seed(0)
    codes = torch.randint(adapter.codebook_size, (13, adapter.num_gen_tokens), generator=generator)
    alone = np.concatenate([adapter.decode_codes(codes[i : i + 1]) for i in range(13)])
    differ = [size for size in (3, 5, 8, 13)
              if not np.array_equal(np.concatenate([adapter.decode_codes(codes[i : i + size]) for i in range(0, 13, size)]), alone)]  # fmt: skip
    adapter.decode_chunk = 8 if cuda else 1
    return ("decode chunk 8, batch sizes 1/3/5/8/13", "PASS" if not differ else "FAIL",
            "pixels identical" if not differ else f"pixels differ at batch sizes {differ}")  # fmt: skip


def check_compiled_step(adapter: JanusAdapter, cuda: bool) -> Row:
    """The compiled step captures as one graph with CUDA graphs, and how many codes match the eager step."""
    name = "compiled decode step + CUDA graphs"
    if not cuda:
        return name, "skipped", "needs CUDA (the CPU compile is tests/model/test_decode.py)"
    from torch._dynamo.utils import counters

    adapter.compile_decode = False
    eager = adapter.generate_tokens(PROMPTS, [1, 2, 3, 4])
    adapter.compile_decode = True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        compiled = adapter.generate_tokens(PROMPTS, [1, 2, 3, 4])
        first = time.perf_counter() - start
    skips = sum(counters["inductor"].get(key, 0) for key in ("cudagraph_skips",))
    fallbacks = [str(w.message) for w in caught if "decode step" in str(w.message)]
    same = float((compiled == eager).float().mean())
    ok = adapter.compile_decode and adapter._fullgraph and not fallbacks and not skips
    return (name, "PASS" if ok else "FAIL", f"fullgraph {adapter._fullgraph}, CUDA graph skips {skips}, "
            f"fallbacks {fallbacks or 'none'}, compile + first call {first:.0f} s, codes equal to eager {same:.1%}")  # fmt: skip


def check_pinned_copies(adapter: JanusAdapter, cuda: bool) -> Row:
    """Prepared pixels in page-locked memory go to the GPU asynchronously and give the same answers."""
    name = "pinned host-to-device copies"
    if not cuda:
        return name, "skipped", "needs CUDA (page-locked memory)"
    rng = np.random.default_rng(0)
    rows = [rng.integers(0, 256, (1, adapter.image_size, adapter.image_size, 3), dtype=np.uint8) for _ in range(4)]
    pinned = [torch.from_numpy(r).pin_memory() for r in rows]
    questions = ["Is there a cat?", "What colour is it?", "How many?", "Describe it."]
    ok_pinned = all(p.is_pinned() for p in pinned)
    same = adapter.understand(pinned, questions, 8) == adapter.understand(rows, questions, 8)
    return name, "PASS" if ok_pinned and same else "FAIL", f"pinned {ok_pinned}, answers equal to pageable copies {same}"


def _geneval_run(adapter: Any, out: Path, device: str, overlap: bool | None, batch_size: int | None) -> Path:
    """A small GenEval run (4 prompts x 2 images, tiny scorers) of ``adapter`` on ``device``."""
    from janus_eval.runner import Runner
    from janus_eval.run_options import RunOptions

    config = RunOptions(tasks=["geneval"], out=out, batch_size=batch_size, workers=2, limit=4, show_progress=False,
                        device=device, task_options={"geneval": {"images_per_prompt": "2"}})  # fmt: skip
    runner = Runner(config, model_factory=lambda: adapter)
    if overlap is not None:
        runner.generation.overlap_scoring = lambda task: overlap  # type: ignore[method-assign]
    runner.run()
    return out


def check_scoring_beside_generation(adapter: JanusAdapter, device: str, tmp: Path) -> Row:
    """GenEval scored on the scorer thread while the model generates equals scoring after the last image."""
    after = _geneval_run(adapter, tmp / "after", device, overlap=False, batch_size=4)
    beside = _geneval_run(adapter, tmp / "beside", device, overlap=True, batch_size=4)
    same = all((after / f).read_text() == (beside / f).read_text() for f in ("results.json", "geneval/samples.jsonl"))
    return "scoring beside generation (GenEval)", "PASS" if same else "FAIL", f"records and results identical: {same}"


@contextmanager
def _patched(owner: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, old)


@contextmanager
def _memory_limit(device: str, extra_bytes: int | None, fits: int) -> Iterator[Callable[[], list[int]]]:
    """Free memory reported as plenty; on CUDA the allocator capped at what is in use + ``extra_bytes``, on CPU
    an out-of-memory error simulated above ``fits`` images. Yields the batch sizes ``generate_images`` saw."""
    sizes: list[int] = []
    real = JanusAdapter.generate_images

    def generate(self: JanusAdapter, prompts: Any, *args: Any, **kwargs: Any) -> Any:
        sizes.append(len(prompts))
        if extra_bytes is None and len(prompts) > fits:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated: dry mode)")
        return real(self, prompts, *args, **kwargs)

    with _patched(memory, "free_bytes", lambda dev: 64 << 30), _patched(JanusAdapter, "generate_images", generate):
        if extra_bytes is not None:
            torch.cuda.empty_cache()
            total = torch.cuda.get_device_properties(device).total_memory
            torch.cuda.set_per_process_memory_fraction(min(1.0, (torch.cuda.memory_allocated(device) + extra_bytes) / total))
        try:
            yield lambda: sizes
        finally:
            if extra_bytes is not None:
                torch.cuda.set_per_process_memory_fraction(1.0)
                torch.cuda.empty_cache()


def check_auto_batch(adapter: JanusAdapter, device: str, cuda: bool, tmp: Path) -> list[Row]:
    """``--batch-size auto``: the probe picks 8 (all images), an OOM halves it; at batch 1 one clear error."""
    name = "batch-size auto, OOM halving" + ("" if cuda else " (OOM simulated)")
    with _memory_limit(device, (1 << 30) if cuda else None, fits=2) as sizes:
        try:
            _geneval_run(adapter, tmp / "auto", device, overlap=None, batch_size=None)
            error = None
        except JanusEvalError as err:
            error = str(err)
    halved = len(sizes()) > 1 and sizes()[0] > min(sizes())
    still_compiled = adapter.compile_decode == cuda and adapter._fullgraph
    rows = [(name, "PASS" if halved and error is None and still_compiled else "FAIL",
             f"batch sizes tried {sizes()}, error {error or 'none'}, compiled step kept {still_compiled}")]  # fmt: skip
    with _memory_limit(device, (16 << 20) if cuda else None, fits=0) as sizes:
        try:
            _geneval_run(adapter, tmp / "oom", device, overlap=None, batch_size=None)
            error = None
        except JanusEvalError as err:
            error = str(err)
    clean = error is not None and "batch of one sample" in error and "\n" not in error
    rows.append(("batch-size auto, OOM at batch 1", "PASS" if clean else "FAIL", f"sizes {sizes()}, error: {error}"))
    return rows


def measurements(device: str, shape: str) -> list[tuple[str, list[str], int]]:
    """bench/README.md's commands, sized to share the budget: (label, arguments, seconds allowed)."""
    if not device.startswith("cuda"):
        dry = ["--device", device, "--shape", shape]
        return [("gen", ["--mode", "gen", *dry, "--batch-size", "2", "--n", "2"], 600),
                ("und", ["--mode", "und", *dry, "--batch-size", "2", "--n", "2"], 600),
                ("agree", ["--mode", "agree", *dry, "--batch-size", "2", "--n", "2"], 600)]  # fmt: skip
    cuda = ["--device", device]
    return [("gen", ["--mode", "gen", *cuda, "--shape", shape, "--batch-size", "32,64", "--n", "128"], 120),
            ("und", ["--mode", "und", *cuda, "--shape", shape, "--batch-size", "64,128", "--n", "256"], 90),
            ("agree", ["--mode", "agree", *cuda, "--shape", shape, "--batch-size", "64", "--n", "256"], 60),
            ("geneval", ["--mode", "geneval", *cuda, "--shape", shape, "--batch-size", "auto", "--n", "32"], 90),
            ("gen pro-7b", ["--mode", "gen", *cuda, "--shape", "pro-7b", "--batch-size", "32", "--n", "64"], 120)]  # fmt: skip


def summarise(label: str, rows: Any) -> list[Row]:
    """One row per result of ``janus-eval bench --json``."""
    if isinstance(rows, dict):  # geneval
        return [(label, "measured", f"{rows['prompts']} prompts, {rows['images']} images ({rows['dtype']}, batch "
                 f"{rows['batch_size'] or 'auto'}): {rows['total_s']:.1f} s, {rows['generation_s']:.1f} s generating")]  # fmt: skip
    out = []
    for r in rows:
        if "exact_match" in r:
            out.append((label, "measured", f"{r['workload']} {r['shape']} {r['dtype']} batch {r['batch_size']}, {r['samples']} "
                        f"samples: identical answers {r['exact_match']:.1%}, first token {r['first_token_match']:.1%}"))  # fmt: skip
        else:
            extras = (f", peak {r['peak_memory_gib']:.1f} GiB" if r["peak_memory_gib"] is not None else "") + (
                f", floor {r['floor_per_s']:.1f}" if r["floor_per_s"] else "")
            out.append((label, "measured", f"{r['workload']} {r['shape']} {r['dtype']} batch {r['batch_size']}: ours "
                        f"{r['ours_per_s']:.2f} {r['unit']}, reference {r['reference_per_s']:.2f}, x{r['speedup']:.1f}{extras}"))  # fmt: skip
    return out


def run_measurements(device: str, shape: str, deadline: float, tmp: Path) -> list[Row]:
    rows: list[Row] = []
    for label, args, allowed in measurements(device, shape):
        left = int(deadline - time.monotonic())
        if left < 10:
            rows.append((label, "not run", "the check's time budget was spent"))
            continue
        out = tmp / f"{label.replace(' ', '-')}.json"
        cmd = [sys.executable, "-m", "janus_eval", "bench", *args, "--json", str(out)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=min(allowed, left))
        except subprocess.TimeoutExpired:
            rows.append((label, "timed out", f"after {min(allowed, left)} s: janus-eval bench {' '.join(args)}"))
            continue
        if done.returncode != 0 or not out.exists():
            tail = " ".join((done.stderr.strip().splitlines() or ["no output"])[-1].split())
            rows.append((label, "FAIL", f"exit {done.returncode}: {tail}"))
            continue
        rows.extend(summarise(label, json.loads(out.read_text())))
    return rows


def write_rows(results: Path, rows: list[Row], device: str, command: str) -> None:
    """Append a dated section with one table row per item (atomically: temp file + rename)."""
    date = datetime.date.today().isoformat()
    lines = [f"\n## GPU check {date}, {device}\n", f"Command: `{command}`\n",
             "| date | device | item | result | detail |", "| --- | --- | --- | --- | --- |"]  # fmt: skip
    lines += [f"| {date} | {device} | {item} | {result} | {detail.replace('|', '/')} |" for item, result, detail in rows]
    text = (results.read_text() if results.exists() else "") + "\n".join(lines) + "\n"
    temp = results.with_name(results.name + ".tmp")
    temp.write_text(text)
    temp.replace(results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--shape", default=None, help="1.3b (default on CUDA), pro-7b or tiny (default on CPU)")
    parser.add_argument("--results", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    parser.add_argument("--budget-s", type=float, default=None,
                        help="wall-clock budget of the whole check (default 450 s on CUDA, none in the dry mode)")
    args = parser.parse_args(argv)
    cuda = args.device.startswith("cuda")
    deadline = time.monotonic() + (args.budget_s or (450.0 if cuda else 3600.0))
    if cuda and not torch.cuda.is_available():
        print("error: --device cuda asked for, but CUDA is not available; the dry mode is --device cpu --shape tiny",
              file=sys.stderr)  # fmt: skip
        return 2
    shape, _, adapter = random_adapter(args.shape, args.device, None)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        checks: list[tuple[str, Callable[[], Row | list[Row]]]] = [
            ("decode chunk 8", lambda: check_decode_chunks(adapter, cuda)),
            ("compiled decode step + CUDA graphs", lambda: check_compiled_step(adapter, cuda)),
            ("pinned host-to-device copies", lambda: check_pinned_copies(adapter, cuda)),
            ("scoring beside generation (GenEval)", lambda: check_scoring_beside_generation(adapter, args.device, tmp)),
            ("batch-size auto, OOM halving", lambda: check_auto_batch(adapter, args.device, cuda, tmp))]  # fmt: skip
        for label, check in checks:
            try:
                result = check()
            except Exception as err:  # noqa: BLE001 - one broken path must not hide the others' rows
                result = (label, "FAIL", " ".join(f"{type(err).__name__}: {err}".split())[:300])
            for row in result if isinstance(result, list) else [result]:
                rows.append(row)
                print(" | ".join(row), flush=True)
        del adapter
        if cuda:
            torch.cuda.empty_cache()
        rows += run_measurements(args.device, shape, deadline, tmp)
    command = f"bench/gpu_check.sh --device {args.device} --shape {shape}"
    write_rows(args.results, rows, f"{device_name(args.device)} ({shape})", command)
    print(f"{len(rows)} rows written to {args.results}")
    return 1 if any(result == "FAIL" for _, result, _ in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
