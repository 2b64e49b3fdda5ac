"""Crash-safe files: atomic replace for summaries, fsynced appends for per-sample records."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def write_failed(path: Path, err: OSError) -> Exception:
    """A failed write (disk full, file-size limit, permissions) as one line naming the file."""
    from janus_eval.errors import JanusEvalError

    return JanusEvalError(
        f"cannot write {path}: {err.strerror or err}; what was written before is unchanged, "
        "fix that and rerun the same command to resume"
    )


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename over ``path``."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are meant to be shared
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise write_failed(path, err) from None
        raise


def write_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> None:
    write_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def read_json_file(path: Path) -> dict[str, Any]:
    """A JSON object written by janus-eval; anything else is a one-line error naming the file."""
    from janus_eval.errors import JanusEvalError

    try:
        value = json.loads(path.read_bytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise JanusEvalError(f"{path} is not valid JSON ({err}); delete it or use another --out") from None
    if not isinstance(value, dict):
        raise JanusEvalError(f"{path} is not a JSON object; delete it or use another --out")
    return value


def append_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Append whole lines and fsync, so a kill leaves at most one partial line at the end."""
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if not lines:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(lines)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as err:  # a partial last line is dropped (and the file repaired) by the next run
        raise write_failed(path, err) from None


def read_jsonl(path: Path, repair: bool = False) -> list[dict[str, Any]]:
    """The complete records of a JSONL file; a torn last line (killed mid-write) is dropped.

    With ``repair``, the file is rewritten without the torn line so later appends start clean.
    A bad line anywhere else was not left by a kill: that is an error naming the file and line.
    """
    from janus_eval.errors import JanusEvalError

    if not path.exists():
        return []
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise JanusEvalError(f"{path} is not UTF-8 text (byte {err.start}); it was not written by janus-eval") from None
    records, lines = [], text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        try:
            if not line.endswith("\n"):
                raise ValueError("unterminated line")
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            records.append(record)
        except ValueError:
            if i != len(lines) - 1:
                raise JanusEvalError(
                    f"{path}: line {i + 1} of {len(lines)} is not a valid JSON record; delete that line "
                    "(its sample is then redone) or the whole file, and rerun the same command"
                ) from None
            if repair:
                write_atomic(path, "".join(lines[:-1]))
    return records


_SHA256_CACHE: dict[tuple[str, int, int, int], str] = {}


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    """A file's sha256, computed once per process for each (path, inode, size, mtime)."""
    stat = path.stat()
    key = (str(Path(path).resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if key not in _SHA256_CACHE:
        _SHA256_CACHE[key] = _sha256_uncached(path, chunk)
    return _SHA256_CACHE[key]


def _sha256_uncached(path: Path, chunk: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


WEIGHT_SUFFIXES = frozenset({".safetensors", ".bin", ".json", ".pth", ".pt"})


def weights_sha256(path: Path) -> str:
    """A weight file's sha256, or for a folder the sha256 over each weight/config file's name and hash."""
    if path.is_file():
        return sha256_file(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES):
        digest.update(f"{file.relative_to(path)}:{sha256_file(file)}\n".encode())
    return digest.hexdigest()
