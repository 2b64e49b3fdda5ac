"""The bench command runs end to end on CPU with the tiny shapes (a smoke test: no timing asserted)."""

import json

import pytest

from janus_eval.bench import bandwidth, generation_floor, run_agreement, run_bench
from janus_eval.bench_models import build_adapter, janus_pro_7b_config


def test_bench_runs_both_modes_on_cpu():
    gen = run_bench("gen", "tiny", "cpu", None, batch_sizes=[1, 2], n=2)
    assert [r.batch_size for r in gen] == [1, 2] and all(r.ours_per_s > 0 and r.reference_per_s > 0 for r in gen)
    assert gen[0].reference_per_s == gen[1].reference_per_s  # the release loop is measured once per run
    und = run_bench("und", "tiny", "cpu", None, batch_sizes=[2], n=2)
    assert [r.workload for r in und] == ["pope", "vqa"] and all(r.peak_memory_gib is None for r in und)


def test_agreement_is_exact_in_fp32():
    """The CPU parity guarantee, measured the way the GPU agreement rate is: every answer identical."""
    rows = run_agreement("tiny", "cpu", None, batch_size=3, n=5)
    assert [row.workload for row in rows] == ["pope", "vqa"]
    for row in rows:
        assert row.exact_match == 1.0 and row.first_token_match == 1.0 and row.samples == 5


def test_generation_floor_grows_with_batch_and_saturates():
    adapter = build_adapter("tiny", "cpu", __import__("torch").float32)
    floors = [generation_floor(adapter, b, 32, 3.35e12) for b in (1, 16, 256, 4096)]
    assert floors == sorted(floors) and floors[-1] / floors[-2] < 1.1
    assert bandwidth("NVIDIA H100 80GB HBM3") == 3.35e12 and bandwidth("NVIDIA H100 PCIe") == 2.0e12
    assert bandwidth("NVIDIA H200") == 4.8e12 and bandwidth("CPU (x86_64)") is None


def test_pro_7b_shapes_match_the_release():
    config = janus_pro_7b_config()
    assert config.text_config.hidden_size == 4096 and config.text_config.num_hidden_layers == 30
    assert config.vision_config.projection_dim == config.vq_config.image_token_embed_dim == 4096


def test_bench_cli_writes_json(tmp_path, cli_invoke):
    out = tmp_path / "bench.json"
    code, _, _ = cli_invoke("bench", "--mode", "gen", "--device", "cpu", "--n", "2", "--batch-size", "1,2", "--json", str(out))
    rows = json.loads(out.read_text())
    assert code == 0 and [r["batch_size"] for r in rows] == [1, 2] and rows[0]["unit"] == "images/s"


@pytest.mark.parametrize("args, message", [(("--mode", "fast"), "--mode must be"), (("--shape", "70b"), "--shape must be"),
                                           (("--batch-size", "0"), "--batch-size takes")])  # fmt: skip
def test_bench_cli_rejects_bad_options(cli_invoke, args, message):
    code, _, err = cli_invoke("bench", "--device", "cpu", *args)
    assert code == 2 and message in err


def test_geneval_bench_times_a_real_run(monkeypatch):
    """One official prompt, one image, through the runner; tiny scorers stand in to keep it fast."""
    from janus_eval import bench
    from janus_eval.metrics import geneval_models as gm

    monkeypatch.setattr(bench, "official_sized_scorers", lambda device: (gm.tiny_detector(), gm.tiny_color_classifier()))
    timing = bench.run_geneval_bench("tiny", "cpu", None, batch_size=None, prompts=1, images_per_prompt=1)
    assert timing.prompts == 1 and timing.images == 1
    assert 0 < timing.generation_s < timing.total_s


def test_geneval_bench_scorers_have_the_official_sizes():
    from janus_eval.bench import official_sized_scorers

    detector, colors = official_sized_scorers("meta")
    millions = [sum(p.numel() for p in m.model.parameters()) / 1e6 for m in (detector, colors)]
    assert 60 < millions[0] < 75 and 420 < millions[1] < 435  # Mask2Former Swin-S 69M, CLIP ViT-L/14 428M
    assert colors.image_size == 224 and detector.scale == (1333, 800)


def test_pipeline_bench_compares_serial_and_parallel_on_identical_records(tmp_path, cli_invoke):
    code, out, err = cli_invoke("bench", "--mode", "pipeline", "--n", "64", "--json", str(tmp_path / "p.json"))
    assert code == 0, err
    result = json.loads((tmp_path / "p.json").read_text())
    assert [s["unit"] for s in result["stages"]] == ["samples/s", "images/s"]
    for stage in result["stages"]:
        assert stage["identical_records"] is True and stage["workers"] >= 1
        assert stage["serial_per_s"] > 0 and stage["parallel_per_s"] > 0
    assert result["peak_rss_mib"] > 0 and "ratio x" in out


def test_gpu_check_dry_mode_runs_every_path_and_writes_its_rows(tmp_path):
    """``bench/gpu_check.sh --device cpu --shape tiny``: the GPU check's own code on CPU, as a subprocess; its rows
    go to a copy of RESULTS.md (``--results``), appended after what was there, never to the committed file."""
    import subprocess
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parents[1] / "bench"
    results = tmp_path / "RESULTS.md"
    before = (bench / "RESULTS.md").read_text()
    results.write_text(before)
    done = subprocess.run(["bash", str(bench / "gpu_check.sh"), "--device", "cpu", "--shape", "tiny", "--results", str(results)],
                          capture_output=True, text=True, env={**__import__("os").environ, "PYTHON": sys.executable})  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    text = results.read_text()
    assert text.startswith(before) and (bench / "RESULTS.md").read_text() == before
    rows = {line.split(" | ")[2]: line.split(" | ")[3] for line in text[len(before):].splitlines() if line.startswith("| 20")}
    assert rows["decode chunk 8, batch sizes 1/3/5/8/13"] == "PASS"
    assert rows["scoring beside generation (GenEval)"] == "PASS"
    assert rows["batch-size auto, OOM halving (OOM simulated)"] == "PASS" and rows["batch-size auto, OOM at batch 1"] == "PASS"
    assert rows["compiled decode step + CUDA graphs"] == rows["pinned host-to-device copies"] == "skipped"
    assert {"gen", "und", "agree"} <= set(rows) and all(rows[m] == "measured" for m in ("gen", "und", "agree"))
