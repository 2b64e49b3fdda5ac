"""GenEval's detector run by mmdetection itself (``-T geneval.backend=mmdet``).

For users who already have mmdet 2.x with mmcv-full 1.x: the official config and checkpoint through
``init_detector`` / ``inference_detector``, the calls GenEval's ``evaluate_images.py`` makes. The
default backend (``metrics/geneval_models.py``) reproduces this without mmcv; docs/geneval-detector.md
records how closely. mmdet is never imported unless this backend is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from janus_eval.metrics.geneval_models import OBJECT_NAMES
from janus_eval.errors import JanusEvalError

CONFIG = "mask2former/mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco.py"
"""GenEval's detector config, as shipped inside the mmdet 2.x package (``mmdet/.mim/configs``)."""
INSTALL_HINT = ("pip install 'mmcv-full==1.7.*' 'mmdet==2.28.*' (mmcv-full needs a build or a prebuilt wheel "
                "for your torch/CUDA), or use the default backend, which needs neither")  # fmt: skip


def detections_from_mmdet(bboxes: list[np.ndarray], masks: list[list[np.ndarray]] | None) -> dict[str, list[dict[str, Any]]]:
    """mmdet's per-class ``(bbox_results, mask_results)`` in our detectors' format, order kept."""
    out: dict[str, list[dict[str, Any]]] = {}
    for k, rows in enumerate(bboxes):
        for j, row in enumerate(rows):
            mask = masks[k][j] if masks is not None else None
            out.setdefault(OBJECT_NAMES[k], []).append({"box": row[:4].tolist(), "score": np.float32(row[4]), "mask": mask})
    return out


@dataclass
class MmdetDetector:
    model: Any
    official: bool
    name: str

    def detect(self, image: Image.Image) -> dict[str, list[dict[str, Any]]]:
        """``inference_detector`` on the image's pixels in BGR, the order mmcv reads a PNG file in."""
        import torch
        from mmdet.apis import inference_detector

        bgr = np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8)[:, :, ::-1])
        with torch.no_grad():
            result = inference_detector(self.model, bgr)
        bboxes, masks = result if isinstance(result, tuple) else (result, None)
        return detections_from_mmdet(bboxes, masks)


def config_path(config: Path | None = None) -> Path:
    """The given config file, else GenEval's config from the installed mmdet package."""
    import mmdet

    path = config or Path(mmdet.__file__).parent / ".mim" / "configs" / CONFIG
    if not path.is_file():
        raise JanusEvalError(f"mmdet config {path} not found; pass the path of {CONFIG} from mmdetection 2.x")
    return path


def check_available(checkpoint: Path | None) -> str:
    """mmdet's version, or a one-line error: checked before any image is generated."""
    if checkpoint is None:
        raise JanusEvalError("geneval.backend=mmdet needs the detector checkpoint: -T geneval.detector=PATH.pth")
    try:
        import mmdet
        from mmdet.apis import init_detector  # noqa: F401 - imports mmcv's compiled ops
    except ImportError as err:
        raise JanusEvalError(f"geneval.backend=mmdet needs mmdet 2.x and mmcv-full 1.x ({err}); {INSTALL_HINT}") from None
    if not mmdet.__version__.startswith("2."):
        raise JanusEvalError(f"geneval.backend=mmdet needs mmdet 2.x (GenEval's), found {mmdet.__version__}; {INSTALL_HINT}")
    if not checkpoint.is_file():
        raise JanusEvalError(f"detector checkpoint {checkpoint} not found; GenEval's evaluation/download_models.sh fetches it")
    return str(mmdet.__version__)


def load_mmdet_detector(checkpoint: Path, device: str = "cpu", config: Path | None = None) -> MmdetDetector:
    version = check_available(checkpoint)
    from mmdet.apis import init_detector

    model = init_detector(str(config_path(config)), str(checkpoint), device=device)
    return MmdetDetector(model=model, official=True, name=f"mmdet {version} ({checkpoint.name})")
