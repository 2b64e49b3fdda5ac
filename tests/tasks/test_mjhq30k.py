"""MJHQ-30K: metadata order, both image layouts, request ids/seeds, overall and per-category FID with a tiny network."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from janus_eval.hfdata import FIXTURES
from janus_eval.registry import get_task
from janus_eval.task import JanusEvalError, RunContext

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")  # clean-fid's file is TorchScript


def test_docs_sorted_by_id_requests_and_seeds():
    task = get_task("mjhq30k")
    docs = task.load(None).docs
    assert len(docs) == 12 and [d["id"] for d in docs] == sorted(d["id"] for d in docs)
    meta = json.loads((FIXTURES / "MJHQ-30K" / "meta_data.json").read_text())
    assert all(meta[d["id"]] == {"category": d["category"], "prompt": d["prompt"]} for d in docs)
    requests = task.requests(docs, 7)
    assert requests[0].id == docs[0]["id"] and requests[0].path == f"images/{docs[0]['category']}/{docs[0]['id']}.png"
    assert [r.seed for r in task.requests(docs[:4], 7)] == [r.seed for r in requests[:4]]
    assert len({r.seed for r in requests}) == 12


def test_layouts_with_and_without_the_zip_folder(tmp_path):
    task = get_task("mjhq30k")
    with pytest.raises(JanusEvalError, match=r"meta_data\.json.*playgroundai/MJHQ-30K"):
        task.load(tmp_path)
    root = tmp_path / "MJHQ-30K"
    root.mkdir()
    shutil.copy(FIXTURES / "MJHQ-30K" / "meta_data.json", root / "meta_data.json")
    with pytest.raises(JanusEvalError, match=r"mjhq30k_imgs/<category>/<id>\.jpg.*unzip"):
        task.load(tmp_path)
    shutil.copytree(FIXTURES / "MJHQ-30K" / "mjhq30k_imgs", root / "mjhq30k_imgs")
    assert task.image_root(tmp_path) == root / "mjhq30k_imgs" and len(task.load(tmp_path).docs) == 12
    (root / "mjhq30k_imgs").rename(root / "tmp")  # unzipped one level deeper
    (root / "mjhq30k_imgs").mkdir()
    (root / "tmp").rename(root / "mjhq30k_imgs" / "mjhq30k_imgs")
    assert task.image_root(tmp_path) == root / "mjhq30k_imgs" / "mjhq30k_imgs"
    for folder in (root / "mjhq30k_imgs" / "mjhq30k_imgs").iterdir():  # unzipped without the top folder
        folder.rename(root / folder.name)
    assert task.image_root(tmp_path) == root
    (root / "meta_data.json").write_text(json.dumps({"abc": {"category": "cats", "prompt": "x"}}))
    with pytest.raises(JanusEvalError, match="unknown categories"):
        task.load(tmp_path)
    (root / "meta_data.json").write_text("[1, 2]")
    with pytest.raises(JanusEvalError, match="not MJHQ-30K metadata"):
        task.load(tmp_path)


def test_missing_inception_weights_fail_before_generation(tmp_path):
    task = get_task("mjhq30k")
    with pytest.raises(JanusEvalError, match=r"weights/inception-2015-12-05\.pt does not exist.*nvlabs"):
        task.prepare([], RunContext(data_root=tmp_path, task_dir=tmp_path / "mjhq30k"))


def test_aggregate_overall_and_per_category(tmp_path, tiny_weights):
    task = get_task("mjhq30k")
    task_dir = tmp_path / "mjhq30k"
    ctx = RunContext(task_dir=task_dir, inception_weights=tiny_weights, device="cpu")
    docs = task.load(None).docs
    rng = np.random.default_rng(0)
    records = []
    for request in task.requests(docs, 0):
        path = task_dir / request.path
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(path)
        records.append({"id": request.id, "prompt": request.prompt, "prediction": request.path, "scores": {}})
    result = task.aggregate(records, ctx)
    categories = {"animals", "food", "landscape", "people"}
    assert set(result) == {"fid", "n_generated", "n_reference"} | {f"fid/{c}" for c in categories}
    assert all(np.isfinite(v) for v in result.values())
    assert result["n_generated"] == 12 and result["n_reference"] == 12
    mean_of_categories = np.mean([result[f"fid/{c}"] for c in categories])
    assert result["fid"] != pytest.approx(mean_of_categories)  # overall is over all images, not a mean
    # --limit: a category with fewer than 2 generated images gets no key.
    few = [r for r in records if r["id"] in {d["id"] for d in docs if d["category"] != "food"}]
    few += [next(r for r in records if r["prediction"].startswith("images/food/"))]
    assert "fid/food" not in task.aggregate(few, ctx) and "fid/people" in task.aggregate(few, ctx)


def test_per_category_statistics_come_from_the_cache_and_match_the_features(tmp_path, tiny_weights, inception_calls):
    from janus_eval.metrics import fid_images, inception
    from janus_eval.metrics.fid import frechet_distance

    data = tmp_path / "data"
    shutil.copytree(FIXTURES / "MJHQ-30K", data / "MJHQ-30K")
    results = []
    for run in ("run1", "run2"):
        task = get_task("mjhq30k")
        task_dir = tmp_path / run / "mjhq30k"
        ctx = RunContext(data_root=data, task_dir=task_dir, inception_weights=tiny_weights, device="cpu")
        rng = np.random.default_rng(0)
        records = []
        for request in task.requests(task.load(data).docs, 0):
            (task_dir / request.path).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(task_dir / request.path)
            records.append({"id": request.id, "prompt": request.prompt, "prediction": request.path, "scores": {}})
        results.append(task.aggregate(records, ctx))
    assert len(inception_calls) == 12 + 12 + 12 and results[0] == results[1]
    extractor = inception.load_inception(tiny_weights)
    gen = fid_images.image_features(fid_images.generated_paths(task_dir, records, "mjhq30k"), extractor,
                                   fid_images.CLEANFID_DEFAULT)  # fmt: skip
    image_root = task.image_root(data)
    ref = fid_images.image_features(fid_images.folder_images(image_root), extractor, fid_images.CLEANFID_DEFAULT)
    assert results[1]["fid"] == frechet_distance(gen, ref)
    mine = [i for i, r in enumerate(records) if r["prediction"].startswith("images/food/")]
    real = [i for i, p in enumerate(fid_images.folder_images(image_root)) if p.parent.name == "food"]
    assert results[1]["fid/food"] == frechet_distance(gen[mine], ref[real])
