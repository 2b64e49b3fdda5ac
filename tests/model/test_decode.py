"""The decode module (prefill, one step, the loop) and the GPU-only decode paths, run on CPU with the tiny model.

On CPU these run here: the compiled image step (``torch.compile(fullgraph=True)``, inductor, as on CUDA),
its fallback after a compiler error, and an out-of-memory error raised by it. What cannot run without
CUDA: the CUDA graph capture and replay of ``mode="reduce-overhead"`` (torch skips graphs for CPU tensors)
and real out-of-memory errors; ``bench/gpu_check.sh`` runs those on a GPU.
"""

from __future__ import annotations

import hashlib
import json
import warnings

import numpy as np
import pytest
import torch

PROMPTS, SEEDS = ["a red cube", "two dogs on a sofa", "x"], [1, 2, 3]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def test_outputs_are_those_of_the_loops_before_the_decode_module(tiny_adapter):
    """Digests recorded with ``model/loops.py`` (706d03a) before the loops moved: greedy tokens, answers,
    image codes and pixels stay bit-identical."""
    rng = np.random.default_rng(7)
    pixels = [rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8) for n in (1, 0, 2)]
    questions = ["What is in the image?", "Say something long about nothing at all.", "Compare them."]
    answers = tiny_adapter.understand(pixels, questions, 24)
    rows = [tiny_adapter.understanding_ids(q, len(p)) for q, p in zip(questions, pixels)]
    tokens = tiny_adapter.greedy(rows, torch.cat([torch.from_numpy(p) for p in pixels]), 24)
    codes = tiny_adapter.generate_tokens(PROMPTS, SEEDS)
    images = tiny_adapter.decode_codes(codes)
    assert _digest(json.dumps(tokens).encode()) == "51ce4f444ae76d9b"
    assert _digest(json.dumps(answers).encode()) == "571a0c44af9e3b86"
    assert _digest(json.dumps(codes.tolist()).encode()) == "7edf7d488989edfb"
    assert _digest(images.tobytes()) == "a8cd9f004b25180e"


def test_compiled_step_gives_the_eager_codes(tiny_adapter, monkeypatch):
    """The real compiler, whole graph (``fullgraph=True``): it must capture without a fallback and sample the
    same codes as the eager step, on a first call and on a second one that reuses the graph and the static
    cache. One batch shape only: each shape is a compile, and a compile takes a CPU minute or more."""
    other_seeds = [7, 8]
    eager = [tiny_adapter.generate_tokens(PROMPTS[:2], SEEDS[:2]), tiny_adapter.generate_tokens(PROMPTS[1:], other_seeds)]
    monkeypatch.setattr(tiny_adapter, "compile_decode", True)
    monkeypatch.setattr(tiny_adapter, "_compiled", None)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*decode step.*")
        compiled = [tiny_adapter.generate_tokens(PROMPTS[:2], SEEDS[:2]), tiny_adapter.generate_tokens(PROMPTS[1:], other_seeds)]
    assert tiny_adapter._fullgraph and tiny_adapter.compile_decode and tiny_adapter._compiled is not None
    assert torch.equal(compiled[0], eager[0]) and torch.equal(compiled[1], eager[1])
    torch._dynamo.reset()


class FakeCompiler:
    """Stands in for ``torch.compile``: records each compile's ``fullgraph`` and runs the eager step,
    raising ``fail(call)``'s error on the calls it names."""

    def __init__(self, fail) -> None:
        self.fail, self.compiles, self.calls = fail, [], 0

    def __call__(self, fn, **options):
        self.compiles.append(options["fullgraph"])

        def compiled(*args):
            self.calls += 1
            error = self.fail(len(self.compiles), self.calls)
            if error is not None:
                raise error
            return fn(*args)

        return compiled


@pytest.fixture
def compiled_with(tiny_adapter, monkeypatch):
    """The adapter set to compile its step with a ``FakeCompiler(fail)``."""

    def install(fail) -> FakeCompiler:
        compiler = FakeCompiler(fail)
        monkeypatch.setattr(torch, "compile", compiler)
        monkeypatch.setattr(tiny_adapter, "compile_decode", True)
        monkeypatch.setattr(tiny_adapter, "_compiled", None)
        monkeypatch.setattr(tiny_adapter, "_fullgraph", True)
        return compiler

    return install


def test_a_compiler_error_falls_back_with_the_same_codes(tiny_adapter, compiled_with):
    expected = tiny_adapter.generate_tokens(PROMPTS, SEEDS)
    compiler = compiled_with(lambda compiles, call: RuntimeError("inductor exploded"))
    with pytest.warns(UserWarning) as caught:
        assert torch.equal(tiny_adapter.generate_tokens(PROMPTS, SEEDS), expected)
    assert compiler.compiles == [True, False]  # whole graph, then with graph breaks, then eager
    assert [str(w.message).split(" (")[0] for w in caught] == ["decode step does not compile as one graph",
                                                                "compiled decode step failed"]  # fmt: skip
    assert tiny_adapter.compile_decode is False


def test_a_graph_break_recompiles_once_and_keeps_compiling(tiny_adapter, compiled_with):
    expected = tiny_adapter.generate_tokens(PROMPTS, SEEDS)
    compiler = compiled_with(lambda compiles, call: RuntimeError("graph break") if compiles == 1 else None)
    with pytest.warns(UserWarning, match="compiling with graph breaks"):
        assert torch.equal(tiny_adapter.generate_tokens(PROMPTS, SEEDS), expected)
    assert compiler.compiles == [True, False] and tiny_adapter.compile_decode is True


@pytest.mark.parametrize("wrapped", [False, True], ids=["raised", "wrapped-by-the-compiler"])
def test_out_of_memory_propagates_and_the_compiled_step_stays(tiny_adapter, compiled_with, wrapped):
    """An OOM is the batch's fault, not the compiler's: it reaches the caller (the runner halves the batch)
    at once, nothing is recompiled, and the next call still runs the compiled step (CUDA graphs kept)."""

    def oom_on_first_call(compiles: int, call: int) -> BaseException | None:
        if call != 1:
            return None
        oom = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if not wrapped:
            return oom
        try:
            raise oom
        except torch.OutOfMemoryError as inner:
            try:
                raise RuntimeError("backend compiler failed") from inner
            except RuntimeError as outer:
                return outer

    expected = tiny_adapter.generate_tokens(PROMPTS, SEEDS)
    compiler = compiled_with(oom_on_first_call)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(torch.OutOfMemoryError, match="CUDA out of memory"):
            tiny_adapter.generate_tokens(PROMPTS, SEEDS)
        compiled = tiny_adapter._compiled
        assert compiled is not None and tiny_adapter.compile_decode and tiny_adapter._fullgraph
        assert torch.equal(tiny_adapter.generate_tokens(PROMPTS, SEEDS), expected)
    assert compiler.compiles == [True] and tiny_adapter._compiled is compiled
    assert compiler.calls == 1 + tiny_adapter.num_gen_tokens - 1  # the failed call, then every step of the rerun
