"""``report.html``: one self-contained page per run directory, readable offline and attachable to a PR.

Everything is inline (CSS, SVG charts, thumbnails as base64 data URIs) so the file can be mailed,
archived as a CI artifact or opened from a laptop without the run directory or any network.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import unicodedata
from pathlib import Path
from typing import Any, NamedTuple

from janus_eval.io import write_atomic
from janus_eval.results.declared import answers_private
from janus_eval.results.layout import TABLES
from janus_eval.results.rundir import RunDir
from janus_eval.results.tables import janus_reference

MAX_IMAGES = 24
MAX_FAILURES = 12
THUMB = 160
TINY_NOTE = "Embedded tiny Janus with random weights: the numbers only show that the pipeline works."

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0 auto;max-width:1140px;padding:1.5em;color:#1f2328}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #d0d7de;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:13px;margin:.5em 0}th,td{border:1px solid #d0d7de;padding:3px 8px;vertical-align:top}
th{background:#f6f8fa;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.warn{background:#fff8c5;border:1px solid #d4a72c;padding:.6em 1em;border-radius:6px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:10px}
figure{margin:0;border:1px solid #d0d7de;border-radius:6px;padding:5px;font-size:12px;background:#fff}
figure img{width:100%;height:auto;display:block}figcaption{margin-top:4px;word-wrap:break-word}
.ok{color:#1a7f37;font-weight:bold}.bad{color:#cf222e;font-weight:bold}
pre{white-space:pre-wrap;word-break:break-word;margin:0;font-size:12px}code{font-size:12px}
.muted{color:#59636e}nav a{margin-right:1em}
"""


def _esc(value: Any, limit: int = 400) -> str:
    """Escaped text without control characters (a random model emits them; HTML forbids some)."""
    text = "".join(ch if ch in "\n\t" or unicodedata.category(ch)[0] != "C" else "\ufffd" for ch in str(value))
    if len(text) > limit:
        text = text[:limit] + "…"
    return html.escape(text)


def _num(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"


# -- charts -----------------------------------------------------------------------------------------
class Bar(NamedTuple):
    """One row of the headline chart: this run's value beside the paper's, on the metric's own scale."""

    label: str
    metric: str
    value: float
    ref: float | None
    higher_is_better: bool = True


def _full_scale(bar: Bar) -> float:
    """The bar's 100%: the metric's natural maximum where the paper's number tells its scale.

    A lower-is-better metric (FID) has no natural maximum: its bars span 1.2x the larger value.
    """
    value, ref = bar.value, bar.ref
    top = max(abs(value), abs(ref or 0.0))
    if not bar.higher_is_better:
        return top * 1.2 or 1.0
    probe = ref if ref is not None else value
    for limit in (1.0, 100.0, 2000.0):
        if abs(probe) <= limit and top <= limit:
            return limit
    return top * 1.2 or 1.0


def bar_chart(rows: list[Bar], title: str) -> str:
    """Inline SVG: per row a run bar and the paper's Janus bar, each row on its own metric's scale."""
    label_w, bar_w, row_h = 190, 640, 44
    height = 40 + row_h * len(rows) + 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 140}" height="{height}" role="img" '
        f'aria-label="{_esc(title)}" font-family="system-ui,sans-serif" font-size="12">',
        f'<text x="0" y="16" font-weight="bold" font-size="14">{_esc(title)}</text>',
        f'<rect x="{label_w}" y="24" width="10" height="10" fill="#0969da"/><text x="{label_w + 14}" y="33">this run</text>',
        f'<rect x="{label_w + 90}" y="24" width="10" height="10" fill="#afb8c1"/>'
        f'<text x="{label_w + 104}" y="33">Janus-1.3B (paper)</text>',
    ]
    for i, bar in enumerate(rows):
        label, metric, value, ref = bar.label, bar.metric, bar.value, bar.ref
        y = 44 + i * row_h
        scale = _full_scale(bar)
        arrow = "" if bar.higher_is_better else " ↓"
        parts.append(f'<text x="0" y="{y + 16}">{_esc(label)}{arrow}</text>')
        parts.append(f'<text x="0" y="{y + 30}" fill="#59636e" font-size="10">{_esc(metric)} (of {scale:g})</text>')
        width = max(0.0, min(1.0, value / scale)) * bar_w if scale else 0.0
        parts.append(f'<rect class="bar run" x="{label_w}" y="{y + 4}" width="{width:.1f}" height="14" fill="#0969da"/>')
        parts.append(f'<text x="{label_w + width + 4:.1f}" y="{y + 15}">{_num(value)}</text>')
        if ref is not None:
            rw = max(0.0, min(1.0, ref / scale)) * bar_w if scale else 0.0
            parts.append(f'<rect class="bar paper" x="{label_w}" y="{y + 20}" width="{rw:.1f}" height="14" fill="#afb8c1"/>')
            parts.append(f'<text x="{label_w + rw + 4:.1f}" y="{y + 31}" fill="#59636e">{_num(ref)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _headline_rows(run: RunDir) -> list[Bar]:
    rows = []
    seen = set()
    for spec in TABLES.values():
        for column in spec.columns:
            if column.task not in run.results:
                continue
            metric = column.metric or run.headline(column.task)
            value = run.value(column.task, metric)
            if value is None:
                continue
            ref = janus_reference(column.task, column.metric)
            rows.append(Bar(f"{column.task}: {column.header}", metric, value, ref, run.higher_is_better(column.task, metric)))
            seen.add(column.task)
    for task in run.tasks:  # tasks outside the paper's tables still get their headline bar
        if task not in seen and run.value(task) is not None:
            metric = run.headline(task)
            rows.append(Bar(task, metric, run.value(task) or 0.0, None, run.higher_is_better(task, metric)))
    return rows


# -- sections ---------------------------------------------------------------------------------------
def _kv_table(items: list[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v, 2000)}</td></tr>" for k, v in items)
    return f"<table>{rows}</table>"


def protocol_card(run: RunDir) -> str:
    card, ckpt = run.card, run.card.get("checkpoint", {})
    env, config, ident = card.get("environment", {}), card.get("config", {}), card.get("identity", {})
    general = [
        ("checkpoint", run.checkpoint_name), ("checkpoint sha256", run.checkpoint_sha or "-"),
        ("protocol", run.protocol()), ("seed", ident.get("seed", config.get("seed"))),
        ("created", card.get("created")), ("updated", card.get("updated")),
        ("janus-eval", card.get("janus_eval_version")), ("git sha", env.get("git_sha")),
        ("environment", ", ".join(f"{k} {v}" for k, v in env.items() if k != "git_sha" and v is not None)),
        ("config", ", ".join(f"{k}={v}" for k, v in config.items() if k not in {"tasks", "out"})),
    ]  # fmt: skip
    out = ["<h2 id=\"protocol\">Protocol card</h2>", _kv_table([(k, v) for k, v in general if v is not None])]
    if ckpt.get("path") is None:
        out.insert(1, f'<p class="warn">{_esc(TINY_NOTE)}</p>')
    head = "<tr><th>task</th><th>protocol / reference</th><th>dataset</th><th>samples</th><th>headline</th><th>prompt template</th><th>generation</th></tr>"
    rows = []
    for task in run.tasks:
        tc = run.task_card(task)
        samples, size = run.sample_counts(task)
        subset = run.subset_reason(task)
        rows.append(
            f"<tr><td>{_esc(task)}</td><td>{_esc(tc.get('protocol', run.protocol()))}<br><span class=\"muted\">"
            f"{_esc(tc.get('reference', ''))}</span></td><td>{_esc(tc.get('dataset_id', '-'))} / {_esc(tc.get('split', '-'))}</td>"
            f"<td class=\"num\">{samples if samples is not None else '?'} / {size if size is not None else '?'}"
            f"{'<br><span class=bad>' + _esc(subset) + '</span>' if subset else ''}</td><td>{_esc(tc.get('headline', run.headline(task)))}</td>"
            f"<td><pre>{_esc(tc.get('prompt_template', '-'))}</pre></td>"
            f"<td><pre>{_esc(json.dumps(tc.get('generation', {}), ensure_ascii=False))}</pre></td></tr>"
        )
    out.append(f"<table>{head}{''.join(rows)}</table>")
    return "".join(out)


def metrics_section(run: RunDir, task: str) -> str:
    """Overall metrics, then breakdowns (``metric/category`` keys) as a category x metric table."""
    metrics = run.results.get(task, {})
    headline = run.headline(task)
    flat = [(k, v) for k, v in metrics.items() if "/" not in k]
    rows = "".join(
        f"<tr><th>{'<b>' if k == headline else ''}{_esc(k)}{' (headline)</b>' if k == headline else ''}"
        f"{'' if run.higher_is_better(task, k) else ' ↓'}</th><td class=\"num\">{_num(float(v))}</td></tr>"
        for k, v in flat
    )
    out = [f"<h3>Metrics</h3><table>{rows}</table>"]
    card = run.task_card(task)
    if answers_private(card):
        out.append(f'<p class="muted">The {_esc(str(card.get("split")))} split\'s answers are private, so nothing is scored '
                   f'here: {_esc(str(card.get("graded_by")))} grades <code>{_esc(str(card.get("submission")))}</code>.</p>')
    breakdown: dict[str, dict[str, float]] = {}
    for key, value in metrics.items():
        if "/" in key:
            metric, category = key.split("/", 1)
            breakdown.setdefault(category, {})[metric] = float(value)
    if breakdown:
        names = list(dict.fromkeys(m for cat in breakdown.values() for m in cat))
        head = "<tr><th>category</th>" + "".join(f"<th>{_esc(n)}</th>" for n in names) + "</tr>"
        body = "".join(
            f"<tr><th>{_esc(cat)}</th>" + "".join(f"<td class=\"num\">{_num(vals.get(n))}</td>" for n in names) + "</tr>"
            for cat, vals in breakdown.items()
        )
        out.append(f"<h3>Per-category breakdown</h3><table class=\"breakdown\">{head}{body}</table>")
    return "".join(out)


def thumbnail_uri(path: Path, size: int = THUMB) -> str | None:
    """A downscaled JPEG as a data URI (display only; the PNG on disk is what gets scored)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((size, size))
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=82)
    except (OSError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _pick_images(records: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """Round-robin over GenEval tags (or categories) so every kind of prompt shows up."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        info = record.get("score_info") or {}
        groups.setdefault(str(info.get("tag", info.get("category", ""))), []).append(record)
    picked: list[dict[str, Any]] = []
    queues = [list(g) for g in groups.values()]
    while len(picked) < limit and any(queues):
        for queue in queues:
            if queue and len(picked) < limit:
                picked.append(queue.pop(0))
    return picked


def image_grid(run: RunDir, task: str) -> str:
    records = [r for r in run.records(task) if isinstance(r.get("prediction"), str)]
    figures = []
    for record in _pick_images(records, MAX_IMAGES):
        uri = thumbnail_uri(run.path / task / record["prediction"])
        if uri is None:
            continue
        scores, info = record.get("scores") or {}, record.get("score_info") or {}
        verdict = ""
        if "score" in scores:
            good = scores["score"] >= 0.5
            verdict = f'<span class="{"ok" if good else "bad"}">{"✓ correct" if good else "✗ wrong"}</span> '
        tag = info.get("tag") or info.get("category")
        figures.append(
            f'<figure><img src="{uri}" alt="{_esc(record.get("prompt", ""), 200)}">'
            f"<figcaption>{verdict}{'<code>' + _esc(tag) + '</code> ' if tag else ''}{_esc(record.get('prompt', ''), 200)}"
            f'<br><span class="muted">{_esc(record["id"])}</span></figcaption></figure>'
        )
    if not figures:
        return '<p class="muted">No generated images found in this run directory.</p>'
    return f"<h3>Generated samples ({len(figures)} of {len(records)})</h3><div class=\"grid\">{''.join(figures)}</div>"


_GROUND_TRUTH_KEYS = ("ground_truth", "answer", "gt", "target", "answers")


def failures_section(run: RunDir, task: str) -> str:
    """Records scored 0: question, ground truth (from ``score_info``) and the model's answer.

    A record whose 0 is a placeholder (MM-Vet without a judge's verdict, per the card's ``unscored``)
    is not a failure: it is counted apart.
    """
    records = run.records(task)
    placeholders = sum(run.is_placeholder(task, r) for r in records)
    unjudged = f'<p class="muted">{placeholders} samples not yet judged (not failures).</p>' if placeholders else ""
    failed = [r for r in records if (r.get("scores") or {}).get("score") == 0 and not run.is_placeholder(task, r)]
    if not failed:
        return unjudged + '<p class="muted">No sample scored 0.</p>'
    rows = []
    for record in failed[:MAX_FAILURES]:
        info = record.get("score_info") or {}
        truth = next((info[k] for k in _GROUND_TRUTH_KEYS if k in info), "-")
        extra = {k: v for k, v in info.items() if k not in _GROUND_TRUTH_KEYS and k != "prediction"}
        rows.append(
            f"<tr><td>{_esc(record.get('id'))}</td><td><pre>{_esc(record.get('prompt', ''))}</pre></td>"
            f"<td><pre>{_esc(truth)}</pre></td><td><pre>{_esc(record.get('prediction', ''))}</pre></td>"
            f"<td><pre>{_esc(json.dumps(extra, ensure_ascii=False) if extra else '')}</pre></td></tr>"
        )
    head = "<tr><th>id</th><th>question</th><th>ground truth</th><th>prediction</th><th>details</th></tr>"
    return (f"{unjudged}<h3>Failures ({min(len(failed), MAX_FAILURES)} of {len(failed)} scored 0)</h3>"
            f"<table class=\"failures\">{head}{''.join(rows)}</table>")


def html_report(run_dir: Path) -> str:
    run = RunDir.load(run_dir)
    chart_rows = _headline_rows(run)
    nav = "".join(f'<a href="#task-{_esc(t)}">{_esc(t)}</a>' for t in run.tasks)
    body = [
        f"<h1>janus-eval run <code>{_esc(run.label)}</code></h1>",
        f'<p class="muted">{_esc(run.checkpoint_name)} · sha256 {_esc(run.checkpoint_sha[:16])} · {_esc(run.protocol())} · {_esc(run.date)}</p>',
        f'<nav><a href="#protocol">protocol card</a>{nav}</nav>',
        "<h2>Headline numbers vs the paper</h2>",
        bar_chart(chart_rows, "This run vs Janus-1.3B (paper)") if chart_rows else '<p class="muted">No results.</p>',
    ]
    subsets = [f"{t}: {run.subset_reason(t)}" for t in run.tasks if run.subset_reason(t)]
    if subsets:
        body.append(f'<p class="warn">Subset runs, not comparable with the paper: {_esc("; ".join(subsets), 2000)}</p>')
    for task in run.tasks:
        body.append(f'<h2 id="task-{_esc(task)}">{_esc(task)}</h2>')
        body.append(metrics_section(run, task))
        if run.kind(task) == "generation":
            body.append(image_grid(run, task))
        else:
            body.append(failures_section(run, task))
    body.append(protocol_card(run))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>janus-eval {_esc(run.label)}</title><style>{_CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )


def write_html_report(run_dir: Path) -> Path:
    """Write ``<run_dir>/report.html`` atomically and return its path."""
    run_dir = Path(run_dir)
    path = run_dir / "report.html"
    write_atomic(path, html_report(run_dir))
    return path
