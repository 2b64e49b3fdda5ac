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

No judge configured (``configure_judge`` not called or given no URL/model): every record gets
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
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from janus_eval.io import write_json
from janus_eval.metrics import vlmevalkit_mmvet
from janus_eval.metrics.judge import DEFAULT_KEY_ENV, JudgeClient, check_judge_url
from janus_eval.metrics.vlmevalkit_mcq import janus_content
from janus_eval.registry import task
from janus_eval.task import (
    IMAGE_PLACEHOLDER,
    DatasetSpec,
    GenerationSettings,
    JanusEvalError,
    UnderstandingTask,
    record_scores,
)

PRE_PROMPT = (
    "First please perform reasoning, and think step by step to provide best answer to the following question: \n\n"
)
JUDGE_PROMPT_FILE = Path(__file__).resolve().parent.parent / "data" / "mmvet_judge_prompt.txt"
DEFAULT_JUDGE_URL = "https://api.openai.com/v1"
DEFAULT_JUDGE_MODEL = "gpt-4o-2024-11-20"
DEFAULT_JUDGE_TIMEOUT_S = 60.0
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


@task("mmvet")
class MMVet(UnderstandingTask):
    headline: ClassVar[str] = "mmvet_score"
    dataset: ClassVar[DatasetSpec] = DatasetSpec(
        repo="MMVet", split="test", fixture="MMVet", columns=("question_id", "question", "answer", "capability", "image"),
        nullable=("image",),  # lmms-eval's mmvet_doc_to_visual asks a row without an image as a text-only question
    )
    generation: ClassVar[GenerationSettings] = GenerationSettings(max_new_tokens=1024)
    protocols: ClassVar[tuple[str, ...]] = ("lmms-eval", "vlmevalkit")
    prompt_template: str = PRE_PROMPT + "{question}"

    judge: JudgeClient | None = None
    judge_concurrency: int = 1

    def __init__(self, protocol: str = "lmms-eval") -> None:
        super().__init__(protocol)
        if protocol == "vlmevalkit":
            self.prompt_template = IMAGE_PLACEHOLDER + "\n{question}"
            self.system_prompt = vlmevalkit_mmvet.SYSTEM_PROMPT

    def configure_judge(self, url: str | None, model: str | None, key_env: str = DEFAULT_KEY_ENV,
                        cache_dir: Path | None = None, *, timeout: float = DEFAULT_JUDGE_TIMEOUT_S,
                        concurrency: int = 1) -> None:  # fmt: skip
        """Use an OpenAI-compatible judge; with neither ``url`` nor ``model`` given, score nothing.

        A missing URL defaults to OpenAI's API and a missing model to the protocol's default judge
        (lmms-eval: gpt-4o-2024-11-20; vlmevalkit: gpt-4-turbo).
        Replies are cached under ``cache_dir`` (the runner passes ``<out>/mmvet/judge_cache``).
        ``timeout``: seconds per request (a hanging judge fails after about twice that, see
        ``JudgeClient``); ``concurrency``: samples ``score_samples`` grades at once (records, their
        order and the cache are the same at any value).
        """
        if url is None and model is None:
            self.judge = None
            return
        if cache_dir is None:
            raise ValueError("configure_judge needs a cache_dir for the judge's replies")
        if int(concurrency) < 1:
            raise JanusEvalError(f"judge concurrency must be at least 1, got {concurrency!r}")
        check_judge_url(url or DEFAULT_JUDGE_URL)
        default = vlmevalkit_mmvet.DEFAULT_JUDGE_MODEL if self.protocol == "vlmevalkit" else DEFAULT_JUDGE_MODEL
        self.judge = JudgeClient(url or DEFAULT_JUDGE_URL, model or default, cache_dir, key_env, timeout_s=float(timeout))
        self.judge_concurrency = int(concurrency)

    # -- data ---------------------------------------------------------------------------------
    def doc_id(self, doc: dict[str, Any]) -> str:
        return str(doc["question_id"])

    # -- prompt -------------------------------------------------------------------------------
    def prompt(self, doc: dict[str, Any]) -> str:
        if self.protocol == "vlmevalkit":
            return janus_content("\n" + doc["question"], int(doc.get("image") is not None))
        return PRE_PROMPT + doc["question"]

    # -- score --------------------------------------------------------------------------------
    def score_sample(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        base = {"question_id": str(doc["question_id"]), "capabilities": str(doc["capability"]),
                "pred_answer": prediction}  # fmt: skip
        if self.judge is None:
            return {"score": 0.0, "judged": False, **base}
        prompt = self._judge_prompt(doc, prediction)
        if self.protocol == "vlmevalkit":
            graded = vlmevalkit_mmvet.grade(self.judge, prompt)
        else:
            graded = grade(self.judge, prompt)
        return {**graded, **judged_flags(graded), **base}

    def score_samples(self, docs: list[dict[str, Any]], predictions: list[str]) -> list[dict[str, Any]]:
        """``score_sample`` over many samples, up to ``judge_concurrency`` judged at once.

        Samples with the same judge prompt are graded once (as a sequential run would: the second
        one replays the first one's cached replies), so the cache's keys and contents and the
        records, in input order, do not depend on the concurrency.
        """
        if self.judge is None or self.judge_concurrency <= 1 or len(docs) <= 1:
            return super().score_samples(docs, predictions)
        from concurrent.futures import ThreadPoolExecutor

        first: dict[str, int] = {}
        for i, (doc, prediction) in enumerate(zip(docs, predictions)):
            first.setdefault(self._judge_prompt(doc, prediction), i)
        unique = sorted(first.values())
        with ThreadPoolExecutor(max_workers=self.judge_concurrency, thread_name_prefix="mmvet-judge") as pool:
            graded = dict(zip(unique, pool.map(lambda i: self.score_sample(docs[i], predictions[i]), unique)))
        out = []
        for doc, prediction in zip(docs, predictions):
            result = graded[first[self._judge_prompt(doc, prediction)]]
            out.append({**result, "question_id": str(doc["question_id"]), "capabilities": str(doc["capability"]),
                        "pred_answer": prediction})  # fmt: skip
        return out

    def _judge_prompt(self, doc: dict[str, Any], prediction: str) -> str:
        if self.protocol == "vlmevalkit":
            return vlmevalkit_mmvet.judge_prompt(doc["question"], doc["answer"], prediction)
        return judge_prompt(doc["question"], doc["answer"], prediction)

    def scoring_identity(self) -> dict[str, Any]:
        """Verdicts depend on the judge: another endpoint or model re-judges every stored prediction."""
        return {"judge": None if self.judge is None else {"endpoint": self.judge.url, "model": self.judge.model}}

    def needs_rescore(self, record: dict[str, Any]) -> bool:
        """Predictions recorded without a judge get judged once a judge is configured."""
        return self.judge is not None and not record_scores(record).get("judged", False)

    # -- aggregate ----------------------------------------------------------------------------
    def aggregate(self, records: list[dict[str, Any]]) -> dict[str, float]:
        every = [record_scores(r) for r in records]
        scored = [s for s in every if s.get("judged", False)]
        unjudged = {"mmvet_unjudged": float(len(every) - len(scored))}
        if not scored or any(_never_asked(s) for s in every):
            return unjudged  # no fake score: without a judge, or with no sample judged, only the count
        return {**self._judged_metrics(scored), **unjudged}

    def _judged_metrics(self, scored: list[dict[str, Any]]) -> dict[str, float]:
        """The protocol's metrics over the judged samples (each scored exactly as the reference does)."""
        if self.protocol == "vlmevalkit":
            rows = [{"category": s["capabilities"], "score": s["score"]} for s in scored]
            result = vlmevalkit_mmvet.mmvet_acc(rows) if rows else {}
            return {**result, self.headline: result.get("Overall", 0.0)}
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
        result[self.headline] = result["gpt_eval_score"]
        return result

    def card(self) -> dict[str, Any]:
        judge = self.judge
        if self.protocol == "vlmevalkit":
            return {**super().card(), "judge": None if judge is None else {
                "model": judge.model, "endpoint": judge.url, "temperatures": list(vlmevalkit_mmvet.TEMPERATURES),
                "max_tokens": vlmevalkit_mmvet.JUDGE_MAX_TOKENS, "prompt": "VLMEvalKit build_mmvet_gpt4_prompt",
                "prompt_sha256": vlmevalkit_mmvet.JUDGE_PREFIX_SHA256,
            }}  # fmt: skip
        return {
            **super().card(),
            "judge": None if judge is None else {
                "model": judge.model, "endpoint": judge.url, "temperature": JUDGE_TEMPERATURE,
                "max_tokens": JUDGE_MAX_TOKENS, "prompt_file": JUDGE_PROMPT_FILE.name,
                "prompt_sha256": _sha256(JUDGE_PROMPT_FILE.read_bytes()),
            },
        }  # fmt: skip


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

