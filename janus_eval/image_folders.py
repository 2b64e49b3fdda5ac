"""Folders of images generated outside janus-eval, read in each benchmark's layout, for ``janus-eval score --images``.

Each reader checks the folder strictly (a silently skipped or misnamed image would change the number
without anyone noticing) and returns the images grouped by prompt, in the benchmark's order, with the
ids a ``janus-eval run`` gives the same images. Layouts:

- ``geneval``: GenEval's official layout, what its ``generation/diffusers_generate.py`` writes and its
  ``evaluate_images.py`` reads: ``DIR/<digits>/metadata.jsonl`` (one JSON object, the prompt's line of
  ``evaluation_metadata.jsonl``) and ``DIR/<digits>/samples/<digits>.png``. As in the official
  evaluator, only all-digit folder names and ``<digits>.png`` sample names count (``grid.png`` and other
  files are ignored). Each metadata must equal the official record of its prompt, each prompt appears
  once, and every prompt folder holds the same number of images (4 in the protocol). Image id:
  ``<folder>/<file stem>`` (``00012/00003``).
- ``coco30k``: ``DIR/<name>.png|.jpg|.jpeg``, flat, one image per COCO val2014 image of the documented
  30K caption sample (``tasks/coco30k.py``; with ``--data-root`` the real one, without it the bundled
  fixture), named by that image id: ``42.png``, ``000000000042.png`` (what ``janus-eval run`` writes)
  or ``COCO_val2014_000000000042.jpg`` (the real image's name). Image id: the COCO image id.
- ``mjhq30k``: MJHQ-30K's own layout, ``DIR/<category>/<id>.png|.jpg|.jpeg`` with ``<id>`` a key of
  ``meta_data.json`` whose category is the folder's (hidden folders are ignored, any other folder is
  an error). Image id: the MJHQ id.

Fewer images than the benchmark is a subset (recorded, and marked in tables); an image of an id the
benchmark does not have, an id twice, or an image that does not decode is an error naming the file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from janus_eval.errors import JanusEvalError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
GENEVAL_SAMPLE = re.compile(r"\d+\.png")
COCO_NAME = re.compile(r"(?:COCO_val2014_)?(\d+)", re.IGNORECASE)
GENEVAL_LAYOUT = "<DIR>/00000/metadata.jsonl and <DIR>/00000/samples/00000.png (GenEval's layout)"


@dataclass(frozen=True)
class FolderImage:
    """One image to score: its record id, the prompt it was made from, its file, and its prompt's index in ``docs``."""

    id: str
    prompt: str
    path: Path
    doc_index: int


@dataclass
class ImageFolder:
    """The images of a folder, grouped by prompt in benchmark order; ``dataset_size``: images in the whole benchmark."""

    root: Path
    docs: list[dict[str, Any]]
    images: list[FolderImage]
    dataset_size: int
    layout: dict[str, Any] = field(default_factory=dict)
    """Facts about the folder for the task card (layout, images per prompt)."""

    def groups(self) -> list[list[FolderImage]]:
        """Each prompt's images together: a batched scorer sees the same batch as in a run."""
        grouped: dict[int, list[FolderImage]] = {}
        for image in self.images:
            grouped.setdefault(image.doc_index, []).append(image)
        return [grouped[i] for i in sorted(grouped)]


def _check_root(root: Path, layout: str) -> None:
    if not root.exists():
        raise JanusEvalError(f"--images {root} does not exist; expected {layout}")
    if not root.is_dir():
        raise JanusEvalError(f"--images {root} is not a folder; expected {layout}")


def check_image(path: Path) -> None:
    """The file opens as an image and passes PIL's integrity check (a torn PNG fails its CRC)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.verify()
    except Exception as err:  # noqa: BLE001 - PIL raises many types for a bad file; all mean "not an image"
        raise JanusEvalError(f"{path} is not a readable image ({type(err).__name__}: {err})") from None


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _by_id(found: dict[str, Path], doc_id: str, path: Path) -> None:
    if doc_id in found:
        raise JanusEvalError(f"{path} and {found[doc_id]} are both the image of id {doc_id!r}; keep one")
    found[doc_id] = path


# -- GenEval ----------------------------------------------------------------------------------------
def read_geneval(root: Path, official: list[dict[str, Any]]) -> ImageFolder:
    """GenEval's layout; ``official``: the 553 records of ``evaluation_metadata.jsonl``, in order."""
    _check_root(root, GENEVAL_LAYOUT)
    index = {doc["prompt"]: i for i, doc in enumerate(official)}
    folders = sorted((p for p in root.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: (int(p.name), p.name))
    if not folders:
        raise JanusEvalError(f"--images {root} holds no prompt folder; expected {GENEVAL_LAYOUT}")
    docs, images, seen, counts = [], [], {}, {}
    for folder in folders:
        doc = _geneval_metadata(folder, official, index)
        if doc["prompt"] in seen:
            raise JanusEvalError(f"{folder} and {seen[doc['prompt']]} hold the same prompt {doc['prompt']!r}")
        seen[doc["prompt"]] = folder
        samples = folder / "samples"
        files = sorted(p for p in samples.iterdir() if p.is_file() and GENEVAL_SAMPLE.fullmatch(p.name)) if samples.is_dir() else []
        if not files:
            raise JanusEvalError(f"{samples} holds no image <digits>.png; expected {GENEVAL_LAYOUT}")
        counts[folder.name] = len(files)
        for path in files:
            images.append(FolderImage(f"{folder.name}/{path.stem}", doc["prompt"], path, len(docs)))
        docs.append(doc)
    if len(set(counts.values())) > 1:
        shown = ", ".join(f"{name}: {n}" for name, n in list(counts.items())[:4])
        raise JanusEvalError(f"--images {root}: prompt folders hold different numbers of images ({shown}, ...); "
                             f"GenEval scores the same number per prompt (4)")  # fmt: skip
    per_prompt = next(iter(counts.values()))
    return ImageFolder(root, docs, images, len(official) * per_prompt,
                       {"layout": "geneval", "images_per_prompt": per_prompt, "prompts": len(docs)})  # fmt: skip


def _geneval_metadata(folder: Path, official: list[dict[str, Any]], index: dict[str, int]) -> dict[str, Any]:
    path = folder / "metadata.jsonl"
    if not path.is_file():
        raise JanusEvalError(f"{folder} has no metadata.jsonl; expected {GENEVAL_LAYOUT}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise JanusEvalError(f"{path} is not one JSON object (GenEval's prompt record): {err}") from None
    prompt = doc.get("prompt") if isinstance(doc, dict) else None
    if not isinstance(prompt, str) or prompt not in index:
        raise JanusEvalError(f"{path}: prompt {prompt!r} is not one of GenEval's {len(official)} prompts "
                             f"(evaluation_metadata.jsonl)")  # fmt: skip
    if doc != official[index[prompt]]:
        raise JanusEvalError(f"{path} differs from GenEval's record for {prompt!r} in evaluation_metadata.jsonl")
    return doc


# -- COCO-30K ---------------------------------------------------------------------------------------
def read_coco30k(root: Path, pairs: list[dict[str, Any]]) -> ImageFolder:
    """A flat folder of images named by COCO image id; ``pairs``: the task's caption sample, in order."""
    layout = "<DIR>/<COCO image id>.png (e.g. 000000000042.png or COCO_val2014_000000000042.jpg)"
    _check_root(root, layout)
    order = {str(pair["image_id"]): i for i, pair in enumerate(pairs)}
    found: dict[str, Path] = {}
    for path in _image_files(root):
        match = COCO_NAME.fullmatch(path.stem)
        if match is None:
            raise JanusEvalError(f"{path}: the name carries no COCO image id; expected {layout}")
        image_id = str(int(match.group(1)))
        if image_id not in order:
            raise JanusEvalError(f"{path}: COCO image {image_id} is not in the COCO-30K caption sample "
                                 f"({len(pairs):,} val2014 images; see the coco30k task's documentation)")  # fmt: skip
        _by_id(found, image_id, path)
    if not found:
        raise JanusEvalError(f"--images {root} holds no .png/.jpg image; expected {layout}")
    ids = sorted(found, key=order.__getitem__)
    docs = [pairs[order[i]] for i in ids]
    images = [FolderImage(i, " ".join(doc["caption"].split()), found[i], n) for n, (i, doc) in enumerate(zip(ids, docs))]
    return ImageFolder(root, docs, images, len(pairs), {"layout": "coco30k", "naming": "COCO image id"})


# -- MJHQ-30K ---------------------------------------------------------------------------------------
def read_mjhq30k(root: Path, entries: list[dict[str, Any]], categories: tuple[str, ...]) -> ImageFolder:
    """``<DIR>/<category>/<id>.png|jpg``; ``entries``: ``meta_data.json`` as the task loads it, in order."""
    layout = "<DIR>/<category>/<id>.png or .jpg (MJHQ-30K's layout)"
    _check_root(root, layout)
    loose = _image_files(root)
    if loose:
        raise JanusEvalError(f"{loose[0]} is not in a category folder; expected {layout}")
    order = {entry["id"]: i for i, entry in enumerate(entries)}
    found: dict[str, Path] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):  # .ipynb_checkpoints
        if folder.name not in categories:
            raise JanusEvalError(f"{folder}: {folder.name!r} is not an MJHQ-30K category ({', '.join(categories)})")
        for path in _image_files(folder):
            entry = entries[order[path.stem]] if path.stem in order else None
            if entry is None:
                raise JanusEvalError(f"{path}: id {path.stem!r} is not in MJHQ-30K's meta_data.json")
            if entry["category"] != folder.name:
                raise JanusEvalError(f"{path}: id {path.stem!r} is in category {entry['category']!r}, not {folder.name!r}")
            _by_id(found, path.stem, path)
    if not found:
        raise JanusEvalError(f"--images {root} holds no .png/.jpg image; expected {layout}")
    ids = sorted(found, key=order.__getitem__)
    docs = [entries[order[i]] for i in ids]
    images = [FolderImage(i, doc["prompt"], found[i], n) for n, (i, doc) in enumerate(zip(ids, docs))]
    return ImageFolder(root, docs, images, len(entries), {"layout": "mjhq30k", "naming": "<category>/<id>"})


def check_images(folder: ImageFolder) -> None:
    """Every image decodes, checked before any scorer runs (a bad file fails fast, naming itself)."""
    for image in folder.images:
        check_image(image.path)
