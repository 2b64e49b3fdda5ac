"""Our Mask2Former port against real mmdetection 2.x, on the official GenEval config (random weights).

Runs only where ``mmdet`` imports (never in CI; see /work/shared/wheels/README.md for a CPU stack:
torch 2.13 CPU, the prebuilt mmcv-full 1.7.2 wheel, mmdet 2.28.2, plus transformers). It builds mmdet's
``mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco`` model with random weights, saves it as an mmdet
checkpoint, loads that through ``load_mmdet_mask2former`` and runs both on the same PNG files:
mmdet through ``inference_detector`` (the call GenEval makes), ours through ``Mask2FormerDetector``.
Compared: per-class detections (scores, boxes, masks) and GenEval decisions. Set
``JANUS_PARITY_DEPTHS=2,2,2,2`` to shrink Swin for speed (the full-size key/shape check stays in
test_mmdet_mapping.py); the default is the full Swin-S [2, 2, 18, 2].
"""

from __future__ import annotations

import json
import logging
import os
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch


def _stub_torchvision() -> None:
    """mmcv imports torchvision only for model-zoo URLs; PyPI's torchvision here is a CUDA build that
    cannot import against CPU torch. Stand in a stub when the real one fails, after transformers has
    cached that torchvision is unavailable (so it keeps to its PIL image paths)."""
    try:
        import torchvision  # noqa: F401
    except Exception:
        from transformers.utils import import_utils

        import_utils.is_torchvision_available()
        stub, models = types.ModuleType("torchvision"), types.ModuleType("torchvision.models")
        stub.__version__ = "0.28.0"
        models.list_models = lambda module=None: []  # type: ignore[attr-defined]
        stub.models = models  # type: ignore[attr-defined]
        sys.modules.update({"torchvision": stub, "torchvision.models": models})


mmdet = pytest.importorskip("mmdet")
pytest.importorskip("mmcv")
_stub_torchvision()

from PIL import Image, ImageDraw, ImageOps  # noqa: E402

from janus_eval.metrics import geneval_models as gm  # noqa: E402
from janus_eval.metrics import geneval_rules  # noqa: E402
from janus_eval.metrics.mmdet_backend import MmdetDetector, detections_from_mmdet, load_mmdet_detector  # noqa: E402
from janus_eval.metrics.mmdet_mapping import load_mmdet_mask2former, mask2former_config  # noqa: E402

CONFIG = "mask2former/mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco.py"
SIZES = ((384, 384), (512, 512), (640, 427))  # Janus output size, SD size, a non-square photo


def _images(folder: Path) -> list[Path]:
    """Synthetic PNGs with coloured shapes on noisy gradients (no real photos offline)."""
    rng = np.random.default_rng(0)
    paths = []
    for i, (w, h) in enumerate(SIZES):
        base = np.linspace(0, 255, w)[None, :, None] * rng.uniform(0.2, 1.0, (1, 1, 3))
        base = base + rng.normal(0, 12, (h, w, 3))
        image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        for _ in range(6):
            x, y = int(rng.integers(0, w - 60)), int(rng.integers(0, h - 60))
            box = (x, y, x + int(rng.integers(30, w // 2)), y + int(rng.integers(30, h // 2)))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
        paths.append(folder / f"{i:05d}.png")
        image.save(paths[-1])
    return paths


def _mmdet_model(checkpoint: Path) -> Any:
    """mmdet's GenEval detector with random weights, sharpened so scores cross GenEval's thresholds."""
    from mmcv import Config
    from mmdet.apis import init_detector

    cfg = Config.fromfile(str(Path(mmdet.__file__).parent / ".mim" / "configs" / CONFIG))
    cfg.model.backbone.init_cfg = None
    depths = os.environ.get("JANUS_PARITY_DEPTHS")
    if depths:
        cfg.model.backbone.depths = [int(d) for d in depths.split(",")]
    torch.manual_seed(0)
    model = init_detector(cfg, checkpoint=None, device="cpu")
    logging.getLogger("mmcv").setLevel(logging.WARNING)
    model.init_weights()
    with torch.no_grad():  # random logits are nearly uniform over 81 classes: make some confident
        head = model.panoptic_head
        head.cls_embed.weight.mul_(20.0)
        head.cls_embed.bias[-1] = -4.0
    model.eval()
    torch.save({"meta": {"mmdet_version": mmdet.__version__}, "state_dict": model.state_dict()}, checkpoint)
    return model, cfg


def _ours(checkpoint: Path, depths: list[int] | None) -> gm.Mask2FormerDetector:
    config = mask2former_config()
    if depths:
        config.backbone_config.depths = depths
        config.backbone_config.num_layers = len(depths)
    return gm.Mask2FormerDetector(model=load_mmdet_mask2former(checkpoint, config), official=True, name="port")


def _compare(theirs: dict[str, list[dict[str, Any]]], ours: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    """Pairs detections per class by score rank; returns the worst differences."""
    stats = {"max_score_diff": 0.0, "max_box_diff": 0.0, "boxes_off": 0, "min_mask_iou": 1.0, "pairs": 0,
             "count_mismatch": 0}  # fmt: skip
    for name in sorted(set(theirs) | set(ours)):
        a = sorted(theirs.get(name, []), key=lambda o: -float(o["score"]))
        b = sorted(ours.get(name, []), key=lambda o: -float(o["score"]))
        stats["count_mismatch"] += abs(len(a) - len(b))
        for x, y in zip(a, b):
            stats["pairs"] += 1
            stats["max_score_diff"] = max(stats["max_score_diff"], abs(float(x["score"]) - float(y["score"])))
            box_diff = float(np.abs(np.asarray(x["box"]) - np.asarray(y["box"])).max())
            stats["max_box_diff"] = max(stats["max_box_diff"], box_diff)
            stats["boxes_off"] += box_diff > 0
            inter = np.logical_and(x["mask"], y["mask"]).sum()
            union = np.logical_or(x["mask"], y["mask"]).sum()
            stats["min_mask_iou"] = min(stats["min_mask_iou"], float(inter / union) if union else 1.0)
    return stats


def _decisions(detections: dict[str, list[dict[str, Any]]], records: list[dict[str, Any]]) -> list[bool]:
    """GenEval verdicts of every non-colour official prompt for one image's detections."""
    return [geneval_rules.evaluate(r, detections)[0] for r in records]


def test_port_matches_mmdet(tmp_path: Path) -> None:
    from mmdet.apis import inference_detector

    checkpoint = tmp_path / "mask2former_random.pth"
    model, cfg = _mmdet_model(checkpoint)
    ours = _ours(checkpoint, list(cfg.model.backbone.depths))
    metadata = Path(gm.__file__).parent.parent / "data" / "geneval" / "evaluation_metadata.jsonl"
    records = [json.loads(line) for line in metadata.read_text().splitlines() if line.strip()]
    records = [r for r in records if not any("color" in c for c in r["include"])]
    worst: dict[str, dict[str, float]] = {"opencv": {}, "fallback": {}}
    agree = {"opencv": 0, "fallback": 0}
    decided, positives, kept = 0, 0, 0
    for path in _images(tmp_path):
        with torch.no_grad():
            bboxes, masks = inference_detector(model, str(path))
        theirs = detections_from_mmdet(bboxes, masks)
        reference = _decisions(theirs, records)
        decided += len(reference)
        positives += sum(reference)
        kept += sum(len(v) for v in geneval_rules.kept_objects({"tag": "single_object"}, theirs).values())
        with Image.open(path) as raw:
            image = ImageOps.exif_transpose(raw).convert("RGB")
        for variant in ("opencv", "fallback"):
            with pytest.MonkeyPatch.context() as patch:
                if variant == "fallback":  # the pure-torch resize used when OpenCV is absent
                    patch.setattr(gm, "_cv2", lambda: None)
                mine = ours.detect(image)
            stats = _compare(theirs, mine)
            print(path.name, variant, stats)
            total = worst[variant]
            for key, value in stats.items():
                total[key] = min(total.get(key, 1.0), value) if key == "min_mask_iou" else max(total.get(key, 0.0), value)
            agree[variant] += sum(x == y for x, y in zip(reference, _decisions(mine, records)))
    for variant, total in worst.items():
        print(f"worst over images ({variant}):", total, f"decisions agree {agree[variant]}/{decided}")
    print(f"{positives} verdicts correct by mmdet; {kept} detections above 0.3")
    total = worst["opencv"]
    assert total["count_mismatch"] == 0
    assert total["max_score_diff"] < 1e-3  # float order (threads, sdpa vs eager) moves scores ~1e-4
    assert total["min_mask_iou"] > 0.99
    assert agree["opencv"] == decided


def test_mmdet_backend_equals_geneval_call(tmp_path: Path) -> None:
    """``-T geneval.backend=mmdet`` gives exactly what GenEval's ``inference_detector(model, path)`` gives."""
    from mmdet.apis import inference_detector

    checkpoint = tmp_path / "mask2former_random.pth"
    model, cfg = _mmdet_model(checkpoint)
    backend = MmdetDetector(model=model, official=True, name="mmdet")
    paths = _images(tmp_path)[:2]
    with torch.no_grad():  # first every path: an array input switches mmdet 2.x's shared pipeline for good
        reference = [detections_from_mmdet(*inference_detector(model, str(path))) for path in paths]
    for path, theirs in zip(paths, reference):
        with Image.open(path) as raw:
            mine = backend.detect(raw.convert("RGB"))
        assert list(mine) == list(theirs)
        for name in theirs:
            for a, b in zip(theirs[name], mine[name]):
                assert a["box"] == b["box"] and a["score"] == b["score"] and np.array_equal(a["mask"], b["mask"])


def test_mmdet_backend_loads_the_official_config(tmp_path: Path) -> None:
    checkpoint = tmp_path / "mask2former_random.pth"
    _mmdet_model(checkpoint)
    detector = load_mmdet_detector(checkpoint)
    assert detector.official and "mmdet 2." in detector.name
