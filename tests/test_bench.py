"""The bench command runs end to end on CPU with the tiny shapes (a smoke test: no timing asserted)."""

import json

from janus_eval.bench import run_bench


def test_bench_runs_both_modes_on_cpu():
    for mode in ("gen", "und"):
        result = run_bench(mode, "tiny", "cpu", None, batch_size=2, n=2)
        assert result.ours_per_s > 0 and result.reference_per_s > 0 and result.shape == "tiny"


def test_bench_cli_writes_json(tmp_path, cli_invoke):
    out = tmp_path / "bench.json"
    code, _, _ = cli_invoke("bench", "--mode", "gen", "--device", "cpu", "--n", "2", "--batch-size", "2", "--json", str(out))
    assert code == 0 and json.loads(out.read_text())["unit"] == "images/s"
