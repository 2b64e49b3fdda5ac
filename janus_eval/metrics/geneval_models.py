"""GenEval's two models on transformers' modules: the Mask2Former detector and the CLIP colour classifier.

The detector reproduces mmdetection 2.x's Mask2Former test path (8-bit bilinear resize to 800 short /
1333 long side with OpenCV when installed, pad to a multiple of 32 with 128, then ImageNet
normalisation; instance post-processing: top-100 over queries x classes, score = class probability x
mask score, boxes from mask extents). mmdet's own GenEval checkpoint loads through
``metrics/mmdet_mapping.py``; docs/geneval-detector.md records the measured agreement with mmdet. The colour
classifier reproduces GenEval's: the object on a #999 background outside its mask, cropped to its
box, CLIP's evaluation transform, zero-shot over GenEval's 10 colours with its three templates.
Both also come as tiny random models so the pipeline runs offline; those are labelled
non-official and their verdicts are meaningless.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from janus_eval.hints import hf_download
from janus_eval.metrics.geneval_rules import COLORS
from janus_eval.errors import JanusEvalError

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
COLOR_TEMPLATES = ("a photo of a {c} {cls}", "a photo of a {c}-colored {cls}", "a photo of a {c} object")
BACKGROUND = (153, 153, 153)  # "#999"
OBJECT_NAMES = (Path(__file__).parent.parent / "data" / "geneval" / "object_names.txt").read_text().split("\n")
OBJECT_NAMES = tuple(name for name in OBJECT_NAMES if name)
MMDET_CHECKPOINT = "mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco_20220504_001756-743b7d99.pth"


PAD_VALUE = 128  # mmdet config: pad_cfg img=(128, 128, 128), applied to the uint8 image before Normalize


def _cv2() -> Any:
    """OpenCV when installed (the ``geneval`` extra): mmcv resizes with it, and its 8-bit bilinear is fixed-point."""
    try:
        import cv2
    except ImportError:
        return None
    return cv2


def rescale_size(width: int, height: int, scale: tuple[int, int]) -> tuple[int, int]:
    """mmcv ``imrescale`` with ``keep_ratio``: longest side <= max(scale), shortest <= min(scale); (w, h)."""
    factor = min(max(scale) / max(height, width), min(scale) / min(height, width))
    return int(width * factor + 0.5), int(height * factor + 0.5)


def resize_uint8(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resize of an 8-bit [H, W, 3] image as mmcv does (``cv2.resize``, ``INTER_LINEAR``).

    Without OpenCV: float bilinear (half-pixel centres, no antialias, edge clamp) rounded to 8 bits.
    That fallback is approximate: OpenCV's 8-bit path uses 11-bit fixed-point weights, so pixels
    can differ by one level, which moves detector scores by about 1e-3 (see docs/geneval-detector.md).
    """
    cv2 = _cv2()
    if cv2 is not None:
        return cv2.resize(np.ascontiguousarray(pixels), (width, height), interpolation=cv2.INTER_LINEAR)
    tensor = torch.from_numpy(np.array(pixels, dtype=np.uint8)).permute(2, 0, 1)[None].float()
    resized = F.interpolate(tensor, size=(height, width), mode="bilinear", align_corners=False)
    return resized[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


def normalize_like_mmcv(pixels: np.ndarray) -> np.ndarray:
    """mmcv ``imnormalize`` on an RGB uint8 image: float32 ``(x - mean) * (1 / std)``, the way OpenCV's
    scalar ops compute it (scalars cast to float32 first)."""
    mean = np.asarray(IMAGENET_MEAN, dtype=np.float64).astype(np.float32)
    std_inv = (1.0 / np.asarray(IMAGENET_STD, dtype=np.float64)).astype(np.float32)
    return (pixels.astype(np.float32) - mean) * std_inv


@dataclass
class Mask2FormerDetector:
    """mmdet-equivalent inference over a transformers ``Mask2FormerForUniversalSegmentation``.

    Follows mmdet 2.x's test pipeline and ``Mask2Former.simple_test`` step for step (the order of
    padding, normalisation, mask upsampling and cropping changes results at the pixel level).
    """

    model: Any
    official: bool
    name: str
    class_names: tuple[str, ...] = OBJECT_NAMES
    max_per_image: int = 100
    scale: tuple[int, int] = (1333, 800)
    size_divisor: int = 32
    pad_value: int = PAD_VALUE

    def _preprocess(self, image: Image.Image) -> tuple[torch.Tensor, tuple[int, int]]:
        """[1, 3, H', W'] as mmdet feeds its model; returns the resized (h, w) before padding.

        Resize (8-bit, bilinear) -> pad bottom/right to a multiple of 32 with 128 -> normalise
        (so padding becomes (128 - mean) / std, not 0).
        """
        pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
        h, w = pixels.shape[:2]
        new_w, new_h = rescale_size(w, h, self.scale)
        resized = resize_uint8(pixels, new_w, new_h)
        pad_h, pad_w = -new_h % self.size_divisor, -new_w % self.size_divisor
        padded = np.pad(resized, ((0, pad_h), (0, pad_w), (0, 0)), constant_values=self.pad_value)
        tensor = torch.from_numpy(np.ascontiguousarray(normalize_like_mmcv(padded).transpose(2, 0, 1)))
        return tensor[None], (new_h, new_w)

    def detect(self, image: Image.Image) -> dict[str, list[dict[str, Any]]]:
        """Per class name: ``{"box": [x1, y1, x2, y2], "score": float32, "mask": bool [H, W]}`` (see ``detect_batch``)."""
        return self.detect_batch([image])[0]

    @torch.inference_mode()
    def detect_batch(self, images: list[Image.Image]) -> list[dict[str, list[dict[str, Any]]]]:
        """``detect`` for each image, images of one padded input shape through the model together.

        mmdet pads each image alone, so only same-shape inputs share a forward pass (padding to a
        common shape would change results). A batch's floats can differ from single-image ones in
        the last bits (GEMM blocking), so callers keep batch membership fixed.
        """
        prepared = [self._preprocess(image) for image in images]
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for k, (inputs, _) in enumerate(prepared):
            by_shape.setdefault(tuple(inputs.shape), []).append(k)
        results: list[dict[str, list[dict[str, Any]]]] = [{} for _ in images]
        device = next(self.model.parameters()).device
        for members in by_shape.values():
            out = self.model(pixel_values=torch.cat([prepared[k][0] for k in members]).to(device))
            for row, k in enumerate(members):
                inputs, resized = prepared[k]
                results[k] = self._instances(out.class_queries_logits[row].float(), out.masks_queries_logits[row].float(),
                                             tuple(inputs.shape[-2:]), resized, images[k].size)  # fmt: skip
        return results

    def _instances(self, class_logits: torch.Tensor, mask_logits: torch.Tensor, padded: tuple[int, ...],
                   resized: tuple[int, int], size: tuple[int, int]) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
        """One image's detections from its [Q, C + 1] class and [Q, h/4, w/4] mask logits.

        As mmdet's ``MaskFormerFusionHead.instance_postprocess`` with ``rescale=True``: mask logits
        upsampled to the padded input, cropped to the resized image, upsampled to the original size;
        top-100 over queries x classes (unsorted, as mmdet); score = class probability x mean
        sigmoid over the binary mask; box = mask extent (x2/y2 one past the last pixel).
        """
        (new_h, new_w), (width, height) = resized, size
        num_classes = class_logits.shape[-1] - 1
        scores = class_logits.softmax(-1)[:, :-1]
        top_scores, top_index = scores.flatten().topk(min(self.max_per_image, scores.numel()), sorted=False)
        labels = top_index % num_classes
        # Upsample every query (as mmdet does) before selecting: interpolation is per mask anyway.
        masks = F.interpolate(mask_logits[None], size=padded, mode="bilinear", align_corners=False)[0]
        masks = masks[:, :new_h, :new_w]
        masks = F.interpolate(masks[None], size=(height, width), mode="bilinear", align_corners=False)[0]
        chosen = masks[top_index // num_classes]
        binary = chosen > 0
        as_float = binary.float()
        mask_scores = (chosen.sigmoid() * as_float).flatten(1).sum(1) / (as_float.flatten(1).sum(1) + 1e-6)
        final = (top_scores * mask_scores).cpu().numpy().astype(np.float32)
        boxes = _mask_boxes(binary)
        detections: dict[str, list[dict[str, Any]]] = {}
        for k in range(len(final)):
            name = self.class_names[int(labels[k])]
            detections.setdefault(name, []).append(
                {"box": boxes[k].tolist(), "score": final[k], "mask": binary[k].cpu().numpy()}
            )
        return detections


def _mask_boxes(masks: torch.Tensor) -> np.ndarray:
    """[N, 4] float32 boxes from mask extents (mmdet ``mask2bbox``): x2/y2 are one past the last
    foreground pixel; an empty mask gives [0, 0, 0, 0]."""
    boxes = np.zeros((len(masks), 4), dtype=np.float32)
    cols = masks.any(dim=1).cpu()  # [N, W]
    rows = masks.any(dim=2).cpu()  # [N, H]
    for i in range(len(masks)):
        xs = torch.nonzero(cols[i]).flatten()
        ys = torch.nonzero(rows[i]).flatten()
        if len(xs) and len(ys):
            boxes[i] = [xs[0].item(), ys[0].item(), xs[-1].item() + 1, ys[-1].item() + 1]
    return boxes


def clip_transform(image: Image.Image, size: int) -> torch.Tensor:
    """Shorter side to ``size`` (bicubic), centre crop, CLIP normalisation: [3, size, size]."""
    w, h = image.size
    if w <= h:
        new_w, new_h = size, int(size * h / w)
    else:
        new_w, new_h = int(size * w / h), size
    resized = image.convert("RGB").resize((new_w, new_h), Image.Resampling.BICUBIC)
    top, left = int(round((new_h - size) / 2.0)), int(round((new_w - size) / 2.0))
    cropped = resized.crop((left, top, left + size, top + size))
    tensor = torch.from_numpy(np.asarray(cropped, dtype=np.float32) / 255.0).permute(2, 0, 1)
    return (tensor - torch.tensor(CLIP_MEAN).view(3, 1, 1)) / torch.tensor(CLIP_STD).view(3, 1, 1)


def _clip_benchmark_autocast(device: torch.device) -> Any:
    """CLIP_benchmark (GenEval's zero-shot classifier) runs CLIP under CUDA fp16 autocast; on CPU that
    autocast is a no-op, so the official CPU run is fp32. Same here: fp16 autocast on CUDA only."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def _features(output: Any) -> torch.Tensor:
    return output if isinstance(output, torch.Tensor) else output.pooler_output


@dataclass
class ClipColorClassifier:
    model: Any
    tokenizer: Any
    name: str
    official: bool
    _classifiers: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def image_size(self) -> int:
        return int(self.model.config.vision_config.image_size)

    @torch.inference_mode()
    def _text_classifier(self, class_name: str) -> torch.Tensor:
        """[10, D]: per colour, the re-normalised mean of its three normalised template embeddings."""
        if class_name not in self._classifiers:
            rows = []
            for color in COLORS:
                texts = [t.format(c=color, cls=class_name) for t in COLOR_TEMPLATES]
                tokens = self.tokenizer(texts, padding=True, return_tensors="pt")
                device = next(self.model.parameters()).device
                with _clip_benchmark_autocast(device):
                    emb = _features(self.model.get_text_features(**{k: v.to(device) for k, v in tokens.items()})).float()
                emb = F.normalize(emb, dim=-1).mean(0)
                rows.append(F.normalize(emb, dim=-1))
            self._classifiers[class_name] = torch.stack(rows)
        return self._classifiers[class_name]

    def crops(self, image: Image.Image, objects: list[dict[str, Any]]) -> torch.Tensor:
        """[N, 3, S, S]: each object on #999 outside its mask (when it has one), cropped to its box, CLIP-transformed."""
        base = image.convert("RGB")
        crops = []
        for obj in objects:
            shown = base
            if obj.get("mask") is not None:
                mask = Image.fromarray(np.asarray(obj["mask"], dtype=bool).astype(np.uint8) * 255)
                shown = Image.composite(base, Image.new("RGB", base.size, BACKGROUND), mask)
            crops.append(clip_transform(shown.crop(tuple(obj["box"])), self.image_size))
        return torch.stack(crops)

    def logits(self, image: Image.Image, objects: list[dict[str, Any]], class_name: str) -> torch.Tensor:
        """[N, 10]: 100 x cosine between each crop and each colour's text classifier (CLIP_benchmark's scale)."""
        return self._crop_logits(self.crops(image, objects), class_name)

    @torch.inference_mode()
    def _crop_logits(self, crops: torch.Tensor, class_name: str) -> torch.Tensor:
        device = next(self.model.parameters()).device
        classifier = self._text_classifier(class_name)
        with _clip_benchmark_autocast(device):
            features = _features(self.model.get_image_features(pixel_values=crops.to(device)))
            return (100.0 * F.normalize(features.float(), dim=-1) @ classifier.T).float()

    def classify(self, image: Image.Image, objects: list[dict[str, Any]], class_name: str) -> list[str]:
        return self.classify_batch([(image, objects)], class_name)[0]

    def classify_batch(self, items: list[tuple[Image.Image, list[dict[str, Any]]]], class_name: str) -> list[list[str]]:
        """``classify`` for several (image, objects) pairs of one class name: one CLIP pass over all crops."""
        counts = [len(objects) for _, objects in items]
        if not any(counts):
            return [[] for _ in items]
        crops = torch.cat([self.crops(image, objects) for image, objects in items if objects])
        colors = [COLORS[i] for i in self._crop_logits(crops, class_name).argmax(-1).tolist()]
        out, start = [], 0
        for n in counts:
            out.append(colors[start : start + n])
            start += n
        return out


# -- tiny random stand-ins -------------------------------------------------------------------------
TINY_SEED = 1234


def tiny_detector() -> Mask2FormerDetector:
    from transformers import Mask2FormerForUniversalSegmentation

    from janus_eval.metrics.mmdet_mapping import mask2former_config

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        model = Mask2FormerForUniversalSegmentation(mask2former_config(tiny=True, num_labels=len(OBJECT_NAMES))).eval()
    # Small inputs keep the tiny run fast; the official scale is (1333, 800).
    return Mask2FormerDetector(model=model, official=False, name="tiny random Mask2Former (non-official)", scale=(128, 96))


def tiny_color_classifier() -> ClipColorClassifier:
    from transformers import CLIPConfig, CLIPModel

    from janus_eval.model.tiny import build_tokenizer

    tokenizer = build_tokenizer()
    text = dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                num_attention_heads=2, max_position_embeddings=128, bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, hidden_act="quick_gelu")  # fmt: skip
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=64,
                  patch_size=16, hidden_act="quick_gelu")  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)).eval()
    return ClipColorClassifier(model=model, tokenizer=tokenizer, name="tiny random CLIP (non-official)", official=False)


# -- real weights from local paths -----------------------------------------------------------------
def load_detector(path: Path) -> Mask2FormerDetector:
    """A transformers Mask2Former directory (non-official weights) or mmdet's GenEval checkpoint (.pth)."""
    if not path.exists():
        raise JanusEvalError(
            f"detector weights {path} not found; fetch GenEval's {MMDET_CHECKPOINT} (see GenEval's "
            "evaluation/download_models.sh) and pass it with --detector"
        )
    if path.suffix == ".pth":
        from janus_eval.metrics.mmdet_mapping import load_mmdet_mask2former

        return Mask2FormerDetector(model=load_mmdet_mask2former(path), official=True, name=f"mmdet Mask2Former Swin-S ({path.name})")
    from transformers import Mask2FormerForUniversalSegmentation

    model = Mask2FormerForUniversalSegmentation.from_pretrained(path, local_files_only=True).eval()
    return Mask2FormerDetector(model=model, official=False, name=f"transformers Mask2Former {path.name} (non-official)")


def load_color_classifier(path: Path) -> ClipColorClassifier:
    """OpenAI's ViT-L/14 as GenEval uses it: OpenAI's own checkpoint file (``ViT-L-14.pt``, the file open_clip's
    ``pretrained="openai"`` reads, or a state dict with its key names; see ``metrics/clip_mapping.py``) or a
    local transformers CLIP directory (e.g. openai/clip-vit-large-patch14)."""
    from janus_eval.metrics import clip_mapping

    if path.is_file():
        model = clip_mapping.load_openai_clip(path)
        tokenizer = clip_mapping.openai_clip_tokenizer(path, model.config.text_config.max_position_embeddings)
        return ClipColorClassifier(model=model, tokenizer=tokenizer, name=f"OpenAI CLIP {path.name}",
                                   official=clip_mapping.is_vit_l14(model.config))  # fmt: skip
    if not path.is_dir():
        raise JanusEvalError(
            f"CLIP weights {path} not found; fetch OpenAI's ViT-L/14 (its ViT-L-14.pt with "
            f"{clip_mapping.BPE_FILE} beside it, or {hf_download('openai/clip-vit-large-patch14', 'PATH')}) "
            "and pass it with --clip"
        )
    from transformers import AutoTokenizer, CLIPModel

    model = CLIPModel.from_pretrained(path, local_files_only=True).eval()
    return ClipColorClassifier(model=model, tokenizer=AutoTokenizer.from_pretrained(path, local_files_only=True),
                               name=f"CLIP {path.name}", official=clip_mapping.is_vit_l14(model.config))  # fmt: skip
