"""Auto batch size: the estimate grows with free memory, shrinks with sequence length, and stays in bounds;
and ``--batch-size auto`` end to end through the CLI.

The end-to-end tests run the GPU path on CPU: a fake ``memory.free_bytes`` probe reports free GPU memory
(on CPU the real one says memory is no limit) and a wrapped ``understand`` raises CUDA's out-of-memory error
above a batch size, so ``Runner._within_memory`` halves the batch, and at batch 1 the CLI prints one line.
What cannot run without CUDA (real allocator OOMs, ``torch.cuda.empty_cache``, an OOM inside the compiled
step's CUDA graph) is in ``bench/gpu_check.sh``.
"""

import torch

from janus_eval.bench_models import janus_13b_config
from janus_eval.model import memory

GIB = 1 << 30


def test_batch_is_a_power_of_two_that_grows_with_free_memory():
    config = janus_13b_config()
    sizes = [memory.auto_batch_size(config, torch.bfloat16, "understand", 640, 1, free * GIB) for free in (8, 20, 40, 70)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    assert all(s & (s - 1) == 0 for s in sizes)


def test_generation_counts_two_rows_and_the_image_tokens():
    config = janus_13b_config()
    free = 40 * GIB
    one_row = memory.row_bytes(memory.Shapes.from_config(config), 16 + 576, 0, 2, 16384)
    size = memory.auto_batch_size(config, torch.bfloat16, "generate", 16 + 576, 0, free)
    assert size * 2 * one_row <= free * memory.USABLE_FRACTION - memory.HEADROOM_BYTES < size * 4 * 2 * one_row


def test_longer_sequences_and_wider_dtypes_get_smaller_batches():
    config = janus_13b_config()
    short = memory.auto_batch_size(config, torch.bfloat16, "understand", 600, 1, 30 * GIB)
    long = memory.auto_batch_size(config, torch.bfloat16, "understand", 4000, 7, 30 * GIB)
    fp32 = memory.auto_batch_size(config, torch.float32, "understand", 600, 1, 30 * GIB)
    assert long < short and fp32 < short


def test_bounds():
    config = janus_13b_config()
    assert memory.auto_batch_size(config, torch.bfloat16, "understand", 640, 1, 1 * GIB) == 1
    assert memory.auto_batch_size(config, torch.bfloat16, "understand", 20, 0, 10_000 * GIB) == memory.MAX_BATCH["understand"]


def test_cpu_adapter_uses_the_fixed_cpu_batch(tiny_adapter):
    assert tiny_adapter.batch_size_for("understand", "Is there a cat?", 1, 3) == memory.CPU_BATCH_SIZE


# -- --batch-size auto end to end: the GPU path on CPU ---------------------------------------------
def _fake_gpu(monkeypatch, fits: int) -> list[int]:
    """Free memory reported as 3 GiB (room for a batch of 256 tiny rows); ``understand`` OOMs above ``fits``."""
    from janus_eval.model.adapter import JanusAdapter

    monkeypatch.setattr(memory, "free_bytes", lambda device: 3 * GIB)
    real, sizes = JanusAdapter.understand, []

    def understand(self, images, questions, *args, **kwargs):
        sizes.append(len(questions))
        if len(questions) > fits:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return real(self, images, questions, *args, **kwargs)

    monkeypatch.setattr(JanusAdapter, "understand", understand)
    return sizes


def _records(out) -> list[dict]:
    import json

    rows = [json.loads(line) for line in (out / "pope" / "samples.jsonl").read_text().splitlines()]
    return sorted(rows, key=lambda row: row["id"])


def test_auto_batch_size_halves_on_out_of_memory(cli_invoke, tmp_path, monkeypatch):
    """The probe sizes the batch (all 12 POPE samples, where CPU would take 8); each OOM halves it, for the
    batch and the task's later ones; the records are those of a run at the size that fits."""
    args = ("run", "--tasks", "pope", "--limit", "12", "--workers", "0", "--no-progress")
    assert cli_invoke(*args, "--batch-size", "3", "--out", str(tmp_path / "fixed"))[0] == 0
    sizes = _fake_gpu(monkeypatch, fits=3)
    code, _, err = cli_invoke(*args, "--batch-size", "auto", "--out", str(tmp_path / "auto"))
    assert code == 0, err
    assert sizes == [12, 6, 3, 3, 3, 3]
    assert _records(tmp_path / "auto") == _records(tmp_path / "fixed")


def test_out_of_memory_at_batch_one_is_one_clear_line(cli_invoke, tmp_path, monkeypatch):
    sizes = _fake_gpu(monkeypatch, fits=0)
    code, _, err = cli_invoke("run", "--tasks", "pope", "--limit", "12", "--workers", "0", "--no-progress",
                              "--batch-size", "auto", "--out", str(tmp_path / "run"))  # fmt: skip
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert "out of GPU memory with a batch of one sample" in err
    assert sizes == [12, 6, 3, 1]
