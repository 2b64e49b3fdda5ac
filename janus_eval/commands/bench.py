"""``bench``: throughput against a reference measured in the same run, and the harness alone."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer

from janus_eval.commands.common import out_console, parse_batch_size
from janus_eval.errors import JanusEvalError


def bench_command(
    mode: Annotated[str, typer.Option("--mode", help="gen (image generation), und (understanding), agree (batched vs batch-1 answers), geneval (a whole GenEval run) or pipeline (the harness alone, serial vs parallel).")] = "gen",
    shape: Annotated[Optional[str], typer.Option("--shape", help="1.3b (default on GPU), pro-7b, or tiny (default on CPU).")] = None,
    device: Annotated[str, typer.Option("--device")] = "cuda",
    dtype: Annotated[Optional[str], typer.Option("--dtype")] = None,
    batch_size: Annotated[str, typer.Option("--batch-size", help="One or more, comma-separated: 16,32,64 (geneval: one, or auto).")] = "32",
    n: Annotated[Optional[int], typer.Option("--n", help="Images or samples to time per batch size (default 128); geneval: prompts (default all 553).")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the results as JSON here.")] = None,
) -> None:
    """Throughput on real-shaped random weights, as a ratio to a reference measured in the same run."""
    from janus_eval.bench import SHAPES, run_agreement, run_bench, run_geneval_bench, to_json
    from janus_eval.io import write_atomic

    if mode not in ("gen", "und", "agree", "geneval", "pipeline"):
        raise JanusEvalError(f"--mode must be gen, und, agree, geneval or pipeline, got {mode!r}")
    if mode == "pipeline":
        _bench_pipeline(n, json_out)
        return
    if shape is not None and shape not in SHAPES:
        raise JanusEvalError(f"--shape must be one of {', '.join(SHAPES)}, got {shape!r}")
    sizes = [parse_batch_size(part.strip()) for part in batch_size.split(",")]
    if mode == "geneval" and sizes == [None]:
        sizes = []
    elif any(size is None or size < 1 for size in sizes):
        raise JanusEvalError(f"--batch-size takes positive numbers here, got {batch_size!r}")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise JanusEvalError("--device cuda asked for, but CUDA is not available; pass --device cpu for a smoke run")
    if mode == "geneval":
        timing = run_geneval_bench(shape, device, dtype, sizes[0] if sizes else None, n)
        out_console.print(
            f"geneval {timing.shape} on {timing.device} ({timing.dtype}): {timing.prompts} prompts, {timing.images} images "
            f"in {timing.total_s:.1f} s ({timing.generation_s:.1f} s generating, {timing.total_s - timing.generation_s:.1f} s "
            f"detecting, classifying and writing; scorers on {timing.scoring_device})"
        )
        if json_out:
            write_atomic(json_out, json.dumps(asdict(timing), indent=2) + "\n")
        return
    n = n or 128
    if mode == "agree":
        agreement = run_agreement(shape, device, dtype, sizes[0], n)
        for row in agreement:
            out_console.print(
                f"agree {row.workload} {row.shape} on {row.device} ({row.dtype}, batch {row.batch_size}, {row.samples} samples): "
                f"answers identical to batch-1 generate {row.exact_match:.1%}, first token {row.first_token_match:.1%}"
            )
        if json_out:
            write_atomic(json_out, to_json(agreement) + "\n")
        return
    results = run_bench(mode, shape, device, dtype, [s for s in sizes if s], n)
    for r in results:
        extras = "".join([f", peak {r.peak_memory_gib:.1f} GiB" if r.peak_memory_gib is not None else "",
                          f", bandwidth floor {r.floor_per_s:.1f} {r.unit}" if r.floor_per_s else ""])  # fmt: skip
        out_console.print(
            f"{r.mode} {r.workload} {r.shape} on {r.device} ({r.dtype}, batch {r.batch_size}): ours {r.ours_per_s:.2f} "
            f"{r.unit}, reference {r.reference_per_s:.2f} {r.unit}, speedup x{r.speedup:.1f}{extras}"
        )
    if json_out:
        write_atomic(json_out, to_json(results) + "\n")


def _bench_pipeline(n: int | None, json_out: Path | None) -> None:
    """The harness alone (null model), --workers 0 against --workers N, records compared."""
    from janus_eval.bench_pipeline import run_pipeline_bench
    from janus_eval.io import write_atomic
    from janus_eval.pipeline import default_workers

    workers = max(2, default_workers() + 1)  # every core: the null model leaves the main process idle
    result = run_pipeline_bench(samples=n or 2048, prompts=max(1, (n or 2048) // 16), workers=workers)
    for stage in result["stages"]:
        out_console.print(
            f"pipeline {stage['stage']}: {stage['items']} items, serial {stage['serial_per_s']:.1f} {stage['unit']}, "
            f"--workers {stage['workers']} {stage['parallel_per_s']:.1f} {stage['unit']}, ratio x{stage['speedup']:.2f}, "
            f"records identical: {stage['identical_records']}"
        )
    out_console.print(f"peak RSS {result['peak_rss_mib']:.0f} MiB on {result['cpus']} CPUs")
    if json_out:
        write_atomic(json_out, json.dumps(result, indent=2) + "\n")
