"""A logits head that turns chosen rows NaN (or makes them pick one token) at chosen calls, for late-failure tests."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import pytest
import torch


class PoisonedHead(torch.nn.Module):
    """Wraps a logits head; ``plan[call][row]`` is "nan" (one NaN logit) or a token id the row must pick."""

    def __init__(self, inner: torch.nn.Module, plan: dict[int, dict[int, str | int]]) -> None:
        super().__init__()
        self.inner, self.plan, self.calls = inner, plan, 0

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = self.inner(hidden).float().clone()
        for row, what in self.plan.get(self.calls, {}).items():
            if what == "nan":
                logits[row, 5] = float("nan")
            else:
                logits[row] = 0.0
                logits[row, what] = 1.0
        self.calls += 1
        return logits


@contextmanager
def _poisoned(owner: torch.nn.Module, name: str, plan: dict[int, dict[int, str | int]]) -> Iterator[None]:
    """``owner.<name>`` wrapped for the block, then put back (monkeypatch would delete a child module on undo:
    it lives in ``_modules``, not the instance dict)."""
    head = getattr(owner, name)
    setattr(owner, name, PoisonedHead(head, plan))
    try:
        yield
    finally:
        setattr(owner, name, head)


@pytest.fixture
def poisoned():
    """``with poisoned(module, "lm_head", {call: {row: "nan" | token}}): ...``"""
    return _poisoned
