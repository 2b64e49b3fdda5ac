"""The KV cache goes to the language model under this transformers' keyword, with no deprecation warning."""

import logging
import warnings

import numpy as np
import pytest
from PIL import Image

from janus_eval.model.lm_compat import NEW, OLD, cache_keyword, cache_kwargs, output_cache


class OldLM:
    def forward(self, inputs_embeds=None, past_key_values=None, use_cache=None, **kwargs):
        return None


class NewLM:
    def forward(self, inputs_embeds=None, cache=None, use_cache=None, **kwargs):
        return None


def test_keyword_follows_the_forward_signature():
    assert cache_keyword(OldLM()) == OLD and cache_kwargs(OldLM(), 1) == {"past_key_values": 1}
    assert cache_keyword(NewLM()) == NEW and cache_kwargs(NewLM(), 1) == {"cache": 1}


def test_output_cache_reads_either_field():
    from dataclasses import dataclass

    @dataclass
    class Old:
        past_key_values: object = "old"

    @dataclass
    class New:
        cache: object = "new"

    assert output_cache(Old()) == "old" and output_cache(New()) == "new"


@pytest.fixture
def strict(caplog):
    """FutureWarning/DeprecationWarning become errors; transformers' logged deprecations are collected."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        with caplog.at_level(logging.WARNING, logger="transformers"):
            yield caplog


def _no_cache_deprecation(caplog) -> None:
    assert not [r for r in caplog.records if "past_key_values" in r.getMessage() or "deprecated" in r.getMessage()]


def test_installed_language_model_takes_our_keyword(tiny_adapter):
    lm = tiny_adapter.model.model.language_model
    import inspect

    assert cache_keyword(lm) in inspect.signature(type(lm).forward).parameters


def test_understanding_forward_emits_no_deprecation(tiny_adapter, strict):
    image = Image.fromarray(np.full((40, 30, 3), 90, dtype=np.uint8))
    tiny_adapter.understand([image, None], ["What is it?", "Why?"], max_new_tokens=3)
    _no_cache_deprecation(strict)


def test_generation_forward_emits_no_deprecation(tiny_adapter, strict):
    tiny_adapter.generate_tokens(["a red cube"], [3])
    _no_cache_deprecation(strict)


def test_bench_release_loop_emits_no_deprecation(tiny_adapter, strict):
    from janus_eval.bench import release_generation_loop

    release_generation_loop(tiny_adapter, "a cat", parallel_size=1)
    _no_cache_deprecation(strict)
