"""The Janus wrapper's user turn: image placeholders first, then the text, stripped as the processor strips it."""

from janus_eval.metrics.vlmevalkit_prompt import janus_content
from janus_eval.protocol import IMAGE_PLACEHOLDER


def test_images_come_first_and_the_turn_is_stripped():
    assert janus_content("\nWhat is x? ") == IMAGE_PLACEHOLDER + "\nWhat is x?"
    assert janus_content("\nq", 2) == IMAGE_PLACEHOLDER * 2 + "\nq"
    assert janus_content("\n  q  ", 0) == "q"  # no image: the leading newline goes too
