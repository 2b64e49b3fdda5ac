"""The user turn VLMEvalKit's Janus wrapper sends (PR #541), for every task under ``--protocol vlmevalkit``.

The wrapper puts one image placeholder per image before the text and the Janus processor strips the
turn, so MME's, MM-Vet's and the multiple-choice tasks' prompts (``vlmevalkit_mcq.mcq_prompt``) all end
up in this one shape. MM-Vet is the one dataset the wrapper sends a system prompt for.
"""

from __future__ import annotations

from janus_eval.protocol import IMAGE_PLACEHOLDER

MMVET_SYSTEM_PROMPT = (
    "You are a helpful assistant. Please answer truthfully and write out your thinking step by step to be sure "
    "you get the right answer."
)
"""The Janus wrapper's system prompt when ``'MMVet' in dataset`` (the only one it ever sends)."""


def janus_content(text: str, n_images: int = 1) -> str:
    """The Janus wrapper's user turn: every image first, then ``text``; stripped like the processor does."""
    return (IMAGE_PLACEHOLDER * n_images + text).strip()
