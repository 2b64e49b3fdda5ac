"""Per-sample records and generated images on disk: what resume and aggregation read back.

Records are appended by each rank to its own file and folded into ``samples.jsonl`` at the end (or,
after a crash, at the next launch's start);
images are written atomically and verified before a rerun trusts them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from janus_eval.io import read_jsonl, write_atomic, write_bytes_atomic
from janus_eval.errors import JanusEvalError


def valid_png(path: Path) -> bool:
    """A complete, readable PNG (a file torn by a kill fails the CRC check)."""
    if not path.is_file():
        return False
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.verify()
        return True
    except Exception:  # noqa: BLE001 - any decoding failure means "make it again"
        return False


def save_png_atomic(path: Path, pixels: Any) -> None:
    """PNG (never JPEG: FID and detectors see compression artefacts), written atomically."""
    import io as _io

    from PIL import Image

    buffer = _io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    write_bytes_atomic(path, buffer.getvalue())


RECORDS_FILE = "samples.jsonl"


def rank_files(task_dir: Path) -> list[Path]:
    """This launch's per-rank record files (``settle`` folds an earlier launch's into ``samples.jsonl``)."""
    return sorted(task_dir.glob("samples.rank*.jsonl"))


def read_task_records(task_dir: Path) -> list[dict[str, Any]]:
    """Every complete record in a task folder, in the order written: ``samples.jsonl`` then the per-rank files.

    That order is time order because a launch starts by folding an earlier launch's per-rank files into
    ``samples.jsonl`` (``fold_rank_files``), and within a launch each id has one rank: so the last record
    of an id is its newest (a re-scored one), whatever the file names and world sizes.
    """
    records = read_jsonl(task_dir / RECORDS_FILE)
    for path in rank_files(task_dir):
        records.extend(read_jsonl(path))
    return records


def latest_by_id(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One record per id, the last written (``read_task_records`` order)."""
    by_id: dict[str, dict[str, Any]] = {}
    for record in records:
        by_id[record["id"]] = record  # the last record of an id wins (a re-scored one)
    return by_id


def _rewrite(task_dir: Path, ids: list[str], by_id: dict[str, dict[str, Any]], merged: list[Path]) -> None:
    """One record per id into ``samples.jsonl`` (atomically; ``ids`` in dataset order, records of other ids kept
    after them), and only then the merged per-rank files removed: a kill at any point loses nothing, and a
    rerun folds the same records again to the same file."""
    wanted = set(ids)
    ordered = [by_id[i] for i in ids if i in by_id] + [r for i, r in by_id.items() if i not in wanted]
    write_atomic(task_dir / RECORDS_FILE, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ordered))
    for path in merged:
        path.unlink()


def fold_rank_files(task_dir: Path, ids: list[str]) -> None:
    """At a launch's start, before any rank reads or writes records: an earlier launch's per-rank files
    (a crashed torchrun) become part of ``samples.jsonl``, so this launch's records always come after them."""
    merged = rank_files(task_dir)
    if merged:
        _rewrite(task_dir, ids, latest_by_id(read_task_records(task_dir)), merged)


def merge_task_records(task_dir: Path, ids: list[str]) -> list[dict[str, Any]]:
    """The records for ``ids`` in dataset order, folded into one ``samples.jsonl`` in that order."""
    merged = rank_files(task_dir)
    records = read_task_records(task_dir)
    by_id = latest_by_id(records)
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise JanusEvalError(f"{task_dir} lacks {len(missing)} of {len(ids)} samples (first: {missing[0]!r}); rerun to finish")
    wanted = set(ids)
    ordered = ids + [i for i in by_id if i not in wanted]
    # Rewritten unless already one record per id in dataset order: records scored as they became
    # ready (GenEval beside generation, several ranks) end up in the same file whatever the timing.
    if merged or [r["id"] for r in records] != ordered:
        _rewrite(task_dir, ids, by_id, merged)
    return [by_id[i] for i in ids]
