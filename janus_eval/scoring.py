"""Score predictions made elsewhere (another harness, an older run) with our task scorers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from janus_eval.io import read_jsonl
from janus_eval.registry import get_task
from janus_eval.task import JanusEvalError, UnderstandingTask, split_scores


def score_predictions(task_name: str, predictions: Path, data_root: Path | None, protocol: str) -> dict[str, Any]:
    """Aggregate metrics over the predicted ids, plus how many of the split they cover."""
    task = get_task(task_name, protocol)
    if not isinstance(task, UnderstandingTask):
        raise JanusEvalError(f"task {task_name!r} scores generated images, not text predictions")
    if not predictions.is_file():
        raise JanusEvalError(f"predictions file {predictions} does not exist")
    try:
        lines = read_jsonl(predictions)
    except ValueError as err:
        raise JanusEvalError(str(err)) from err
    docset = task.load(data_root)
    docs = {task.doc_id(d): d for d in docset.docs}
    records = []
    for n, line in enumerate(lines, 1):
        if "id" not in line or "prediction" not in line:
            raise JanusEvalError(f"{predictions}: line {n} lacks 'id' or 'prediction'")
        doc_id = str(line["id"])
        if doc_id not in docs:
            raise JanusEvalError(f"{predictions}: line {n} has id {doc_id!r}, which is not in {task.dataset.dataset_id}")
        scores, info = split_scores(task.score_sample(docs[doc_id], task.postprocess(str(line["prediction"]))))
        records.append({"id": doc_id, "scores": scores, "score_info": info})
    if not records:
        raise JanusEvalError(f"{predictions} holds no predictions")
    return {"task": task_name, "scored": len(records), "dataset_size": len(docs), "metrics": task.aggregate(records)}
