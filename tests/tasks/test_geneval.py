"""GenEval end to end on the tiny model and tiny random detector/CLIP: layout, seeds, resume."""

import importlib.util
import json

import pytest

from janus_eval.io import read_jsonl
from janus_eval.registry import get_task
from janus_eval.run_options import RunOptions
from janus_eval.runner import Runner
from janus_eval.errors import JanusEvalError

TASK = get_task("geneval")


def test_official_metadata_is_bundled_with_tag_counts():
    docs = TASK.load(__import__("pathlib").Path("/")).docs
    counts = {}
    for doc in docs:
        counts[doc["tag"]] = counts.get(doc["tag"], 0) + 1
    assert counts == {"single_object": 80, "two_object": 99, "counting": 80, "colors": 94, "position": 100, "color_attr": 100}


def test_requests_ids_paths_and_seeds():
    docs = TASK.load(None).docs
    requests = TASK.requests(docs, 42)
    assert len(requests) == 4 * len(docs)
    assert requests[5].id == "00001/00001" and requests[5].path == "images/00001/samples/00001.png"
    assert len({r.seed for r in requests}) == len(requests)
    assert [r.seed for r in TASK.requests(docs[:2], 42)] == [r.seed for r in requests[:8]]  # --limit keeps seeds
    assert requests[0].seed != TASK.requests(docs, 43)[0].seed


def run(out, adapter, batch_size=5, options=None, **kw):
    config = RunOptions(tasks=["geneval"], out=out, batch_size=batch_size, show_progress=False,
                        task_options={"geneval": {"images_per_prompt": "2", **(options or {})}}, **kw)  # fmt: skip
    return Runner(config, model_factory=lambda: adapter).run()


def test_layout_records_and_resume(tmp_path, tiny_adapter):
    result = run(tmp_path / "r", tiny_adapter)["geneval"]
    images = tmp_path / "r" / "geneval" / "images"
    folders = sorted(p.name for p in images.iterdir())
    assert folders == [f"{i:05d}" for i in range(6)]
    meta = json.loads((images / "00003" / "metadata.jsonl").read_text())  # one object, json.load-able
    assert meta == TASK.load(None).docs[3]
    assert sorted(p.name for p in (images / "00003" / "samples").iterdir()) == ["00000.png", "00001.png"]
    records = read_jsonl(tmp_path / "r" / "geneval" / "samples.jsonl")
    assert len(records) == 12 and records[0]["score_info"]["official"] is False
    assert set(result) >= {"geneval_overall", "geneval_single_object", "geneval_color_attr"}
    assert result["geneval_official_detector"] == 0.0

    # A torn PNG and a lost record are redone on rerun; the rest is kept.
    png = images / "00002" / "samples" / "00001.png"
    before = png.read_bytes()
    png.write_bytes(before[: len(before) // 2])
    lines = (tmp_path / "r" / "geneval" / "samples.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "r" / "geneval" / "samples.jsonl").write_text("".join(lines[:-3]))
    assert run(tmp_path / "r", tiny_adapter)["geneval"] == result
    assert png.read_bytes() == before


def test_images_do_not_depend_on_batch_size(tmp_path, tiny_adapter):
    run(tmp_path / "a", tiny_adapter, batch_size=1, limit=2)
    run(tmp_path / "b", tiny_adapter, batch_size=4, limit=2)
    pngs = {name: sorted(p.relative_to(tmp_path / name) for p in (tmp_path / name / "geneval" / "images").rglob("*.png"))
            for name in ("a", "b")}  # fmt: skip
    assert pngs["a"] and pngs["a"] == pngs["b"]
    for p in pngs["a"]:
        assert (tmp_path / "a" / p).read_bytes() == (tmp_path / "b" / p).read_bytes()


def test_mmdet_backend_without_mmdet_fails_before_generating(tmp_path, tiny_adapter):
    if importlib.util.find_spec("mmdet") is not None:
        pytest.skip("mmdet is installed here")
    checkpoint = tmp_path / "mask2former.pth"
    checkpoint.write_bytes(b"")
    for options, message in (({"backend": "mmdet"}, "needs the detector checkpoint"),
                             ({"backend": "mmdet", "detector": str(checkpoint)}, "needs mmdet 2.x")):  # fmt: skip
        with pytest.raises(JanusEvalError, match=message):
            run(tmp_path / "r", tiny_adapter, options=options)
    assert not list((tmp_path / "r").rglob("*.png"))


def test_backend_option_is_checked_and_recorded(tmp_path, tiny_adapter):
    with pytest.raises(JanusEvalError, match="expected one of: transformers, mmdet"):
        run(tmp_path / "bad", tiny_adapter, options={"backend": "yolo"})
    run(tmp_path / "r", tiny_adapter, limit=1, options={"images_per_prompt": "1", "scoring_device": "cpu"})
    card = json.loads((tmp_path / "r" / "run.json").read_text())["tasks"]["geneval"]
    assert card["backend"] == "transformers" and card["scoring_device"] == "cpu"


@pytest.mark.parametrize("missing", ["detector", "clip"])
def test_missing_scorer_weights_are_refused_before_the_model_loads(cli_invoke, tmp_path, model_loads, missing):
    """The transformers backend used to find a missing detector or CLIP only when scoring, after every image
    was generated, and recorded the missing path as "tiny random" (#24.6)."""
    from janus_eval.metrics.geneval_models import MMDET_CHECKPOINT
    from janus_eval.tasks.geneval import CLIP_DIR

    data, out = tmp_path / "data", tmp_path / "run"
    (data / "weights").mkdir(parents=True)
    if missing == "clip":  # the detector is there (checked by presence; it is never loaded here)
        (data / "weights" / MMDET_CHECKPOINT).write_bytes(b"not loaded before the model")
    expected = data / "weights" / (MMDET_CHECKPOINT if missing == "detector" else CLIP_DIR)
    code, _, err = cli_invoke("run", "--tasks", "geneval", "--data-root", str(data), "--out", str(out), "--limit", "1",
                              "--no-progress")  # fmt: skip
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert f"{expected} does not exist" in err or f"{expected} has no" in err, err
    assert model_loads == [] and not (out / "geneval").exists()


def test_scorer_identity_names_real_paths_never_a_missing_one_as_tiny(tmp_path):
    from janus_eval.contract import RunContext

    task = get_task("geneval")
    assert task.scoring_identity(RunContext())["detector_sha256"] == "tiny random"  # the labelled stand-in
    with pytest.raises(JanusEvalError, match=f"{tmp_path / 'weights'}"):
        task.scoring_identity(RunContext(data_root=tmp_path))
