"""MMMU's official answer parsing for open (free-form) questions, as lmms-eval 0.7.3 vendors it.

The reply's key tails (what follows "so", "is", "answer", ...) and the numbers in them become candidates;
a candidate is right when it equals a numeric gold or contains a string gold.
"""

from __future__ import annotations

import re
from typing import Any

_INDICATORS = ("could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result ")
_TRIVIAL = {":", ",", ".", "!", "?", ";", "'"}
_NUM_COMMAS = re.compile(r"-?\b\d{1,3}(?:,\d{3})+\b")
_NUM_SCIENTIFIC = re.compile(r"-?\d+(?:\.\d+)?[eE][+-]?\d+")
_NUM_SIMPLE = re.compile(r"-?(?:\d+\.\d+|\.\d+|\d+\b)(?![eE][+-]?\d+)(?![,\d])")


def _numbers(text: str) -> list[str]:
    """Comma-grouped, then scientific, then plain numbers found in ``text`` (MMMU's ``extract_numbers``)."""
    return _NUM_COMMAS.findall(text) + _NUM_SCIENTIFIC.findall(text) + _NUM_SIMPLE.findall(text)


def normalize(value: str) -> list[float | str]:
    """A number (commas dropped) -> [round(x, 2)]; a string -> [lower], 1 char -> [" c", "c "]."""
    value = value.strip()
    try:
        return [round(float(value.replace(",", "")), 2)]
    except ValueError:
        pass
    value = value.lower()
    return [" " + value, value + " "] if len(value) == 1 else [value]


def _key_tails(response: str) -> list[str]:
    """Per line, the shortest tail after an answer indicator (``=`` too on the last line), else the whole reply.

    The reply is lower-cased before MMMU's ``". " + capital letter`` split, so only newlines split it.
    """
    response = response.strip().strip(".").lower()
    lines = response.split("\n")
    tails = []
    for n, line in enumerate(lines):
        indicators = _INDICATORS + (("=",) if n == len(lines) - 1 else ())
        shortest = None
        for indicator in indicators:
            if indicator in line:
                tail = line.split(indicator)[-1].strip()
                if not shortest or len(tail) < len(shortest):
                    shortest = tail
        if shortest and shortest.strip() not in _TRIVIAL:
            tails.append(shortest)
    return tails or [response]


def parse_open(response: str) -> list[float | str]:
    """Candidate answers of an open question: key tails and the numbers in them, normalised, de-duplicated.

    lmms-eval de-duplicates through a ``set`` (order unspecified); we sort numbers before strings so
    records are stable. Order never changes correctness.
    """
    tails = _key_tails(response)
    candidates = tails + [n for tail in tails for n in _numbers(tail)]
    unique = {x for c in candidates for x in normalize(c)}
    return sorted(unique, key=lambda x: (isinstance(x, str), repr(x)))


def open_correct(gold: str, candidates: list[Any]) -> bool:
    """A parsed number equal to a numeric gold, or a string gold contained in a parsed string."""
    golds = normalize(gold)
    for candidate in candidates:
        if isinstance(candidate, str):
            if any(isinstance(g, str) and g in candidate for g in golds):
                return True
        elif candidate in golds:
            return True
    return False
