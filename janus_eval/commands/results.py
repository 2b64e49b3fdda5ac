"""Reading run directories: the paper's ``table``s, the regression ``gate``, the ``leaderboard``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from janus_eval.commands.common import out_console
from janus_eval.errors import JanusEvalError

Runs = Annotated[Optional[list[Path]], typer.Argument(help="Run directories written by janus-eval run.", show_default=False)]


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
