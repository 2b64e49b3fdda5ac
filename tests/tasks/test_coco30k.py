"""COCO-30K: the documented caption sample, request ids/seeds, layout errors, FID on the fixture with a tiny network."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from janus_eval.registry import get_task
from janus_eval.task import JanusEvalError, RunContext
from janus_eval.tasks.coco30k import sample_pairs

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")  # clean-fid's file is TorchScript


def synthetic_captions(n_images, captions_per_image=5):
    images = [{"id": 1000 + 7 * i, "file_name": f"COCO_val2014_{1000 + 7 * i:012d}.jpg"} for i in range(n_images)]
    annotations = [{"image_id": img["id"], "id": 10 * img["id"] + k, "caption": f"caption {k} of {img['id']}"}
                   for img in images for k in range(captions_per_image)]  # fmt: skip
    return {"images": images, "annotations": annotations[::-1]}


def test_sampling_is_deterministic_one_caption_per_image_and_capped():
    captions = synthetic_captions(200)
    pairs = sample_pairs(captions, n=50)
    assert len(pairs) == 50 and len({p["image_id"] for p in pairs}) == 50
    assert pairs == sample_pairs(json.loads(json.dumps(captions)), n=50)
    shuffled = {**captions, "annotations": list(reversed(captions["annotations"]))}
    assert sample_pairs(shuffled, n=50) == pairs  # independent of file order
    assert sample_pairs(captions, n=20) == pairs[:20]  # a prefix: --limit takes a uniform subset
    assert len(sample_pairs(captions)) == 200  # N = 30,000 capped at what is available
    for pair in pairs:
        assert pair["caption"].startswith("caption ") and pair["caption"].endswith(str(pair["image_id"]))
    assert len({p["caption"].split()[1] for p in pairs}) > 1  # not always the first caption
    assert sample_pairs(captions, n=50, seed=1) != pairs


def test_fixture_docs_requests_ids_and_seeds():
    task = get_task("coco30k")
    docs = task.load(None).docs
    assert len(docs) == 10 and len({d["image_id"] for d in docs}) == 10
    requests = task.requests(docs, 42)
    assert [r.id for r in requests] == [str(d["image_id"]) for d in docs]
    assert requests[0].path == f"images/{docs[0]['image_id']:012d}.png"
    assert all("\n" not in r.prompt and r.prompt == r.prompt.strip() for r in requests)
    assert [r.seed for r in task.requests(docs[:3], 42)] == [r.seed for r in requests[:3]]
    assert requests[0].seed != task.requests(docs, 43)[0].seed
    assert task.load(None).docs == docs


def test_layout_errors(tmp_path):
    task = get_task("coco30k")
    with pytest.raises(JanusEvalError, match=r"captions_val2014\.json.*images\.cocodataset\.org"):
        task.load(tmp_path)
    root = tmp_path / "coco2014"
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "captions_val2014.json").write_text(json.dumps(synthetic_captions(3)))
    with pytest.raises(JanusEvalError, match="val2014"):
        task.load(tmp_path)
    (root / "val2014").mkdir()
    assert len(task.load(tmp_path).docs) == 3
    (root / "annotations" / "captions_val2014.json").write_text('{"annotations": [{"caption": "x"}]}')
    with pytest.raises(JanusEvalError, match="not a COCO captions file"):
        task.load(tmp_path)
    with pytest.raises(JanusEvalError, match="reference"):
        task.configure(reference="val-5k")


def test_missing_inception_weights_fail_before_generation(tmp_path):
    task = get_task("coco30k")
    ctx = RunContext(data_root=tmp_path, task_dir=tmp_path / "coco30k")
    with pytest.raises(JanusEvalError, match=r"inception-2015-12-05\.pt.*--inception-weights"):
        task.prepare([], ctx)
    assert "missing" in task.card(ctx)["fid"]["inception_weights"]
    given = RunContext(task_dir=tmp_path / "coco30k", inception_weights=tmp_path / "absent.pt")  # on the fixtures too
    with pytest.raises(JanusEvalError, match="absent.pt does not exist"):
        task.check_prerequisites(given)


def test_the_bundled_demo_runs_on_a_labelled_stand_in_inception(tmp_path):
    """Without a data root or an Inception file, Table 4 runs on a random stand-in, labelled in card and results."""
    task = get_task("coco30k")
    task_dir = tmp_path / "coco30k"
    ctx = RunContext(task_dir=task_dir, device="cpu")
    task.check_prerequisites(ctx)
    records = fake_generation(task, task_dir, task.load(None).docs[:4])
    result = task.aggregate(records, ctx)
    assert np.isfinite(result["fid"]) and result["fid_stand_in_inception"] == 1.0
    card = task.card(ctx)["fid"]
    assert card["inception_stand_in"] is True and card["inception_official"] is False
    assert "non-comparable" in card["inception_weights"] and card["inception_sha256"].startswith("stand-in:")
    assert task.aggregate(records, ctx) == result  # the stand-in is the same network every time


def fake_generation(task, task_dir, docs, seed=0):
    """Write a PNG per request (what the runner's generation phase leaves) and the records."""
    rng = np.random.default_rng(seed)
    records = []
    for request in task.requests(docs, 0):
        path = task_dir / request.path
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(path)
        records.append({"id": request.id, "prompt": request.prompt, "prediction": request.path, "seed": request.seed,
                        "scores": {}})  # fmt: skip
    return records


@pytest.mark.parametrize("reference, n_reference", [("full-val2014", 10), ("sampled-30k", 6)])
def test_aggregate_gives_finite_fid_with_tiny_network(tmp_path, tiny_weights, reference, n_reference):
    task = get_task("coco30k")
    task.configure(reference=reference)
    task_dir = tmp_path / "coco30k"
    ctx = RunContext(task_dir=task_dir, inception_weights=tiny_weights, device="cpu")
    docs = task.load(None).docs[:6]
    records = fake_generation(task, task_dir, docs)
    result = task.aggregate(records, ctx)
    assert set(result) == {"fid", "n_generated", "n_reference"}
    assert np.isfinite(result["fid"]) and result["fid"] > 0
    assert result["n_generated"] == 6 and result["n_reference"] == n_reference
    card = task.card(ctx)
    assert card["reference"] == reference and len(card["fid"]["inception_sha256"]) == 64
    assert card["fid"]["inception_official"] is False  # the stand-in is labelled, never passed off as the real network
    assert len(list((task_dir / "features").glob("generated-*.npy"))) == 1  # no data root: the reference
    assert len(list((task_dir / "features").glob("fid-ref-*.npz"))) == 1  # statistics stay in the run folder
    assert task.aggregate(records, ctx) == result  # from the feature cache


def test_aggregate_reports_missing_generated_images(tmp_path, tiny_weights):
    task = get_task("coco30k")
    task_dir = tmp_path / "coco30k"
    ctx = RunContext(task_dir=task_dir, inception_weights=tiny_weights, device="cpu")
    records = fake_generation(task, task_dir, task.load(None).docs[:3])
    shutil.rmtree(task_dir / "images")
    with pytest.raises(JanusEvalError, match="3 generated images are missing"):
        task.aggregate(records, ctx)


def test_reference_statistics_cached_under_the_data_root(tmp_path, tiny_weights, inception_calls):
    """A second run on the same data root reads the real set's statistics (only its own images go through
    Inception), and the FID is the one from both feature sets, as before the cache."""
    from janus_eval.hfdata import FIXTURES
    from janus_eval.metrics import fid_cache, fid_images, inception
    from janus_eval.metrics.fid import frechet_distance

    data = tmp_path / "data"
    shutil.copytree(FIXTURES / "coco2014", data / "coco2014")
    results = []
    for run in ("run1", "run2"):
        task = get_task("coco30k")
        task.configure(fid_workers="2")
        ctx = RunContext(data_root=data, task_dir=tmp_path / run / "coco30k", inception_weights=tiny_weights, device="cpu")
        records = fake_generation(task, tmp_path / run / "coco30k", task.load(ctx).docs[:6])
        results.append(task.aggregate(records, ctx))
    assert len(inception_calls) == 6 + 10 + 6  # run1: generated + val2014; run2: generated only
    assert len(list((data / fid_cache.REFERENCE_CACHE).glob("fid-ref-*.npz"))) == 1
    assert results[0] == results[1]
    extractor = inception.load_inception(tiny_weights)
    gen = fid_images.image_features(fid_images.generated_paths(tmp_path / "run2" / "coco30k", records, "coco30k"),
                                   extractor, fid_images.GIGAGAN_COCO)  # fmt: skip
    ref = fid_images.image_features(fid_images.folder_images(data / "coco2014" / "val2014"), extractor, fid_images.GIGAGAN_COCO)
    assert results[1]["fid"] == frechet_distance(gen, ref)


def test_fid_workers_option():
    task = get_task("coco30k")
    assert task.fid_workers is None and "fid_workers" not in task.option_values()  # default: from the CPU count; no identity
    task.configure(fid_workers="0")
    assert task.fid_workers == 0
    with pytest.raises(JanusEvalError, match="fid_workers='-1': expected 0 or a positive"):
        task.configure(fid_workers="-1")
