"""Shared fixtures: the embedded tiny model is built once per session (it is deterministic)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_adapter():
    from janus_eval.model import load

    return load(None)
