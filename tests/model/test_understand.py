"""Batched greedy understanding is token-identical to transformers' one-at-a-time generate (fp32, CPU)."""

import numpy as np
import pytest
import torch
from PIL import Image

from janus_eval.model.preprocess import pixel_values, resize_and_pad


def random_image(seed: int, size: tuple[int, int]) -> Image.Image:
    return Image.fromarray(np.random.RandomState(seed).randint(0, 256, (size[1], size[0], 3), dtype=np.uint8))


CASES = [
    ([random_image(0, (40, 24))], "Is there a dog in the image?\nAnswer the question using a single word or phrase."),
    ([random_image(1, (17, 61))], "What colour is it?"),
    ([], "A question without an image, and a much longer one than the others, to force left padding."),
    ([random_image(2, (32, 32)), random_image(3, (64, 20))], "<image_placeholder>\nCompare with <image_placeholder> please."),
    ([random_image(4, (100, 90))], "Describe."),
]


def reference_generate(adapter, images, question, max_new_tokens):
    """transformers' own generate() on one prompt, greedy, stopping at EOS."""
    ids = torch.tensor([adapter.understanding_ids(question, len(images))])
    kwargs = {"pixel_values": pixel_values(images, adapter.image_size)} if images else {}
    out = adapter.model.generate(
        input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens, do_sample=False,
        eos_token_id=adapter.ids.eos, pad_token_id=adapter.ids.pad, **kwargs,
    )  # fmt: skip
    tokens = out[0, ids.shape[1] :].tolist()
    return tokens[: tokens.index(adapter.ids.eos)] if adapter.ids.eos in tokens else tokens


def test_batched_greedy_equals_transformers_generate_one_at_a_time(tiny_adapter):
    rows = [tiny_adapter.understanding_ids(q, len(ims)) for ims, q in CASES]
    batched = tiny_adapter.greedy(rows, [im for ims, _ in CASES for im in ims], max_new_tokens=12)
    for (images, question), tokens in zip(CASES, batched):
        assert tokens == reference_generate(tiny_adapter, images, question, 12)


def test_answers_do_not_depend_on_batch_neighbours(tiny_adapter):
    images = [ims for ims, _ in CASES]
    questions = [q for _, q in CASES]
    together = tiny_adapter.understand(images, questions, max_new_tokens=8)
    alone = [tiny_adapter.understand([ims], [q], max_new_tokens=8)[0] for ims, q in CASES]
    reversed_ = tiny_adapter.understand(images[::-1], questions[::-1], max_new_tokens=8)[::-1]
    assert together == alone == reversed_


def test_prompt_format_is_janus_1_3b(tiny_adapter):
    ids = tiny_adapter.understanding_ids("Is it red?", 1)
    assert ids[0] == tiny_adapter.ids.bos
    text = tiny_adapter.tokenizer.decode(ids[1:])
    n = tiny_adapter.num_image_tokens
    assert text == (
        "You are a helpful language and vision assistant. You are able to understand the visual content that the "
        "user provides, and assist the user with a variety of tasks using natural language.\n\nUser: "
        "<begin_of_image>" + "<image_placeholder>" * n + "<end_of_image>\nIs it red?\n\nAssistant:"
    )


def test_placeholder_count_must_match_images(tiny_adapter):
    with pytest.raises(ValueError, match="2 image placeholders but 1 images"):
        tiny_adapter.understanding_ids("<image_placeholder> and <image_placeholder>", 1)


@pytest.mark.parametrize("size", [(40, 20), (20, 40), (33, 33), (5, 300)])
def test_preprocessing_resizes_longest_side_and_pads_grey(size):
    out = resize_and_pad(Image.new("RGB", size, (255, 0, 0)), 32)
    assert out.size == (32, 32)
    w, h = size
    if w > h:  # padded above and below with (127, 127, 127)
        assert out.getpixel((16, 0)) == (127, 127, 127)
    elif h > w:
        assert out.getpixel((0, 16)) == (127, 127, 127)
    assert out.getpixel((16, 16)) == (255, 0, 0)


def test_pixel_values_are_normalised_with_half():
    pv = pixel_values([Image.new("RGB", (8, 8), (255, 127, 0))], 8)
    assert pv.shape == (1, 3, 8, 8)
    assert pv[0, 0].unique().item() == 1.0 and pv[0, 2].unique().item() == -1.0



def _greedy_with(adapter, poisoned, plan, max_new_tokens=12):
    """Greedy over CASES with the LM head poisoned by ``plan`` ("eos" there means the EOS id)."""
    plan = {call: {row: adapter.ids.eos if what == "eos" else what for row, what in rows.items()}
            for call, rows in plan.items()}  # fmt: skip
    with poisoned(adapter.model, "lm_head", plan):
        rows = [adapter.understanding_ids(q, len(ims)) for ims, q in CASES]
        return adapter.greedy(rows, [im for ims, _ in CASES for im in ims], max_new_tokens)


def test_late_nan_names_the_rows_of_the_first_bad_step(tiny_adapter, poisoned):
    from janus_eval.model import NonFiniteLogits

    with pytest.raises(NonFiniteLogits) as err:
        _greedy_with(tiny_adapter, poisoned, {9: {1: "nan", 3: "nan"}, 10: {0: "nan"}})
    assert err.value.rows == [1, 3]


def test_nan_after_a_row_finished_is_ignored_and_eos_cuts_the_row(tiny_adapter, poisoned):
    clean = _greedy_with(tiny_adapter, poisoned, {})
    out = _greedy_with(tiny_adapter, poisoned, {2: {1: "eos"}, 9: {1: "nan"}})
    assert out[1] == clean[1][:2]
    assert out[:1] + out[2:] == clean[:1] + clean[2:]


def test_all_rows_finishing_early_stops_with_the_same_tokens(tiny_adapter, poisoned):
    plan = {3: {0: "eos", 1: "eos", 2: "eos"}, 5: {3: "eos", 4: "eos"}, 11: {0: "nan"}}
    clean = _greedy_with(tiny_adapter, poisoned, {}, max_new_tokens=20)
    out = _greedy_with(tiny_adapter, poisoned, plan, max_new_tokens=20)
    assert out == [clean[i][:3] for i in range(3)] + [clean[i][:5] for i in range(3, 5)]
