"""Janus chat formats: how a question or a caption becomes the text the language model reads.

Janus-1.3B uses DeepSeek's SFT format with ``User``/``Assistant`` roles; Janus-Pro renames the roles
``<|User|>``/``<|Assistant|>``. Image placeholders stay as ``<image_placeholder>`` here and are
expanded to ``<begin_of_image>`` + N image tokens + ``<end_of_image>`` at tokenisation.
"""

from __future__ import annotations

from dataclasses import dataclass

from janus_eval.contract import IMAGE_PLACEHOLDER

__all__ = ["IMAGE_PLACEHOLDER", "ChatFormat", "FORMATS"]
BEGIN_OF_IMAGE = "<begin_of_image>"
END_OF_IMAGE = "<end_of_image>"
BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"
PAD = "<｜▁pad▁｜>"

JANUS_SYSTEM_PROMPT = (
    "You are a helpful language and vision assistant. You are able to understand the visual content "
    "that the user provides, and assist the user with a variety of tasks using natural language."
)


@dataclass(frozen=True)
class ChatFormat:
    """One variant's roles and separators."""

    user: str
    assistant: str
    system_prompt: str

    def understanding(self, question: str, n_images: int, system_prompt: str | None = None) -> str:
        """``{system}\\n\\n{User}: <image_placeholder>...\\n{question}\\n\\n{Assistant}:``.

        A question that already holds placeholders (a task placing its images itself) keeps them where they are.
        """
        if IMAGE_PLACEHOLDER not in question:
            question = "".join(f"{IMAGE_PLACEHOLDER}\n" for _ in range(n_images)) + question
        elif question.count(IMAGE_PLACEHOLDER) != n_images:
            raise ValueError(
                f"question has {question.count(IMAGE_PLACEHOLDER)} image placeholders but {n_images} images were given"
            )
        system = self.system_prompt if system_prompt is None else system_prompt
        prefix = f"{system}\n\n" if system else ""
        return f"{prefix}{self.user}: {question.strip()}\n\n{self.assistant}:"

    def generation(self, caption: str) -> str:
        """Text-to-image prompt (no system prompt); ``<begin_of_image>`` is appended as a token.

        As the official ``VLChatProcessor.apply_sft_template_for_multi_turn_prompts`` (used by
        ``generation_inference.py``): the caption is ``.strip()``ed, and an empty message renders as
        ``role:`` with no separator, so surrounding spaces never change the image.
        """
        content = caption.strip()
        if not content:
            return f"{self.user}:{self.assistant}:"
        return f"{self.user}: {content}\n\n{self.assistant}:"


FORMATS = {
    "janus": ChatFormat(user="User", assistant="Assistant", system_prompt=JANUS_SYSTEM_PROMPT),
    "janus-pro": ChatFormat(user="<|User|>", assistant="<|Assistant|>", system_prompt=JANUS_SYSTEM_PROMPT),
}
