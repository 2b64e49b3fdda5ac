"""``janus-eval download``: fetch every dataset and weight file into the ``--data-root`` layout.

Everything else in janus-eval reads local paths only; this module is the one place that touches
the network. What each benchmark needs is the ``CATALOGUE`` below (plain data, one entry per task
or weight), so the table in the README, ``--dry-run`` and the fetch itself cannot drift apart.

HTTP files go through stdlib ``urllib``: written to ``<file>.part``, resumed with a ``Range``
request (a server that ignores it restarts the file), verified against the known size and digest,
then renamed into place; archives are unpacked only after they verified. Hugging Face repos go
through ``huggingface_hub.snapshot_download`` (optional extra ``janus-eval[download]``), restricted
to the files the loaders read; a marker file records a finished snapshot so a rerun offline skips it.
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

# -- the catalogue ---------------------------------------------------------------------------------
# Sizes are exact byte counts where a checksum-bearing source confirmed them; `size_hint` is for
# display only (Hugging Face repos, whose file list the hub resolves). Digests: `md5`/`sha256` are
# full digests; `sha256_prefix` is the 8-hex-digit prefix a publisher put in the file name
# (mmdetection's and torch.hub's convention), checked as a prefix of the file's sha256.
CATALOGUE: dict[str, dict[str, Any]] = {
    # Understanding benchmarks: lmms-lab Hugging Face dataset repos, only the split the task reads.
    "vqav2": {"items": [{"hub": "lmms-lab/VQAv2", "dest": "VQAv2", "allow": ["data/validation-*.parquet"]}]},
    "gqa": {"items": [{"hub": "lmms-lab/GQA", "dest": "GQA", "allow": [
        "testdev_balanced_instructions/testdev-*.parquet", "testdev_balanced_images/testdev-*.parquet"]}]},
    "pope": {"items": [{"hub": "lmms-lab/POPE", "dest": "POPE", "allow": ["data/test-*.parquet"]}]},
    "mme": {"items": [{"hub": "lmms-lab/MME", "dest": "MME", "allow": ["data/test-*.parquet"]}]},
    "seed": {"items": [{"hub": "lmms-lab/SEED-Bench", "dest": "SEED-Bench", "allow": ["data/test-*.parquet"]}]},
    "mmbench": {"items": [{"hub": "lmms-lab/MMBench", "dest": "MMBench", "allow": ["en/dev-*.parquet"]}]},
    "mmvet": {"items": [{"hub": "lmms-lab/MMVet", "dest": "MMVet", "allow": ["data/test-*.parquet"]}]},
    "mmmu": {"items": [{"hub": "lmms-lab/MMMU", "dest": "MMMU", "allow": ["data/validation-*.parquet"]}]},
    # Generation benchmarks.
    "geneval": {"items": [], "note": "prompt metadata is bundled with janus-eval: nothing to fetch",
                "weights": ["mask2former", "clip"]},  # fmt: skip
    "coco30k": {"weights": ["inception-clean-fid", "inception-torch-fidelity"], "items": [
        {"url": "http://images.cocodataset.org/zips/val2014.zip", "dest": "coco2014/val2014.zip",
         "size": 6_645_013_297, "md5": "a3d79f5ed8d289b7a7554ce06a5782b3",
         "extract": {"into": "coco2014", "provides": "coco2014/val2014"}},
        {"url": "http://images.cocodataset.org/annotations/annotations_trainval2014.zip",
         "dest": "coco2014/annotations_trainval2014.zip", "size": 252_872_794, "md5": "0a379cfc70b0e71301e0f377548639bd",
         "extract": {"into": "coco2014", "members": ["annotations/captions_val2014.json"],
                     "provides": "coco2014/annotations/captions_val2014.json"}},
    ]},  # fmt: skip
    "mjhq30k": {"weights": ["inception-clean-fid", "inception-torch-fidelity"], "items": [
        {"hub": "playgroundai/MJHQ-30K", "dest": "MJHQ-30K", "allow": ["meta_data.json", "mjhq30k_imgs.zip"],
         "extract": {"archive": "MJHQ-30K/mjhq30k_imgs.zip", "into": "MJHQ-30K/mjhq30k_imgs",
                     "provides": "MJHQ-30K/mjhq30k_imgs/<category>/<id>.jpg"}},
    ]},  # fmt: skip
}

WEIGHTS: dict[str, dict[str, Any]] = {
    # The StyleGAN2-ADA TorchScript port of the TF FID Inception, as clean-fid downloads it.
    "inception-clean-fid": {
        "url": "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt",
        "dest": "weights/inception-2015-12-05.pt", "size": 95_607_719,
        "sha256": "f58cb9b6ec323ed63459aa4fb441fe750cfe39fafad6da5cb504a16f19e958f4"},
    # torch-fidelity's port of the same network (release v0.2.0 asset).
    "inception-torch-fidelity": {
        "url": "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
        "dest": "weights/weights-inception-2015-12-05-6726825d.pth", "size": 95_628_359,
        "sha256": "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"},
    # GenEval's detector: mmdetection 2.x Mask2Former Swin-S COCO. Size not confirmed; the name
    # carries the first 8 hex digits of its sha256.
    "mask2former": {
        "url": "https://download.openmmlab.com/mmdetection/v2.0/mask2former/mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco/"
               "mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco_20220504_001756-743b7d99.pth",
        "dest": "weights/mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco_20220504_001756-743b7d99.pth",
        "sha256_prefix": "743b7d99", "size_hint": "~0.3 GB"},
    # GenEval's colour classifier: OpenAI CLIP ViT-L/14, transformers format, safetensors only.
    "clip": {"hub": "openai/clip-vit-large-patch14", "repo_type": "model", "dest": "weights/clip-vit-large-patch14",
             "allow": ["*.json", "*.txt", "model.safetensors"], "size_hint": "~1.7 GB"},
}  # fmt: skip

JANUS_MODELS: dict[str, dict[str, Any]] = {
    name: {"hub": f"deepseek-ai/{name}", "repo_type": "model", "dest": f"weights/{name}",
           "allow": ["*.json", "*.safetensors", "*.bin", "*.model", "*.txt"]}
    for name in ("Janus-1.3B", "Janus-Pro-1B", "Janus-Pro-7B")
}  # fmt: skip
DEFAULT_MODELS = ("Janus-1.3B",)


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


def _parse(purpose: str, entry: dict[str, Any]) -> HttpFile | HubRepo:
    extract = entry.get("extract")
    if extract is not None:
        extract = Extract(
            archive=extract.get("archive", entry["dest"]), into=extract["into"], provides=extract["provides"],
            members=tuple(extract.get("members", ())), remove_archive="archive" not in extract,
        )  # fmt: skip
    if "hub" in entry:
        allow = entry.get("allow")
        return HubRepo(purpose=purpose, repo_id=entry["hub"], dest=entry["dest"], repo_type=entry.get("repo_type", "dataset"),
                       allow=tuple(allow) if allow else None, size_hint=entry.get("size_hint"), extract=extract)  # fmt: skip
    return HttpFile(purpose=purpose, url=entry["url"], dest=entry["dest"], size=entry.get("size"), md5=entry.get("md5"),
                    sha256=entry.get("sha256"), sha256_prefix=entry.get("sha256_prefix"),
                    size_hint=entry.get("size_hint"), extract=extract)  # fmt: skip


def _split(names: str | None) -> list[str]:
    return [n.strip() for n in (names or "").split(",") if n.strip()]


def build_plan(tasks: str | None, weights: bool = False, models: str | None = None) -> list[Item]:
    """What to fetch for ``tasks`` (comma-separated or ``all``), plus weights with ``weights``/``models``.

    ``weights`` adds the evaluation weights the tasks need and the Janus checkpoints in ``models``
    (default Janus-1.3B); naming ``models`` alone fetches just those checkpoints.
    """
    from janus_eval.registry import SUITE, check_name

    names = list(SUITE) if (tasks or "").strip() == "all" else _split(tasks)
    for name in names:
        check_name(name)
    model_names = list(JANUS_MODELS) if (models or "").strip() == "all" else _split(models)
    for name in model_names:
        if name not in JANUS_MODELS:
            raise JanusEvalError(f"unknown model {name!r} for --models; expected one of: {', '.join(JANUS_MODELS)}, all")
    if not names and not weights and not model_names:
        raise JanusEvalError("nothing to download: pass --tasks (e.g. pope,coco30k or all) and/or --weights")
    plan: list[Item] = []
    weight_keys: list[str] = []
    for name in names:
        entry = CATALOGUE[name]
        if not entry["items"]:
            plan.append(Nothing(purpose=name, note=entry.get("note", "nothing to fetch")))
        plan.extend(_parse(name, item) for item in entry["items"])
        weight_keys += [k for k in entry.get("weights", ()) if k not in weight_keys]
    if weights:
        plan.extend(_parse(f"weights:{key}", WEIGHTS[key]) for key in weight_keys)
    for name in model_names or (list(DEFAULT_MODELS) if weights else []):
        plan.append(_parse(f"weights:{name}", JANUS_MODELS[name]))
    return plan


# -- status and the dry-run table ------------------------------------------------------------------
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


def status(item: Item, data_root: Path) -> str:
    """``done``, ``partial (N bytes)`` (a .part to resume), ``unverified`` (files without our marker) or ``missing``."""
    if isinstance(item, Nothing):
        return "bundled"
    if isinstance(item, HubRepo):
        dest = data_root / item.dest
        if (dest / DONE_MARKER).is_file() and (item.extract is None or _extracted(item.extract, data_root)):
            return "done"
        return "unverified" if dest.is_dir() and any(dest.iterdir()) else "missing"
    if item.extract is not None:
        if _extracted(item.extract, data_root):
            return "done"
        if _placed_by_hand(item.extract, data_root):
            return "present (placed by hand; not verified)"
    elif (data_root / item.dest).is_file():
        return "present (verify on fetch)"
    part = _part(data_root / item.dest)
    if part.is_file():
        return f"partial ({part.stat().st_size} bytes)"
    return "missing"


def plan_rows(plan: list[Item], data_root: Path) -> list[tuple[str, str, str, str, str]]:
    """Rows ``(for, source, size, destination, status)`` of the dry-run table."""
    rows = []
    for item in plan:
        if isinstance(item, Nothing):
            rows.append((item.purpose, item.note, "-", "-", "bundled"))
            continue
        rows.append((item.purpose, item.source, size_text(item), str(data_root / item.target), status(item, data_root)))
    return rows


# -- HTTP --------------------------------------------------------------------------------------------
class DownloadError(JanusEvalError):
    """A fetch that failed verification or could not complete; nothing is left at the destination."""


class _Truncated(Exception):
    """The connection ended before the announced length: keep the .part and resume."""


def _part(dest: Path) -> Path:
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
    if item.extract is not None and _extracted(item.extract, data_root):
        return "done"
    if item.extract is not None and _placed_by_hand(item.extract, data_root) and not _part(dest).exists():
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
    part = _part(dest)
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


def _extracted(extract: Extract, data_root: Path) -> bool:
    return _marker(extract, data_root).is_file()


def _placed_by_hand(extract: Extract, data_root: Path) -> bool:
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


def fetch_hub(item: HubRepo, data_root: Path, log: Log = print) -> str:
    """Snapshot the repo's allowed files into place; a marker makes reruns skip it without the network."""
    dest = data_root / item.dest
    marker = dest / DONE_MARKER
    recorded = json.loads(marker.read_text()) if marker.is_file() else None
    if recorded is None or recorded.get("repo_id") != item.repo_id or recorded.get("allow") != list(item.allow or []):
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
    if item.extract is not None and not _extracted(item.extract, data_root):
        if not (data_root / item.extract.archive).is_file():
            raise DownloadError(f"{item.repo_id}: {data_root / item.extract.archive} is missing; delete {marker} and rerun")
        _extract(item.extract, data_root, log)
        fetched = "fetched"
    return fetched


# -- the whole plan ----------------------------------------------------------------------------------
def fetch(plan: list[Item], data_root: Path, log: Log = print) -> list[tuple[Item, str]]:
    """Fetch every item in order; the first failure stops with a one-line error."""
    data_root.mkdir(parents=True, exist_ok=True)
    results = []
    for item in plan:
        if isinstance(item, Nothing):
            results.append((item, "bundled"))
            continue
        log(f"{item.purpose}: {item.source} -> {data_root / item.target}")
        outcome = fetch_hub(item, data_root, log) if isinstance(item, HubRepo) else fetch_http(item, data_root, log)
        results.append((item, outcome))
    return results
