"""Score predictions made elsewhere (another harness, an older run) with our task scorers.

The predictions file is read strictly: a silently dropped or doubled line would change the metric
without anyone noticing, so a repeated id, a torn last line, a prediction that is not a string or
bytes that are not UTF-8 stop with a one-line error naming the file and the line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from janus_eval.registry import get_task
from janus_eval.task import JanusEvalError, UnderstandingTask, split_scores


def score_predictions(task_name: str, predictions: Path, data_root: Path | None, protocol: str) -> dict[str, Any]:
    """Aggregate metrics over the predicted ids, plus how many of the split they cover."""
    task = get_task(task_name, protocol)
    if not isinstance(task, UnderstandingTask):
        raise JanusEvalError(f"task {task_name!r} scores generated images, not text predictions")
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
