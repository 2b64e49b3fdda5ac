"""How a protocol's number for a Table 2 column differs from the number in the paper's column, as data.

The paper's understanding numbers were made with VLMEvalKit at the Janus integration (PR #541,
b3a2f81) plus the authors' changes stated in that PR: MMBench without circular mode, POPE as the
F1 of the ``random`` split, MM-Vet graded by the official MM-Vet evaluator, MMMU's validation split
(``../shared/reference/paper-protocol.md``, ``vlmevalkit-scoring.md``, ``lmms-eval-scoring.md``).
``janus-eval table`` marks each run cell whose task was scored under a protocol listed here and
prints the difference once per table, so a faithful reproduction is never read as a shortfall.

The ``paper`` protocol reproduces the paper's column, so it has no entry. A task absent from a
protocol's entry is scored as the paper scored it (``vlmevalkit``: MME, SEED, GQA, MMMU). VQAv2 has no
entry: its only difference, the split (validation scored locally, the paper's test-dev), is read from
the run's card and marked by the tables' split note.

The texts hold no ``|``: the CSV ``notes`` column joins a row's entries with `` | ``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProtocolDifference:
    """What the protocol's number is (``ours``) against what the paper's column holds (``paper``)."""

    ours: str
    paper: str


_POPE_PAPER = "F1 of the random split with VLMEvalKit's yes/no word extraction (PR #541: 85.5 overall, 87.1 random)"
_MMB_PAPER = "VLMEvalKit per-row vanilla accuracy over the original and rotated rows alike (circular=False)"
_MMVET_PAPER = ("the official MM-Vet evaluator (mm-vet_evaluator.py) with a GPT-4 judge (gpt-4-0613), first "
                "space-separated token of the reply read, retries with the digit suffix")  # fmt: skip

DIFFERENCES: dict[str, dict[str, ProtocolDifference]] = {
    "lmms-eval": {
        "pope": ProtocolDifference("F1 over all three splits (adversarial, popular, random), only a reply that is "
                                   "exactly yes or no counts", _POPE_PAPER),  # fmt: skip
        "mme": ProtocolDifference('prompt without " Please answer yes or no.", yes/no read from the first 4 characters',
                                  "VLMEvalKit keeps that sentence and reads the words yes/no anywhere (same perception sum)"),
        "mmbench": ProtocolDifference("circular accuracy over the main questions (right only if every rotated copy is "
                                      "right), lmms-eval's prompt and letter heuristic", _MMB_PAPER),  # fmt: skip
        "seed": ProtocolDifference("the first character of the reply compared with the answer letter",
                                   "VLMEvalKit SEEDBench_IMG, letter or option text found by can_infer"),
        "gqa": ProtocolDifference("ASCII punctuation deleted before the exact match",
                                  "VLMEvalKit exact match of the stripped, lower-cased reply (punctuation kept)"),
        "mmmu": ProtocolDifference("MMMU's official answer parser with a random letter when none is read, open "
                                   "questions asked for a single word or phrase",
                                   "VLMEvalKit MMMU_DEV_VAL validation split, can_infer letters, open questions as "
                                   "2-option choices, an unread reply wrong"),  # fmt: skip
        "mmvet": ProtocolDifference("lmms-eval's step-by-step prompt and grader (judge gpt-4o-2024-11-20 by default, "
                                    "rising temperature on unreadable replies)", _MMVET_PAPER),  # fmt: skip
    },
    "vlmevalkit": {
        "pope": ProtocolDifference("F1 over all three splits (VLMEvalKit's Overall row)", _POPE_PAPER),
        "mmbench": ProtocolDifference("circular accuracy over the main questions (mcq_circular_eval)", _MMB_PAPER),
        "mmvet": ProtocolDifference("VLMEvalKit's copy of the MM-Vet grader (judge gpt-4-turbo, the whole reply read "
                                    "as a number, 5 calls without the digit suffix)", _MMVET_PAPER),  # fmt: skip
    },
}


def protocol_note(protocol: str, task: str) -> str | None:
    """``"<protocol>: <ours>; paper: <paper>"`` when the protocol's number for ``task`` is not the paper's, else None."""
    found = DIFFERENCES.get(protocol, {}).get(task)
    return None if found is None else f"{protocol}: {found.ours}; paper: {found.paper}"
