"""Image generation: per-image determinism at any batch size, and agreement with a plain loop.

CUDA decodes VQ codes in chunks of 8; here that path runs on CPU (``decode_chunk`` forced to 8, the decoder
wrapped to round by batch shape as GPU kernels may). The GPU's own kernels are checked by bench/gpu_check.sh.
"""

import numpy as np
import torch

from janus_eval.model import sampling

PROMPTS = ["a red cube", "two dogs on a green sofa in a sunny park", "x", "a photo of a bench", "a blue clock",
           "three apples", "an umbrella above a yellow car", "a cat"]  # fmt: skip
SEEDS = [11, 22, 33, 44, 55, 66, 77, 88]


def plain_reference_tokens(adapter, prompt: str, seed: int, cfg_scale: float = 5.0) -> list[int]:
    """Obviously correct: full forward over the whole sequence every step, no cache, no padding."""
    model = adapter.model
    cond = torch.tensor([adapter.generation_ids(prompt)])
    uncond = cond.clone()
    uncond[0, 1:-1] = adapter.ids.pad
    embeds = model.get_input_embeddings()(torch.cat([cond, uncond]))
    tokens: list[int] = []
    with torch.inference_mode():
        for step in range(adapter.num_gen_tokens):
            hidden = model.model.language_model(inputs_embeds=embeds, use_cache=False).last_hidden_state[:, -1]
            logits = model.model.generation_head(hidden).float()
            mixed = logits[1:] + cfg_scale * (logits[:1] - logits[1:])
            token = sampling.sample(mixed, torch.tensor([seed]), step, 1.0)
            tokens.append(int(token))
            step_embed = model.prepare_embeddings_for_image_generation(token.repeat(2))[:, None]
            embeds = torch.cat([embeds, step_embed], dim=1)
    return tokens


def test_fast_loop_equals_plain_loop(tiny_adapter):
    fast = tiny_adapter.generate_tokens(PROMPTS[:3], SEEDS[:3])
    for i in range(3):
        assert fast[i].tolist() == plain_reference_tokens(tiny_adapter, PROMPTS[i], SEEDS[i])


def test_images_identical_at_batch_sizes_1_3_8(tiny_adapter):
    full = tiny_adapter.generate_images(PROMPTS, SEEDS)
    assert full.dtype == np.uint8 and full.shape == (8, 32, 32, 3)
    threes = np.concatenate([tiny_adapter.generate_images(PROMPTS[i : i + 3], SEEDS[i : i + 3]) for i in range(0, 8, 3)])
    ones = np.concatenate([tiny_adapter.generate_images([p], [s]) for p, s in zip(PROMPTS, SEEDS)])
    assert np.array_equal(full, threes) and np.array_equal(full, ones)


def test_seed_changes_the_image_and_prompt_matters(tiny_adapter):
    a = tiny_adapter.generate_tokens(["a red cube"] * 2, [1, 2])
    b = tiny_adapter.generate_tokens(["two dogs"], [1])
    assert not torch.equal(a[0], a[1]) and not torch.equal(a[0], b[0])


def test_unconditional_row_keeps_bos_and_begin_of_image(tiny_adapter):
    ids = tiny_adapter.generation_ids("a cat")
    assert ids[0] == tiny_adapter.ids.bos and ids[-1] == tiny_adapter.ids.begin_of_image
    assert tiny_adapter.tokenizer.decode(ids[1:-1]) == "User: a cat\n\nAssistant:"


MORE_PROMPTS = ["a green bird", "four cups", "a kite", "a red train at night", "two forks"]
MORE_SEEDS = [99, 111, 122, 133, 144]


def test_chunk_8_decode_gives_the_same_images_at_any_batch_size(tiny_adapter, monkeypatch):
    """CUDA decodes in chunks of 8 (``decode_chunk``) because a convolution's kernel, and so its rounding, is
    picked by batch shape. CPU kernels here round alike at any batch, so the decoder is wrapped to round by
    batch shape as a GPU may (a shift that is zero only for a batch of 8): images generated 1, 3, 5, 8 and
    13 at a time must be those generated one at a time, and the decoder must only ever see 8 images."""
    monkeypatch.setattr(tiny_adapter, "decode_chunk", 8)
    decode, shapes = tiny_adapter.model.decode_image_tokens, []

    def shape_dependent(codes: torch.Tensor) -> torch.Tensor:
        shapes.append(len(codes))
        return decode(codes) + 0.05 * (len(codes) - 8)

    monkeypatch.setattr(tiny_adapter.model, "decode_image_tokens", shape_dependent)
    prompts, seeds = PROMPTS + MORE_PROMPTS, SEEDS + MORE_SEEDS
    ones = np.concatenate([tiny_adapter.generate_images([p], [s]) for p, s in zip(prompts, seeds)])
    for size in (3, 5, 8, 13):
        batched = np.concatenate([tiny_adapter.generate_images(prompts[i : i + size], seeds[i : i + size])
                                  for i in range(0, len(prompts), size)])  # fmt: skip
        assert np.array_equal(batched, ones), f"batch size {size}"
    assert set(shapes) == {8}


def test_decode_is_release_uint8_conversion(tiny_adapter):
    codes = torch.zeros(1, tiny_adapter.num_gen_tokens, dtype=torch.long)
    with torch.inference_mode():
        raw = tiny_adapter.model.decode_image_tokens(codes).float().numpy()
    expected = np.clip((raw + 1) / 2 * 255, 0, 255).astype(np.uint8)
    assert np.array_equal(tiny_adapter.decode_codes(codes), expected)


def test_reused_static_cache_gives_the_same_images(tiny_adapter):
    """The cache is kept between calls of one batch shape (fixed addresses for CUDA graphs) and zeroed:
    a call after calls with other prompt lengths and batch sizes gives the same tokens as the first."""
    prompts, seeds = ["a photo of a bench", "a cat"], [5, 6]
    first = tiny_adapter.generate_tokens(prompts, seeds)
    tiny_adapter.generate_tokens(["a very long prompt " * 12, "x"], [1, 2])  # a longer prompt bucket, same rows
    tiny_adapter.generate_tokens(["a dog"], [3])  # another batch shape
    tiny_adapter.generate_tokens(prompts, seeds)
    assert torch.equal(tiny_adapter.generate_tokens(prompts, seeds), first)


def test_late_nan_names_the_images_of_the_first_bad_step(tiny_adapter, poisoned):
    """Checked once after the loop, yet named as a per-step check would: images of the first bad step,
    through their conditional or unconditional row."""
    import pytest

    from janus_eval.model import NonFiniteLogits

    late = tiny_adapter.num_gen_tokens - 3
    plan = {late: {0: "nan", 3 + 2: "nan"}, late + 1: {1: "nan"}}  # rows [0, 3) cond, [3, 6) uncond
    with poisoned(tiny_adapter.model.model, "generation_head", plan), pytest.raises(NonFiniteLogits) as err:
        tiny_adapter.generate_tokens(PROMPTS[:3], SEEDS[:3])
    assert err.value.rows == [0, 2]


def test_nan_on_the_last_step_is_reported(tiny_adapter, poisoned):
    import pytest

    from janus_eval.model import NonFiniteLogits

    plan = {tiny_adapter.num_gen_tokens - 1: {1 + 2: "nan"}}
    with poisoned(tiny_adapter.model.model, "generation_head", plan), pytest.raises(NonFiniteLogits) as err:
        tiny_adapter.generate_tokens(PROMPTS[:2], SEEDS[:2])
    assert err.value.rows == [1]
