"""How one item of a download plan reaches ``--data-root``: the plan items, HTTP, archives, Hugging Face.

HTTP files go through stdlib ``urllib``: written to ``<file>.part``, resumed with a ``Range``
request (a server that ignores it restarts the file), verified against the known size and digest,
then renamed into place; archives are unpacked only after they verified. Hugging Face repos go
through ``huggingface_hub.snapshot_download`` (optional extra ``janus-eval[download]``), restricted
to the files the loaders read; a marker file records a finished snapshot so a rerun offline skips it.
``janus_eval.download`` makes the plan and runs it.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import socket
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Union

from janus_eval.errors import JanusEvalError

Log = Callable[[str], None]
DONE_MARKER = ".janus-eval-download.json"
HF_HINT = "pip install 'janus-eval[download]'"


# -- plan items ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Extract:
    """Unpack ``archive`` (relative to DATA) into ``into``, keeping only ``members`` when given."""

    archive: str
    into: str
    provides: str
    members: tuple[str, ...] = ()
    remove_archive: bool = True


@dataclass(frozen=True)
class HttpFile:
    """One file from a plain URL, verified by size and digest where known."""

    purpose: str
    url: str
    dest: str
    size: int | None = None
    md5: str | None = None
    sha256: str | None = None
    sha256_prefix: str | None = None
    size_hint: str | None = None
    extract: Extract | None = None

    @property
    def source(self) -> str:
        return self.url

    @property
    def target(self) -> str:
        return self.extract.provides if self.extract else self.dest


@dataclass(frozen=True)
class HubRepo:
    """A snapshot of a Hugging Face repo into ``dest``, limited to ``allow`` patterns."""

    purpose: str
    repo_id: str
    dest: str
    repo_type: str = "dataset"
    allow: tuple[str, ...] | None = None
    size_hint: str | None = None
    extract: Extract | None = None

    @property
    def source(self) -> str:
        patterns = f" [{', '.join(self.allow)}]" if self.allow else ""
        kind = "dataset " if self.repo_type == "dataset" else ""
        return f"hf {kind}{self.repo_id}{patterns}"

    @property
    def target(self) -> str:
        return self.extract.provides if self.extract else self.dest


@dataclass(frozen=True)
class Nothing:
    """A task whose data ships with janus-eval."""

    purpose: str
    note: str


Item = Union[HttpFile, HubRepo, Nothing]


def _human(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def size_text(item: Item) -> str:
    if isinstance(item, Nothing):
        return "-"
    exact = getattr(item, "size", None)
    if exact:
        return _human(exact)
    if item.size_hint:
        return item.size_hint
    return "hub-resolved" if isinstance(item, HubRepo) else "unknown"


# -- HTTP --------------------------------------------------------------------------------------------
class DownloadError(JanusEvalError):
    """A fetch that failed verification or could not complete; nothing is left at the destination."""


class _Truncated(Exception):
    """The connection ended before the announced length: keep the .part and resume."""


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _digests(path: Path, chunk: int = 1 << 22) -> tuple[str, str]:
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            md5.update(block)
            sha.update(block)
    return md5.hexdigest(), sha.hexdigest()


def verify(item: HttpFile, path: Path) -> str | None:
    """Why ``path`` is not the file ``item`` describes, or None when it checks out."""
    size = path.stat().st_size
    if item.size is not None and size != item.size:
        return f"size {size} bytes, expected {item.size}"
    if item.md5 or item.sha256 or item.sha256_prefix:
        md5, sha = _digests(path)
        if item.md5 and md5 != item.md5:
            return f"md5 {md5}, expected {item.md5}"
        if item.sha256 and sha != item.sha256:
            return f"sha256 {sha}, expected {item.sha256}"
        if item.sha256_prefix and not sha.startswith(item.sha256_prefix):
            return f"sha256 {sha}, expected one starting with {item.sha256_prefix}"
    return None


def _unreachable(item: HttpFile, data_root: Path, err: BaseException) -> DownloadError:
    reason = getattr(err, "reason", err)
    size = f" ({size_text(item)})" if size_text(item) != "unknown" else ""
    return DownloadError(
        f"network unreachable ({reason}): fetch {item.url}{size} and put it at {data_root / item.dest}, "
        f"then rerun `janus-eval download` to verify{' and unpack' if item.extract else ''} it"
    )


def _transfer(url: str, part: Path, timeout: float, log: Log) -> None:
    """One request: append to ``part`` from its current size (206), or restart it (200)."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "janus-eval"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # nothing left past our offset: the .part is whole (or too long)
            return
        raise
    with response:
        mode = "wb"
        if offset and response.status == 206:
            start = (response.headers.get("Content-Range") or "").removeprefix("bytes ").split("-")[0]
            if not (start.isdigit() and int(start) == offset):
                part.unlink()  # bytes from an unknown offset: appending them would corrupt the file
                raise _Truncated(f"server answered range start {start!r} for offset {offset}; restarting")
            mode = "ab"
        elif offset:
            log(f"  {url}: server ignored the Range request; restarting from byte 0")
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        received = 0
        with open(part, mode) as handle:
            try:
                while True:
                    try:
                        block = response.read(1 << 20)
                    except (http.client.HTTPException, ConnectionError, TimeoutError) as err:
                        raise _Truncated(f"{type(err).__name__}: {err}") from err
                    if not block:
                        break
                    handle.write(block)
                    received += len(block)
            finally:
                handle.flush()
                os.fsync(handle.fileno())
        if expected is not None and received < expected:
            raise _Truncated(f"got {received} of {expected} bytes")


def fetch_http(item: HttpFile, data_root: Path, log: Log = print, attempts: int = 4, timeout: float = 60.0,
               backoff: float = 2.0) -> str:  # fmt: skip
    """Download ``item`` into place (resumable, verified, atomic); returns ``done``/``fetched``."""
    dest = data_root / item.dest
    if item.extract is not None and extracted(item.extract, data_root):
        return "done"
    if item.extract is not None and placed_by_hand(item.extract, data_root) and not part_path(dest).exists():
        log(f"  {data_root / item.extract.provides} is already there (not fetched by janus-eval; not verified): skipping")
        return "present"
    if dest.is_file():
        problem = verify(item, dest)
        if problem is None:
            if item.extract is not None:
                _extract(item.extract, data_root, log)
            return "done"
        log(f"  {dest} does not verify ({problem}); fetching it again")
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    if part.exists() and item.size is not None and part.stat().st_size > item.size:
        part.unlink()
    for attempt in range(1, attempts + 1):
        if item.size is not None and part.exists() and part.stat().st_size == item.size:
            break  # a whole .part from an earlier run: only verification is left
        try:
            _transfer(item.url, part, timeout, log)
            break
        except _Truncated as err:
            have = part.stat().st_size if part.exists() else 0
            if attempt == attempts:
                raise DownloadError(f"{item.url}: transfer interrupted {attempts} times ({err}); "
                                    f"rerun to resume from {part} ({have} bytes)") from err  # fmt: skip
            log(f"  {item.url}: interrupted at {have} bytes ({err}); resuming")
            time.sleep(backoff * attempt)
        except urllib.error.HTTPError as err:
            raise DownloadError(f"{item.url}: HTTP {err.code} {err.reason}; fetch it by hand into {dest}") from err
        except (urllib.error.URLError, ConnectionError, TimeoutError, socket.timeout) as err:
            raise _unreachable(item, data_root, err) from err
    if not part.exists():
        raise DownloadError(f"{item.url}: server sent nothing")
    problem = verify(item, part)
    if problem is not None:
        part.unlink()
        raise DownloadError(f"{item.url} failed verification ({problem}); removed the download, nothing was written to {dest}")
    os.replace(part, dest)
    if item.extract is not None:
        _extract(item.extract, data_root, log)
    return "fetched"


# -- archives ----------------------------------------------------------------------------------------
def _marker(extract: Extract, data_root: Path) -> Path:
    return data_root / extract.into / f".{PurePosixPath(extract.archive).name}.extracted"


def extracted(extract: Extract, data_root: Path) -> bool:
    return _marker(extract, data_root).is_file()


def placed_by_hand(extract: Extract, data_root: Path) -> bool:
    """The unpacked target already exists without our marker (e.g. a COCO copy unpacked by hand)."""
    if "<" in extract.provides:
        return False
    target = data_root / extract.provides
    return target.is_file() or (target.is_dir() and any(target.iterdir()))


def _safe_member(name: str) -> bool:
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts and "\\" not in name


def _extract(extract: Extract, data_root: Path, log: Log) -> None:
    """Unpack into a scratch folder beside the target, then move entries into place and mark it done."""
    archive = data_root / extract.archive
    into = data_root / extract.into
    into.mkdir(parents=True, exist_ok=True)
    scratch = into / f".{archive.name}.unpacking"
    shutil.rmtree(scratch, ignore_errors=True)
    log(f"  unpacking {archive} -> {into}")
    try:
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
            if extract.members:
                missing = sorted(set(extract.members) - set(names))
                if missing:
                    raise DownloadError(f"{archive} lacks {', '.join(missing)}")
                names = list(extract.members)
            bad = [n for n in names if not _safe_member(n)]
            if bad:
                raise DownloadError(f"{archive} has unsafe member paths, e.g. {bad[0]!r}; not unpacking it")
            for name in names:
                zf.extract(name, scratch)
    except zipfile.BadZipFile as err:
        shutil.rmtree(scratch, ignore_errors=True)
        raise DownloadError(f"{archive} is not a valid zip ({err})") from err
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    source = scratch
    entries = list(scratch.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and entries[0].name == into.name:
        source = entries[0]  # the archive wraps everything in a folder named like the target: drop it
    for entry in sorted(source.iterdir()):
        target = into / entry.name
        if target.is_dir() and entry.is_dir():
            _merge(entry, target)
        else:
            os.replace(entry, target)
    shutil.rmtree(scratch, ignore_errors=True)
    marker = {"archive": archive.name, "files": len(names)}
    from janus_eval.io import write_json

    write_json(_marker(extract, data_root), marker)
    if extract.remove_archive:
        archive.unlink(missing_ok=True)


def _merge(source: Path, target: Path) -> None:
    for entry in source.iterdir():
        dest = target / entry.name
        if entry.is_dir() and dest.is_dir():
            _merge(entry, dest)
        else:
            os.replace(entry, dest)


# -- Hugging Face ------------------------------------------------------------------------------------
def _snapshot_download() -> Callable[..., Any]:
    try:
        from huggingface_hub import snapshot_download
    except ImportError as err:
        raise JanusEvalError(f"fetching Hugging Face repos needs huggingface_hub: {HF_HINT}") from err
    return snapshot_download


def hub_snapshot_done(item: HubRepo, data_root: Path) -> bool:
    """Whether the marker says this repo was fetched with these very patterns (another split's are other files)."""
    marker = data_root / item.dest / DONE_MARKER
    recorded = json.loads(marker.read_text()) if marker.is_file() else {}
    return recorded.get("repo_id") == item.repo_id and recorded.get("allow") == list(item.allow or [])


def fetch_hub(item: HubRepo, data_root: Path, log: Log = print) -> str:
    """Snapshot the repo's allowed files into place; a marker makes reruns skip it without the network."""
    dest = data_root / item.dest
    marker = dest / DONE_MARKER
    if not hub_snapshot_done(item, data_root):
        snapshot_download = _snapshot_download()
        dest.mkdir(parents=True, exist_ok=True)
        log(f"  snapshot {item.repo_id} -> {dest}")
        try:
            snapshot_download(repo_id=item.repo_id, repo_type=item.repo_type, local_dir=str(dest),
                              allow_patterns=list(item.allow) if item.allow else None)  # fmt: skip
        except Exception as err:  # the hub raises many types; the user needs one line
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            patterns = " ".join(f"--include '{p}'" for p in item.allow or ())
            raise DownloadError(
                f"cannot fetch {item.repo_id} from the Hugging Face hub ({type(err).__name__}: {first}); fetch it with "
                f"`hf download {item.repo_id} --repo-type {item.repo_type} {patterns} --local-dir {dest}`".replace("  ", " ")
            ) from err
        files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file() and ".cache" not in p.parts
                       and p.name != DONE_MARKER)  # fmt: skip
        if not files:
            raise DownloadError(f"{item.repo_id}: no file matched {', '.join(item.allow or ())}; nothing was fetched into {dest}")
        from janus_eval.io import write_json

        write_json(marker, {"repo_id": item.repo_id, "repo_type": item.repo_type, "allow": list(item.allow or []), "files": files})
        fetched = "fetched"
    else:
        fetched = "done"
    if item.extract is not None and not extracted(item.extract, data_root):
        if not (data_root / item.extract.archive).is_file():
            raise DownloadError(f"{item.repo_id}: {data_root / item.extract.archive} is missing; delete {marker} and rerun")
        _extract(item.extract, data_root, log)
        fetched = "fetched"
    return fetched
