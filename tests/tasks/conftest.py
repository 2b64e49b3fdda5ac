"""Fixtures shared by the FID task tests (the tiny Inception file is in tests/conftest.py)."""

import pytest


@pytest.fixture
def inception_calls(monkeypatch):
    """The image paths that go through ``inception.image_features`` (the only way to the network), in order."""
    from janus_eval.metrics import inception

    seen = []
    real = inception.image_features

    def counted(paths, *args, **kwargs):
        seen.extend(paths)
        return real(paths, *args, **kwargs)

    monkeypatch.setattr(inception, "image_features", counted)
    return seen
