"""MM-Vet: integrated vision-language capabilities graded by an LLM (Yu et al., 2023), as lmms-eval 0.7.3 scores `mmvet`.

Data: ``lmms-lab/MMVet`` (now ``lmms-lab-encoder/MMVet``), split ``test``: 218 rows. ``image`` may be
null (the question is then asked without an image); ``answer`` may hold ``<AND>`` / ``<OR>``;
``capability`` is a comma-separated subset of ``rec, ocr, know, gen, spat, math``.

Prompt: ``"First please perform reasoning, and think step by step to provide best answer to the
following question: \\n\\n{question}"``. Generation: ``max_new_tokens 1024``, stop at ``"\\n\\n"`` (the
framework default, which cuts multi-paragraph answers), greedy: lmms-eval's yaml says
``temperature: 0.2`` but also ``do_sample: false``, so the temperature has no effect.

Judge (lmms-eval's ``mmvet_process_results``): the MM-Vet few-shot grading prompt
(``janus_eval/data/mmvet_judge_prompt.txt``, byte-identical to lmms-eval's ``MM_VET_PROMPT``, whose
table header reads ``gpt_query_prompt`` where MM-Vet's own evaluator says ``Question``) + ``"\\n"`` +
``"{question} | {answer'} | {prediction} |"``, where ``answer'`` has every ``<AND>`` replaced by
``" <AND> "`` and ``<OR>`` by ``" <OR> "``. One user message, ``temperature 0``, ``max_tokens 128``,
through any OpenAI-compatible endpoint (``janus_eval.metrics.judge``; lmms-eval's default judge is
``gpt-4o-2024-11-20``). The reply's text before the first space is read with ``float()``:
- in [0, 1]: the score;
- not a number (``"0.7\\nbecause"``, ``"**0.5**"``, ``"0.8,"``): the temperature rises by 0.5, one
  extra reply is requested and discarded, and the judge is asked again; at temperature 2.0 the
  score is 0.0 (8 calls for a judge that never answers with a number);
- empty: asked up to 3 times at the same temperature, then 0.0.
- outside [0, 1] (or nan): asked again at the same temperature. Divergence: lmms-eval loops forever
  on a judge that keeps answering so; we stop after ``MAX_OUT_OF_RANGE`` (5) such replies with 0.0.
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
never an MM-Vet score: a number without a judge would be fake. Write the official submission with
``write_submission`` and grade it with MM-Vet's evaluator (``SUBMISSION_HELP``).

Metrics (all judged): ``gpt_eval_score`` (lmms-eval's reported value: mean score x 100),
``capability/<cap>`` for the six capabilities (samples whose capability string *contains* the name),
``combination/<combo>`` for lmms-eval's 16 fixed combinations (capability set equal to the combo's;
other combinations are only in the total), both x 100; groups without samples are left out (lmms-eval
logs 0 for them); ``mmvet_unjudged`` (0); and the paper's number ``mmvet_score`` (= ``gpt_eval_score``).

``--protocol vlmevalkit`` follows VLMEvalKit's ``MMVet`` (PR #541 era; ``janus_eval.metrics.vlmevalkit_mmvet``):
the Janus wrapper's system prompt ``You are a helpful assistant. Please answer truthfully and write out
your thinking step by step to be sure you get the right answer.`` and ``<image>\n{question}`` (greedy,
512 new tokens, no stop string). Judge (default model ``gpt-4-turbo``, ``max_tokens`` 3): VLMEvalKit's
grading prefix + ``"\n{question} | {answer'} | {prediction} | "``; up to 5 calls at temperatures 0,
0.5, 1, 1.5, 2; ``float`` of the **whole** reply must lie in [0, 1] (``0.7 because``, ``**1.0**`` fail),
else 0.0 after the fifth (here: unjudged, as above). Divergence: a ``nan`` reply is a failed try (VLMEvalKit would accept it and
poison the averages). ``MMVet_acc`` in percent: ``Overall`` (the paper's number, also ``mmvet_score``),
per capability (single-capability rows counted twice, VLMEvalKit's quirk) and ``fine/<combination>``.
VLMEvalKit has no offline MM-Vet path; without a judge we report only ``mmvet_unjudged``, as above.

``--protocol paper`` grades as the MM-Vet authors' evaluator does (``janus_eval.metrics.mmvet_official``,
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

Where MM-Vet's grading lives, per protocol: lmms-eval -> this module (``judge_prompt``, ``read_score``,
``grade``); vlmevalkit -> ``janus_eval.metrics.vlmevalkit_mmvet``; paper -> ``janus_eval.metrics.mmvet_official``.
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from janus_eval.io import write_json
from janus_eval.metrics import mmvet_official, vlmevalkit_mmvet
from janus_eval.metrics.judge import DEFAULT_JUDGE_URL as DEFAULT_JUDGE_URL  # re-exported: importable from here
from janus_eval.metrics.judge import DEFAULT_TIMEOUT_S, JudgeClient, JudgeError, JudgeSettings
from janus_eval.metrics.vlmevalkit_mcq import janus_content
from janus_eval.registry import task
from janus_eval.task import UnscoredMark
from janus_eval.task import (
    IMAGE_PLACEHOLDER,
    DatasetSpec,
    GenerationSettings,
    JanusEvalError,
    LmmsEvalProtocol,
    Metric,
    RunContext,
    UnderstandingProtocol,
    UnderstandingTask,
    PaperProtocol,
    VLMEvalKitProtocol,
    record_scores,
)

PRE_PROMPT = (
    "First please perform reasoning, and think step by step to provide best answer to the following question: \n\n"
)
JUDGE_PROMPT_FILE = Path(__file__).resolve().parent.parent / "data" / "mmvet_judge_prompt.txt"
DEFAULT_JUDGE_MODEL = "gpt-4o-2024-11-20"
"""lmms-eval's default judge; VLMEvalKit's is ``vlmevalkit_mmvet.DEFAULT_JUDGE_MODEL``."""
DEFAULT_JUDGE_TIMEOUT_S = DEFAULT_TIMEOUT_S
"""Seconds per judge request."""
JUDGE_TEMPERATURE = 0.0
JUDGE_MAX_TOKENS = 128
EMPTY_ATTEMPTS = 3
"""lmms-eval's ``patience``: asks per judge call while the reply is empty."""
TEMPERATURE_STEP, TEMPERATURE_LIMIT = 0.5, 2.0
MAX_OUT_OF_RANGE = 5
"""Our cap on re-asks after an out-of-range score (lmms-eval has none)."""
CAPABILITIES = ("rec", "ocr", "know", "gen", "spat", "math")
COMBINATIONS = ("rec_gen_know", "rec", "spat_ocr", "spat_math_ocr", "rec_spat", "ocr", "math_ocr", "rec_know",
                "rec_spat_gen_ocr", "rec_gen_ocr_know", "rec_spat_ocr", "rec_ocr", "know_spat_ocr", "rec_spat_know",
                "spat_gen_ocr", "rec_spat_math_ocr")  # fmt: skip
SUBMISSION_HELP = (
    "grade it with MM-Vet's official evaluator: the Hugging Face Space whyu/MM-Vet_Evaluator "
    "(upload the JSON), or mm-vet_evaluator.py from github.com/yuweihao/MM-Vet with your own GPT-4 key"
)
UNJUDGED = Metric("mmvet_unjudged", form="custom", higher_is_better=False)
"""Samples without a judge's score (no judge, or no usable reply); both protocols report it."""


# -- both: the judge, the unjudged, the aggregate ---------------------------------------------------
class MMVetJudged(UnderstandingProtocol):
    """What both protocols share: the judge of ``ctx.judge`` grades each sample; without one nothing is scored.

    A protocol adds its prompt and generation, its judge prompt (``judge_prompt``), grading rules
    (``grade``, ``grading_card``), default judge model and judged metrics (``judged_metrics``).
    Every metric is a mean over the *judged* samples only, so none has a closed form over all records
    (``custom``).
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

    @abstractmethod
    def judged_metrics(self, scored: list[dict[str, Any]]) -> dict[str, float]:
        """The protocol's metrics over the judged samples (each scored exactly as the reference does)."""

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

    # -- aggregate ----------------------------------------------------------------------------
    def aggregate(self, records: list[dict[str, Any]]) -> dict[str, float]:
        every = [record_scores(r) for r in records]
        scored = [s for s in every if s.get("judged", False)]
        unjudged = {"mmvet_unjudged": float(len(every) - len(scored))}
        if not scored or any(_never_asked(s) for s in every):
            return unjudged  # no fake score: without a judge, or with no sample judged, only the count
        return {**self.judged_metrics(scored), **unjudged}


# -- lmms-eval ----------------------------------------------------------------------------------
class MMVetLmmsEval(MMVetJudged, LmmsEvalProtocol):
    """lmms-eval 0.7.3's ``mmvet``: reasoning pre-prompt, MM-Vet's few-shot grading prompt, x100 means."""

    generation = GenerationSettings(max_new_tokens=1024)
    prompt_template = PRE_PROMPT + "{question}"
    default_judge_model = DEFAULT_JUDGE_MODEL
    metrics = (
        Metric("mmvet_score", form="custom", headline=True),
        Metric("gpt_eval_score", form="custom"),
        Metric("capability/{capability}", form="custom", group="capability"),  # capability string *contains* the name
        Metric("combination/{combination}", form="custom", group="combination"),  # capability set equals the combination's
        UNJUDGED,
    )

    def prompt(self, doc: dict[str, Any]) -> str:
        return PRE_PROMPT + doc["question"]

    def judge_prompt(self, doc: dict[str, Any], prediction: str) -> str:
        return judge_prompt(doc["question"], doc["answer"], prediction)

    def grade(self, client: JudgeClient, prompt: str) -> dict[str, Any]:
        return grade(client, prompt)

    def grading_card(self) -> dict[str, Any]:
        return {"temperature": JUDGE_TEMPERATURE, "max_tokens": JUDGE_MAX_TOKENS, "prompt_file": JUDGE_PROMPT_FILE.name,
                "prompt_sha256": _sha256(JUDGE_PROMPT_FILE.read_bytes())}  # fmt: skip

    def judged_metrics(self, scored: list[dict[str, Any]]) -> dict[str, float]:
        result = {"gpt_eval_score": 100.0 * _mean([s["score"] for s in scored])}
        for cap in CAPABILITIES:
            values = [s["score"] for s in scored if cap in s["capabilities"]]
            if values:
                result[f"capability/{cap}"] = 100.0 * _mean(values)
        for combo in COMBINATIONS:
            wanted = set(combo.split("_"))
            values = [s["score"] for s in scored if set(s["capabilities"].split(",")) == wanted]
            if values:
                result[f"combination/{combo}"] = 100.0 * _mean(values)
        result["mmvet_score"] = result["gpt_eval_score"]
        return result


def judge_prompt(question: str, answer: str, prediction: str) -> str:
    """The grading prompt for one sample, exactly as lmms-eval builds it."""
    spaced = answer.replace("<AND>", " <AND> ").replace("<OR>", " <OR> ")
    return f"{JUDGE_PROMPT_FILE.read_text(encoding='utf-8')}\n{question} | {spaced} | {prediction} |"


def read_score(reply: str) -> float | None:
    """lmms-eval's parse: ``float`` of the text before the first space; None when it is not a number."""
    try:
        return float(reply.split(" ")[0].strip())
    except ValueError:
        return None


def grade(client: JudgeClient, prompt: str) -> dict[str, Any]:
    """Ask the judge as lmms-eval does until it gives a score in [0, 1] or the rules give up (then 0.0)."""
    temperature = JUDGE_TEMPERATURE
    calls: list[float] = []
    asked: dict[float, int] = {}

    def ask() -> tuple[str, str]:
        """One lmms-eval judge call: up to EMPTY_ATTEMPTS requests while the reply is empty."""
        for _ in range(EMPTY_ATTEMPTS):
            attempt = asked.get(temperature, 0)
            asked[temperature] = attempt + 1
            calls.append(temperature)
            reply = client.complete(prompt, temperature, JUDGE_MAX_TOKENS, attempt=attempt)
            if reply.content:
                return reply.content, reply.model
        return "", ""

    def outcome(score: float, how: str, reply: str, model: str) -> dict[str, Any]:
        return {"score": score, "judge_outcome": how, "judge_reply": reply, "judge_model": model, "judge_calls": calls}

    out_of_range = 0
    while True:
        reply, model = ask()
        if not reply:
            return outcome(0.0, "empty", reply, model)
        score = read_score(reply)
        if score is None:
            temperature += TEMPERATURE_STEP
            ask()  # lmms-eval requests one more reply here and never reads it
            if temperature >= TEMPERATURE_LIMIT:
                return outcome(0.0, "unparseable", reply, model)
            continue
        if 0.0 <= score <= 1.0:
            return outcome(score, "scored", reply, model)
        out_of_range += 1
        if out_of_range >= MAX_OUT_OF_RANGE:
            return outcome(0.0, "out_of_range", reply, model)


# -- VLMEvalKit ---------------------------------------------------------------------------------
class MMVetVLMEvalKit(MMVetJudged, VLMEvalKitProtocol):
    """VLMEvalKit's ``MMVet`` (PR #541 era): its system prompt, its grading prefix and retries, ``MMVet_acc``."""

    prompt_template = IMAGE_PLACEHOLDER + "\n{question}"
    system_prompt = vlmevalkit_mmvet.SYSTEM_PROMPT
    default_judge_model = vlmevalkit_mmvet.DEFAULT_JUDGE_MODEL
    metrics = (
        Metric("mmvet_score", form="custom", headline=True),
        Metric("Overall", form="custom"),
        *(Metric(cap, form="custom") for cap in vlmevalkit_mmvet.CAPABILITIES),  # single-capability rows twice
        Metric("fine/{combination}", form="custom", group="combination"),
        UNJUDGED,
    )

    def prompt(self, doc: dict[str, Any]) -> str:
        return janus_content("\n" + doc["question"], int(doc.get("image") is not None))

    def judge_prompt(self, doc: dict[str, Any], prediction: str) -> str:
        return vlmevalkit_mmvet.judge_prompt(doc["question"], doc["answer"], prediction)

    def grade(self, client: JudgeClient, prompt: str) -> dict[str, Any]:
        return vlmevalkit_mmvet.grade(client, prompt)

    def grading_card(self) -> dict[str, Any]:
        return {"temperatures": list(vlmevalkit_mmvet.TEMPERATURES), "max_tokens": vlmevalkit_mmvet.JUDGE_MAX_TOKENS,
                "prompt": "VLMEvalKit build_mmvet_gpt4_prompt",
                "prompt_sha256": vlmevalkit_mmvet.JUDGE_PREFIX_SHA256}  # fmt: skip

    def judged_metrics(self, scored: list[dict[str, Any]]) -> dict[str, float]:
        result = vlmevalkit_mmvet.mmvet_acc([{"category": s["capabilities"], "score": s["score"]} for s in scored])
        return {**result, "mmvet_score": result.get("Overall", 0.0)}


# -- the paper: VLMEvalKit's generation, the official MM-Vet evaluator's grading --------------------
class MMVetPaper(PaperProtocol, MMVetVLMEvalKit):
    """VLMEvalKit's MM-Vet prompt and generation; grading and averaging of MM-Vet's own evaluator."""

    default_judge_model = mmvet_official.DEFAULT_JUDGE_MODEL
    num_runs: int = mmvet_official.DEFAULT_RUNS
    """The evaluator's ``--num_run``: independent gradings per sample (the reply cache keys each run apart)."""
    metrics = (
        Metric("mmvet_score", form="custom", headline=True),  # mean over runs of total, not rounded
        Metric("total", form="custom"),
        Metric("std", form="custom", higher_is_better=False),
        *(Metric(cap, form="custom") for cap in mmvet_official.CAPABILITIES),
        Metric("run/{run}", form="custom", group="run"),
        Metric("cap_int/{capability_set}", form="custom", group="capability_set"),
        UNJUDGED,
    )

    def judge_prompt(self, doc: dict[str, Any], prediction: str) -> str:
        return mmvet_official.judge_prompt(doc["question"], doc["answer"], prediction)

    def grade(self, client: JudgeClient, prompt: str) -> dict[str, Any]:
        return mmvet_official.grade(client, prompt, self.num_runs)

    def grading_card(self) -> dict[str, Any]:
        return {"temperatures": list(mmvet_official.TEMPERATURES), "max_tokens": mmvet_official.JUDGE_MAX_TOKENS,
                "retry_suffix": mmvet_official.RETRY_SUFFIX, "runs": self.num_runs,
                "prompt": "MM-Vet mm-vet_evaluator.py prompt (yuweihao/MM-Vet acde843)",
                "prompt_sha256": mmvet_official.JUDGE_PREFIX_SHA256}  # fmt: skip

    def judged_metrics(self, scored: list[dict[str, Any]]) -> dict[str, float]:
        rows = [{"capabilities": s["capabilities"], "run_scores": s.get("run_scores") or [s["score"]]} for s in scored]
        result = mmvet_official.export_result(rows)
        result["mmvet_score"] = result.pop("total_unrounded")
        return result


# -- the task -----------------------------------------------------------------------------------
@task("mmvet")
class MMVet(UnderstandingTask):
    headline: ClassVar[str] = "mmvet_score"
    dataset: ClassVar[DatasetSpec] = DatasetSpec(
        repo="MMVet", split="test", fixture="MMVet", columns=("question_id", "question", "answer", "capability", "image"),
        types=(("question_id", "id"), ("image", "image")),
        nullable=("image",),  # lmms-eval's mmvet_doc_to_visual asks a row without an image as a text-only question
    )
    protocols = {"lmms-eval": MMVetLmmsEval, "vlmevalkit": MMVetVLMEvalKit, "paper": MMVetPaper}
    protocol_rules: MMVetJudged
    unscored: ClassVar[UnscoredMark | None] = UnscoredMark(flag="judged", count_metric=UNJUDGED.name)
    """A record without a judge's verdict keeps score 0.0 and ``judged: false``: neither averaged nor a failure."""

    def write_submission(self, records: list[dict[str, Any]], ctx: RunContext) -> Path | None:
        """MM-Vet's answers are public only to its evaluator: every run writes the JSON it grades."""
        assert ctx.task_dir is not None
        path = ctx.task_dir / "submission" / "mmvet_submission.json"
        write_json(path, submission(records))
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


JUDGE_FAILED = "judge_failed"
"""``judge_outcome`` of a sample whose judge request failed (as opposed to a judge that answered unusably)."""


def _sample_fields(doc: dict[str, Any], prediction: str) -> dict[str, Any]:
    return {"question_id": str(doc["question_id"]), "capabilities": str(doc["capability"]), "pred_answer": prediction}


def judged_flags(graded: dict[str, Any]) -> dict[str, Any]:
    """``judged``, and why not: a judge that never gave a usable number leaves the sample unjudged.

    lmms-eval (and VLMEvalKit) record 0.0 for such a sample and average it in; that 0 measures
    the judge, not the model, so we keep the reference's 0.0 in ``score`` for inspection but leave
    the sample out of every mean and count it in ``mmvet_unjudged`` instead.
    """
    if graded.get("judge_outcome") == "scored":
        return {"judged": True}
    reply = str(graded.get("judge_reply", ""))[:80]
    return {"judged": False, "unjudged_reason": f"judge gave no usable score ({graded.get('judge_outcome')}; last reply {reply!r})"}


def _never_asked(scored: dict[str, Any]) -> bool:
    """A record scored while no judge was configured (as opposed to one the judge failed on)."""
    return not scored.get("judged", False) and "judge_outcome" not in scored


def _mean(values: list[float]) -> float:
    """Plain left-to-right sum / count, as lmms-eval (``fsum`` could differ in the last bit)."""
    return sum(values) / len(values) if values else 0.0


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


# -- official submission ------------------------------------------------------------------------
def submission(records: list[dict[str, Any]]) -> dict[str, str]:
    """``{question_id: prediction}``: the JSON MM-Vet's evaluator grades."""
    out = {}
    for record in records:
        scored = record_scores(record)
        prediction = record.get("prediction", scored.get("pred_answer"))
        out[str(scored.get("question_id", record.get("id")))] = "" if prediction is None else str(prediction)
    return out


def write_submission(records: list[dict[str, Any]], path: Path) -> str:
    """Write the submission JSON; returns a one-line message saying how to grade it."""
    write_json(Path(path), submission(records))
    return f"wrote MM-Vet submission {path} ({len(records)} answers); {SUBMISSION_HELP}"

