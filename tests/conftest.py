"""Shared fixtures: the embedded tiny model is built once per session (it is deterministic)."""

from __future__ import annotations

import sys

import pytest


@pytest.fixture(scope="session")
def tiny_adapter():
    from janus_eval.model import load

    return load(None)


@pytest.fixture
def cli_invoke(monkeypatch, capsys):
    """Run ``janus-eval ARGS`` in-process; returns (exit code, stdout, stderr)."""
    from janus_eval import cli

    def invoke(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["janus-eval", *args])
        with pytest.raises(SystemExit) as exit_info:
            cli.main()
            raise SystemExit(0)
        captured = capsys.readouterr()
        return exit_info.value.code or 0, captured.out, captured.err

    return invoke
