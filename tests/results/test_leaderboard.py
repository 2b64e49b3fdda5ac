"""``janus-eval leaderboard``: ranking per metric (FID lower is better), mean rank, CIs, formats."""

from __future__ import annotations

import csv
import io

import pytest

from janus_eval.results.leaderboard import _rank, build_leaderboard, write_leaderboard
from janus_eval.results.rundir import RunDir
from janus_eval.errors import JanusEvalError


@pytest.fixture
def three_runs(run_factory, synth):
    runs = []
    for name, accuracy, fid in (("mid", 0.80, 9.0), ("best_und", 0.95, 12.0), ("best_gen", 0.60, 8.0)):
        recs = synth.pope_records(300, accuracy, seed=7)
        path = run_factory(name, {
            "pope": (recs, synth.pope_results(recs)),
            "coco30k": (synth.fid_records(), {"fid": fid, "n_generated": 30000}),
        }, sha=name[0] * 64)  # fmt: skip
        runs.append(RunDir.load(path))
    return runs


def test_rank_ties_share_the_better_rank():
    assert _rank([(0, 1.0), (1, 3.0), (2, 3.0), (3, 2.0)], higher=True) == {1: 1, 2: 1, 3: 3, 0: 4}
    assert _rank([(0, 9.0), (1, 8.0)], higher=False) == {1: 1, 0: 2}


def test_ranks_respect_direction_and_mean_rank(three_runs):
    board = build_leaderboard(three_runs, n_boot=200)
    assert [c for c in board.columns] == [("pope", "pope_f1"), ("coco30k", "fid")]
    ranks = {e.label: (e.cells["pope.pope_f1"].rank, e.cells["coco30k.fid"].rank) for e in board.entries}
    assert ranks == {"best_und": (1, 3), "mid": (2, 2), "best_gen": (3, 1)}
    assert all(e.mean_rank == 2.0 for e in board.entries)
    assert [e.label for e in board.entries] == ["best_gen", "best_und", "mid"]  # equal mean rank: by name
    assert board.paper == {"pope.pope_f1": 87.0, "coco30k.fid": 8.53}


def test_ci_for_per_sample_metrics_only(three_runs, run_factory, synth):
    board = build_leaderboard(three_runs[:1], n_boot=300)
    cell = board.entries[0].cells["pope.pope_f1"]
    assert cell.ci is None  # F1 is not a mean of per-sample scores
    assert board.entries[0].cells["coco30k.fid"].ci is None
    gen = synth.geneval_records(0.5)
    run = RunDir.load(run_factory("gen", {"geneval": (gen, synth.geneval_results(gen))}))
    cell = build_leaderboard([run], n_boot=300).entries[0].cells["geneval.geneval_overall"]
    assert cell.ci is not None and cell.ci[0] < cell.value < cell.ci[1]


def test_mean_rank_orders_runs(run_factory, synth):
    runs = []
    for name, acc, fid in (("a", 0.9, 8.0), ("b", 0.7, 9.0), ("c", 0.8, 10.0)):
        recs = synth.pope_records(200, acc, seed=2)
        runs.append(RunDir.load(run_factory(name, {"pope": (recs, synth.pope_results(recs)),
                                                   "coco30k": ([], {"fid": fid, "n_generated": 30000})})))  # fmt: skip
    board = build_leaderboard(runs, n_boot=0)
    assert [(e.label, e.mean_rank) for e in board.entries] == [("a", 1.0), ("b", 2.5), ("c", 2.5)]


@pytest.mark.parametrize("suffix", [".md", ".html", ".csv"])
def test_formats(three_runs, tmp_path, suffix, cli_invoke):
    out = tmp_path / f"board{suffix}"
    code, stdout, _ = cli_invoke("leaderboard", *(str(r.path) for r in three_runs), "--out", str(out), "--bootstrap", "100")
    assert code == 0 and "3 runs ranked over 2 metrics" in stdout
    text = out.read_text()
    assert "Janus-1.3B (paper)" in text and "bbbbbbbbbbbb" in text and "2024-10-21" in text
    if suffix == ".csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert [r["run"] for r in rows[:3]] == ["best_gen", "best_und", "mid"]
        assert rows[0]["coco30k.fid:rank"] == "1" and rows[3]["pope.pope_f1"] == "87.0"
    if suffix == ".html":
        assert "<table>" in text and "http://" not in text and "https://" not in text
    if suffix == ".md":
        assert "coco30k fid ↓" in text and "(#1)" in text and "pope 300/300" in text


def test_unknown_format(three_runs, tmp_path, cli_invoke):
    code, _, err = cli_invoke("leaderboard", str(three_runs[0].path), "--out", str(tmp_path / "x.txt"))
    assert code == 2 and "use a .md, .html or .csv" in err
    assert not (tmp_path / "x.txt").exists()
    with pytest.raises(JanusEvalError, match="no run directory"):
        write_leaderboard([], tmp_path / "x.md")
