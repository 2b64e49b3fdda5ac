"""Synthetic run directories for the results readers: built in milliseconds, no model involved."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

import pytest

from janus_eval.tasks.fid_base import SET_SIZE

GENEVAL_TAGS = ("single_object", "two_object", "counting", "colors", "position", "color_attr")


def pope_records(n: int = 300, accuracy: float = 0.85, seed: int = 0, flip: set[int] | None = None) -> list[dict[str, Any]]:
    """POPE-shaped records: the same ground truth for a given n, answers right with ``accuracy``.

    ``flip`` names indices whose answer is inverted afterwards (small, controlled changes).
    """
    truth_rng, answer_rng = random.Random(1234), random.Random(seed)
    records = []
    for i in range(n):
        truth = truth_rng.choice(["yes", "no"])
        right = answer_rng.random() < accuracy
        if flip and i in flip:
            right = not right
        pred = truth if right else ("no" if truth == "yes" else "yes")
        records.append({
            "id": str(i), "prompt": f"Is there a thing #{i} in the image?\nAnswer the question using a single word or phrase.",
            "prediction": pred, "scores": {"score": float(pred == truth)},
            "score_info": {"prediction": pred, "ground_truth": truth, "category": ("adversarial", "popular", "random")[i % 3]},
        })  # fmt: skip
    return records


def pope_results(records: list[dict[str, Any]]) -> dict[str, float]:
    from janus_eval.registry import get_task

    return get_task("pope").aggregate(records)


def geneval_records(accuracy: float = 0.6, seed: int = 0, prompts_per_tag: int = 4, images: int = 4) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    records, index = [], 0
    for tag in GENEVAL_TAGS:
        for _ in range(prompts_per_tag):
            for k in range(images):
                records.append({
                    "id": f"{index:05d}/{k:04d}", "prompt": f"a photo of {tag.replace('_', ' ')} #{index}",
                    "prediction": f"images/{index:05d}/samples/{k:04d}.png",
                    "scores": {"score": float(rng.random() < accuracy)}, "score_info": {"tag": tag, "prompt_index": index},
                })  # fmt: skip
            index += 1
    return records


def geneval_results(records: list[dict[str, Any]]) -> dict[str, float]:
    """The per-tag accuracies and their mean, as the GenEval task reports them (fractions)."""
    out = {}
    for tag in GENEVAL_TAGS:
        scores = [r["scores"]["score"] for r in records if r["score_info"]["tag"] == tag]
        out[f"geneval_{tag}"] = sum(scores) / len(scores)
    out["geneval_overall"] = sum(out.values()) / len(GENEVAL_TAGS)
    return out


def fid_records(n: int = 8, category: bool = False) -> list[dict[str, Any]]:
    return [{"id": f"{i:05d}", "prompt": f"caption {i}", "prediction": f"images/{i:05d}.png", "scores": {},
             "score_info": {"category": "people"} if category else {}} for i in range(n)]  # fmt: skip


def write_png(path: Path, colour: tuple[int, int, int], size: int = 384) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), colour).save(path, format="PNG")


SAMPLE_UNIT = {"kind": "sample", "key": None, "modulo": None}
SET_UNIT = {"kind": "set", "key": None, "modulo": None}


def _metric(name: str, form: str, headline: bool = False, higher: bool = True, **extra: Any) -> dict[str, Any]:
    return {"name": name, "form": form, "higher_is_better": higher, "headline": headline, "key": "score", "scale": 1.0,
            "group": None, "group_value": None, "unit": SAMPLE_UNIT, **extra}  # fmt: skip


_POPE_CUSTOM = ("pope_precision", "pope_recall", "pope_f1_score", "pope_yes_ratio")
DECLARED: dict[str, list[dict[str, Any]]] = {
    "pope": [
        _metric("pope_accuracy", "mean"), *(_metric(m, "custom") for m in _POPE_CUSTOM),
        _metric("pope_accuracy/{category}", "mean", group="category"),
        *(_metric(m + "/{category}", "custom", group="category") for m in _POPE_CUSTOM),
        _metric("pope_f1", "custom", headline=True),
    ],
    "geneval": [
        *(_metric(f"geneval_{tag}", "mean", group="tag", group_value=tag) for tag in GENEVAL_TAGS),
        _metric("geneval_overall", "grouped", headline=True, group="tag"),
        _metric("geneval_images_correct", "mean"), _metric("geneval_official_detector", "custom"),
    ],
    "coco30k": [_metric("fid", "custom", headline=True, higher=False, unit=SET_UNIT), _metric("n_generated", "custom", unit=SET_UNIT)],
    "mjhq30k": [_metric("fid", "custom", headline=True, higher=False, unit=SET_UNIT),
                _metric("fid/{category}", "custom", higher=False, group="category", unit=SET_UNIT),
                _metric("n_generated", "custom", unit=SET_UNIT)],
    "mme": [_metric("mme_perception", "custom", headline=True, unit={"kind": "group", "key": "question_id", "modulo": None}),
            _metric("mme_cognition", "custom", unit={"kind": "group", "key": "question_id", "modulo": None})],
    "vqav2": [_metric("vqav2_accuracy", "mean", headline=True, scale=100.0)],
}  # fmt: skip
"""What each task declares under ``run.json`` ``tasks.<name>.metrics``, for run directories built here."""


def _task_declarations(name: str, protocol: str) -> list[dict[str, Any]]:
    """What the real task declares under ``protocol`` (for tasks ``DECLARED`` leaves out)."""
    from janus_eval.registry import get_task

    return get_task(name, protocol).card()["metrics"]


SET_LEVEL = ("coco30k", "mjhq30k")
"""Tasks whose card declares ``set_size`` (the generated set FID is over)."""
KINDS = {"geneval": "generation", "coco30k": "generation", "mjhq30k": "generation"}
"""A task's ``kind`` in ``run.json``; the others are understanding tasks."""


def declare_metrics(run_dir: Path, declared: dict[str, list[dict[str, Any]]] | None = None) -> Path:
    """Set the metric declarations (``declared``, else ``DECLARED``) and kind of the run directory's tasks."""
    card_path = run_dir / "run.json"
    card = json.loads(card_path.read_text())
    for name, task_card in card["tasks"].items():
        if declared is not None and name in declared:
            task_card["metrics"] = declared[name]
        else:
            task_card.setdefault("metrics", DECLARED[name] if name in DECLARED else _task_declarations(name, task_card["protocol"]))
        task_card.setdefault("kind", KINDS.get(name, "understanding"))
        if name in SET_LEVEL:
            task_card.setdefault("set_size", dict(SET_SIZE))
    card_path.write_text(json.dumps(card, indent=2))
    return run_dir


HEADLINES = {"pope": "pope_f1", "mmbench": "mmbench_accuracy", "geneval": "geneval_overall", "coco30k": "fid", "mjhq30k": "fid", "mme": "mme_perception",
             "vqav2": "vqav2_accuracy"}  # fmt: skip
SPLITS = {"vqav2": "validation"}
"""The split a real run records where it is not the paper's (VQAv2 scores validation); others: test."""


def make_run(
    path: Path,
    tasks: dict[str, tuple[list[dict[str, Any]], dict[str, float]]],
    protocol: str = "lmms-eval",
    sha: str = "ab" * 32,
    date: str = "2024-10-21T12:00:00+00:00",
    limit: int | None = None,
    dataset_sizes: dict[str, int] | None = None,
    images: bool = False,
    declare: bool = True,
) -> Path:
    """Write a run directory: ``tasks`` maps a task name to (records, results).

    Without ``declare`` its ``run.json`` has no metric declarations or kinds (a run from an older janus-eval).
    """
    path.mkdir(parents=True, exist_ok=True)
    cards = {}
    for name, (records, results) in tasks.items():
        if records:
            folder = path / name
            folder.mkdir(exist_ok=True)
            (folder / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
            if images:
                for i, record in enumerate(records):
                    if str(record["prediction"]).endswith(".png"):
                        write_png(folder / record["prediction"], ((40 * i) % 256, 120, 200))
        size = (dataset_sizes or {}).get(name, len(records))
        cards[name] = {
            "protocol": protocol, "reference": "lmms-eval 0.7.3", "dataset_id": f"lmms-lab/{name}", "split": SPLITS.get(name, "test"),
            "headline": HEADLINES[name], "prompt_template": "{question}", "generation": {"max_new_tokens": 16},
            "samples": len(records), "dataset_size": size, "subset": len(records) < size,
        }  # fmt: skip
    card = {
        "janus_eval_version": "0.1.0", "created": date, "updated": date,
        "identity": {"checkpoint": f"/ckpt/{path.name}", "protocol": protocol, "seed": 42},
        "checkpoint": {"path": f"/ckpt/{path.name}", "sha256": sha},
        "config": {"tasks": list(tasks), "limit": limit, "data_root": "/data", "protocol": protocol},
        "environment": {"python": "3.11", "git_sha": "0" * 40}, "tasks": cards,
    }  # fmt: skip
    (path / "run.json").write_text(json.dumps(card, indent=2))
    (path / "results.json").write_text(json.dumps({n: r for n, (_, r) in tasks.items()}, indent=2))
    return declare_metrics(path) if declare else path


@pytest.fixture
def run_factory(tmp_path: Path):
    """``run_factory(name, ...)`` -> a run directory under this test's tmp folder (see ``make_run``)."""

    def build(name: str, tasks: dict[str, tuple[list[dict[str, Any]], dict[str, float]]], **kwargs: Any) -> Path:
        return make_run(tmp_path / name, tasks, **kwargs)

    return build


@pytest.fixture
def synth():
    """This module's builders (``pope_records``, ``geneval_results``, ...) for tests to call."""
    return sys.modules[__name__]
