"""Read Hugging Face datasets offline: repo snapshots (parquet) or an already-populated `datasets` cache.

Rows keep their published column names. Image columns (``{"bytes", "path"}`` structs, or lists of
them) are left out of the docs and read lazily by row, so a 200k-row VQAv2 split does not have to
sit in memory as decoded bytes.
"""

from __future__ import annotations

import io
import os
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, UnidentifiedImageError

from janus_eval.contract import DatasetSpec
from janus_eval.errors import JanusEvalError
from janus_eval.hints import hf_download

FIXTURES = Path(__file__).parent / "fixtures"


def _is_image_type(t: pa.DataType) -> bool:
    if pa.types.is_struct(t):
        names = {t.field(i).name for i in range(t.num_fields)}
        return {"bytes", "path"} <= names
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _is_image_type(t.value_type)
    return False


class _Source:
    """One file of rows with lazy access to its image columns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.schema = self._schema()
        self.image_columns = [f.name for f in self.schema if _is_image_type(f.type)]
        self.meta_columns = [f.name for f in self.schema if f.name not in self.image_columns]

    def _schema(self) -> pa.Schema:
        raise NotImplementedError

    def read_meta(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def read_images(self, row: int) -> dict[str, Any]:
        raise NotImplementedError


class _ParquetSource(_Source):
    def __init__(self, path: Path) -> None:
        self.file = pq.ParquetFile(path)
        super().__init__(path)
        offsets, total = [], 0
        for rg in range(self.file.num_row_groups):
            offsets.append(total)
            total += self.file.metadata.row_group(rg).num_rows
        self._offsets = offsets
        self._cache: OrderedDict[int, pa.Table] = OrderedDict()

    def _schema(self) -> pa.Schema:
        return self.file.schema_arrow

    def read_meta(self) -> list[dict[str, Any]]:
        return self.file.read(columns=self.meta_columns).to_pylist()

    def read_images(self, row: int) -> dict[str, Any]:
        rg = max(i for i, start in enumerate(self._offsets) if start <= row)
        table = self._cache.get(rg)
        if table is None:
            table = self.file.read_row_group(rg, columns=self.image_columns)
            self._cache[rg] = table
            if len(self._cache) > 2:
                self._cache.popitem(last=False)
        return table.slice(row - self._offsets[rg], 1).to_pylist()[0]


class _ArrowSource(_Source):
    """An Arrow stream file from the `datasets` cache, memory-mapped."""

    def __init__(self, path: Path) -> None:
        with pa.memory_map(str(path)) as source:
            self.table = pa.ipc.open_stream(source).read_all()
        super().__init__(path)

    def _schema(self) -> pa.Schema:
        return self.table.schema

    def read_meta(self) -> list[dict[str, Any]]:
        return self.table.select(self.meta_columns).to_pylist()

    def read_images(self, row: int) -> dict[str, Any]:
        return self.table.select(self.image_columns).slice(row, 1).to_pylist()[0]


@dataclass
class DocSet:
    """The rows of one split: light docs in memory, images on demand."""

    docs: list[dict[str, Any]]
    files: list[Path]
    _sources: list[_Source]
    _locators: list[tuple[int, int]]

    def __len__(self) -> int:
        return len(self.docs)

    @classmethod
    def in_memory(cls, docs: list[dict[str, Any]], files: list[Path]) -> DocSet:
        """Rows that are not a parquet/arrow dataset (GenEval metadata, COCO captions)."""
        return cls(docs=docs, files=files, _sources=[], _locators=[])

    def full_doc(self, index: int) -> dict[str, Any]:
        """The doc with its image columns read back in."""
        if not self._sources:
            return self.docs[index]
        source, row = self._locators[index]
        src = self._sources[source]
        if not src.image_columns:
            return self.docs[index]
        return {**self.docs[index], **src.read_images(row)}


def _open(path: Path) -> _Source:
    try:
        return _ParquetSource(path) if path.suffix == ".parquet" else _ArrowSource(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise JanusEvalError(f"cannot read {path}: {err} (truncated or not a parquet/arrow file?)") from err


def docset_from_files(files: list[Path]) -> DocSet:
    sources = [_open(f) for f in files]
    docs: list[dict[str, Any]] = []
    locators: list[tuple[int, int]] = []
    for i, src in enumerate(sources):
        try:
            rows = src.read_meta()
        except (pa.ArrowException, UnicodeDecodeError, OSError) as err:
            raise JanusEvalError(f"cannot read the rows of {src.path}: {err} (corrupt, or text that is not UTF-8?)") from None
        docs.extend(rows)
        locators.extend((i, r) for r in range(len(rows)))
    return DocSet(docs=docs, files=files, _sources=sources, _locators=locators)


def _split_files(folder: Path, split: str) -> list[Path]:
    found = sorted(folder.glob(f"{split}-*.parquet")) + sorted(folder.glob(f"{split}.parquet"))
    return found


def _snapshot_files(root: Path, spec: DatasetSpec) -> list[Path]:
    """Parquet files of a dataset repo snapshot: ``<root>/data/`` for the default config, else ``<root>/<config>/``."""
    folders = [root / spec.config] if spec.config else [root / "data", root]
    for folder in folders:
        files = _split_files(folder, spec.split)
        if files:
            return files
    base = root / spec.config if spec.config else root
    return sorted(p for p in base.rglob(f"{spec.split}-*.parquet")) if base.is_dir() else []


def _norm(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


def _datasets_cache_dirs() -> list[Path]:
    if os.environ.get("HF_DATASETS_CACHE"):
        return [Path(os.environ["HF_DATASETS_CACHE"])]
    hf_home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
    return [hf_home / "datasets"]


def _cache_files(cache: Path, spec: DatasetSpec) -> list[Path]:
    """Arrow files of an already-populated `datasets` cache: ``<org>___<name>/<config>/<version>/<hash>/``."""
    if not cache.is_dir():
        return []
    wanted = {_norm(f"{org}___{spec.repo}") for org in spec.orgs}
    for entry in sorted(cache.iterdir()):
        if _norm(entry.name) not in wanted:
            continue
        config_dir = entry / (spec.config or "default")
        builds = sorted(config_dir.glob("*/*"), key=lambda p: p.stat().st_mtime, reverse=True)
        for build in builds:
            files = sorted(build.glob(f"*-{spec.split}.arrow")) + sorted(build.glob(f"*-{spec.split}-*.arrow"))
            if files:
                return files
    return []


_SHARD = re.compile(r"^(?P<stem>.+)-(?P<index>\d+)-of-(?P<count>\d+)(?P<suffix>\.[a-z]+)$")


def check_shards(files: list[Path], spec: DatasetSpec) -> list[Path]:
    """``files`` when each ``-NNNNN-of-MMMMM`` shard set among them is whole; a gap is an error naming the
    missing files, since a partial split would otherwise be scored and reported as the benchmark."""
    sets: dict[tuple[Path, str, str], list[re.Match[str]]] = {}
    for file in files:
        if match := _SHARD.match(file.name):
            sets.setdefault((file.parent, match["stem"], match["suffix"]), []).append(match)
    for (folder, stem, suffix), matches in sets.items():
        counts = sorted({int(m["count"]) for m in matches})
        if len(counts) > 1:
            raise JanusEvalError(f"{folder} mixes shard sets of {' and '.join(map(str, counts))} files for "
                                 f"{stem}{suffix}; keep one snapshot of {spec.dataset_id}")  # fmt: skip
        present, width, of = {int(m["index"]) for m in matches}, len(matches[0]["index"]), matches[0]["count"]
        missing = [f"{stem}-{i:0{width}d}-of-{of}{suffix}" for i in range(counts[0]) if i not in present]
        if missing:
            raise JanusEvalError(
                f"{spec.dataset_id} (split {spec.split}) is incomplete: {folder} lacks {', '.join(missing)}; "
                "fetch the whole split again (janus-eval download)"
            )
    return files


def find_dataset_files(spec: DatasetSpec, data_root: Path | None) -> list[Path]:
    """The split's files (every shard, checked), from the data root, a ``datasets`` cache or the fixture."""
    return check_shards(_find_dataset_files(spec, data_root), spec)


def _find_dataset_files(spec: DatasetSpec, data_root: Path | None) -> list[Path]:
    if data_root is None:
        if spec.fixture is None:
            raise JanusEvalError(f"{spec.dataset_id} has no bundled fixture; pass --data-root")
        files = _snapshot_files(FIXTURES / spec.fixture, spec)
        if not files:
            raise JanusEvalError(f"bundled fixture for {spec.dataset_id} is missing from {FIXTURES / spec.fixture}")
        return files
    data_root = Path(data_root)
    if not data_root.is_dir():
        raise JanusEvalError(f"--data-root {data_root} is not a directory")
    candidates = [data_root / spec.repo] + [data_root / org / spec.repo for org in spec.orgs]
    for root in candidates:
        if root.is_dir():
            files = _snapshot_files(root, spec)
            if files:
                return files
            config = f"{spec.config}/" if spec.config else "data/"
            raise JanusEvalError(
                f"{root} does not have the layout of {spec.dataset_id}: expected "
                f"{root}/{config}{spec.split}-*.parquet (a snapshot of the Hugging Face dataset repo)"
            )
    for cache in [data_root, *_datasets_cache_dirs()]:
        files = _cache_files(cache, spec)
        if files:
            return files
    raise JanusEvalError(
        f"dataset {spec.dataset_id} (split {spec.split}) not found: expected {data_root / spec.repo}/"
        f"{(spec.config or 'data')}/{spec.split}-*.parquet or a populated datasets cache; fetch it with "
        f"`janus-eval download` or {hf_download(spec.dataset_id, str(data_root / spec.repo), dataset=True)}"
    )


def load_docset(spec: DatasetSpec, data_root: Path | None) -> DocSet:
    docset = docset_from_files(find_dataset_files(spec, data_root))
    if not docset.docs:
        raise JanusEvalError(f"dataset {spec.dataset_id} (split {spec.split}) is empty in {docset.files[0].parent}")
    check_columns(docset, spec)
    return docset


def check_columns(docset: DocSet, spec: DatasetSpec) -> None:
    """Every file holds the columns the task reads, under their published names and of their published types."""
    for source in docset._sources:
        missing = [c for c in spec.columns if c not in source.schema.names]
        if missing:
            raise JanusEvalError(
                f"{source.path} lacks column(s) {', '.join(missing)} of {spec.dataset_id}; "
                f"it has {', '.join(source.schema.names) or 'none'} (not the published layout?)"
            )
        binary = [c for c in spec.columns if spec.column_type(c) == "text" and _is_binary(source.schema.field(c).type)]
        if binary:
            raise JanusEvalError(f"{source.path}: column(s) {', '.join(binary)} hold bytes, not text")
        wrong = [f"{c} is {source.schema.field(c).type}, expected {_TYPE_NAMES[spec.column_type(c)]}"
                 for c in spec.columns if not _has_type(source.schema.field(c).type, spec.column_type(c))]  # fmt: skip
        if wrong:
            raise JanusEvalError(f"{source.path}: column {'; column '.join(wrong)} ({spec.dataset_id}'s published schema)")


_TYPE_NAMES = {"text": "text (string)", "integer": "an integer", "id": "text or an integer",
               "image": "an image ({bytes, path} struct)", "images": "a list of images ({bytes, path} structs)"}  # fmt: skip


def _is_binary(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t)


def _has_type(t: pa.DataType, expected: str) -> bool:
    """Whether an arrow type holds what ``expected`` (a ``ColumnType``) names; a column of nulls only fits any."""
    if pa.types.is_null(t):
        return True
    text = pa.types.is_string(t) or pa.types.is_large_string(t)
    if expected == "text":
        return text
    if expected == "integer":
        return pa.types.is_integer(t)
    if expected == "id":
        return text or pa.types.is_integer(t)
    if expected == "image":
        return _is_image_type(t) and pa.types.is_struct(t)
    return _is_image_type(t) and not pa.types.is_struct(t)  # images: a list of image structs


def decode_image(value: Any, where: str) -> Image.Image:
    """A dataset image cell (``{"bytes", "path"}``, a path, or a PIL image) as an RGB PIL image."""
    try:
        if isinstance(value, Image.Image):
            image = value
        elif isinstance(value, dict) and value.get("bytes"):
            image = Image.open(io.BytesIO(value["bytes"]))
        elif isinstance(value, dict) and value.get("path"):
            image = Image.open(value["path"])
        elif isinstance(value, (str, Path)):
            image = Image.open(value)
        else:
            raise JanusEvalError(f"no image data in {where}")
        image.load()
        return image.convert("RGB")
    except UnidentifiedImageError:  # its message holds a BytesIO address, different on every run
        raise JanusEvalError(f"corrupt or unreadable image in {where}: not an image format Pillow recognises") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise JanusEvalError(f"corrupt or unreadable image in {where}: {err}") from err
