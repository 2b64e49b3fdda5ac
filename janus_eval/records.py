"""Per-sample records and generated images on disk: what resume and aggregation read back.

Records are appended by each rank to its own file and folded into ``samples.jsonl`` at the end;
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


def read_task_records(task_dir: Path) -> list[dict[str, Any]]:
    """Every complete record in a task folder: ``samples.jsonl`` and any per-rank files."""
    records: list[dict[str, Any]] = []
    for path in sorted(task_dir.glob("samples*.jsonl")):
        records.extend(read_jsonl(path))
    return records


def merge_task_records(task_dir: Path, ids: list[str]) -> list[dict[str, Any]]:
    """The records for ``ids`` in dataset order, folded into one ``samples.jsonl`` in that order.

    Per-rank files are merged into ``samples.jsonl`` (atomically, records of ids outside this run
    kept after ours) and only then removed, so a kill at any point loses nothing.
    """
    records = read_task_records(task_dir)
    by_id: dict[str, dict[str, Any]] = {}
    for record in records:
        by_id[record["id"]] = record  # the last record of an id wins (a re-scored one)
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise JanusEvalError(f"{task_dir} lacks {len(missing)} of {len(ids)} samples (first: {missing[0]!r}); rerun to finish")
    rank_files = sorted(task_dir.glob("samples.rank*.jsonl"))
    wanted = set(ids)
    ordered = [by_id[i] for i in ids] + [r for i, r in by_id.items() if i not in wanted]
    # Rewritten unless already one record per id in dataset order: records scored as they became
    # ready (GenEval beside generation, several ranks) end up in the same file whatever the timing.
    if rank_files or [r["id"] for r in records] != [r["id"] for r in ordered]:
        write_atomic(task_dir / "samples.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ordered))
        for path in rank_files:
            path.unlink()
    return [by_id[i] for i in ids]
