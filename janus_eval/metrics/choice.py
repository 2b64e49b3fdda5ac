"""Multiple-choice answer extraction, as lmms-eval 0.7.3 reads option letters from free text.

Two benchmarks, two rule sets, one module: MMBench's heuristic (``mmbench_choice``, VLMEvalKit's
``can_infer`` as lmms-eval ships it) and MMMU's parser (``mmmu_choice``, the official MMMU
``parse_multi_choice_response``). They disagree on purpose in many places (MMBench reads whole
whitespace tokens, MMMU substrings of a space-padded reply; MMBench gives up when ambiguous, MMMU
breaks ties by position and finally guesses), so each keeps its own rules; what they share is
only the option-text search. Everything here is pure: no I/O, no global random state (MMMU's guess
comes from the generator the caller passes, or is left to the caller).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

__all__ = ["MMBENCH_LETTERS", "mmbench_choice", "mmbench_letter", "mmbench_text", "mmmu_choice", "option_letters",
           "options_in_text"]  # fmt: skip

MMBENCH_LETTERS = "ABCDE"
"""Letters MMBench's heuristic recognises for every question: E included, whatever the option count."""

# Token shapes tried, in this order, after the bare letter: (prefix, suffix) around the letter.
_MMBENCH_WRAPPED = (("", "."), ("", ","), ("", ":"), ("", ")"), ("", ")."), ("(", ")"), ("(", ")."),
                    (":", ""), (":", ","), (":", "."), (":", ")"), (":", ")."))  # fmt: skip
_API_FAILURE = "Failed to obtain answer via API"


def option_letters(count: int) -> list[str]:
    """``A``, ``B``, ... for ``count`` options."""
    return [chr(ord("A") + i) for i in range(count)]


def options_in_text(text: str, options: Mapping[str, str]) -> list[str]:
    """Letters whose option text occurs (case-insensitively, as a substring) in ``text``, in option order."""
    lowered = text.lower()
    return [letter for letter, option in options.items() if str(option).lower() in lowered]


# -- MMBench --------------------------------------------------------------------------------------
def mmbench_letter(prediction: str) -> str | None:
    """The letter read from whole whitespace-separated tokens, or None.

    Rule 1: exactly one of A-E appears as a bare token -> that letter, except that a bare ``A`` in a
    reply of more than 3 tokens may be the article, so rule 1 is abandoned then. Rule 2: the first
    wrapped form (``X.``, ``X,``, ``X:``, ``X)``, ``X).``, ``(X)``, ``(X).``, ``:X``, ``:X,``,
    ``:X.``, ``:X)``, ``:X).``) that matches exactly one letter wins. Lower-case letters never count.
    """
    if _API_FAILURE in prediction:
        return None
    tokens = prediction.split()

    def present(prefix: str = "", suffix: str = "") -> list[str]:
        return [c for c in MMBENCH_LETTERS if f"{prefix}{c}{suffix}" in tokens]

    bare = present()
    if len(bare) == 1 and not ("A" in tokens and len(tokens) > 3):
        return bare[0]
    for prefix, suffix in _MMBENCH_WRAPPED:
        found = present(prefix, suffix)
        if len(found) == 1:
            return found[0]
    return None


def mmbench_text(prediction: str, choices: Mapping[str, str]) -> str | None:
    """The one option whose text the prediction contains (case-insensitive), or None if 0 or >1 do."""
    found = options_in_text(prediction, choices)
    return found[0] if len(found) == 1 else None


def mmbench_choice(prediction: str, choices: Mapping[str, str]) -> str | None:
    """MMBench's heuristic: token letter first, then option text; None when lmms-eval would ask its judge.

    ``choices`` maps A-D to the option texts lmms-eval keeps: every value that is not NaN/None,
    so the literal string ``"nan"`` of a missing option is a choice (``"banana"`` contains it).
    """
    return mmbench_letter(prediction) or mmbench_text(prediction, choices)


# -- MMMU -----------------------------------------------------------------------------------------
def mmmu_choice(response: str, options: Sequence[str], rng: random.Random | None = None) -> str | None:
    """The option letter MMMU's parser reads from ``response``; ``rng`` draws it when nothing matches
    (without ``rng``: None, so the caller can draw from the reference's stream in its own order).

    Steps: strip ``, . ! ? ; : '`` from both ends (one ``str.strip`` per character, in that order)
    and pad with a space on each side. Candidates are letters written ``(X)``; else letters followed
    by a space (``"X "``, a substring test, so ``"NASA "`` holds ``"A "``); else letters followed by
    ``.``; else, only for replies of more than 5 whitespace tokens, options whose text occurs in the
    reply. Several candidates: the one whose marker occurs last (``(X)``, ``" X "`` or the option
    text); if no marker is found for any (``"A. x, B. y"``) the first in option order wins.
    """
    letters = option_letters(len(options))
    for char in ",.!?;:'":
        response = response.strip(char)
    padded = f" {response} "

    marker: dict[str, str] = {}
    bracketed = [c for c in letters if f"({c})" in padded]
    if bracketed:
        candidates, marker = bracketed, {c: f"({c})" for c in bracketed}
    else:
        candidates = [c for c in letters if f"{c} " in padded] or [c for c in letters if f"{c}." in padded]
        marker = {c: f" {c} " for c in candidates}
        if not candidates and len(padded.split()) > 5:
            candidates = options_in_text(padded, dict(zip(letters, options)))
            marker = {c: options[letters.index(c)].lower() for c in candidates}
            padded = padded.lower()
    if not candidates:
        return None if rng is None else rng.choice(letters)
    if len(candidates) == 1:
        return candidates[0]
    positions = [padded.rfind(marker[c]) for c in candidates]
    return candidates[positions.index(max(positions))]  # first of the latest, as numpy.argmax
