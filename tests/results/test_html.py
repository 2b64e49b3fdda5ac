"""``report.html``: self-contained (no network references), charts, breakdowns, images, failures, card."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from janus_eval.results.html import MAX_IMAGES, THUMB, write_html_report
from janus_eval.results.report import write_reports


@pytest.fixture
def full_run(run_factory, synth):
    pope = synth.pope_records(60, 0.7)
    gen = synth.geneval_records(0.5, prompts_per_tag=2, images=2)
    return run_factory("ckpt<&>", {
        "pope": (pope, synth.pope_results(pope)),
        "geneval": (gen, synth.geneval_results(gen)),
        "mjhq30k": (synth.fid_records(4, category=True), {"fid": 11.2, "fid/people": 13.4, "n_generated": 4}),
    }, images=True, limit=60, dataset_sizes={"pope": 9000})  # fmt: skip


def test_self_contained(full_run):
    text = write_html_report(full_run).read_text()
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", text)
    assert refs and not [r for r in refs if re.match(r"(?i)(https?:)?//", r)]
    assert not re.search(r"<(script|link|iframe)\b", text) and "@import" not in text and "url(" not in text
    assert all(r.startswith(("data:image/", "#")) for r in refs)


def test_sections_and_charts(full_run):
    text = write_html_report(full_run).read_text()
    assert text.count("<svg") == 1 and 'class="bar run"' in text and 'class="bar paper"' in text
    assert "Janus-1.3B (paper)" in text and ">87.00<" in text  # POPE reference bar label
    assert "Per-category breakdown" in text and "adversarial" in text and "people" in text
    assert "Failures (" in text and "ground truth" in text
    assert "Protocol card" in text and "ababababababababab" in text and "lmms-lab/pope" in text
    assert "Subset runs, not comparable" in text and "60 of 9,000 samples" in text
    assert "ckpt&lt;&amp;&gt;" in text and "ckpt<&>" not in text


def test_image_grid_thumbnails_with_verdicts(full_run):
    from PIL import Image

    text = write_html_report(full_run).read_text()
    uris = re.findall(r'src="data:image/jpeg;base64,([^"]+)"', text)
    assert 0 < len(uris) <= MAX_IMAGES + 4
    with Image.open(io.BytesIO(base64.b64decode(uris[0]))) as thumb:
        assert max(thumb.size) <= THUMB
    assert "✓ correct" in text or "✗ wrong" in text
    for tag in ("single_object", "counting", "position"):
        assert f"<code>{tag}</code>" in text


def test_write_reports_writes_both(full_run):
    write_reports(full_run)
    assert (full_run / "report.md").is_file() and (full_run / "report.html").is_file()


def test_missing_images_and_records_degrade(run_factory, synth):
    gen = synth.geneval_records(0.5, prompts_per_tag=1, images=1)
    run = run_factory("noimg", {"geneval": (gen, synth.geneval_results(gen)), "mme": ([], {"mme_perception": 1200.0})})
    text = write_html_report(run).read_text()
    assert "No generated images found" in text and "mme_perception" in text


CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()), None)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_headless_screenshot(full_run, tmp_path):
    from PIL import Image

    page = write_html_report(full_run)
    png = tmp_path / "shot.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         f"--screenshot={png}", "--window-size=1200,2000", page.resolve().as_uri()],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    with Image.open(png) as shot:
        assert shot.size == (1200, 2000)
        colours = shot.convert("RGB").resize((120, 200)).getcolors(maxcolors=1 << 16)
    assert colours is not None and len(colours) > 20, "the page rendered as a blank or near-blank image"
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)


@pytest.fixture(scope="module")
def real_run(tmp_path_factory, tiny_adapter) -> Path:
    """What ``janus-eval run`` writes (tiny model, bundled fixtures): POPE, MM-Vet without a judge, GenEval."""
    from janus_eval.run_options import RunOptions
    from janus_eval.runner import Runner

    out = tmp_path_factory.mktemp("html") / "run"
    config = RunOptions(tasks=["pope", "mmvet", "geneval"], out=out, limit=4, batch_size=4, show_progress=False,
                        task_options={"geneval": {"images_per_prompt": "1"}})  # fmt: skip
    Runner(config, model_factory=lambda: tiny_adapter).run()
    return out


def _task_section(text: str, task: str) -> str:
    start = text.index(f'<h2 id="task-{task}">')
    end = text.find("<h2", start + 1)
    return text[start:end]


def test_real_run_report_shows_what_the_run_wrote(real_run):
    """Headline values, each task's card and every scored-0 record come from run.json and samples.jsonl."""
    from janus_eval.io import read_jsonl

    text = (real_run / "report.html").read_text()
    results = json.loads((real_run / "results.json").read_text())
    card = json.loads((real_run / "run.json").read_text())
    assert {t: c["kind"] for t, c in card["tasks"].items()} == {"pope": "understanding", "mmvet": "understanding",
                                                               "geneval": "generation"}  # fmt: skip
    for task in ("pope", "geneval"):
        headline = card["tasks"][task]["headline"]
        value = results[task][headline]
        assert f"<b>{headline} (headline)</b>" in _task_section(text, task)
        assert (f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}") in _task_section(text, task)
        assert card["tasks"][task]["dataset_id"] in text
    pope = _task_section(text, "pope")
    failed = [r for r in read_jsonl(real_run / "pope" / "samples.jsonl") if r["scores"]["score"] == 0]
    assert failed and f"of {len(failed)} scored 0" in pope
    assert all(f"<td>{r['id']}</td>" in pope for r in failed)
    geneval = _task_section(text, "geneval")  # a generation task (run.json's kind): thumbnails, not failures
    shown = len(read_jsonl(real_run / "geneval" / "samples.jsonl"))
    assert geneval.count("<figure>") == min(shown, MAX_IMAGES) and "Failures" not in geneval


def test_unjudged_mmvet_records_are_not_failures(real_run):
    """Without a judge every MM-Vet record holds score 0.0 and ``judged: false``: a placeholder, not a wrong answer."""
    from janus_eval.io import read_jsonl

    records = read_jsonl(real_run / "mmvet" / "samples.jsonl")
    assert records and all(r["scores"]["score"] == 0.0 and r["score_info"]["judged"] is False for r in records)
    mmvet = _task_section((real_run / "report.html").read_text(), "mmvet")
    assert "Failures" not in mmvet and f"{len(records)} samples not yet judged (not failures)" in mmvet


def test_the_kind_comes_from_the_card_not_from_predictions(run_factory, synth):
    """An understanding task whose answers happen to end in ``.png`` is still an understanding task."""
    recs = synth.pope_records(6, 0.5)
    for record in recs:
        record["prediction"] = record["score_info"]["prediction"] = f"{record['prediction']}.png"
    path = run_factory("kinds", {"pope": (recs, synth.pope_results(recs))})
    text = write_html_report(path).read_text()
    assert "Failures (" in text and "No generated images found" not in text
