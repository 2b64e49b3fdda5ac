"""Yes/no answer extraction as VLMEvalKit's ``YOrN_Extraction`` does it (POPE, MME under --protocol vlmevalkit)."""

from __future__ import annotations

from janus_eval.metrics.vqa_normalize import process_punctuation


def vlmevalkit_yes_no(prediction: str) -> str:
    """``Yes``, ``No`` or ``Unknown``: the word ``yes`` or ``no`` anywhere, but not both.

    Lower-cased, VQA punctuation processing, split on whitespace. Marks it keeps (``:`` ``*`` ``'``)
    glue to the word, so ``No:`` and ``**Yes**`` are Unknown; ``Nope``/``Yeah``/``y`` are Unknown.
    """
    words = process_punctuation(prediction.lower()).split()
    has_yes, has_no = "yes" in words, "no" in words
    if has_yes and not has_no:
        return "Yes"
    if has_no and not has_yes:
        return "No"
    return "Unknown"
