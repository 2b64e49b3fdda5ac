"""``report.md``: the run's protocol card and metrics, readable in a terminal or a PR comment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from janus_eval.io import write_atomic
from janus_eval.results.declared import answers_private

TINY_WARNING = (
    "This run used the embedded tiny Janus with random weights: its numbers are meaningless and only show "
    "that the pipeline works. Pass --ckpt PATH to evaluate a real checkpoint."
)


def format_value(value: float) -> str:
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"


def summary_rows(results: dict[str, dict[str, float]], card: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(task, headline metric, value, samples) per task, for the terminal and markdown tables."""
    rows = []
    for name, metrics in results.items():
        task_card = card.get("tasks", {}).get(name, {})
        headline = task_card.get("headline", "")
        value = metrics.get(headline)
        samples = f"{task_card.get('samples', '?')}/{task_card.get('dataset_size', '?')}"
        shown = "-" if value is None else format_value(value)
        if value is None and answers_private(task_card):
            shown = "graded by its server"
        unjudged = unjudged_count(task_card, metrics)
        if unjudged:
            shown += f" ({unjudged} unjudged)"
        rows.append((name, headline, shown, samples))
    return rows


def unjudged_count(task_card: dict[str, Any], metrics: dict[str, float]) -> int:
    """Samples a judge-scored task could not score (the count metric its card's ``unscored`` names); 0 for others."""
    mark = task_card.get("unscored")
    if not isinstance(mark, dict) or not mark.get("count_metric"):
        return 0
    return int(metrics.get(str(mark["count_metric"]), 0) or 0)


def result_notes(results: dict[str, dict[str, float]], card: dict[str, Any]) -> list[str]:
    """One line per task whose number is incomplete or made elsewhere: unjudged samples (whether its score
    leaves them out or is absent), a split with private answers (where its submission file goes)."""
    notes = []
    for name, metrics in results.items():
        task_card = card.get("tasks", {}).get(name, {})
        if answers_private(task_card):
            subset = " It holds a subset (--limit); the server expects every question." if task_card.get("subset") else ""
            notes.append(f"{name}: {task_card.get('split')} answers are private, so no score is computed here; upload "
                         f"{task_card.get('submission')} to {task_card.get('graded_by')}.{subset}")  # fmt: skip
        count = unjudged_count(task_card, metrics)
        if not count:
            continue
        headline = task_card.get("headline", "")
        if metrics.get(headline) is None:
            notes.append(f"{name}: {count} samples unjudged, so no score is reported (configure a working judge)")
        else:
            notes.append(f"{name}: {count} samples unjudged (the judge gave no usable score); the score leaves them out")
    return notes


def markdown_report(out: Path) -> str:
    results = json.loads((out / "results.json").read_text())
    card = json.loads((out / "run.json").read_text())
    ckpt = card.get("checkpoint", {})
    lines = [f"# janus-eval run `{out.name}`", ""]
    if ckpt.get("path") is None:
        lines += [f"> {TINY_WARNING}", ""]
    lines += [
        f"- checkpoint: `{ckpt.get('path') or ckpt.get('name')}` (sha256 `{str(ckpt.get('sha256', ''))[:16]}`)",
        f"- protocol: {card.get('identity', {}).get('protocol')}; updated {card.get('updated')}",
        "",
        "| task | headline | value | samples |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {t} | {h} | {v} | {n} |" for t, h, v, n in summary_rows(results, card)]
    notes = result_notes(results, card)
    if notes:
        lines += [""] + [f"> {note}" for note in notes]
    for name, metrics in results.items():
        lines += ["", f"## {name}", "", "| metric | value |", "| --- | --- |"]
        lines += [f"| {k} | {format_value(v)} |" for k, v in metrics.items()]
    return "\n".join(lines) + "\n"


def write_markdown_report(out: Path) -> None:
    write_atomic(out / "report.md", markdown_report(out))


def write_reports(out: Path) -> None:
    """Every human-readable summary of a run directory: ``report.md`` and the self-contained ``report.html``."""
    from janus_eval.results.html import write_html_report

    write_markdown_report(out)
    write_html_report(out)
