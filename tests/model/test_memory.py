"""Auto batch size: the estimate grows with free memory, shrinks with sequence length, and stays in bounds."""

import torch

from janus_eval.bench import janus_13b_config
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
