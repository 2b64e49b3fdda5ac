"""The user turn VLMEvalKit's Janus wrapper sends (PR #541), for every task under ``--protocol vlmevalkit``.

The wrapper puts one image placeholder per image before the text and the Janus processor strips the
turn, so MME's, MM-Vet's and the multiple-choice tasks' prompts (``vlmevalkit_mcq.mcq_prompt``) all end
up in this one shape.
"""

from __future__ import annotations

from janus_eval.protocol import IMAGE_PLACEHOLDER


def janus_content(text: str, n_images: int = 1) -> str:
    """The Janus wrapper's user turn: every image first, then ``text``; stripped like the processor does."""
    return (IMAGE_PLACEHOLDER * n_images + text).strip()
