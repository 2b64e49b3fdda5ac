"""MM-Vet: integrated vision-language capabilities graded by an LLM (Yu et al., 2023), as lmms-eval 0.7.3 scores `mmvet`.

Data: ``lmms-lab/MMVet`` (now ``lmms-lab-encoder/MMVet``), split ``test``: 218 rows. ``image`` may be
null (the question is then asked without an image); ``answer`` may hold ``<AND>`` / ``<OR>``;
``capability`` is a comma-separated subset of ``rec, ocr, know, gen, spat, math``.

Prompt: ``"First please perform reasoning, and think step by step to provide best answer to the
following question: \\n\\n{question}"``. Generation: ``max_new_tokens 1024``, stop at ``"\\n\\n"`` (the
framework default, which cuts multi-paragraph answers), greedy: lmms-eval's yaml says
``temperature: 0.2`` but also ``do_sample: false``, so the temperature has no effect.

Judge: lmms-eval's ``mmvet_process_results`` (``janus_eval.metrics.mmvet.lmms_eval`` says how it asks and
reads), through any OpenAI-compatible endpoint (``janus_eval.metrics.judge``).
Divergence: where lmms-eval records 0.0 (never a number, empty, out of range), the record keeps
``score`` 0.0 and ``judge_outcome`` but is ``judged: false`` with an ``unjudged_reason``: it is left
out of every mean and counted in ``mmvet_unjudged``; with no sample judged there is no score. Judged
samples are scored exactly as lmms-eval, so the score equals lmms-eval's over the judged samples.
Divergence: an endpoint that still fails after the client's retries stops the run with an error
(lmms-eval counts the exception as an attempt and may record 0.0), since a 0 that measures the
network is not a score. Each record keeps ``judge_calls`` (temperatures asked), ``judge_reply``,
``judge_model`` and ``judge_outcome``.

The judge is the run's (``ctx.judge``: ``--judge-url/--judge-model/--judge-key-env/--judge-timeout/
--judge-concurrency``; model None is the protocol's default judge); its replies are cached under
``ctx.task_dir / "judge_cache"`` (``<out>/mmvet/judge_cache``). ``MMVetJudged`` holds what both
protocols share (client, concurrent grading, unjudged bookkeeping, aggregate); ``MMVetLmmsEval`` and
``MMVetVLMEvalKit`` hold each framework's prompt, grading and metrics.

No judge (``ctx.judge`` None: no ``--judge-url``/``--judge-model``; and ``score_sample``, which has no
context, never judges): every record gets
``score`` 0.0 with ``judged: false``, and ``aggregate`` reports only ``mmvet_unjudged`` (the count),
never an MM-Vet score: a number without a judge would be fake. Every run writes the official submission
(``<out>/mmvet/submission/mmvet_submission.json``) to grade with MM-Vet's evaluator (``official.GRADER``).

Metrics (all judged): ``gpt_eval_score`` (lmms-eval's reported value: mean score x 100),
``capability/<cap>`` for the six capabilities (samples whose capability string *contains* the name),
``combination/<combo>`` for lmms-eval's 16 fixed combinations (capability set equal to the combo's;
other combinations are only in the total), both x 100; groups without samples are left out (lmms-eval
logs 0 for them); ``mmvet_unjudged`` (0); and the paper's number ``mmvet_score`` (= ``gpt_eval_score``).

``--protocol vlmevalkit`` follows VLMEvalKit's ``MMVet`` (PR #541 era; ``janus_eval.metrics.mmvet.vlmevalkit``):
the Janus wrapper's system prompt ``You are a helpful assistant. Please answer truthfully and write out
your thinking step by step to be sure you get the right answer.`` and ``<image>\n{question}`` (greedy,
512 new tokens, no stop string). Judge (default model ``gpt-4-turbo``, ``max_tokens`` 3): VLMEvalKit's
grading prefix + ``"\n{question} | {answer'} | {prediction} | "``; up to 5 calls at temperatures 0,
0.5, 1, 1.5, 2; ``float`` of the **whole** reply must lie in [0, 1] (``0.7 because``, ``**1.0**`` fail),
else 0.0 after the fifth (here: unjudged, as above). Divergence: a ``nan`` reply is a failed try (VLMEvalKit would accept it and
poison the averages). ``MMVet_acc`` in percent: ``Overall`` (the paper's number, also ``mmvet_score``),
per capability (single-capability rows counted twice, VLMEvalKit's quirk) and ``fine/<combination>``.
VLMEvalKit has no offline MM-Vet path; without a judge we report only ``mmvet_unjudged``, as above.

``--protocol paper`` grades as the MM-Vet authors' evaluator does (``janus_eval.metrics.mmvet.official``,
which says what was read in yuweihao/MM-Vet ``mm-vet_evaluator.py``): the Janus paper's MM-Vet was graded
with it and a GPT-4 judge, not with VLMEvalKit's copy (PR #541's description). The model's side is
VLMEvalKit's (system prompt, ``<image>\n{question}``, greedy, 512 new tokens, as above). Judge: default
model ``gpt-4-0613``, the evaluator's prompt + ``"\n{question} | {answer'} | {prediction} | "``,
``max_tokens`` 3, the text before the first space read with ``float`` in [0, 1] (``0.7 because`` is 0.7;
`` 0.4`` and ``0.7\nx`` fail; ``nan`` fails here, divergence), retries with ``"\nPredict the correctness of
the answer (digit): "`` appended at temperatures 0, 0, 0.5, 1.0, 1.5, 2.0, the sixth reply never read
(0.0, here: unjudged). ``num_runs`` judge runs (the evaluator's ``--num_run``, default 1). Metrics: the
evaluator's capability table (``rec`` ... ``math``: samples whose capability set holds it, each once),
``total``, ``std`` (population std of the run totals), ``run/<i>``, all rounded to 1 decimal as it prints
them, and ``cap_int/<sorted set>``; ``mmvet_score`` is the unrounded mean over runs of ``total``.

This module reads top to bottom: the data, then per protocol its prompt, its scoring (calling the
grading) and its aggregate, then the task. MM-Vet's grading lives beside each other in
``janus_eval.metrics.mmvet``: ``lmms_eval``, ``vlmevalkit`` and ``official`` (the paper protocol), with
what they share in ``common``.
"""

from __future__ import annotations

import hashlib
import threading
from abc import abstractmethod
from pathlib import Path
from dataclasses import replace
from typing import Any, Callable, ClassVar

from janus_eval.io import write_json
from janus_eval.metrics.judge import JudgeClient, JudgeError, JudgeSettings
from janus_eval.metrics.mmvet import lmms_eval, official, vlmevalkit
from janus_eval.metrics.mmvet.common import CAPABILITIES, judged_flags
from janus_eval.metrics.vlmevalkit_prompt import MMVET_SYSTEM_PROMPT, janus_content
from janus_eval.registry import task
from janus_eval.task import UnscoredMark
from janus_eval.contract import DatasetSpec, IMAGE_PLACEHOLDER, RunContext
from janus_eval.task import (
    GenerationSettings,
    JanusEvalError,
    LmmsEvalProtocol,
    Metric,
    UnderstandingProtocol,
    UnderstandingTask,
    PaperProtocol,
    VLMEvalKitProtocol,
    record_scores,
)

PRE_PROMPT = (
    "First please perform reasoning, and think step by step to provide best answer to the following question: \n\n"
)
UNJUDGED = "mmvet_unjudged"
"""Samples without a judge's score (no judge, or no usable reply); every protocol reports it."""
JUDGE_FAILED = "judge_failed"
"""``judge_outcome`` of a sample whose judge request failed (as opposed to a judge that answered unusably)."""


# -- data ---------------------------------------------------------------------------------------
DATASET = DatasetSpec(
    repo="MMVet", split="test", fixture="MMVet", columns=("question_id", "question", "answer", "capability", "image"),
    types=(("question_id", "id"), ("image", "image")),
    nullable=("image",),  # lmms-eval's mmvet_doc_to_visual asks a row without an image as a text-only question
)


# -- both: the judge, the unjudged, the aggregate ---------------------------------------------------
class MMVetJudged(UnderstandingProtocol):
    """What both protocols share: the judge of ``ctx.judge`` grades each sample; without one nothing is scored.

    A protocol adds its prompt and generation, its judge prompt (``judge_prompt``), grading rules
    (``grade``, ``grading_card``), default judge model and its metrics, declared with ``over_judged``:
    every metric is computed over the *judged* samples only, so none has a closed form over all records.
    """

    default_judge_model: ClassVar[str]

    def __init__(self) -> None:
        self._clients: dict[tuple[JudgeSettings, Path], JudgeClient] = {}
        self._clients_lock = threading.Lock()
        self._judge_down: dict[int, str] = {}
        """Per client (by id), the error that put its judge down: later samples are kept unjudged without asking."""

    @abstractmethod
    def judge_prompt(self, doc: dict[str, Any], prediction: str) -> str:
        """The one user message the judge grades."""

    @abstractmethod
    def grade(self, client: JudgeClient, prompt: str) -> dict[str, Any]:
        """``score``, ``judge_outcome`` (``scored`` or why not), ``judge_reply``, ``judge_model``, ``judge_calls``."""

    @abstractmethod
    def grading_card(self) -> dict[str, Any]:
        """What ``run.json`` records about the grading request besides the judge's model and endpoint."""

    # -- the judge ----------------------------------------------------------------------------
    def judge_client(self, ctx: RunContext | None) -> JudgeClient | None:
        """The client for ``ctx.judge`` (None without one), caching replies under ``ctx.task_dir/judge_cache``.

        Built once per (settings, cache folder) and reused, so a rerun in the same process replays
        the cache and ``requests_sent`` counts every request of this protocol object.
        """
        settings = None if ctx is None else ctx.judge
        if settings is None:
            return None
        if ctx is None or ctx.task_dir is None:
            raise JanusEvalError("mmvet: a judge needs the run's task folder (ctx.task_dir) for its reply cache")
        key = (settings, Path(ctx.task_dir) / "judge_cache")
        with self._clients_lock:
            if key not in self._clients:
                timeout = float(settings.timeout_s)  # retries back off from timeout / 60 (1 s at the default 60 s)
                self._clients[key] = JudgeClient(settings.url, self.judge_model(settings), key[1], settings.key_env,
                                                 timeout_s=timeout, backoff_s=min(1.0, timeout / 60))  # fmt: skip
            return self._clients[key]

    def judge_model(self, settings: JudgeSettings) -> str:
        return settings.model or self.default_judge_model

    def judge_identity(self, ctx: RunContext | None) -> dict[str, Any] | None:
        """The judge's endpoint and model: what verdicts depend on besides the prediction."""
        settings = None if ctx is None else ctx.judge
        if settings is None:
            return None
        return {"endpoint": settings.endpoint, "model": self.judge_model(settings)}

    def judge_card(self, ctx: RunContext | None) -> dict[str, Any] | None:
        identity = self.judge_identity(ctx)
        if identity is None:
            return None
        return {"model": identity["model"], "endpoint": identity["endpoint"], **self.grading_card()}

    # -- score ----------------------------------------------------------------------------------
    def score_sample(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        """Without a run context there is no judge: ``score`` 0.0, ``judged: false``."""
        return self._score(doc, prediction, None)

    def score_samples(self, docs: list[dict[str, Any]], predictions: list[str],
                      ctx: RunContext | None = None) -> list[dict[str, Any]]:  # fmt: skip
        """Each sample graded by ``ctx.judge``, up to its ``concurrency`` at once.

        Samples with the same judge prompt are graded once (as a sequential run would: the second
        one replays the first one's cached replies), so the cache's keys and contents and the
        records, in input order, do not depend on the concurrency.
        """
        client = self.judge_client(ctx)
        concurrency = 1 if ctx is None or ctx.judge is None else int(ctx.judge.concurrency)
        if client is None or concurrency <= 1 or len(docs) <= 1:
            return [self._score(doc, p, client) for doc, p in zip(docs, predictions, strict=True)]
        from concurrent.futures import ThreadPoolExecutor

        first: dict[str, int] = {}
        for i, (doc, prediction) in enumerate(zip(docs, predictions, strict=True)):
            first.setdefault(self.judge_prompt(doc, prediction), i)
        unique = sorted(first.values())
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="mmvet-judge") as pool:
            graded = dict(zip(unique, pool.map(lambda i: self._score(docs[i], predictions[i], client), unique)))
        return [{**graded[first[self.judge_prompt(doc, prediction)]], **_sample_fields(doc, prediction)}
                for doc, prediction in zip(docs, predictions)]  # fmt: skip

    def _score(self, doc: dict[str, Any], prediction: str, client: JudgeClient | None) -> dict[str, Any]:
        base = _sample_fields(doc, prediction)
        if client is None:
            return {"score": 0.0, "judged": False, **base}
        failure = self._judge_down.get(id(client))
        if failure is None:
            try:
                graded = self.grade(client, self.judge_prompt(doc, prediction))
                return {**graded, **judged_flags(graded), **base}
            except JudgeError as err:  # down, HTTP 500, hanging, garbage: keep the model's work, judge it later
                failure = self._judge_down.setdefault(id(client), str(err))
        return {"score": 0.0, "judged": False, "judge_outcome": JUDGE_FAILED, "judge_error": failure,
                "unjudged_reason": f"the judge failed: {failure}", **base}  # fmt: skip


def _lmms_eval_metrics(scored: list[dict[str, Any]]) -> dict[str, float]:
    result = lmms_eval.gpt_eval_scores(scored)
    result["mmvet_score"] = result["gpt_eval_score"]
    return result


def _vlmevalkit_metrics(scored: list[dict[str, Any]]) -> dict[str, float]:
    result = vlmevalkit.mmvet_acc([{"category": s["capabilities"], "score": s["score"]} for s in scored])
    return {**result, "mmvet_score": result.get("Overall", 0.0)}


def _official_metrics(scored: list[dict[str, Any]]) -> dict[str, float]:
    rows = [{"capabilities": s["capabilities"], "run_scores": s.get("run_scores") or [s["score"]]} for s in scored]
    result = official.export_result(rows)
    result["mmvet_score"] = result.pop("total_unrounded")
    return result


def over_judged(judged_metrics: Callable[[list[dict[str, Any]]], dict[str, float]],
                *declared: Metric) -> tuple[Metric, ...]:
    """A protocol's metrics, all computed by one call: ``judged_metrics`` over the judged samples, plus the
    unjudged count. Without a judge, or with no sample judged, only the count: never a fake score."""

    def compute(records: list[dict[str, Any]]) -> dict[str, float]:
        every = [record_scores(r) for r in records]
        scored = [s for s in every if s.get("judged", False)]
        unjudged = {UNJUDGED: float(len(every) - len(scored))}
        if not scored or any(_never_asked(s) for s in every):
            return unjudged
        return {**judged_metrics(scored), **unjudged}

    count = Metric(UNJUDGED, form="custom", higher_is_better=False)
    return tuple(replace(metric, compute=compute) for metric in (*declared, count))


# -- lmms-eval ----------------------------------------------------------------------------------
class MMVetLmmsEval(MMVetJudged, LmmsEvalProtocol):
    """lmms-eval 0.7.3's ``mmvet``: reasoning pre-prompt, MM-Vet's few-shot grading prompt, x100 means."""

    generation = GenerationSettings(max_new_tokens=1024)
    prompt_template = PRE_PROMPT + "{question}"
    default_judge_model = lmms_eval.DEFAULT_JUDGE_MODEL
    metrics = over_judged(
        _lmms_eval_metrics,
        Metric("mmvet_score", form="custom", headline=True),
        Metric("gpt_eval_score", form="custom"),
        Metric("capability/{capability}", form="custom", group="capability"),  # capability string *contains* the name
        Metric("combination/{combination}", form="custom", group="combination"),  # capability set equals the combination's
    )

    def prompt(self, doc: dict[str, Any]) -> str:
        return PRE_PROMPT + doc["question"]

    def judge_prompt(self, doc: dict[str, Any], prediction: str) -> str:
        return lmms_eval.judge_prompt(doc["question"], doc["answer"], prediction)

    def grade(self, client: JudgeClient, prompt: str) -> dict[str, Any]:
        return lmms_eval.grade(client, prompt)

    def grading_card(self) -> dict[str, Any]:
        prompt_file = lmms_eval.JUDGE_PROMPT_FILE
        return {"temperature": lmms_eval.JUDGE_TEMPERATURE, "max_tokens": lmms_eval.JUDGE_MAX_TOKENS,
                "prompt_file": prompt_file.name, "prompt_sha256": hashlib.sha256(prompt_file.read_bytes()).hexdigest()}  # fmt: skip


# -- VLMEvalKit ---------------------------------------------------------------------------------
class MMVetVLMEvalKit(MMVetJudged, VLMEvalKitProtocol):
    """VLMEvalKit's ``MMVet`` (PR #541 era): its system prompt, its grading prefix and retries, ``MMVet_acc``."""

    prompt_template = IMAGE_PLACEHOLDER + "\n{question}"
    system_prompt = MMVET_SYSTEM_PROMPT
    default_judge_model = vlmevalkit.DEFAULT_JUDGE_MODEL
    metrics = over_judged(
        _vlmevalkit_metrics,
        Metric("mmvet_score", form="custom", headline=True),
        Metric("Overall", form="custom"),
        *(Metric(cap, form="custom") for cap in CAPABILITIES),  # single-capability rows twice
        Metric("fine/{combination}", form="custom", group="combination"),
    )

    def prompt(self, doc: dict[str, Any]) -> str:
        return janus_content("\n" + doc["question"], int(doc.get("image") is not None))

    def judge_prompt(self, doc: dict[str, Any], prediction: str) -> str:
        return vlmevalkit.judge_prompt(doc["question"], doc["answer"], prediction)

    def grade(self, client: JudgeClient, prompt: str) -> dict[str, Any]:
        return vlmevalkit.grade(client, prompt)

    def grading_card(self) -> dict[str, Any]:
        return {"temperatures": list(vlmevalkit.TEMPERATURES), "max_tokens": vlmevalkit.JUDGE_MAX_TOKENS,
                "prompt": "VLMEvalKit build_mmvet_gpt4_prompt",
                "prompt_sha256": vlmevalkit.JUDGE_PREFIX_SHA256}  # fmt: skip


# -- the paper: VLMEvalKit's generation, the official MM-Vet evaluator's grading --------------------
class MMVetPaper(PaperProtocol, MMVetVLMEvalKit):
    """VLMEvalKit's MM-Vet prompt and generation; grading and averaging of MM-Vet's own evaluator."""

    default_judge_model = official.DEFAULT_JUDGE_MODEL
    num_runs: int = official.DEFAULT_RUNS
    """The evaluator's ``--num_run``: independent gradings per sample (the reply cache keys each run apart)."""
    metrics = over_judged(
        _official_metrics,
        Metric("mmvet_score", form="custom", headline=True),  # mean over runs of total, not rounded
        Metric("total", form="custom"),
        Metric("std", form="custom", higher_is_better=False),
        *(Metric(cap, form="custom") for cap in CAPABILITIES),
        Metric("run/{run}", form="custom", group="run"),
        Metric("cap_int/{capability_set}", form="custom", group="capability_set"),
    )

    def judge_prompt(self, doc: dict[str, Any], prediction: str) -> str:
        return official.judge_prompt(doc["question"], doc["answer"], prediction)

    def grade(self, client: JudgeClient, prompt: str) -> dict[str, Any]:
        return official.grade(client, prompt, self.num_runs)

    def grading_card(self) -> dict[str, Any]:
        return {"temperatures": list(official.TEMPERATURES), "max_tokens": official.JUDGE_MAX_TOKENS,
                "retry_suffix": official.RETRY_SUFFIX, "runs": self.num_runs,
                "prompt": "MM-Vet mm-vet_evaluator.py prompt (yuweihao/MM-Vet acde843)",
                "prompt_sha256": official.JUDGE_PREFIX_SHA256}  # fmt: skip


# -- the task -----------------------------------------------------------------------------------
@task("mmvet")
class MMVet(UnderstandingTask):
    headline: ClassVar[str] = "mmvet_score"
    dataset: ClassVar[DatasetSpec] = DATASET
    protocols = {"lmms-eval": MMVetLmmsEval, "vlmevalkit": MMVetVLMEvalKit, "paper": MMVetPaper}
    protocol_rules: MMVetJudged
    unscored: ClassVar[UnscoredMark | None] = UnscoredMark(flag="judged", count_metric=UNJUDGED)
    """A record without a judge's verdict keeps score 0.0 and ``judged: false``: neither averaged nor a failure."""
    submission_server: ClassVar[str | None] = official.GRADER

    def write_submission(self, records: list[dict[str, Any]], docs: list[dict[str, Any]],
                         ctx: RunContext) -> Path | None:  # fmt: skip
        """MM-Vet's answers are public only to its evaluator: every run writes the JSON it grades."""
        assert ctx.task_dir is not None
        path = ctx.task_dir / "submission" / "mmvet_submission.json"
        write_json(path, official.submission(records))
        return path

    def doc_id(self, doc: dict[str, Any]) -> str:
        return str(doc["question_id"])

    def scoring_identity(self, ctx: RunContext) -> dict[str, Any]:
        """Verdicts depend on the judge: another endpoint or model re-judges every stored prediction."""
        return {"judge": self.protocol_rules.judge_identity(ctx)}

    def scoring_failure(self, records: list[dict[str, Any]]) -> str | None:
        """Predictions the judge failed on are kept unjudged; the run still fails, saying a rerun only judges."""
        failed = [record_scores(r) for r in records if record_scores(r).get("judge_outcome") == JUDGE_FAILED]
        if not failed:
            return None
        return (f"mmvet: {failed[0].get('judge_error')}; the model's {len(records)} predictions are kept "
                f"({len(failed)} unjudged): rerun the same command once the judge works and only the judge runs")  # fmt: skip

    def needs_rescore(self, record: dict[str, Any], ctx: RunContext) -> bool:
        """Predictions recorded without a judge (or that it failed on) get judged once a judge is configured."""
        return ctx.judge is not None and not record_scores(record).get("judged", False)

    def card(self, ctx: RunContext | None = None) -> dict[str, Any]:
        return {**super().card(ctx), "judge": self.protocol_rules.judge_card(ctx)}


def _sample_fields(doc: dict[str, Any], prediction: str) -> dict[str, Any]:
    return {"question_id": str(doc["question_id"]), "capabilities": str(doc["capability"]), "pred_answer": prediction}


def _never_asked(scored: dict[str, Any]) -> bool:
    """A record scored while no judge was configured (as opposed to one the judge failed on)."""
    return not scored.get("judged", False) and "judge_outcome" not in scored
