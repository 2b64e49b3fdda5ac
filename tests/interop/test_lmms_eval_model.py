"""Janus as an lmms-eval model: the class on fake requests, then lmms-eval's own evaluator on local POPE.

Needs the optional extra (``pip install 'janus-eval[lmms-eval]'``); skipped without it.
"""

from __future__ import annotations

import importlib.metadata
import shutil

import pytest

pytest.importorskip("lmms_eval")

from lmms_eval.api.instance import Instance  # noqa: E402

from janus_eval.hfdata import FIXTURES, decode_image, load_docset  # noqa: E402
from janus_eval.interop.lmms_eval_model import JanusLmms, cut_at_stops  # noqa: E402
from janus_eval.registry import get_task  # noqa: E402
from janus_eval.task import JanusEvalError  # noqa: E402

POST_PROMPT = "\nAnswer the question using a single word or phrase."  # lmms-eval's default POPE post-prompt


@pytest.fixture(scope="module")
def pope_docs() -> list[dict]:
    docset = load_docset(get_task("pope").dataset, None)
    return [docset.full_doc(i) for i in range(3)]


def _visual(doc: dict) -> list:
    return [decode_image(doc["image"], "fixture")] if doc.get("image") is not None else []


def _request(index: int, context: str, gen_kwargs: dict, doc_to_visual=_visual) -> Instance:
    return Instance(request_type="generate_until", arguments=(context, gen_kwargs, doc_to_visual, index, "pope", "test"),
                    idx=0, metadata={"task": "pope", "doc_id": index, "repeats": 1})  # fmt: skip


def test_generate_until_batches_and_cuts(tiny_adapter, pope_docs):
    model = JanusLmms(adapter=tiny_adapter, batch_size=2)
    docs = [*pope_docs, {**pope_docs[0], "image": None}]  # the last one has no image
    model.task_dict = {"pope": {"test": docs}}
    contexts = [doc["question"] + POST_PROMPT for doc in docs]
    full = [tiny_adapter.understand([_visual(d)], [c], 12)[0] for d, c in zip(docs, contexts)]
    stop = full[1][3:5]  # a stop string known to occur inside answer 1
    assert stop and full[1].find(stop) > 0
    kwargs = [{"max_new_tokens": 12, "until": ["\n\n"]}, {"max_new_tokens": 12, "until": [stop]},
              {"max_new_tokens": 12, "until": "\n\n"}, {"max_new_tokens": 12}]  # fmt: skip
    requests = [_request(i, c, k) for i, (c, k) in enumerate(zip(contexts, kwargs))]
    answers = model.generate_until(requests)
    assert answers[0] == full[0].split("\n\n")[0]
    assert answers[1] == full[1][: full[1].find(stop)]
    assert answers[2] == full[2].split("\n\n")[0]
    assert answers[3] == full[3]  # no until, no image
    # max_new_tokens is honoured: fewer tokens give a prefix
    short = model.generate_until([_request(0, contexts[0], {"max_new_tokens": 2, "until": []})])[0]
    assert full[0].startswith(short) and len(short) <= len(full[0])


def test_loglikelihood_is_refused_clearly(tiny_adapter):
    model = JanusLmms(adapter=tiny_adapter)
    with pytest.raises(NotImplementedError, match="loglikelihood requests are not supported"):
        model.loglikelihood([])


def test_cut_at_stops_takes_the_earliest():
    assert cut_at_stops("a.b\n\nc", ["\n\n", "."]) == "a"
    assert cut_at_stops("abc", ["", "x"]) == "abc"


def test_registered_through_the_entry_point():
    names = [ep.name for ep in importlib.metadata.entry_points(group="lmms_eval.models")]
    if "janus" not in names:
        pytest.skip("janus-eval's lmms_eval.models entry point is not installed: reinstall it (pip install -e .)")
    from lmms_eval.models import get_model

    assert get_model("janus") is JanusLmms


def test_lmms_eval_evaluates_pope_with_janus(tmp_path, monkeypatch, tiny_adapter, pope_docs):
    """lmms-eval's own evaluator on a local POPE copy: its prompts, our model, its scoring."""
    if "janus" not in [ep.name for ep in importlib.metadata.entry_points(group="lmms_eval.models")]:
        pytest.skip("janus-eval's lmms_eval.models entry point is not installed: reinstall it (pip install -e .)")
    datasets = pytest.importorskip("datasets")
    # pope.yaml reads `lmms-lab-encoder/POPE`; `datasets` takes an existing local folder of that name
    # first. The bundled fixture lacks the Image feature metadata a hub snapshot has: add it.
    local = tmp_path / "lmms-lab-encoder" / "POPE" / "data"
    local.mkdir(parents=True)
    source = next((FIXTURES / "POPE" / "data").glob("test-*.parquet"))
    ds = datasets.Dataset.from_parquet(str(source), cache_dir=str(tmp_path / "cache"))
    ds.cast_column("image", datasets.Image()).to_parquet(str(local / source.name))
    monkeypatch.chdir(tmp_path)
    for key, value in {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}.items():
        monkeypatch.setenv(key, value)
    from lmms_eval.evaluator import simple_evaluate

    result = simple_evaluate(model="janus", model_args="pretrained=tiny,dtype=float32", tasks=["pope"], limit=2,
                             batch_size=2, device="cpu", gen_kwargs="max_new_tokens=6", log_samples=True)  # fmt: skip
    assert "pope_f1_score,none" in result["results"]["pope"]
    samples = sorted(result["samples"]["pope"], key=lambda s: s["doc_id"])
    assert len(samples) == 2
    task = get_task("pope")
    ours = []
    for sample in samples:
        doc = pope_docs[sample["doc_id"]]
        expected = tiny_adapter.understand([_visual(doc)], [doc["question"] + POST_PROMPT], 6)[0].split("\n\n")[0]
        assert sample["resps"][0][0] == expected  # lmms-eval's prompt through our adapter, cut at its default until
        prediction = sample["filtered_resps"]
        ours.append(task.score_sample(doc, prediction[0] if isinstance(prediction, list) else prediction))
        assert ours[-1]["score"] == float(sample["pope_accuracy"]["score"]), sample["doc_id"]  # its scoring = ours
    reported = {key.split(",")[0]: value for key, value in result["results"]["pope"].items()
                if "," in key and "_stderr" not in key and isinstance(value, (int, float))}  # fmt: skip
    aggregate = task.aggregate(ours)
    assert {"pope_accuracy", "pope_precision", "pope_recall", "pope_f1_score", "pope_yes_ratio"} <= set(reported)
    for metric, value in reported.items():  # every number lmms-eval reports, from janus-eval's scorer on the same rows
        assert aggregate[metric] == pytest.approx(value, abs=1e-9), metric
    shutil.rmtree(tmp_path / "hf", ignore_errors=True)


def test_a_task_without_max_new_tokens_gets_janus_evals_number(tiny_adapter):
    """seedbench's yaml sets no max_new_tokens: the plugin uses janus-eval's (32), as ``janus-eval run``."""
    from janus_eval.interop.lmms_eval_model import FALLBACK_MAX_NEW_TOKENS, default_max_new_tokens

    assert default_max_new_tokens("seedbench") == get_task("seed").generation.max_new_tokens == 32
    assert default_max_new_tokens("some_other_task") == FALLBACK_MAX_NEW_TOKENS == 1024
    model = JanusLmms(adapter=tiny_adapter)
    assert model._settings({"until": ["ASSISTANT:"]}, "seedbench") == (32, ("ASSISTANT:",))
    assert model._settings({"max_new_tokens": 16}, "seedbench") == (16, ())  # the task's own number wins
    chosen = JanusLmms(adapter=tiny_adapter, max_new_tokens="7")  # an explicit model arg beats the default
    assert chosen._settings({}, "seedbench") == (7, ())
    with pytest.raises(JanusEvalError, match="max_new_tokens"):
        JanusLmms(adapter=tiny_adapter, max_new_tokens=0)
