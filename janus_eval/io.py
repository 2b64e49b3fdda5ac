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


def notice(message: str) -> None:
    """A one-line notice on stderr (a skipped sample): what happened, without a warning's source file and line."""
    import sys

    sys.stderr.write(f"notice: {' '.join(message.split())}\n")
    sys.stderr.flush()


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


def write_xlsx(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    """One sheet: a header row of ``columns``, then each row's values in that order (an evaluation server's upload).

    Control characters XML cannot hold (a model's reply may contain them) are dropped, as VLMEvalKit does
    before its own ``.xlsx`` dumps; anything else is written as given."""
    import io

    from openpyxl import Workbook  # type: ignore[import-untyped]
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE  # type: ignore[import-untyped]

    def cell(value: Any) -> Any:
        return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value

    book = Workbook()
    sheet = book.active
    sheet.append(list(columns))
    for row in rows:
        sheet.append([cell(row.get(column)) for column in columns])
    buffer = io.BytesIO()
    book.save(buffer)
    write_bytes_atomic(path, buffer.getvalue())


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

PERSIST_MIN_BYTES = 1 << 20
"""Files at least this big get their hash kept across processes; a smaller one hashes faster than the cache reads."""
CACHE_ENV = "JANUS_EVAL_CACHE"
"""Folder of janus-eval's user cache (default ``$XDG_CACHE_HOME/janus-eval`` or ``~/.cache/janus-eval``); ``off``: none."""


def cache_dir() -> Path | None:
    """The user cache folder, never inside a checkpoint or data folder (those may be read-only); None when off."""
    configured = os.environ.get(CACHE_ENV)
    if configured is not None:
        return None if configured.strip().lower() in ("", "off", "0", "none") else Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "janus-eval"


def _sidecar() -> Path | None:
    folder = cache_dir()
    return None if folder is None else folder / "sha256.json"


def _read_sidecar(sidecar: Path) -> dict[str, Any]:
    """The persisted hashes; an unreadable or foreign file counts as empty (the cache only ever saves work)."""
    try:
        value = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _persisted(sidecar: Path | None, key: tuple[str, int, int, int]) -> str | None:
    """A hash recorded by an earlier process for this exact (path, inode, size, mtime_ns), else None."""
    if sidecar is None:
        return None
    entry = _read_sidecar(sidecar).get(key[0])
    if isinstance(entry, dict) and [entry.get("inode"), entry.get("size"), entry.get("mtime_ns")] == list(key[1:]):
        sha = entry.get("sha256")
        if isinstance(sha, str) and len(sha) == 64:
            return sha
    return None


def _persist(sidecar: Path | None, key: tuple[str, int, int, int], sha: str) -> None:
    """Record a hash (read, add, atomic replace). Two processes racing may drop each other's entry: it is hashed
    again next time, never wrong. A cache that cannot be written is skipped silently."""
    if sidecar is None:
        return
    entries = _read_sidecar(sidecar)
    entries[key[0]] = {"inode": key[1], "size": key[2], "mtime_ns": key[3], "sha256": sha}
    try:
        write_atomic(sidecar, json.dumps(entries, indent=0, sort_keys=True) + "\n")
    except Exception:  # noqa: BLE001 - write_atomic turns OSError into a JanusEvalError; a cache is optional
        pass


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    """A file's sha256, read once per (path, inode, size, mtime_ns): in this process, and for big files across
    processes and ranks through a sidecar in the user cache, so a relaunch does not re-read a whole checkpoint.
    A file whose size, mtime or inode changed is hashed again."""
    stat = path.stat()
    key = (str(Path(path).resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if key not in _SHA256_CACHE:
        sidecar = _sidecar() if stat.st_size >= PERSIST_MIN_BYTES else None
        sha = _persisted(sidecar, key)
        if sha is None:
            sha = _sha256_uncached(path, chunk)
            _persist(sidecar, key, sha)
        _SHA256_CACHE[key] = sha
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
