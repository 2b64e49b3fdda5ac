"""``janus-eval table``: paper layouts, golden md/csv/LaTeX, subset marks, escaping, bundled paper data."""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

import pytest

from janus_eval.results.paper import REPO_COPY, load_paper_table
from janus_eval.results.rundir import RunDir
from janus_eval.results.tables import latex_escape, render_tables

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def two_runs(run_factory, synth):
    """A full lmms-eval run (VQAv2 on validation) and a vlmevalkit subset run (``--limit``, FID under 30K images)."""
    pope = synth.pope_records(300, 0.86)
    gen = synth.geneval_records(0.6)
    full = run_factory("ckpt_a", {
        "pope": (pope, synth.pope_results(pope)),
        "geneval": (gen, synth.geneval_results(gen)),
        "coco30k": (synth.fid_records(), {"fid": 8.91, "n_generated": 30000}),
        "vqav2": ([], {"vqav2_accuracy": 76.54}),
    })  # fmt: skip
    small = synth.pope_records(50, 0.7, seed=3)
    subset = run_factory("ckpt_b", {
        "pope": (small, synth.pope_results(small)),
        "mme": ([], {"mme_perception": 1301.25}),
        "mjhq30k": (synth.fid_records(), {"fid": 12.5, "n_generated": 1000}),
    }, protocol="vlmevalkit", limit=50, dataset_sizes={"pope": 300})  # fmt: skip
    return [RunDir.load(full), RunDir.load(subset)]


@pytest.mark.parametrize("fmt, suffix", [("md", "md"), ("csv", "csv"), ("latex", "tex")])
def test_golden(two_runs, fmt, suffix):
    text = render_tables(two_runs, fmt=fmt, which="all", paper=True)
    golden = GOLDEN / f"tables.{suffix}"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text(), f"{golden} differs; rerun with UPDATE_GOLDEN=1 after checking the change"


def test_run_rows_protocol_subset_and_absent(two_runs):
    text = render_tables(two_runs, fmt="md", which="2", paper=False)
    row_a = next(line for line in text.splitlines() if "ckpt_a" in line)
    row_b = next(line for line in text.splitlines() if "ckpt_b" in line)
    assert "(lmms-eval)" in row_a and "‡" not in row_a
    assert "(vlmevalkit)" in row_b and "‡" in row_b and "1301.2" in row_b
    assert row_a.count(" - ") >= 7  # every Table 2 column but POPE and VQAv2 is absent
    assert "Janus (Ours)" not in text
    assert "ckpt_b: pope 50 of 300 samples" in text
    t4 = render_tables(two_runs, fmt="md", which="4", paper=False)
    assert "12.50‡" in t4 and "FID over 1,000 < 30K images" in t4 and "8.91 |" in t4


def test_paper_rows_and_geneval_layout(two_runs):
    text = render_tables(two_runs[:1], fmt="md", which="3")
    assert "| Und. and Gen. | Janus (Ours) | 1.3B | 0.97 | 0.68 | 0.30 | 0.84 | 0.46 | 0.42 | 0.61 |" in text
    assert "ckpt_a" in text and text.count("\n| ") == 2 + len(load_paper_table("table3_geneval.csv").rows_from("janus")) + 1


def test_latex_structure(two_runs):
    tex = render_tables(two_runs, fmt="latex")
    assert tex.count("\\begin{tabular}") == tex.count("\\end{tabular}") == 3
    for block in tex.split("\\begin{tabular}")[1:]:
        spec = re.match(r"\{([lrc]+)\}", block).group(1)
        body = block.split("\\end{tabular}")[0]
        assert body.count("\\toprule") == 1 and body.count("\\bottomrule") == 1 and body.count("\\midrule") >= 1
        rows = [r for r in body.split("\n") if r.endswith("\\\\")]
        assert rows and all(r.count(" & ") == len(spec) - 1 for r in rows), "every row has one cell per column"
    assert "ckpt\\_a" in tex and "\\# LLM Params" in tex and "$\\alpha$" in tex and "$^\\ddagger$" in tex
    assert "ckpt_a" not in tex.replace("ckpt\\_a", "")


def test_latex_escape_specials():
    assert latex_escape("a_b & 50% #1 $x {y} ~^\\") == (
        "a\\_b \\& 50\\% \\#1 \\$x \\{y\\} \\textasciitilde{}\\textasciicircum{}\\textbackslash{}"
    )


def test_csv_parses_with_consistent_columns(two_runs):
    text = render_tables(two_runs, fmt="csv", which="2")
    rows = list(csv.reader(io.StringIO(text)))
    assert len({len(r) for r in rows}) == 1
    runs = [r for r in rows if r[-3] == "run"]
    assert [r[2].split(" ")[0] for r in runs] == ["ckpt_a", "ckpt_b"] and runs[1][-2] == "POPE"


def test_bundled_paper_tables_match_repo_copy():
    from importlib import resources

    packaged = resources.files("janus_eval").joinpath("data", "paper")
    names = sorted(entry.name for entry in packaged.iterdir() if entry.is_file())
    assert {"table2_understanding.csv", "table3_geneval.csv", "table4_fid.csv", "table5_ablation.csv", "README.md"} <= set(names)
    assert names == sorted(p.name for p in REPO_COPY.iterdir() if p.is_file())
    for name in names:
        bundled = packaged.joinpath(name).read_text(encoding="utf-8")
        assert bundled == (REPO_COPY / name).read_text(encoding="utf-8"), f"janus_eval/data/paper/{name} is stale"


def test_repo_paper_tables_are_the_packaged_files():
    """One copy: the repository's ``results/paper`` is a link to the package data ``janus_eval/data/paper``."""
    repo = Path(__file__).resolve().parents[2]
    shown = repo / "results" / "paper"
    assert shown.is_symlink(), "results/paper must link to janus_eval/data/paper (one copy of the paper tables)"
    assert shown.resolve() == (repo / "janus_eval" / "data" / "paper").resolve()


def test_cli_table(two_runs, cli_invoke):
    code, out, _ = cli_invoke("table", str(two_runs[0].path), "--format", "latex", "--table", "4", "--no-paper")
    assert code == 0 and "\\toprule" in out and "8.91" in out and "GigaGAN" not in out
    code, _, err = cli_invoke("table", str(two_runs[0].path), "--table", "5")
    assert code == 2 and "unknown --table '5'" in err
    code, _, err = cli_invoke("table", str(two_runs[0].path / "pope"))
    assert code == 2 and "is not a run directory" in err


def test_vqav2_validation_is_labelled_in_every_format(two_runs):
    """The paper's VQAv2 column is test-dev; a run's number is validation and must say so."""
    md = render_tables(two_runs, fmt="md", which="2", paper=False)
    row_a = next(line for line in md.splitlines() if "ckpt_a" in line)
    assert "| 76.5 (val) |" in row_a and "‡" not in row_a
    assert "(val) VQAv2 (test): the run's number is vqav2 validation accuracy, not the paper's test split" in md
    tex = render_tables(two_runs, fmt="latex", which="2", paper=False)
    assert "76.5 (val)" in tex and "\\footnotesize (val) VQAv2 (test)" in tex
    rows = list(csv.DictReader(io.StringIO(render_tables(two_runs, fmt="csv", which="2"))))
    run_a = next(r for r in rows if r["Model"].startswith("ckpt_a"))
    assert run_a["VQAv2 (test)"] == "76.5" and run_a["split"] == "VQAv2 (test)=validation"
    assert all(r["split"] == "" for r in rows if r["source"] == "paper")
    assert next(r for r in rows if r["Model"] == "Janus (Ours)")["VQAv2 (test)"] == "77.3"


def test_a_run_on_the_papers_split_is_not_labelled(run_factory):
    import json

    path = run_factory("ckpt_t", {"vqav2": ([], {"vqav2_accuracy": 70.0})})
    card = json.loads((path / "run.json").read_text())
    card["tasks"]["vqav2"]["split"] = "test"
    (path / "run.json").write_text(json.dumps(card))
    md = render_tables([RunDir.load(path)], fmt="md", which="2", paper=False)
    assert "| 70.0 |" in md and "(val)" not in md


# -- --paper janus | janus-pro | all ------------------------------------------------------------------
JANUS_ROW = "| Und. and Gen. | Janus (Ours) | 1.3B | 87.0 | 1338.0 | 69.4 | 63.7 | 77.3 | 59.1 | 30.5 | 34.3 |"
PRO_1B = "| Und. and Gen. | Janus-Pro-1B (Janus-Pro report) | 1.5B | 86.2 | 1444.0 | 75.5 | 68.3 | - | 59.3 | 36.3 | 39.8 |"
PRO_7B = "| Und. and Gen. | Janus-Pro-7B (Janus-Pro report) | 7B | 87.4 | 1567.1 | 79.2 | 72.1 | - | 62.0 | 41.0 | 50.0 |"
PRO_GENEVAL = ("| Und. and Gen. | Janus-Pro-1B (Janus-Pro report) | 1.5B | 0.98 | 0.82 | 0.51 | 0.89 | 0.65 | 0.56 | 0.73 | 82.63 |",
               "| Und. and Gen. | Janus-Pro-7B (Janus-Pro report) | 7B | 0.99 | 0.89 | 0.59 | 0.90 | 0.79 | 0.66 | 0.80 | 84.19 |")


def test_default_paper_is_janus_and_byte_identical(two_runs):
    assert render_tables(two_runs, fmt="md") == render_tables(two_runs, fmt="md", papers="janus")
    assert (GOLDEN / "tables.md").read_text() == render_tables(two_runs, fmt="md", papers="janus")


def test_paper_janus_pro_shows_only_the_report_rows_labelled_by_source(two_runs):
    md = render_tables(two_runs, fmt="md", which="2", papers="janus-pro")
    assert PRO_1B in md and PRO_7B in md and "Janus (Ours)" not in md and "LLaVA" not in md
    assert "Janus-Pro report: Janus-Pro tech report (deepseek-ai/Janus janus_pro_tech_report.pdf" in md
    assert "It names no evaluation protocol" in md and "lmms-eval" in md  # run rows keep their protocol label
    t3 = render_tables(two_runs, fmt="md", which="3", papers="janus-pro")
    assert all(row in t3 for row in PRO_GENEVAL) and "| DPG-Bench |" in t3
    assert "DPG-Bench: reference numbers only; janus-eval does not run this benchmark" in t3
    run_row = next(line for line in t3.splitlines() if "ckpt_a" in line)
    assert run_row.endswith("| - |")  # no DPG-Bench number for a run
    t4 = render_tables(two_runs, fmt="md", which="4", papers="janus-pro")
    assert "Janus" not in t4.replace("janus", "") and "8.91" in t4  # the report gives no FID: no reference rows


def test_paper_all_shows_both_and_janus_alone_hides_dpg(two_runs):
    md = render_tables(two_runs, fmt="md", papers="all")
    assert JANUS_ROW in md and PRO_1B in md and PRO_7B in md and all(row in md for row in PRO_GENEVAL)
    assert "| Und. and Gen. | Janus (Ours) | 1.3B | 0.97 | 0.68 | 0.30 | 0.84 | 0.46 | 0.42 | 0.61 | - |" in md
    janus_only = render_tables(two_runs, fmt="md", papers="janus")
    assert "DPG-Bench" not in janus_only and "Janus-Pro" not in janus_only
    assert "DPG-Bench" not in render_tables(two_runs, fmt="md", papers="all", paper=False)


@pytest.mark.parametrize("papers", ["janus", "janus-pro", "all"])
def test_paper_choice_in_csv_and_latex(two_runs, papers):
    rows = list(csv.DictReader(io.StringIO(render_tables(two_runs, fmt="csv", which="2", papers=papers))))
    sources = [r["source"] for r in rows]
    assert sources.count("run") == 2
    assert ("paper" in sources) == (papers != "janus-pro") and ("janus-pro" in sources) == (papers != "janus")
    pro = [r for r in rows if r["source"] == "janus-pro"]
    assert [r["POPE"] for r in pro] == ([] if papers == "janus" else ["86.2", "87.4"])
    tex = render_tables(two_runs, fmt="latex", which="3", papers=papers)
    assert ("Janus-Pro-7B (Janus-Pro report) & 7B & 0.99" in tex) == (papers != "janus")
    assert ("DPG-Bench" in tex) == (papers != "janus")
    for block in tex.split("\\begin{tabular}")[1:]:
        spec = re.match(r"\{([lrc]+)\}", block).group(1)
        rows_tex = [r for r in block.split("\\end{tabular}")[0].split("\n") if r.endswith("\\\\")]
        assert all(r.count(" & ") == len(spec) - 1 for r in rows_tex)


def test_cli_table_paper_choices(two_runs, cli_invoke):
    run = str(two_runs[0].path)
    code, out, _ = cli_invoke("table", run, "--table", "2")
    assert code == 0 and JANUS_ROW in out and "Janus-Pro" not in out
    code, out, _ = cli_invoke("table", run, "--table", "2", "--paper", "janus-pro")
    assert code == 0 and PRO_1B in out and "Janus (Ours)" not in out
    code, out, _ = cli_invoke("table", run, "--table", "2", "--paper", "all")
    assert code == 0 and PRO_7B in out and JANUS_ROW in out
    code, out, _ = cli_invoke("table", run, "--table", "2", "--no-paper")
    assert code == 0 and "Janus" not in out.replace("janus", "")
    code, out, err = cli_invoke("table", run, "--paper", "janus-flow")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "unknown --paper 'janus-flow'; expected one of: janus, janus-pro, all" in err


def test_reference_rows_cite_their_source():
    """Every reference number says where it comes from; the Janus-Pro rows are those of the report's PDF."""
    for name in ("table2_understanding.csv", "table3_geneval.csv", "table4_fid.csv"):
        table = load_paper_table(name)
        assert table.header[-2:] == ["paper", "source"]
        for row in table.rows:
            assert row["paper"] in ("janus", "janus-pro") and row["source"]
            assert ("arXiv:2410.13848" in row["source"]) == (row["paper"] == "janus")
            assert ("janus_pro_tech_report.pdf" in row["source"]) == (row["paper"] == "janus-pro")
    assert [r["Model"] for r in load_paper_table("table2_understanding.csv").rows_from("janus-pro")] == [
        "Janus-Pro-1B", "Janus-Pro-7B"]  # fmt: skip


# -- protocol footnotes (a column computed otherwise than the paper's) -------------------------------
TABLE2_TASKS = ("pope", "mme", "mmbench", "seed", "vqav2", "gqa", "mmmu", "mmvet")


HEADLINE_H = {"name": "h", "form": "mean", "higher_is_better": True, "headline": True, "unit": {"kind": "sample"}}
"""The one metric ``table2_run``'s tasks declare."""


def table2_run(path: Path, protocol: str, per_task: dict[str, str] | None = None) -> RunDir:
    """A run directory with every Table 2 task scored under ``protocol`` (``per_task`` overrides a task's card)."""
    import json

    path.mkdir(parents=True)
    protocols = {t: (per_task or {}).get(t, protocol) for t in TABLE2_TASKS}
    card = {"identity": {"protocol": protocol}, "config": {"data_root": "/data", "limit": None},
            "tasks": {t: {"protocol": protocols[t], "headline": "h", "samples": 5, "dataset_size": 5, "split": "test",
                          "kind": "understanding", "metrics": [HEADLINE_H]}
                      for t in TABLE2_TASKS}}  # fmt: skip
    (path / "run.json").write_text(json.dumps(card))
    (path / "results.json").write_text(json.dumps({t: {"h": 50.0 + i} for i, t in enumerate(TABLE2_TASKS)}))
    return RunDir.load(path)


NOTED = {"lmms-eval": ["POPE", "MME-P", "MMB", "SEED", "GQA", "MMMU", "MM-Vet"],
         "vlmevalkit": ["POPE", "MMB", "MM-Vet"], "paper": []}  # fmt: skip


@pytest.mark.parametrize("protocol", ["lmms-eval", "vlmevalkit", "paper"])
def test_protocol_footnotes_in_markdown(tmp_path, protocol):
    md = render_tables([table2_run(tmp_path / "r", protocol)], fmt="md", which="2", paper=False)
    row = next(line for line in md.splitlines() if line.startswith("| This run"))
    cells = dict(zip(["Type", "Model", "#", "POPE", "MME-P", "MMB", "SEED", "VQAv2 (test)", "GQA", "MMMU", "MM-Vet"],
                     [c.strip() for c in row.strip("|").split("|")]))  # fmt: skip
    assert [h for h, c in cells.items() if c.endswith("§")] == NOTED[protocol]
    notes = [line for line in md.splitlines() if line.startswith("§ ")]
    assert [n.split(",")[0].removeprefix("§ ") for n in notes] == NOTED[protocol]
    assert all(f", {protocol}: " in n and "; paper: " in n for n in notes)


def test_protocol_footnote_texts_say_how():
    from janus_eval.results.footnotes import DIFFERENCES, protocol_note

    assert protocol_note("lmms-eval", "pope") == (
        "lmms-eval: F1 over all three splits (adversarial, popular, random), only a reply that is exactly yes or no "
        "counts; paper: F1 of the random split with VLMEvalKit's yes/no word extraction (PR #541: 85.5 overall, 87.1 random)")
    assert "circular=False" in protocol_note("vlmevalkit", "mmbench") and "circular accuracy" in protocol_note("vlmevalkit", "mmbench")
    assert "gpt-4-turbo" in protocol_note("vlmevalkit", "mmvet") and "mm-vet_evaluator.py" in protocol_note("vlmevalkit", "mmvet")
    assert "MMMU_DEV_VAL validation split" in protocol_note("lmms-eval", "mmmu")
    assert protocol_note("paper", "pope") is None and protocol_note("vlmevalkit", "mme") is None
    assert protocol_note("lmms-eval", "vqav2") is None  # the split note says it, from the run's card
    for differences in DIFFERENCES.values():
        assert all("|" not in d.ours + d.paper for d in differences.values())  # the CSV notes separator


def test_protocol_comes_from_each_task_card(tmp_path):
    """A run whose POPE card says ``paper`` (another protocol than the run's) gets no POPE note."""
    run = table2_run(tmp_path / "r", "vlmevalkit", per_task={"pope": "paper"})
    md = render_tables([run], fmt="md", which="2", paper=False)
    assert "§ POPE" not in md and "§ MMB, vlmevalkit" in md and "§ MM-Vet, vlmevalkit" in md


def test_protocol_footnotes_in_latex_and_csv(tmp_path):
    runs = [table2_run(tmp_path / "a", "lmms-eval"), table2_run(tmp_path / "b", "vlmevalkit"), table2_run(tmp_path / "c", "paper")]
    tex = render_tables(runs, fmt="latex", which="2", paper=False)
    assert "50.0$^\\S$ &" in tex and "\\footnotesize $^\\S$ MMB, vlmevalkit: circular accuracy" in tex
    assert tex.count("\\footnotesize $^\\S$") == len(NOTED["lmms-eval"]) + len(NOTED["vlmevalkit"])
    rows = list(csv.DictReader(io.StringIO(render_tables(runs, fmt="csv", which="2"))))
    assert all(r["notes"] == "" for r in rows if r["source"] == "paper")
    notes = {r["Model"].split(" ")[0]: r["notes"] for r in rows if r["source"] == "run"}
    assert notes["c"] == "" and "§" not in "".join(r["POPE"] for r in rows)
    for name, protocol in (("a", "lmms-eval"), ("b", "vlmevalkit")):
        entries = notes[name].split(" | ")
        assert [e.split(": ", 1)[0] for e in entries] == NOTED[protocol]
        assert all(e.split(": ", 1)[1].startswith(f"{protocol}: ") for e in entries)
    pro = [r for r in csv.DictReader(io.StringIO(render_tables(runs, fmt="csv", which="2", papers="janus-pro")))
           if r["source"] == "janus-pro"]  # fmt: skip
    assert len(pro) == 2 and all(r["notes"].startswith("Janus-Pro tech report (deepseek-ai/Janus") for r in pro)


def test_cli_table_footnotes(tmp_path, cli_invoke):
    run = table2_run(tmp_path / "r", "vlmevalkit")
    code, out, _ = cli_invoke("table", str(run.path), "--table", "2", "--format", "md")
    assert code == 0 and "§ MMB, vlmevalkit: circular accuracy over the main questions (mcq_circular_eval); paper: " in out
    code, out, _ = cli_invoke("table", str(run.path), "--table", "2", "--format", "csv")
    assert code == 0 and "MMB: vlmevalkit: circular accuracy" in out
