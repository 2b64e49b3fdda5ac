"""``janus-eval score``: a malformed predictions file is a one-line error (exit 2), never a silent score."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from janus_eval.registry import get_task


def pope_lines() -> list[str]:
    docs = get_task("pope").load(None).docs
    return [json.dumps({"id": d["question_id"], "prediction": d["answer"]}) + "\n" for d in docs]


def fails(cli_invoke, preds: Path, *fragments: str) -> str:
    code, out, err = cli_invoke("score", "--task", "pope", "--predictions", str(preds))
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and out == "" and len(lines) == 1 and "Traceback" not in err, err
    assert str(preds) in err.replace("\n", "") or preds.name in err
    for fragment in fragments:
        assert fragment in err, err
    return err


def test_clean_file_still_scores(cli_invoke, tmp_path: Path):
    preds = tmp_path / "preds.jsonl"
    lines = pope_lines()
    preds.write_text("".join(lines) + "\n")  # a blank line at the end is harmless
    code, out, _ = cli_invoke("score", "--task", "pope", "--predictions", str(preds))
    assert code == 0 and json.loads(out)["scored"] == len(lines)


def test_complete_last_line_without_newline_is_accepted(cli_invoke, tmp_path: Path):
    preds = tmp_path / "preds.jsonl"
    lines = pope_lines()
    preds.write_text("".join(lines).rstrip("\n"))
    code, out, _ = cli_invoke("score", "--task", "pope", "--predictions", str(preds))
    assert code == 0 and json.loads(out)["scored"] == len(lines)


def test_duplicate_id(cli_invoke, tmp_path: Path):
    preds = tmp_path / "preds.jsonl"
    lines = pope_lines()
    preds.write_text("".join(lines[:3]) + lines[1])
    first_id = json.loads(lines[1])["id"]
    fails(cli_invoke, preds, "line 4", f"repeats id {first_id!r}", "first on line 2")


def test_torn_last_line(cli_invoke, tmp_path: Path):
    preds = tmp_path / "preds.jsonl"
    lines = pope_lines()
    preds.write_text("".join(lines[:3]) + lines[3][:15])
    fails(cli_invoke, preds, "line 4", "incomplete")


def test_bad_json_in_the_middle(cli_invoke, tmp_path: Path):
    preds = tmp_path / "preds.jsonl"
    lines = pope_lines()
    preds.write_text(lines[0] + "{oops\n" + lines[1])
    fails(cli_invoke, preds, "line 2", "not valid JSON")


@pytest.mark.parametrize("prediction, kind", [(None, "NoneType"), (1, "int"), (["yes"], "list"), (True, "bool")])
def test_non_string_prediction(cli_invoke, tmp_path: Path, prediction, kind):
    preds = tmp_path / "preds.jsonl"
    lines = pope_lines()
    doc_id = json.loads(lines[1])["id"]
    preds.write_text(lines[0] + json.dumps({"id": doc_id, "prediction": prediction}) + "\n")
    fails(cli_invoke, preds, "line 2", f"id {str(doc_id)!r}", kind, "not a string")


def test_non_utf8_file(cli_invoke, tmp_path: Path):
    preds = tmp_path / "preds.jsonl"
    lines = pope_lines()
    preds.write_bytes(lines[0].encode() + b'{"id": "2", "prediction": "\xe9t\xe9"}\n')
    fails(cli_invoke, preds, "not UTF-8", "line 2")


def test_unknown_id_still_named(cli_invoke, tmp_path: Path):
    preds = tmp_path / "preds.jsonl"
    preds.write_text(json.dumps({"id": "nope", "prediction": "yes"}) + "\n")
    fails(cli_invoke, preds, "'nope'", "line 1")


# -- janus-eval score --images: generated images made elsewhere -------------------------------------
def tiny_png(path: Path, seed: int, size: int = 48) -> Path:
    import numpy as np
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
    return path


def geneval_layout(root: Path, prompts: int = 2, per_prompt: int = 2, names=None) -> list[dict]:
    """GenEval's official layout for the first ``prompts`` fixture prompts (official records), tiny PNGs."""
    docs = get_task("geneval").load(None).docs[:prompts]
    for p, doc in enumerate(docs):
        folder = root / f"{p:05d}"
        folder.mkdir(parents=True)
        (folder / "metadata.jsonl").write_text(json.dumps(doc))
        for k in range(per_prompt):
            tiny_png(folder / "samples" / (names[k] if names else f"{k:04d}.png"), seed=10 * p + k)
    return docs


def score_fails(cli_invoke, *args: str, fragments: tuple[str, ...] = ()) -> str:
    code, out, err = cli_invoke("score", *args)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and out == "" and len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err.replace("\n", ""), err
    return err


def test_geneval_images_scored_as_a_run_scores_them(cli_invoke, tmp_path: Path):
    from janus_eval.results.rundir import RunDir
    from janus_eval.results.tables import render_tables
    from janus_eval.task import split_scores

    images, out = tmp_path / "gen", tmp_path / "out"
    docs = geneval_layout(images, prompts=2, per_prompt=2)
    (images / "00000" / "grid.png").write_bytes(b"ignored, as GenEval's evaluator ignores it")
    (images / "notes").mkdir()  # not all digits: ignored
    code, stdout, err = cli_invoke("score", "--task", "geneval", "--images", str(images), "--out", str(out))
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["scored"] == 4 and summary["dataset_size"] == 553 * 2
    for name in ("run.json", "results.json", "geneval/samples.jsonl", "report.md", "report.html"):
        assert (out / name).is_file(), name
    records = [json.loads(line) for line in (out / "geneval" / "samples.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == ["00000/0000", "00000/0001", "00001/0000", "00001/0001"]
    assert records[0]["prediction"] == str((images / "00000" / "samples" / "0000.png").resolve())
    # the same scorer and aggregate as a run: each prompt's images through score_images, then aggregate
    task = get_task("geneval")
    expected = []
    for p, doc in enumerate(docs):
        paths = [images / f"{p:05d}" / "samples" / f"{k:04d}.png" for k in range(2)]
        expected += [split_scores(result)[0] for result in task.score_images([doc, doc], paths)]
    assert [r["scores"] for r in records] == expected
    results = json.loads((out / "results.json").read_text())["geneval"]
    assert results == task.aggregate(records) == summary["metrics"]
    card = json.loads((out / "run.json").read_text())
    task_card = card["tasks"]["geneval"]
    assert card["checkpoint"]["path"] == "images made elsewhere" and task_card["kind"] == "generation"
    assert task_card["generation"]["images_per_prompt"] == 2 and "cfg_scale" not in task_card["generation"]
    assert task_card["images"]["count"] == 4 and len(task_card["images"]["sha256"]) == 64
    assert task_card["samples"] == 4 and task_card["dataset_size"] == 1106 and task_card["subset"] is True
    assert "detector" in task_card and task_card["reference"].startswith("GenEval")
    table = render_tables([RunDir.load(out)], fmt="md", which="3", paper=False)
    assert "out (" in table and "‡" in table and "4 of 1,106 samples" in table


@pytest.mark.parametrize("case, fragments", [
    ("missing", ("does not exist",)),
    ("file", ("is not a folder",)),
    ("empty", ("holds no prompt folder", "metadata.jsonl")),
    ("no_metadata", ("has no metadata.jsonl",)),
    ("bad_json", ("is not one JSON object",)),
    ("unknown_prompt", ("is not one of GenEval's 553 prompts",)),
    ("edited_record", ("differs from GenEval's record",)),
    ("same_prompt_twice", ("hold the same prompt",)),
    ("no_samples", ("holds no image <digits>.png",)),
    ("uneven_counts", ("different numbers of images", "00000: 2", "00001: 1")),
    ("corrupt_png", ("0001.png is not a readable image",)),
])  # fmt: skip
def test_geneval_bad_image_folders(cli_invoke, tmp_path: Path, case, fragments):
    images, out = tmp_path / "gen", tmp_path / "out"
    if case == "file":
        images.write_text("x")
    elif case == "empty":
        images.mkdir()
    elif case != "missing":
        docs = geneval_layout(images)
        first = images / "00000"
        if case == "no_metadata":
            (first / "metadata.jsonl").unlink()
        elif case == "bad_json":
            (first / "metadata.jsonl").write_text('{"prompt": ')
        elif case == "unknown_prompt":
            (first / "metadata.jsonl").write_text(json.dumps({**docs[0], "prompt": "a photo of a unicorn"}))
        elif case == "edited_record":
            (first / "metadata.jsonl").write_text(json.dumps({**docs[0], "tag": "counting"}))
        elif case == "same_prompt_twice":
            (images / "00001" / "metadata.jsonl").write_text(json.dumps(docs[0]))
        elif case == "no_samples":
            for png in (first / "samples").iterdir():
                png.unlink()
        elif case == "uneven_counts":
            (images / "00001" / "samples" / "0001.png").unlink()
        elif case == "corrupt_png":
            png = first / "samples" / "0001.png"
            png.write_bytes(png.read_bytes()[:-30])
    score_fails(cli_invoke, "--task", "geneval", "--images", str(images), "--out", str(out), fragments=fragments)
    assert not (out / "run.json").exists() and not (out / "results.json").exists()


def test_images_never_overwrite_an_earlier_run(cli_invoke, tmp_path: Path):
    images, out = tmp_path / "gen", tmp_path / "out"
    geneval_layout(images, prompts=1, per_prompt=1)
    out.mkdir()
    (out / "run.json").write_text('{"precious": true}')
    score_fails(cli_invoke, "--task", "geneval", "--images", str(images), "--out", str(out), fragments=("already holds a run",))
    assert (out / "run.json").read_text() == '{"precious": true}' and not (out / "results.json").exists()
    code, _, err = cli_invoke("score", "--task", "geneval", "--images", str(images), "--out", str(tmp_path / "fresh"))
    assert code == 0, err
    score_fails(cli_invoke, "--task", "geneval", "--images", str(images), "--out", str(tmp_path / "fresh"),
                fragments=("already holds a run",))  # fmt: skip


@pytest.mark.parametrize("args, fragment", [
    (("--task", "pope", "--images", "IMAGES", "--out", "OUT"), "--task must be one of geneval, coco30k, mjhq30k"),
    (("--task", "geneval", "--images", "IMAGES"), "--images needs --out"),
    (("--task", "geneval",), "pass exactly one of --predictions"),
    (("--task", "geneval", "--images", "IMAGES", "--predictions", "P", "--out", "OUT"), "pass exactly one of --predictions"),
    (("--task", "geneval", "--predictions", "P", "--out", "OUT"), "go with --images"),
    (("--task", "geneval", "--images", "IMAGES", "--out", "OUT", "-T", "coco30k.reference=sampled-30k"), "but --task is 'geneval'"),
    (("--task", "geneval", "--predictions", "P"), "scores generated images, not text predictions"),
])  # fmt: skip
def test_score_argument_errors(cli_invoke, tmp_path: Path, args, fragment):
    images = tmp_path / "gen"
    geneval_layout(images, prompts=1, per_prompt=1)
    (tmp_path / "p.jsonl").write_text("")
    paths = {"IMAGES": str(images), "OUT": str(tmp_path / "out"), "P": str(tmp_path / "p.jsonl")}
    score_fails(cli_invoke, *[paths.get(a, a) for a in args], fragments=(fragment,))


# -- FID tasks: the stand-in Inception (tests/conftest.py tiny_weights) ------------------------------
def coco_layout(root: Path, n: int = 4) -> list[dict]:
    pairs = get_task("coco30k").load(None).docs
    names = ["{id:012d}.png", "COCO_val2014_{id:012d}.jpg", "{id}.png", "{id:06d}.JPEG"]
    for i, pair in enumerate(pairs[:n]):
        path = root / names[i % len(names)].format(id=pair["image_id"])
        tiny_png(root / "tmp.png", seed=i).rename(path)
    return pairs


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
def test_coco30k_images_scored_with_the_tasks_fid(cli_invoke, tmp_path: Path, tiny_weights):
    from janus_eval.contract import RunContext

    images, out = tmp_path / "coco", tmp_path / "out"
    pairs = coco_layout(images, n=4)
    (images / "captions.txt").write_text("not an image: ignored")
    code, stdout, err = cli_invoke("score", "--task", "coco30k", "--images", str(images), "--out", str(out),
                                   "--inception-weights", str(tiny_weights))  # fmt: skip
    assert code == 0, err
    metrics = json.loads(stdout)["metrics"]
    assert metrics["n_generated"] == 4 and metrics["n_reference"] == 10 and metrics["fid"] > 0
    records = [json.loads(line) for line in (out / "coco30k" / "samples.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == [str(p["image_id"]) for p in pairs[:4]]  # the sample's order
    assert records[0]["prompt"] == " ".join(pairs[0]["caption"].split())
    task = get_task("coco30k")
    again = task.aggregate(records, RunContext(task_dir=tmp_path / "elsewhere", inception_weights=tiny_weights, device="cpu"))
    assert again == metrics == json.loads((out / "results.json").read_text())["coco30k"]
    card = json.loads((out / "run.json").read_text())["tasks"]["coco30k"]
    assert card["fid"]["inception_official"] is False and card["images"]["layout"] == "coco30k"


@pytest.mark.parametrize("case, fragment", [
    ("unknown_id", "COCO image 7 is not in the COCO-30K caption sample"),
    ("twice", "are both the image of id"),
    ("no_id", "the name carries no COCO image id"),
    ("no_images", "holds no .png/.jpg image"),
    ("no_weights", "inception-2015-12-05.pt"),
])  # fmt: skip
def test_coco30k_bad_image_folders(cli_invoke, tmp_path: Path, tiny_weights, case, fragment):
    images = tmp_path / "coco"
    pairs = coco_layout(images, n=3)
    if case == "unknown_id":
        tiny_png(images / "7.png", seed=9)
    elif case == "twice":
        tiny_png(images / f"{pairs[0]['image_id']}.png", seed=9)
    elif case == "no_id":
        tiny_png(images / "sample_a.png", seed=9)
    elif case == "no_images":
        for path in images.iterdir():
            path.unlink()
    weights = [] if case == "no_weights" else ["--inception-weights", str(tiny_weights)]
    score_fails(cli_invoke, "--task", "coco30k", "--images", str(images), "--out", str(tmp_path / "out"), *weights,
                fragments=(fragment,))  # fmt: skip
    assert not (tmp_path / "out" / "results.json").exists()


def mjhq_layout(root: Path, n: int = 6) -> list[dict]:
    entries = get_task("mjhq30k").load(None).docs
    for i, entry in enumerate(entries[:n]):
        tiny_png(root / entry["category"] / f"{entry['id']}.png", seed=i)
    return entries


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
def test_mjhq30k_images_in_the_official_layout(cli_invoke, tmp_path: Path, tiny_weights):
    images, out = tmp_path / "mjhq", tmp_path / "out"
    entries = mjhq_layout(images, n=6)
    tiny_png(images / ".ipynb_checkpoints" / "x.png", seed=99)  # hidden: ignored
    code, stdout, err = cli_invoke("score", "--task", "mjhq30k", "--images", str(images), "--out", str(out),
                                   "--inception-weights", str(tiny_weights))  # fmt: skip
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["scored"] == 6 and summary["dataset_size"] == len(entries) and summary["metrics"]["fid"] > 0
    records = [json.loads(line) for line in (out / "mjhq30k" / "samples.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == [e["id"] for e in entries[:6]]
    assert (out / "report.html").is_file() and "mjhq30k" in (out / "report.md").read_text()


@pytest.mark.parametrize("case, fragment", [
    ("wrong_category", "is in category"),
    ("loose", "is not in a category folder"),
    ("unknown_id", "id 'nope' is not in MJHQ-30K's meta_data.json"),
    ("unknown_category", "'robots' is not an MJHQ-30K category"),
    ("corrupt", "is not a readable image"),
])  # fmt: skip
def test_mjhq30k_bad_image_folders(cli_invoke, tmp_path: Path, tiny_weights, case, fragment):
    images = tmp_path / "mjhq"
    entries = mjhq_layout(images, n=3)
    first = images / entries[0]["category"] / f"{entries[0]['id']}.png"
    if case == "wrong_category":
        other = images / next(c for c in ("animals", "food", "landscape") if c != entries[0]["category"])
        other.mkdir(exist_ok=True)
        first.rename(other / first.name)
    elif case == "loose":
        tiny_png(images / "x.png", seed=1)
    elif case == "unknown_id":
        tiny_png(images / entries[0]["category"] / "nope.png", seed=1)
    elif case == "unknown_category":
        tiny_png(images / "robots" / "a.png", seed=1)
    elif case == "corrupt":
        first.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    score_fails(cli_invoke, "--task", "mjhq30k", "--images", str(images), "--out", str(tmp_path / "out"),
                "--inception-weights", str(tiny_weights), fragments=(fragment,))  # fmt: skip
