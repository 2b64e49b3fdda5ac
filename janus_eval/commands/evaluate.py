"""Evaluating: ``run`` a checkpoint on tasks, ``score`` predictions or images made elsewhere, ``rescore`` a run directory."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from janus_eval.commands.common import DataRoot, Protocol, out_console, parse_batch_size, parse_task_options, split_tasks
from janus_eval.errors import JanusEvalError


def _run_dir(out: str | None) -> Path:
    """``--out``, or ``runs/<timestamp>``; an empty ``--out`` is refused, not taken as the current directory."""
    if out is None:
        return Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S")
    if not out.strip():
        raise JanusEvalError("--out is empty; pass the run directory to write, e.g. --out runs/mine (--out . for the current directory)")
    return Path(out)


def run_command(
    tasks: Annotated[str, typer.Option("--tasks", help="Comma-separated task names, e.g. pope,geneval, or table2 / table3 / table4 / paper.")],
    ckpt: Annotated[Optional[str], typer.Option("--ckpt", help="Local checkpoint directory; default: embedded tiny model.")] = None,
    out_option: Annotated[Optional[str], typer.Option("--out", help="Run directory; default runs/<timestamp>.")] = None,
    data_root: DataRoot = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Evaluate only the first N samples of each task.")] = None,
    batch_size: Annotated[str, typer.Option("--batch-size", help="Samples per batch, or auto: from free GPU memory (8 on CPU).")] = "auto",
    seed: Annotated[int, typer.Option("--seed", help="Base seed for sampled outputs.")] = 42,
    device: Annotated[str, typer.Option("--device")] = "cpu",
    dtype: Annotated[Optional[str], typer.Option("--dtype", help="float32 | bfloat16 | float16; default bf16 on GPU, fp32 on CPU.")] = None,
    protocol: Protocol = "lmms-eval",
    on_bad_image: Annotated[str, typer.Option("--on-bad-image", help="fail (default) or skip corrupt images, counting them.")] = "fail",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a run of another checkpoint/config in --out.")] = False,
    inception_weights: Annotated[Optional[Path], typer.Option("--inception-weights", help="FID Inception weights file (default DATA/weights/).")] = None,
    fid_backend: Annotated[Optional[str], typer.Option("--fid-backend", help="clean-fid (the protocol; default) or torch-fidelity.")] = None,
    judge_url: Annotated[Optional[str], typer.Option("--judge-url", help="OpenAI-compatible base URL for MM-Vet's judge.")] = None,
    judge_model: Annotated[Optional[str], typer.Option("--judge-model", help="Judge model name (default gpt-4o-2024-11-20).")] = None,
    judge_key_env: Annotated[str, typer.Option("--judge-key-env", help="Environment variable holding the judge API key.")] = "OPENAI_API_KEY",
    judge_timeout: Annotated[float, typer.Option("--judge-timeout", help="Seconds per judge request before it fails.")] = 60.0,
    judge_concurrency: Annotated[int, typer.Option("--judge-concurrency", help="Judge requests in flight at once.")] = 1,
    task_option: Annotated[Optional[list[str]], typer.Option("-T", "--task-option", help="TASK.NAME=VALUE, e.g. geneval.images_per_prompt=2.")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    workers: Annotated[Optional[int], typer.Option("--workers", help="Processes decoding understanding images ahead of the model; default min(8, CPUs - 1); 0: in-process.")] = None,
) -> None:
    """Evaluate a checkpoint on tasks and write a run directory."""
    from janus_eval.results.report import TINY_WARNING, result_notes, summary_rows
    from janus_eval.runner import Runner
    from janus_eval.run_options import RunOptions

    from janus_eval.registry import PRESETS, expand_presets

    out = _run_dir(out_option)
    names = split_tasks(tasks)
    tables = [name.removeprefix("table") for name in names if name in PRESETS]
    config = RunOptions(
        tasks=expand_presets(names), out=out, ckpt=ckpt, data_root=data_root, limit=limit, batch_size=parse_batch_size(batch_size),
        seed=seed, device=device, dtype=dtype, protocol=protocol, task_options=parse_task_options(task_option or []),
        on_bad_image=on_bad_image, overwrite=overwrite, inception_weights=inception_weights, fid_backend=fid_backend,
        judge_url=judge_url, judge_model=judge_model, judge_key_env=judge_key_env, judge_timeout=judge_timeout,
        judge_concurrency=judge_concurrency, workers=workers,
        show_progress=progress and sys.stderr.isatty(),
    )  # fmt: skip
    runner = Runner(config)
    runner.on_plan = lambda plan: out_console.print(
        "this run: " + ", ".join(f"{name} {count:,} {unit}" for name, (count, unit) in plan.items()), highlight=False
    )
    runner.on_submission = lambda name, path, grader: out_console.print(f"{name}: wrote {path} for {grader}",
                                                                        highlight=False, soft_wrap=True)  # fmt: skip
    results = runner.run()
    if not runner.world.is_main:
        return  # rank 0 reports for everyone
    card = json.loads((out / "run.json").read_text())
    table = Table("task", "headline", "value", "samples", title=f"results in {out}")
    for row in summary_rows(results, card):
        table.add_row(*row)
    out_console.print(table)
    out_console.print(f"per-sample records, run card and report: {out}/ (report.html, run.json)")
    if tables:  # a preset run ends with its paper table(s), the paper's rows beside this run
        from janus_eval.results.rundir import load_runs
        from janus_eval.results.tables import render_tables

        for which in ["all"] if "paper" in tables else tables:
            sys.stdout.write(render_tables(load_runs([out]), fmt="md", which=which))
    for note in result_notes(results, card):
        out_console.print(f"[yellow]{note}[/yellow]")
    if ckpt is None:
        out_console.print(f"[yellow]{TINY_WARNING}[/yellow]")


def score_command(
    task: Annotated[str, typer.Option("--task")],
    predictions: Annotated[Optional[Path], typer.Option("--predictions", help='JSONL of {"id", "prediction"} lines.')] = None,
    images: Annotated[Optional[Path], typer.Option("--images", help="Generated images in the task's layout (geneval, coco30k, mjhq30k).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="With --images: the run directory to write (a new folder).")] = None,
    data_root: DataRoot = None,
    protocol: Protocol = "lmms-eval",
    device: Annotated[str, typer.Option("--device", help="With --images: device for the detector/CLIP/Inception.")] = "cpu",
    inception_weights: Annotated[Optional[Path], typer.Option("--inception-weights", help="FID Inception weights file (default DATA/weights/).")] = None,
    fid_backend: Annotated[Optional[str], typer.Option("--fid-backend", help="clean-fid (the protocol; default) or torch-fidelity.")] = None,
    task_option: Annotated[Optional[list[str]], typer.Option("-T", "--task-option", help="TASK.NAME=VALUE, e.g. geneval.detector=PATH.")] = None,
) -> None:
    """Re-score outside predictions, or score images generated elsewhere, with a task's scorers; print the metrics as JSON."""
    from janus_eval.scoring import ImageScoring, score_image_folder, score_predictions

    if (predictions is None) == (images is None):
        raise JanusEvalError("pass exactly one of --predictions FILE (text answers) or --images DIR (generated images)")
    if images is None:
        if out is not None or task_option or inception_weights or fid_backend:
            raise JanusEvalError("--out, -T, --inception-weights and --fid-backend go with --images, not --predictions")
        result = score_predictions(task, predictions, data_root, protocol)  # type: ignore[arg-type]
    else:
        if out is None:
            raise JanusEvalError("--images needs --out OUT: the run directory to write the scores to")
        options = parse_task_options(task_option or [])
        if set(options) - {task}:
            raise JanusEvalError(f"-T option for task {next(iter(set(options) - {task}))!r}, but --task is {task!r}")
        result = score_image_folder(ImageScoring(task=task, images=images, out=out, data_root=data_root, task_options=options.get(task, {}),
                                                 device=device, inception_weights=inception_weights, fid_backend=fid_backend))  # fmt: skip
    out_console.print_json(json.dumps(result))


def rescore_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (janus-eval run --out).")],
) -> None:
    """Recompute a run directory's results and reports from its records with this janus-eval (no model)."""
    from janus_eval.rescore import rescore

    if not run_dir.is_dir():
        raise JanusEvalError(f"run directory {run_dir} does not exist")
    results = rescore(run_dir)
    out_console.print(f"rescored {', '.join(results)} in {run_dir}: results.json, run.json and reports rewritten",
                      highlight=False, soft_wrap=True)  # fmt: skip
