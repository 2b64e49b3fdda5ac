"""Score outputs made elsewhere (another harness, an older run, a user's own generation script) with our scorers.

Text predictions (``score_predictions``): the file is read strictly: a silently dropped or doubled
line would change the metric without anyone noticing, so a repeated id, a torn last line, a
prediction that is not a string or bytes that are not UTF-8 stop with a one-line error naming the
file and the line.

Generated images (``score_image_folder``, ``janus-eval score --task geneval|coco30k|mjhq30k --images
DIR --out OUT``): the folder is read in the benchmark's layout (``janus_eval.image_folders``), each
prompt's images go through the task's own ``score_images`` and the records through its ``aggregate``,
exactly as in a run, and ``OUT`` becomes a run directory (``run.json``, ``results.json``,
``<task>/samples.jsonl``, ``report.md``/``report.html``) that ``table``, ``gate`` and ``leaderboard``
read. The images stay where they are: each record's ``prediction`` is the image's absolute path.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from janus_eval.registry import get_task
from janus_eval.contract import RunContext
from janus_eval.task import GenerationTask, JanusEvalError, UnderstandingTask, split_scores

if TYPE_CHECKING:
    from janus_eval.image_folders import ImageFolder

IMAGE_TASKS = ("geneval", "coco30k", "mjhq30k")
MADE_ELSEWHERE = "images made elsewhere"
"""What ``run.json`` says in place of a checkpoint: janus-eval did not generate these images."""


def score_predictions(task_name: str, predictions: Path, data_root: Path | None, protocol: str) -> dict[str, Any]:
    """Aggregate metrics over the predicted ids, plus how many of the split they cover."""
    task = get_task(task_name, protocol)
    if not isinstance(task, UnderstandingTask):
        raise JanusEvalError(f"task {task_name!r} scores generated images, not text predictions; pass --images DIR --out OUT")
    if predictions.is_dir():
        raise JanusEvalError(f"--predictions {predictions} is a folder; expected a .jsonl file of {{\"id\", \"prediction\"}} lines")
    if not predictions.is_file():
        raise JanusEvalError(f"predictions file {predictions} does not exist")
    entries = read_predictions(predictions)
    docset = task.load(data_root)
    docs = {task.doc_id(d): d for d in docset.docs}
    for n, doc_id, _ in entries:
        if doc_id not in docs:
            raise JanusEvalError(f"{predictions}: line {n} has id {doc_id!r}, which is not in {task.dataset.dataset_id}")
    if not entries:
        raise JanusEvalError(f"{predictions} holds no predictions")
    position = {doc_id: i for i, doc_id in enumerate(docs)}
    entries.sort(key=lambda entry: position[entry[1]])  # dataset order, as a run scores: MMMU replays a stream in it
    results = task.score_samples([docs[i] for _, i, _ in entries], [task.postprocess(p) for _, _, p in entries])
    records = []
    for (_, doc_id, _), result in zip(entries, results):
        scores, info = split_scores(result)
        records.append({"id": doc_id, "scores": scores, "score_info": info})
    return {"task": task_name, "scored": len(records), "dataset_size": len(docs), "metrics": task.aggregate(records)}


def read_predictions(path: Path) -> list[tuple[int, str, str]]:
    """(line number, id, prediction) per non-blank line, checked; ids are unique."""
    lines = _text(path).splitlines(keepends=True)
    entries: list[tuple[int, str, str]] = []
    first_line: dict[str, int] = {}
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        doc_id, prediction = _entry(path, n, line, last=n == len(lines))
        if doc_id in first_line:
            raise JanusEvalError(f"{path}: line {n} repeats id {doc_id!r} (first on line {first_line[doc_id]})")
        first_line[doc_id] = n
        entries.append((n, doc_id, prediction))
    return entries


def _text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise JanusEvalError(f"{path} is not UTF-8 text (line {line}, byte {err.start}); save it as UTF-8") from None


def _entry(path: Path, n: int, line: str, last: bool) -> tuple[str, str]:
    """One line's id and prediction; a line that does not parse on the last line is a torn write.

    A complete JSON object without the final newline cannot be a torn write (a cut before the
    closing brace never parses), so it is accepted; other harnesses often omit that newline.
    """
    try:
        obj = json.loads(line)
    except ValueError:
        if last and not line.endswith("\n"):
            raise JanusEvalError(f"{path}: line {n} is incomplete (unterminated last line; was the file cut short?)") from None
        raise JanusEvalError(f"{path}: line {n} is not valid JSON") from None
    if not isinstance(obj, dict) or "id" not in obj or "prediction" not in obj:
        raise JanusEvalError(f"{path}: line {n} lacks 'id' or 'prediction'")
    doc_id, prediction = obj["id"], obj["prediction"]
    if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)):
        raise JanusEvalError(f"{path}: line {n} has id {doc_id!r}; ids are strings or integers")
    if not isinstance(prediction, str):
        shown = json.dumps(prediction)[:60]
        raise JanusEvalError(f"{path}: line {n} (id {str(doc_id)!r}) has a {type(prediction).__name__} prediction "
                             f"{shown}, not a string")  # fmt: skip
    return str(doc_id), prediction


# -- generated images -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImageScoring:
    """One ``janus-eval score --images`` call: which task, which folder, where the run directory goes."""

    task: str
    images: Path
    out: Path
    data_root: Path | None = None
    task_options: dict[str, str] = field(default_factory=dict)
    device: str = "cpu"
    inception_weights: Path | None = None
    fid_backend: str | None = None


def score_image_folder(job: ImageScoring) -> dict[str, Any]:
    """Score ``job.images`` with the task's scorers and write ``job.out`` as a run directory; the summary as a dict."""
    from janus_eval.image_folders import check_images
    from janus_eval.tasks.fid_base import FidTask

    if job.task not in IMAGE_TASKS:
        raise JanusEvalError(f"--images scores generated images: --task must be one of {', '.join(IMAGE_TASKS)}, "
                             f"got {job.task!r}")  # fmt: skip
    task = get_task(job.task)
    assert isinstance(task, GenerationTask)
    task.configure(**job.task_options)
    _check_out(job.out, task.name)
    ctx = RunContext(data_root=job.data_root, task_dir=job.out / task.name, device=job.device,
                     inception_weights=job.inception_weights, fid_backend=job.fid_backend)  # fmt: skip
    folder = _read_folder(task, job.images, ctx)
    if isinstance(task, FidTask):
        task.weights(ctx)  # a missing Inception file fails before any image is read
    if "images_per_prompt" in folder.layout:
        task.images_per_prompt = folder.layout["images_per_prompt"]
    check_images(folder)
    records = []
    for group in folder.groups():
        scored = task.score_images([folder.docs[i.doc_index] for i in group], [i.path for i in group], ctx)
        for image, result in zip(group, scored, strict=True):
            scores, info = split_scores(result)
            records.append({"id": image.id, "prompt": image.prompt, "prediction": str(image.path.resolve()),
                            "scores": scores, "score_info": info})  # fmt: skip
    metrics = task.aggregate(records, ctx)
    _write_run(job, task, ctx, folder, records, metrics)
    return {"task": task.name, "scored": len(records), "dataset_size": folder.dataset_size, "metrics": metrics,
            "out": str(job.out)}  # fmt: skip


def _check_out(out: Path, task: str) -> None:
    """``--out`` must be a new run directory: a score never mixes into, or replaces, earlier results."""
    if out.exists() and not out.is_dir():
        raise JanusEvalError(f"--out {out} is a file; give a folder for the run directory")
    for name in ("run.json", "results.json", f"{task}/samples.jsonl"):
        if (out / name).exists():
            raise JanusEvalError(f"--out {out} already holds a run ({name}); score into a new folder")


def _read_folder(task: GenerationTask, images: Path, ctx: RunContext) -> ImageFolder:
    from janus_eval import image_folders

    if task.name == "geneval":
        from janus_eval.tasks.geneval import METADATA

        official = [json.loads(line) for line in METADATA.read_text(encoding="utf-8").splitlines() if line.strip()]
        return image_folders.read_geneval(images, official)
    if task.name == "coco30k":
        return image_folders.read_coco30k(images, task.load(ctx).docs)
    from janus_eval.tasks.mjhq30k import CATEGORIES

    return image_folders.read_mjhq30k(images, task.load(ctx).docs, CATEGORIES)


def _data_files(task: GenerationTask, ctx: RunContext) -> list[Path]:
    """The files whose content the benchmark's docs come from (GenEval: the official metadata)."""
    if task.name == "geneval":
        from janus_eval.tasks.geneval import METADATA

        return [METADATA]
    return list(task.load(ctx).files)


def images_sha256(folder: ImageFolder) -> str:
    """One hash of the scored images: each file's path below the folder and content hash, in record order."""
    from janus_eval.io import sha256_file

    digest = hashlib.sha256()
    for image in folder.images:
        digest.update(f"{image.path.relative_to(folder.root)}:{sha256_file(image.path)}\n".encode())
    return digest.hexdigest()


def _write_run(job: ImageScoring, task: GenerationTask, ctx: RunContext, folder: ImageFolder,
               records: list[dict[str, Any]], metrics: dict[str, float]) -> None:  # fmt: skip
    """Records first, then results, card and reports, each written atomically (a reader never sees half a file).

    ``config`` holds no ``data_root`` on purpose: a run's ``data_root: null`` means "scored on the
    bundled fixture" to the tables, while here GenEval's prompts are always the official 553. The data
    root is in the task card; subsets are still marked (fewer images than the benchmark, FID over
    fewer than 30K images).
    """
    from janus_eval import __version__
    from janus_eval.io import sha256_file, write_atomic, write_json
    from janus_eval.provenance import environment, now
    from janus_eval.results.report import write_reports

    write_atomic(job.out / task.name / "samples.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    write_json(job.out / "results.json", {task.name: metrics})
    card = {**task.card(ctx), "kind": task.kind, "data_root": None if job.data_root is None else str(job.data_root),
            "data_files": {str(f): sha256_file(f) for f in _data_files(task, ctx)}, "samples": len(records),
            "dataset_size": folder.dataset_size, "subset": len(records) < folder.dataset_size,
            "generation": {"made_by": f"{MADE_ELSEWHERE}; janus-eval scored them (janus-eval score --images)",
                           **{k: v for k, v in folder.layout.items() if k != "layout"}},
            "images": {"folder": str(folder.root.resolve()), "layout": folder.layout["layout"], "count": len(records),
                       "sha256": images_sha256(folder)}}  # fmt: skip
    stamp = now()
    write_json(job.out / "run.json", {
        "janus_eval_version": __version__, "created": stamp, "updated": stamp,
        "identity": {"checkpoint": MADE_ELSEWHERE, "protocol": task.protocol},
        "checkpoint": {"path": MADE_ELSEWHERE, "name": MADE_ELSEWHERE, "sha256": ""},
        "config": {"command": "score", "tasks": [task.name], "images": str(job.images), "task_options": job.task_options,
                   "device": job.device, "limit": None,
                   "inception_weights": None if job.inception_weights is None else str(job.inception_weights),
                   "fid_backend": job.fid_backend},
        "environment": environment(),
        "tasks": {task.name: card},
    })  # fmt: skip
    write_reports(job.out)
