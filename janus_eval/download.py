"""``janus-eval download``: fetch every dataset and weight file into the ``--data-root`` layout.

Everything else in janus-eval reads local paths only; this module is the one place that touches
the network. What each benchmark needs is the ``CATALOGUE`` below (plain data, one entry per task
or weight), so the table in the README, ``--dry-run`` and the fetch itself cannot drift apart.
How each item reaches the disk (HTTP with resume and verification, archives, Hugging Face snapshots)
is ``janus_eval.transfer``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from janus_eval.errors import JanusEvalError
from janus_eval.transfer import (
    Extract,
    HttpFile,
    HubRepo,
    Item,
    Log,
    Nothing,
    extracted,
    fetch_http,
    fetch_hub,
    hub_snapshot_done,
    part_path,
    placed_by_hand,
    size_text,
)

# -- the catalogue ---------------------------------------------------------------------------------
# Sizes are exact byte counts where a checksum-bearing source confirmed them; `size_hint` is for
# display only (Hugging Face repos, whose file list the hub resolves). Digests: `md5`/`sha256` are
# full digests; `sha256_prefix` is the 8-hex-digit prefix a publisher put in the file name
# (mmdetection's and torch.hub's convention), checked as a prefix of the file's sha256.
CATALOGUE: dict[str, dict[str, Any]] = {
    # Understanding benchmarks: lmms-lab Hugging Face dataset repos, only the split the task reads.
    # "{split}": the task's split, or the one `download -T vqav2.split=testdev` names.
    "vqav2": {"items": [{"hub": "lmms-lab/VQAv2", "dest": "VQAv2", "allow": ["data/{split}-*.parquet"]}]},
    "gqa": {"items": [{"hub": "lmms-lab/GQA", "dest": "GQA", "allow": [
        "testdev_balanced_instructions/testdev-*.parquet", "testdev_balanced_images/testdev-*.parquet"]}]},
    "pope": {"items": [{"hub": "lmms-lab/POPE", "dest": "POPE", "allow": ["data/test-*.parquet"]}]},
    "mme": {"items": [{"hub": "lmms-lab/MME", "dest": "MME", "allow": ["data/test-*.parquet"]}]},
    "seed": {"items": [{"hub": "lmms-lab/SEED-Bench", "dest": "SEED-Bench", "allow": ["data/test-*.parquet"]}]},
    "mmbench": {"items": [{"hub": "lmms-lab/MMBench", "dest": "MMBench", "allow": ["en/{split}-*.parquet"]}]},
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


def _parse(purpose: str, entry: dict[str, Any], split: str | None = None) -> HttpFile | HubRepo:
    extract = entry.get("extract")
    if extract is not None:
        extract = Extract(
            archive=extract.get("archive", entry["dest"]), into=extract["into"], provides=extract["provides"],
            members=tuple(extract.get("members", ())), remove_archive="archive" not in extract,
        )  # fmt: skip
    if "hub" in entry:
        allow = [pattern.format(split=split) for pattern in entry.get("allow") or ()]
        return HubRepo(purpose=purpose, repo_id=entry["hub"], dest=entry["dest"], repo_type=entry.get("repo_type", "dataset"),
                       allow=tuple(allow) if allow else None, size_hint=entry.get("size_hint"), extract=extract)  # fmt: skip
    return HttpFile(purpose=purpose, url=entry["url"], dest=entry["dest"], size=entry.get("size"), md5=entry.get("md5"),
                    sha256=entry.get("sha256"), sha256_prefix=entry.get("sha256_prefix"),
                    size_hint=entry.get("size_hint"), extract=extract)  # fmt: skip


def _split(names: str | None) -> list[str]:
    return [n.strip() for n in (names or "").split(",") if n.strip()]


def build_plan(tasks: str | None, weights: bool = False, models: str | None = None,
               task_options: dict[str, dict[str, str]] | None = None) -> list[Item]:  # fmt: skip
    """What to fetch for ``tasks`` (comma-separated or ``all``), plus weights with ``weights``/``models``.

    ``weights`` adds the evaluation weights the tasks need and the Janus checkpoints in ``models``
    (default Janus-1.3B); naming ``models`` alone fetches just those checkpoints. ``task_options`` may
    choose a task's split (``{"vqav2": {"split": "testdev"}}``, from ``-T``), as ``run`` does.
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
    splits = _splits(names, task_options or {})
    plan: list[Item] = []
    weight_keys: list[str] = []
    for name in names:
        entry = CATALOGUE[name]
        if not entry["items"]:
            plan.append(Nothing(purpose=name, note=entry.get("note", "nothing to fetch")))
        plan.extend(_parse(name, item, splits[name]) for item in entry["items"])
        weight_keys += [k for k in entry.get("weights", ()) if k not in weight_keys]
    if weights:
        plan.extend(_parse(f"weights:{key}", WEIGHTS[key]) for key in weight_keys)
    for name in model_names or (list(DEFAULT_MODELS) if weights else []):
        plan.append(_parse(f"weights:{name}", JANUS_MODELS[name]))
    return plan


def _splits(names: list[str], task_options: dict[str, dict[str, str]]) -> dict[str, str]:
    """Each task's split: its default, or the one ``-T <task>.split=`` chose (checked as ``run`` checks it)."""
    from janus_eval.registry import get_task

    for name, options in task_options.items():
        if name not in names:
            raise JanusEvalError(f"-T option for task {name!r}, which is not in --tasks {','.join(names)}")
        if set(options) - {"split"}:
            raise JanusEvalError(f"-T {name}.{next(iter(set(options) - {'split'}))}: download takes only -T TASK.split=SPLIT")
    splits = {}
    for name in names:
        task = get_task(name)
        task.configure(**task_options.get(name, {}))
        splits[name] = task.split
    return splits


# -- status and the dry-run table ------------------------------------------------------------------
def status(item: Item, data_root: Path) -> str:
    """``done``, ``partial (N bytes)`` (a .part to resume), ``unverified`` (files without our marker) or ``missing``."""
    if isinstance(item, Nothing):
        return "bundled"
    if isinstance(item, HubRepo):
        dest = data_root / item.dest
        if hub_snapshot_done(item, data_root) and (item.extract is None or extracted(item.extract, data_root)):
            return "done"
        return "unverified" if dest.is_dir() and any(dest.iterdir()) else "missing"
    if item.extract is not None:
        if extracted(item.extract, data_root):
            return "done"
        if placed_by_hand(item.extract, data_root):
            return "present (placed by hand; not verified)"
    elif (data_root / item.dest).is_file():
        return "present (verify on fetch)"
    part = part_path(data_root / item.dest)
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
