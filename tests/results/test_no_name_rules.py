"""results/ reads what run.json declares: no metric-name rules, no probing of records (#23.1).

Direction, resampling unit, a task's kind and its placeholder records are declared per task in
``run.json``; a rule keyed on a metric's name or a prediction's file suffix would silently disagree
with a declaration, so this test fails if one comes back.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import janus_eval.results

RESULTS = Path(janus_eval.results.__file__).parent
FORBIDDEN = {
    "a metric named fid": re.compile(r"""["'](?:fid\b|fid/|_fid\b)"""),
    "a prediction's .png suffix": re.compile(r"""\.png\b"""),
    "the unjudged count by name": re.compile(r"""_unjudged\b"""),
    "probing records for a closed form": re.compile(r"""\bdetect_form\b|\b_candidates\b"""),
    "a direction from the name": re.compile(r"""\blegacy_higher_is_better\b|\bis_fid_metric\b"""),
    "a set's size by the metric's name": re.compile(r"""\bn_generated\b|\b30_?000\b"""),
}


def test_the_rules_catch_what_they_are_for():
    samples = {
        "a metric named fid": 'metric == "fid" or metric.startswith("fid/") or metric.endswith("_fid")',
        "a prediction's .png suffix": 'str(r.get("prediction", "")).endswith(".png")',
        "the unjudged count by name": 'metrics.get(f"{task}_unjudged", 0)',
        "probing records for a closed form": "form = detect_form(metric, runs)",
        "a direction from the name": "hib = legacy_higher_is_better(metric)",
        "a set's size by the metric's name": 'n = results.get("n_generated"); n < 30_000',
    }
    for rule, text in samples.items():
        assert FORBIDDEN[rule].search(text), rule


@pytest.mark.parametrize("path", sorted(RESULTS.glob("*.py")), ids=lambda p: p.name)
def test_results_has_no_metric_name_rules(path: Path):
    text = path.read_text(encoding="utf-8")
    found = [f"{rule}: {m.group(0)!r} at line {text.count(chr(10), 0, m.start()) + 1}"
             for rule, pattern in FORBIDDEN.items() for m in pattern.finditer(text)]  # fmt: skip
    assert not found, f"{path.name} guesses instead of reading run.json: {found}"
