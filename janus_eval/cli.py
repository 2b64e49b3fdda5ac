"""The ``janus-eval`` command: parse, call the Python API, print. Errors are one line and exit 2."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from janus_eval.errors import JanusEvalError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Fast, exact evaluation of Janus models.")
out_console = Console()
err_console = Console(stderr=True)

DataRoot = Annotated[Optional[Path], typer.Option("--data-root", help="Folder of dataset snapshots; default: bundled fixtures.")]
Protocol = Annotated[str, typer.Option("--protocol", help="Understanding tasks: lmms-eval (default), vlmevalkit or paper (the Janus paper's Table 2). Generation tasks have one protocol.")]


def _split_tasks(tasks: str) -> list[str]:
    return [t.strip() for t in tasks.split(",") if t.strip()]


def _parse_task_options(items: list[str]) -> dict[str, dict[str, str]]:
    options: dict[str, dict[str, str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        task_name, dot, name = key.partition(".")
        if not sep or not dot or not task_name or not name:
            raise JanusEvalError(f"-T {item!r}: expected TASK.NAME=VALUE, e.g. geneval.images_per_prompt=2")
        if name in options.get(task_name, {}):
            raise JanusEvalError(f"-T {task_name}.{name} is given twice; pass each task option once")
        options.setdefault(task_name, {})[name] = value
    return options


@app.command("list")
def list_command(data_root: DataRoot = None) -> None:
    """Every benchmark: kind, headline metric, data source, and whether its data is found."""
    from janus_eval.registry import SUITE, get_task

    table = Table("task", "kind", "headline", "source", "data")
    missing = []
    for name in SUITE:
        task = get_task(name)
        try:
            where = task.locate_data(data_root) if data_root else "bundled fixture"
        except JanusEvalError:
            where = "missing"
            missing.append(name)
        table.add_row(name, task.kind, task.headline, task.source, where)
    out_console.print(table)
    if missing:
        out_console.print(f"To see what to fetch: janus-eval download --tasks {','.join(missing)} --data-root {data_root} --dry-run")


def _parse_batch_size(value: str) -> int | None:
    if value == "auto":
        return None
    try:
        return int(value)
    except ValueError:
        raise JanusEvalError(f"--batch-size must be a number or auto, got {value!r}") from None


def _run_dir(out: str | None) -> Path:
    """``--out``, or ``runs/<timestamp>``; an empty ``--out`` is refused, not taken as the current directory."""
    if out is None:
        return Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S")
    if not out.strip():
        raise JanusEvalError("--out is empty; pass the run directory to write, e.g. --out runs/mine (--out . for the current directory)")
    return Path(out)


@app.command("run")
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
    names = _split_tasks(tasks)
    tables = [name.removeprefix("table") for name in names if name in PRESETS]
    config = RunOptions(
        tasks=expand_presets(names), out=out, ckpt=ckpt, data_root=data_root, limit=limit, batch_size=_parse_batch_size(batch_size),
        seed=seed, device=device, dtype=dtype, protocol=protocol, task_options=_parse_task_options(task_option or []),
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


@app.command("score")
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
        options = _parse_task_options(task_option or [])
        if set(options) - {task}:
            raise JanusEvalError(f"-T option for task {next(iter(set(options) - {task}))!r}, but --task is {task!r}")
        result = score_image_folder(ImageScoring(task=task, images=images, out=out, data_root=data_root, task_options=options.get(task, {}),
                                                 device=device, inception_weights=inception_weights, fid_backend=fid_backend))  # fmt: skip
    out_console.print_json(json.dumps(result))


# -- reading run directories: tables, gate, leaderboard ------------------------------------------
Runs = Annotated[Optional[list[Path]], typer.Argument(help="Run directories written by janus-eval run.", show_default=False)]


@app.command("rescore")
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


@app.command("table")
def table_command(
    runs: Runs = None,
    fmt: Annotated[str, typer.Option("--format", help="md | latex | csv.")] = "md",
    paper: Annotated[str, typer.Option("--paper", help="Reference rows: janus (the Janus paper's) | janus-pro (the Janus-Pro report's) | all.")] = "janus",
    no_paper: Annotated[bool, typer.Option("--no-paper", help="Print no reference rows.")] = False,
    table: Annotated[str, typer.Option("--table", help="2 (understanding) | 3 (GenEval) | 4 (FID) | all.")] = "all",
) -> None:
    """Runs laid out as the paper's Tables 2-4, one row per run, paper rows beside."""
    from janus_eval.results.rundir import load_runs
    from janus_eval.results.tables import render_tables

    sys.stdout.write(render_tables(load_runs(runs or []), fmt=fmt, which=table, paper=not no_paper, papers=paper))


@app.command("gate")
def gate_command(
    baseline: Annotated[Path, typer.Option("--baseline", help="Run directory of the accepted checkpoint.")],
    candidate: Annotated[Path, typer.Option("--candidate", help="Run directory of the checkpoint to check.")],
    max_drop: Annotated[Optional[list[str]], typer.Option("--max-drop", help="task.metric=DELTA: tolerated drop (metric units).")] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Two-sided CI level is 1 - alpha.")] = 0.05,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write the verdicts as JSON here.")] = None,
    junit: Annotated[Optional[Path], typer.Option("--junit", help="Write JUnit XML here (one testcase per metric).")] = None,
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Paired bootstrap resamples.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the resampling.")] = 0,
) -> None:
    """Exit 1 if the candidate is significantly worse than the baseline beyond tolerance, 2 if not comparable."""
    from janus_eval.references import task_reference
    from janus_eval.results.gate import CannotCompare, parse_max_drop, run_gate, verdict_table, write_outputs
    from janus_eval.results.rundir import RunDir

    drops = parse_max_drop(max_drop or [])
    try:
        report = run_gate(RunDir.load(baseline), RunDir.load(candidate), drops, alpha=alpha, n_boot=bootstrap, seed=seed,
                          references=task_reference)  # fmt: skip
    except CannotCompare as err:
        write_outputs(None, json_out, junit, reason=f"cannot compare: {err}")
        raise JanusEvalError(f"cannot compare: {err}") from err
    write_outputs(report, json_out, junit)
    out_console.print(verdict_table(report))
    if report.exit_code:
        sys.exit(report.exit_code)  # not typer.Exit: main() runs the app with standalone_mode=False, which swallows it


@app.command("leaderboard")
def leaderboard_command(
    out: Annotated[Path, typer.Option("--out", help="leaderboard.md | .html | .csv")],
    runs: Runs = None,
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Resamples for the CIs (0: none).")] = 1000,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Checkpoints ranked per headline metric and by mean rank, with bootstrap CIs and the paper's row."""
    from janus_eval.results.leaderboard import write_leaderboard
    from janus_eval.results.rundir import load_runs

    board = write_leaderboard(load_runs(runs or []), out, n_boot=bootstrap, seed=seed)
    out_console.print(f"{len(board.entries)} runs ranked over {len(board.columns)} metrics -> {out}")


@app.command("download")
def download_command(
    data_root: Annotated[Path, typer.Option("--data-root", help="Where to put everything (the layout `run --data-root` reads).")],
    tasks: Annotated[Optional[str], typer.Option("--tasks", help="Comma-separated task names, or all.")] = None,
    weights: Annotated[bool, typer.Option("--weights", help="Also fetch the weights: Janus (--models), Inception, Mask2Former, CLIP.")] = False,
    models: Annotated[Optional[str], typer.Option("--models", help="Janus-1.3B (default), Janus-Pro-1B, Janus-Pro-7B, or all.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only print what would be fetched, from where, to where.")] = False,
    task_option: Annotated[Optional[list[str]], typer.Option("-T", "--task-option", help="TASK.split=SPLIT: another split than the task's default, e.g. vqav2.split=testdev.")] = None,
) -> None:
    """Fetch datasets (and with --weights the weight files) into the --data-root layout; resumable and verified."""
    from janus_eval.download import build_plan, fetch, plan_rows

    plan = build_plan(tasks, weights=weights, models=models, task_options=_parse_task_options(task_option or []))
    header, rows = ("for", "source", "size", "destination", "status"), plan_rows(plan, data_root)
    if out_console.is_terminal:
        table = Table(title=f"download plan for {data_root}")
        for column in header:
            table.add_column(column, overflow="fold")  # fold, never truncate: the URLs and paths are the point
        for row in rows:
            table.add_row(*row)
        out_console.print(table)
    else:  # piped or logged: a markdown table whose URLs and paths stay whole on one line
        lines = [header, ("---",) * len(header), *rows]
        sys.stdout.write("".join("| " + " | ".join(cells) + " |\n" for cells in lines))
        sys.stdout.flush()
    if dry_run:
        return
    fetch(plan, data_root, log=lambda line: err_console.print(line, highlight=False, markup=False, soft_wrap=True))
    out_console.print(f"done: everything above is under {data_root}")


@app.command("bench")
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
    sizes = [_parse_batch_size(part.strip()) for part in batch_size.split(",")]
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


def os_error_message(err: OSError) -> str:
    """One accurate line per cause: only a failed write can promise that earlier results are unchanged
    (janus-eval writes atomically), a missing or unreadable input is named as such."""
    import errno

    path = err.filename
    reason = err.strerror or str(err) or type(err).__name__
    if path is None:
        return f"{reason} ({type(err).__name__})"
    if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return f"{reason} writing {path}; what was written before is unchanged, make room and rerun the same command to resume"
    causes = {
        errno.ENOENT: f"{path} does not exist",
        errno.EISDIR: f"{path} is a folder where a file was expected",
        errno.ENOTDIR: f"{path}: part of this path is a file, not a folder",
        errno.EACCES: f"permission denied: {path}; make it readable (and --out writable) or use another path",
        errno.EPERM: f"operation not permitted on {path}",
        errno.EROFS: f"{path} is on a read-only file system; pass an --out on a writable one",
        errno.ELOOP: f"{path}: too many levels of symbolic links",
    }
    return causes.get(err.errno, f"{reason}: {path}")


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _fail(message: str, code: int = 2) -> None:
    err_console.print(f"[red]error:[/red] {_one_line(message)}", highlight=False, soft_wrap=True, markup=True)
    sys.exit(code)


def _interrupted() -> None:
    command = "janus-eval " + " ".join(sys.argv[1:])
    err_console.print(f"interrupted: what was written is kept; rerun the same command to resume: {command}",
                      highlight=False, soft_wrap=True, markup=False)  # fmt: skip
    sys.exit(130)


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback."""
    import signal

    if hasattr(signal, "SIGXFSZ"):  # over a file-size limit: let the write fail with EFBIG instead of killing us
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        code = app(standalone_mode=False)
    except JanusEvalError as err:
        _fail(str(err))
    except (KeyboardInterrupt, typer.Abort):
        _interrupted()
    except OSError as err:  # a file that is missing, a folder, not ours to read, or a full disk: say which
        _fail(os_error_message(err))
    except Exception as err:
        # Usage errors come from the click that typer bundles; recognise them by their interface.
        if callable(getattr(err, "show", None)) and isinstance(getattr(err, "exit_code", None), int):
            err.show()
            sys.exit(err.exit_code)
        raise
    if code == 130:  # typer turns Ctrl-C into Exit(130) and, outside standalone mode, returns it
        _interrupted()
    sys.exit(code if isinstance(code, int) else 0)
