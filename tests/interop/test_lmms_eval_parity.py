"""One model, two front doors: ``lmms-eval --model janus`` and ``janus-eval run`` must agree.

The embedded tiny model answers the bundled fixture rows of the eight understanding tasks twice per
batch size (1 and 8): once through lmms-eval 0.7.3's own CLI, task code and scoring (our plugin as
``--model janus``), once through ``janus-eval run``. Both read the same local folder
(``<root>/lmms-lab-encoder/<Dataset>``, the layout the README describes). Per doc we compare what the
adapter received (prompt text, chat-formatted token ids, pixel values, max_new_tokens), its raw
reply, the prediction, the per-sample score, and per task every aggregate janus-eval shares with
lmms-eval.

Judges: one fake chat server on 127.0.0.1 plays MM-Vet's grader for both doors (a score derived
from the judge prompt, so the same prediction gets the same grade) and MMBench's answer matcher for
both (always ``E``, "no option": the row is wrong either way).
MMMU's unreadable replies: lmms-eval draws ``random.choice`` from the global generator its CLI seeds
with 0; janus-eval replays that stream in document order. In this eight-task process other tasks
could draw from the same generator first, so here MMMU's parser gets a fresh ``Random(0)`` of its own
(the stream of a single-task run); ``test_mmmu_alone_draws_the_same_fallback_letters`` runs
``lmms-eval --tasks mmmu_val`` untouched and compares.

Needs the optional extra (``pip install 'janus-eval[lmms-eval]'``); skipped without it. CI installs it.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import numpy as np
import torch

pytest.importorskip("lmms_eval")
datasets = pytest.importorskip("datasets")

from fake_chat_server import serve  # noqa: E402

from janus_eval.hfdata import FIXTURES, load_docset  # noqa: E402
from janus_eval.interop.lmms_eval_model import LMMS_TASKS  # noqa: E402
from janus_eval.model import JanusAdapter  # noqa: E402
from janus_eval.registry import get_task  # noqa: E402

ORG = "lmms-lab-encoder"
JUDGE_MODEL = "fake-judge"
BATCH_SIZES = (1, 8)


# -- the shared data folder -------------------------------------------------------------------------
def _hf_features(features: Any) -> Any:
    """The fixture's ``{bytes, path}`` structs as ``datasets`` Image features, as a hub snapshot has them."""
    image_struct = {"bytes", "path"}
    out = {}
    for name, feature in features.items():
        if isinstance(feature, dict) and set(feature) == image_struct:
            out[name] = datasets.Image()
        elif isinstance(feature, datasets.List) and isinstance(feature.feature, dict) and set(feature.feature) == image_struct:
            out[name] = datasets.List(datasets.Image())
        else:
            out[name] = feature
    return datasets.Features(out)


def write_hub_layout(repo: str, root: Path, cache: Path) -> None:
    """``<root>/lmms-lab-encoder/<repo>``: the fixture's parquet files plus the README ``configs`` a hub snapshot has."""
    configs: dict[str, list[tuple[str, str]]] = {}
    for source in sorted((FIXTURES / repo).rglob("*.parquet")):
        relative = source.relative_to(FIXTURES / repo)
        config = "default" if relative.parent.name == "data" else relative.parent.name
        configs.setdefault(config, []).append((source.name.split("-")[0], relative.as_posix()))
        table = datasets.Dataset.from_parquet(str(source), cache_dir=str(cache))
        dest = root / ORG / repo / relative
        dest.parent.mkdir(parents=True, exist_ok=True)
        table.cast(_hf_features(table.features)).to_parquet(str(dest))
    lines = ["---", "configs:"]
    for config, files in configs.items():
        lines += [f"- config_name: {config}", "  data_files:"]
        lines += [f"  - split: {split}\n    path: {path}" for split, path in files]
    (root / ORG / repo / "README.md").write_text("\n".join([*lines, "---", ""]))


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    cache = tmp_path_factory.mktemp("datasets-cache")
    for name in LMMS_TASKS.values():
        write_hub_layout(get_task(name).dataset.fixture, root, cache)
    return root


# -- the judges -------------------------------------------------------------------------------------
def judge_reply(request: dict[str, Any], number: int) -> tuple[int, str]:
    """MMBench's matcher: ``E`` (no option); MM-Vet's grader: a grade in 0.0..1.0 fixed by the prompt."""
    prompt = request["body"]["messages"][-1]["content"]
    if prompt.startswith("You are an AI assistant who will help me to match an answer"):
        return 200, "E"
    return 200, f"{hashlib.sha256(prompt.encode()).digest()[0] % 11 / 10:.1f}"


@pytest.fixture(scope="module")
def judge_url() -> Iterator[str]:
    with serve(judge_reply, model=JUDGE_MODEL) as (url, _):
        yield url


# -- what the adapter receives ----------------------------------------------------------------------
@dataclass(frozen=True)
class Call:
    """One question as the adapter saw it, and its raw reply."""

    question: str
    token_ids: str
    pixels: tuple[str, ...]
    max_new_tokens: int
    reply: str


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def recording(calls: list[Call]) -> Any:
    """``JanusAdapter.understand``, also appending a ``Call`` per question."""
    original = JanusAdapter.understand

    def understand(self: JanusAdapter, images: Any, questions: Any, max_new_tokens: int,
                   system_prompt: str | None = None) -> list[str]:  # fmt: skip
        replies = original(self, images, questions, max_new_tokens, system_prompt)
        for ims, question, reply in zip(images, questions, replies):
            levels = self._row_levels(ims)  # the encoder's uint8 input, from PIL images or loader-prepared pixels
            ids = self.understanding_ids(question, len(levels), system_prompt)
            pixels = tuple(_digest(np.ascontiguousarray(np.asarray(level)).tobytes()) for level in levels)
            calls.append(Call(question, _digest(json.dumps(ids).encode()), pixels, max_new_tokens, reply))
        return replies

    return understand


def excel_safe(check_string: Any) -> Any:
    """openpyxl's ``Cell.check_string`` dropping the control characters it refuses.

    lmms-eval writes MMBench's submission ``.xlsx`` (a side file, not used for scoring); the random
    tiny model's replies hold control characters that openpyxl rejects, which would stop the run.
    """
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    def check(self: Any, value: Any) -> Any:
        return check_string(self, ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value)

    return check


# -- the two doors ----------------------------------------------------------------------------------
@dataclass
class DoorRun:
    calls: list[Call]
    samples: dict[str, list[dict[str, Any]]]
    """Per janus-eval task name: lmms-eval's logged samples or janus-eval's records, in doc order."""
    results: dict[str, dict[str, Any]]


def run_lmms_eval(root: Path, out: Path, batch_size: int, url: str, tasks: dict[str, str] = LMMS_TASKS,
                  own_mmmu_stream: bool = True) -> DoorRun:  # fmt: skip
    """``lmms-eval --model janus --tasks ... --log_samples``, in-process, from the data folder."""
    from lmms_eval.__main__ import cli_evaluate
    from lmms_eval.tasks._task_utils import mmmu_mcq_utils
    from openpyxl.cell.cell import Cell

    calls: list[Call] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(JanusAdapter, "understand", recording(calls))
        if own_mmmu_stream:
            mp.setattr(mmmu_mcq_utils, "random", random.Random(0))  # a single-task run's stream (module doc)
        mp.setattr(Cell, "check_string", excel_safe(Cell.check_string))
        mp.chdir(root)  # `lmms-lab-encoder/POPE` resolves to the local folder first
        mp.setattr(sys, "argv", ["lmms-eval", "--model", "janus", "--model_args", "pretrained=tiny,dtype=float32,device=cpu",
                                 "--tasks", ",".join(tasks), "--batch_size", str(batch_size), "--log_samples",
                                 "--output_path", str(out)])  # fmt: skip
        cli_evaluate()
    samples: dict[str, list[dict[str, Any]]] = {}
    for lmms_task, name in tasks.items():
        paths = sorted(out.rglob(f"*_samples_{lmms_task}.jsonl"))
        assert len(paths) == 1, paths
        path = paths[0]
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        samples[name] = sorted(rows, key=lambda row: row["doc_id"])
    # <model>/<date>_<time>_results.json; tasks write their own *_results.json submissions beside it
    (results_file,) = [p for p in out.rglob("*_results.json") if re.fullmatch(r"\d{8}_\d{6}_results\.json", p.name)]
    results = json.loads(results_file.read_text())["results"]
    return DoorRun(calls, samples, {name: results[lmms_task] for lmms_task, name in tasks.items()})


def run_janus_eval(root: Path, out: Path, batch_size: int, url: str, names: tuple[str, ...] = tuple(LMMS_TASKS.values())) -> DoorRun:
    """``janus-eval run --tasks ... --data-root ROOT`` with the same judge, in-process."""
    from janus_eval import cli

    calls: list[Call] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(JanusAdapter, "understand", recording(calls))
        mp.setattr(sys, "argv", ["janus-eval", "run", "--tasks", ",".join(names), "--data-root", str(root),
                                 "--out", str(out), "--batch-size", str(batch_size), "--dtype", "float32",
                                 "--judge-url", url, "--judge-model", JUDGE_MODEL, "--no-progress"])  # fmt: skip
        with pytest.raises(SystemExit) as exit_info:
            cli.main()
            raise SystemExit(0)
        assert not exit_info.value.code
    samples = {}
    for name in names:
        task = get_task(name)
        order = [task.doc_id(doc) for doc in load_docset(task.dataset, root).docs]
        records = {r["id"]: r for r in map(json.loads, (out / name / "samples.jsonl").read_text().splitlines())}
        samples[name] = [records[doc_id] for doc_id in order]
    return DoorRun(calls, samples, json.loads((out / "results.json").read_text()))


@pytest.fixture(scope="module", params=BATCH_SIZES, ids=lambda b: f"batch{b}")
def doors(request: pytest.FixtureRequest, data_root: Path, judge_url: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DoorRun, DoorRun]]:  # fmt: skip
    batch_size = request.param
    env = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path_factory.mktemp("hf")),
           "OPENAI_API_KEY": "fake-key", "OPENAI_API_URL": judge_url, "MODEL_VERSION": JUDGE_MODEL}  # fmt: skip
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the tiny model's matmuls are too small to share: one thread is several times faster
    try:
        with pytest.MonkeyPatch.context() as mp:
            for key, value in env.items():
                mp.setenv(key, value)
            lmms = run_lmms_eval(data_root, tmp_path_factory.mktemp(f"lmms-b{batch_size}"), batch_size, judge_url)
            janus = run_janus_eval(data_root, tmp_path_factory.mktemp(f"janus-b{batch_size}"), batch_size, judge_url)
    finally:
        torch.set_num_threads(threads)
    yield lmms, janus


# -- per-sample scores as each door states them ----------------------------------------------------
def _mmbench_verdict(sample: dict[str, Any], doc: dict[str, Any]) -> float:
    """lmms-eval's own reading of an MMBench reply (``MMBench_Evaluator.prefetch_answer``), right or not."""
    from lmms_eval.tasks.mmbench.mmbench_evals import MMBench_Evaluator

    row = sample["gpt_eval_score"]  # the prediction, the answer and options A-D ("nan" when missing)
    letter = MMBench_Evaluator().prefetch_answer(dict(row))
    return float(bool(letter) and letter == str(row["answer"]))


def _mmmu_verdict(sample: dict[str, Any], doc: dict[str, Any]) -> float:
    """lmms-eval's ``eval_multi_choice`` / ``eval_open`` on its own parsed prediction."""
    from lmms_eval.tasks.mmmu.utils import eval_multi_choice, eval_open

    scored = sample["mmmu_acc"]
    parsed = scored["parsed_pred"][0]
    if scored["question_type"] == "multiple-choice":
        return float(eval_multi_choice(scored["answer"], parsed))
    return float(eval_open(scored["answer"], parsed))


def lmms_sample_score(name: str, sample: dict[str, Any], doc: dict[str, Any]) -> float:
    """The per-sample score lmms-eval computed (or its own helpers compute) for ``janus-eval``'s ``score``."""
    if name == "pope":
        return float(sample["pope_accuracy"]["score"])
    if name in ("vqav2", "gqa"):
        return float(sample["exact_match"])
    if name == "mme":
        key = "mme_perception_score" if "mme_perception_score" in sample else "mme_cognition_score"
        return float(sample[key]["score"])
    if name == "seed":
        seed = sample["seed_all"]
        return float(seed["pred"].lower().strip() == seed["answer"].lower().strip())
    if name == "mmbench":
        return _mmbench_verdict(sample, doc)
    if name == "mmvet":
        return float(sample["gpt_eval_score"]["score"])
    assert name == "mmmu"
    return _mmmu_verdict(sample, doc)


def _docs(name: str, root: Path) -> list[dict[str, Any]]:
    task = get_task(name)
    docset = load_docset(task.dataset, root)
    return [docset.docs[i] for i in range(len(docset))]


# -- the comparisons --------------------------------------------------------------------------------
TASK_NAMES = list(LMMS_TASKS.values())


def _calls_by_question(calls: list[Call], questions: set[str]) -> dict[str, list[Call]]:
    grouped: dict[str, list[Call]] = {}
    for call in calls:
        if call.question in questions:
            grouped.setdefault(call.question, []).append(call)
    return {q: sorted(c, key=repr) for q, c in grouped.items()}


@pytest.mark.parametrize("name", TASK_NAMES)
def test_same_model_input_and_raw_reply(doors: tuple[DoorRun, DoorRun], name: str) -> None:
    lmms, janus = doors
    lmms_text = [s["input"] for s in lmms.samples[name]]
    janus_text = [r["prompt"] for r in janus.samples[name]]
    assert lmms_text == janus_text  # the question text per doc
    questions = set(lmms_text)
    lmms_calls, janus_calls = _calls_by_question(lmms.calls, questions), _calls_by_question(janus.calls, questions)
    assert set(lmms_calls) == questions
    for question in lmms_text:  # token ids, pixel values, max_new_tokens and raw reply per doc
        assert lmms_calls[question] == janus_calls[question], question


@pytest.mark.parametrize("name", TASK_NAMES)
def test_same_predictions_and_per_sample_scores(doors: tuple[DoorRun, DoorRun], data_root: Path, name: str) -> None:
    lmms, janus = doors
    docs = _docs(name, data_root)
    assert len(lmms.samples[name]) == len(janus.samples[name]) == len(docs)
    ours = janus_sample_scores(name, janus.samples[name])
    for sample, record, doc, score in zip(lmms.samples[name], janus.samples[name], docs, ours):
        prediction = sample["filtered_resps"]
        prediction = prediction[0] if isinstance(prediction, list) else prediction
        assert prediction.strip() == record["prediction"], record["id"]
        assert lmms_sample_score(name, sample, doc) == score, record["id"]


def janus_sample_scores(name: str, records: list[dict[str, Any]]) -> list[float]:
    """Each record's score; MMMU's guessed rows with the letter janus-eval's aggregate replays for them."""
    scores = [float(r["scores"]["score"]) for r in records]
    if name != "mmmu":
        return scores
    from janus_eval.tasks.mmmu import replay_guesses

    letters = replay_guesses(records)
    return [s if x is None else float(x == r["score_info"]["answer"]) for s, x, r in zip(scores, letters, records)]


def test_mmmu_alone_draws_the_same_fallback_letters(data_root: Path, judge_url: str, tmp_path: Path) -> None:
    """``lmms-eval --tasks mmmu_val`` untouched (its CLI's ``random.seed(0)``, its own draws) vs ``janus-eval run --tasks mmmu``."""
    from janus_eval.tasks.mmmu import replay_guesses

    with pytest.MonkeyPatch.context() as mp:
        for key, value in {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}.items():
            mp.setenv(key, value)
        lmms = run_lmms_eval(data_root, tmp_path / "lmms", 1, judge_url, {"mmmu_val": "mmmu"}, own_mmmu_stream=False)
        janus = run_janus_eval(data_root, tmp_path / "janus", 4, judge_url, ("mmmu",))
    records = janus.samples["mmmu"]
    guessed = [r["score_info"].get("guessed", False) for r in records]
    assert sum(guessed) >= 3  # the tiny model's replies leave several rows to the stream
    theirs = [s["mmmu_acc"]["parsed_pred"][0] for s, g in zip(lmms.samples["mmmu"], guessed) if g]
    assert [x for x in replay_guesses(records) if x is not None] == theirs
    assert janus.results["mmmu"]["mmmu_acc"] == lmms.results["mmmu"]["mmmu_acc,none"]


@pytest.mark.parametrize("name", TASK_NAMES)
def test_same_aggregates(doors: tuple[DoorRun, DoorRun], name: str) -> None:
    """Every metric lmms-eval reports for the task has janus-eval's equal under the same name."""
    lmms, janus = doors
    reported = {key.split(",")[0]: value for key, value in lmms.results[name].items()
                if "," in key and "_stderr" not in key and isinstance(value, (int, float))}  # fmt: skip
    assert reported, lmms.results[name]
    ours = janus.results[name]
    for metric, value in reported.items():
        assert metric in ours, f"{name}: janus-eval has no {metric} ({sorted(ours)})"
        assert ours[metric] == pytest.approx(value, abs=1e-9), metric
