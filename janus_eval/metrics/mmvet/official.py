"""MM-Vet grading as the MM-Vet authors' own evaluator does it, for ``--protocol paper``.

The Janus paper's MM-Vet column was graded with this evaluator and a GPT-4 judge, not with
VLMEvalKit's copy (PR #541's description: 34.3 in the paper, 36.8 with VLMEvalKit's grader). Read in
yuweihao/MM-Vet at ``acde843`` (``mm-vet_evaluator.py``: ``arg_parser``, ``runs``, ``export_result``):

- judge ``--gpt_model`` default ``gpt-4-0613``; one user message, no system message, ``max_tokens=3``;
  the message is ``prompt + "\\n" + " | ".join([question, gt', prediction, ""])`` where ``gt'`` has
  ``<AND>`` -> ``" <AND> "`` and ``<OR>`` -> ``" <OR> "``; ``prompt`` is ``PROMPT`` below (sha256
  ``PROMPT_SHA256``, checked against the evaluator's string);
- reading a reply: ``content.split(" ")[0].strip()`` through ``float``, accepted when not outside
  [0, 1]. So ``"0.7 because"`` -> 0.7, ``"0.7\\n"`` -> 0.7, while ``" 0.4"`` (the first token is empty)
  and ``"0.7\\nx"`` fail. A ``None`` content fails too (its ``split`` raises inside the bare ``except``);
- after a failure the question is sent again with ``RETRY_SUFFIX`` appended; the temperature starts at
  0 and grows by 0.5 *after* each retry call, so the six calls are at ``TEMPERATURES`` = 0, 0, 0.5,
  1.0, 1.5, 2.0; once the sixth call is made (``try_time > 5``) the score is 0.0 and that sixth reply
  is recorded but never read;
- ``--num_run`` default 1 (its help says 5 were used in the MM-Vet paper); each run grades every
  sample again. ``export_result``: per run, capability ``c``'s total is the sum of the scores of the
  samples whose capability *set* holds ``c`` (each sample once per capability), divided by the number
  of such samples, x 100; ``total`` is the sum over all N samples / N x 100; each reported value is
  the mean over runs rounded with numpy to ``--decimal_places`` (1); ``std`` is the population std
  (``ndarray.std()``) of the run totals, rounded the same way. A second table does the same per
  capability *set* ("capability integration").

Transport: on a ``RateLimitError`` the evaluator sleeps 30 s and sends its current message again; the
judge client here retries a 429 (and 5xx) with backoff and fails loudly after its retries, never scoring.
The evaluator grades run by run (every sample, then the next run); here each sample's runs are graded
together, each run with its own cache entries (``attempt`` = run), which changes no reply.

Divergences, each documented where it happens: ``nan`` is accepted by the evaluator (neither
``> 1.0`` nor ``< 0.0``) and would make every sum NaN: here it is a failed read, so the judge is asked
again with the suffix. The evaluator names a capability set by ``"_".join`` of a Python ``set``,
whose order depends on string hashing: here its members are sorted (``ocr_rec``). A sample whose
judge never gave a number keeps the evaluator's 0.0 in its record but is left out of the means
(``common.judged_flags``), as under every protocol.

Beside it: ``vlmevalkit`` (VLMEvalKit's copy: a re-wrapped prompt with a leading newline, judge
``gpt-4-turbo``, ``float`` of the whole reply, five calls at 0, 0.5, 1.0, 1.5, 2.0 without a suffix,
single-capability rows counted twice) and ``lmms_eval`` (lmms-eval's rules).
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np

from janus_eval.metrics.judge import JudgeClient
from janus_eval.metrics.mmvet.common import CAPABILITIES, spaced_answer

DEFAULT_JUDGE_MODEL = "gpt-4-0613"
JUDGE_MAX_TOKENS = 3
RETRY_SUFFIX = "\nPredict the correctness of the answer (digit): "
TEMPERATURES = (0.0, 0.0, 0.5, 1.0, 1.5, 2.0)
"""The evaluator's calls for one sample and run; the first without the suffix, the last never read."""
DECIMAL_PLACES = 1
DEFAULT_RUNS = 1

PROMPT = (
    "Compare the ground truth and prediction from AI models, to give a correctness score for the prediction. "
    "<AND> in the ground truth means it is totally right only when all elements in the ground truth are present "
    "in the prediction, and <OR> means it is totally right when any one element in the ground truth is present "
    "in the prediction. The correctness score is 0.0 (totally wrong), 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, "
    "0.9, or 1.0 (totally right). Just complete the last space of the correctness score.\n"
    "\n"
    "Question | Ground truth | Prediction | Correctness\n"
    "--- | --- | --- | ---\n"
    "What is x in the equation? | -1 <AND> -5 | x = 3 | 0.0\n"
    "What is x in the equation? | -1 <AND> -5 | x = -1 | 0.5\n"
    "What is x in the equation? | -1 <AND> -5 | x = -5 | 0.5\n"
    "What is x in the equation? | -1 <AND> -5 | x = -5 or 5 | 0.5\n"
    "What is x in the equation? | -1 <AND> -5 | x = -1 or x = -5 | 1.0\n"
    "Can you explain this meme? | This meme is poking fun at the fact that the names of the countries Iceland "
    "and Greenland are misleading. Despite its name, Iceland is known for its beautiful green landscapes, while "
    "Greenland is mostly covered in ice and snow. The meme is saying that the person has trust issues because the "
    "names of these countries do not accurately represent their landscapes. | The meme talks about Iceland and "
    "Greenland. It's pointing out that despite their names, Iceland is not very icy and Greenland isn't very "
    "green. | 0.4\n"
    "Can you explain this meme? | This meme is poking fun at the fact that the names of the countries Iceland "
    "and Greenland are misleading. Despite its name, Iceland is known for its beautiful green landscapes, while "
    "Greenland is mostly covered in ice and snow. The meme is saying that the person has trust issues because the "
    "names of these countries do not accurately represent their landscapes. | The meme is using humor to point "
    "out the misleading nature of Iceland's and Greenland's names. Iceland, despite its name, has lush green "
    "landscapes while Greenland is mostly covered in ice and snow. The text 'This is why I have trust issues' is "
    "a playful way to suggest that these contradictions can lead to distrust or confusion. The humor in this meme "
    "is derived from the unexpected contrast between the names of the countries and their actual physical "
    "characteristics. | 1.0\n"
)
"""The evaluator's few-shot grading prompt (its ``prompt``, trailing newline included)."""
PROMPT_SHA256 = "d1b3e0a5b4e72c888b77164489d705bba4dd149934fff564dfba6443d81afe3f"


def judge_prompt(question: str, answer: str, prediction: str) -> str:
    """The first message for one sample; a retry sends it with ``RETRY_SUFFIX`` appended."""
    return PROMPT + "\n" + " | ".join([question, spaced_answer(answer), str(prediction), ""])


def read_score(reply: str | None) -> float | None:
    """The evaluator's read: the text before the first space, stripped, as a float in [0, 1]; else None.

    Divergence: ``nan`` is None here (the evaluator accepts it and every sum becomes NaN).
    """
    try:
        score = float(str(reply).split(" ")[0].strip()) if reply is not None else math.nan
    except ValueError:
        return None
    return None if math.isnan(score) or score > 1.0 or score < 0.0 else score


def grade(client: JudgeClient, prompt: str, runs: int = DEFAULT_RUNS) -> dict[str, Any]:
    """``runs`` independent gradings (the cache's ``attempt`` is the run), each by ``grade_once``.

    ``score`` is the mean of the run scores; ``judge_outcome`` is ``scored`` only if every run read a score.
    """
    graded = [grade_once(client, prompt, run) for run in range(runs)]
    scores = [g["score"] for g in graded]
    outcome = "scored" if all(g["judge_outcome"] == "scored" for g in graded) else "failed"
    return {"score": sum(scores) / len(scores), "run_scores": scores, "judge_outcome": outcome,
            "judge_reply": graded[-1]["judge_reply"], "judge_model": graded[-1]["judge_model"],
            "judge_calls": [t for g in graded for t in g["judge_calls"]]}  # fmt: skip


def grade_once(client: JudgeClient, prompt: str, run: int = 0) -> dict[str, Any]:
    """One run of the evaluator's loop: up to six calls at ``TEMPERATURES``; the sixth is made, never read."""
    calls: list[float] = []
    reply, model = "", client.model
    for n, temperature in enumerate(TEMPERATURES):
        calls.append(temperature)
        answer = client.complete(prompt if n == 0 else prompt + RETRY_SUFFIX, temperature, JUDGE_MAX_TOKENS,
                                 attempt=run)  # fmt: skip
        reply, model = raw_content(answer), answer.model
        if n == len(TEMPERATURES) - 1:
            break  # try_time > 5: the evaluator stops with 0.0 without reading this reply
        score = read_score(reply)
        if score is not None:
            return {"score": score, "judge_outcome": "scored", "judge_reply": reply, "judge_model": model,
                    "judge_calls": calls}  # fmt: skip
    return {"score": 0.0, "judge_outcome": "failed", "judge_reply": reply, "judge_model": model, "judge_calls": calls}


def raw_content(answer: Any) -> str:
    """The reply exactly as the endpoint sent it (a leading space decides the evaluator's read)."""
    raw = getattr(answer, "raw", None)
    return answer.content if raw is None else raw


def capability_set(capabilities: str) -> frozenset[str]:
    """lmms-lab's comma-separated ``capability`` as the evaluator's ``set(value["capability"])``."""
    return frozenset(c.strip() for c in str(capabilities).split(",") if c.strip())


def set_name(capabilities: frozenset[str]) -> str:
    """A capability set's column name: members sorted and joined by ``_`` (the evaluator's order is hash-dependent)."""
    return "_".join(sorted(capabilities))


def export_result(rows: list[dict[str, Any]]) -> dict[str, float]:
    """The evaluator's ``export_result`` over ``rows`` (``capabilities`` string, ``run_scores`` list).

    Keys: each capability present, ``total``, ``std`` (all rounded to 1 decimal as the evaluator
    prints them), ``cap_int/<set>`` per capability set, ``run/<i>`` (each run's rounded total) and
    ``total_unrounded`` (the mean over runs of the totals, not rounded).
    """
    if not rows:
        return {}
    runs = len(rows[0]["run_scores"])
    if any(len(r["run_scores"]) != runs for r in rows):
        raise ValueError("every MM-Vet sample needs the same number of judge runs")
    cap_sums: dict[str, list[float]] = {}
    set_sums: dict[str, list[float]] = {}
    cap_count: dict[str, int] = {}
    set_count: dict[str, int] = {}
    totals = [0.0] * runs
    for row in rows:
        caps = capability_set(row["capabilities"])
        name = set_name(caps)
        set_count[name] = set_count.get(name, 0) + 1
        for cap in caps:
            cap_count[cap] = cap_count.get(cap, 0) + 1
        for i, score in enumerate(row["run_scores"]):
            for cap in caps:
                cap_sums.setdefault(cap, [0.0] * runs)[i] += score
            set_sums.setdefault(name, [0.0] * runs)[i] += score
            totals[i] += score
    n = len(rows)
    total_runs = np.array(totals) / n * 100
    result: dict[str, float] = {}
    for cap in sorted(cap_sums, key=lambda c: (CAPABILITIES.index(c) if c in CAPABILITIES else len(CAPABILITIES), c)):
        result[cap] = _rounded(np.array(cap_sums[cap]) / cap_count[cap] * 100)
    result["total"] = _rounded(total_runs)
    result["std"] = _round(float(total_runs.std()))
    result.update({f"run/{i}": _round(float(v)) for i, v in enumerate(total_runs)})
    result.update({f"cap_int/{name}": _rounded(np.array(v) / set_count[name] * 100) for name, v in set_sums.items()})
    result["total_unrounded"] = float(total_runs.mean())
    return result


def _rounded(per_run: np.ndarray) -> float:
    """Mean over runs, rounded as ``round(ndarray.mean(), 1)`` rounds (numpy's rule)."""
    return _round(float(per_run.mean()))


def _round(value: float) -> float:
    """``numpy.round(value, DECIMAL_PLACES)``: scale, round half to even, scale back (not Python's ``round``)."""
    return float(np.round(value, DECIMAL_PLACES))


JUDGE_PREFIX_SHA256 = hashlib.sha256(PROMPT.encode("utf-8")).hexdigest()
"""Recorded in the card; equals ``PROMPT_SHA256`` (a test checks it)."""


# -- the evaluator's input ------------------------------------------------------------------------
GRADER = ("MM-Vet's official evaluator: the Hugging Face Space whyu/MM-Vet_Evaluator (upload the JSON), "
          "or mm-vet_evaluator.py from github.com/yuweihao/MM-Vet with your own GPT-4 key")  # fmt: skip


def submission(records: list[dict[str, Any]]) -> dict[str, str]:
    """``{question_id: prediction}``, the JSON the evaluator grades (a record's id is its question_id); a sample
    without a prediction (skipped for a corrupt image) answers ""."""
    return {str(r["id"]): "" if r.get("prediction") is None else str(r["prediction"]) for r in records}
