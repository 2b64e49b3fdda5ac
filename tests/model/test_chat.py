"""Chat formats: the text-to-image prompt is the official processor's ``sft_format``, caption stripped."""

import pytest
import torch

from janus_eval.model.chat import FORMATS
from janus_eval.registry import get_task


def official_sft_format(user: str, assistant: str, caption: str) -> str:
    """deepseek-ai/Janus: content ``.strip()``ed, DeepSeek separators, empty message -> ``role:``, prompt stripped."""
    messages = [(user, caption.strip()), (assistant, "")]
    seps = ["\n\n", "<｜end▁of▁sentence｜>"]
    text = ""
    for i, (role, message) in enumerate(messages):
        text += f"{role}: {message}{seps[i % 2]}" if message else f"{role}:"
    return text.strip()


@pytest.mark.parametrize("name", sorted(FORMATS))
@pytest.mark.parametrize("caption", ["a cat", "  a cat  ", "\ta red cube\n", " ", "", "two  spaces inside"])
def test_generation_matches_official_sft_format(name, caption):
    fmt = FORMATS[name]
    assert fmt.generation(caption) == official_sft_format(fmt.user, fmt.assistant, caption)


def test_surrounding_spaces_do_not_change_ids_or_image(tiny_adapter):
    assert tiny_adapter.generation_ids("  a red cube \n") == tiny_adapter.generation_ids("a red cube")
    spaced, plain = tiny_adapter.generate_tokens(["  a red cube ", "a red cube"], [5, 5])
    assert torch.equal(spaced, plain)


@pytest.mark.parametrize("task_name", ["mjhq30k", "geneval", "coco30k"])
def test_generation_tasks_reach_the_official_prompt(task_name, tiny_adapter):
    """Every generation task's request prompt goes through ChatFormat.generation in the adapter."""
    task = get_task(task_name)
    docs = task.load(None).docs[:1]
    key = "caption" if task_name == "coco30k" else "prompt"
    original = docs[0][key]
    docs = [{**docs[0], key: f"  {original} "}]
    request = task.requests(docs, 0)[0]
    ids = tiny_adapter.generation_ids(request.prompt)
    text = official_sft_format(tiny_adapter.chat.user, tiny_adapter.chat.assistant, " ".join(original.split()) if task_name == "coco30k" else original)
    assert ids == [tiny_adapter.ids.bos, *tiny_adapter._encode_text(text), tiny_adapter.ids.begin_of_image]
