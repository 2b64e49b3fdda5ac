"""Our colour classifier (transformers CLIP) against real open_clip on GenEval's colour procedure (random weights).

Runs only where ``open_clip`` imports (never in CI: it needs torchvision; see docs/geneval-detector.md for the
venv used). It builds open_clip's ``ViT-L-14`` with QuickGELU (OpenAI's architecture) from a seeded random
init, writes its tensors as OpenAI's ``ViT-L-14.pt`` is stored (a TorchScript archive of fp16 tensors), then
loads that one file twice: with open_clip's ``load_openai_model`` (what ``pretrained="openai"`` runs in the
open_clip 2.20 that GenEval pins) and with our ``load_color_classifier``. GenEval's colour check
(evaluate_images.py's ``ImageCrops`` + CLIP_benchmark 1.4.0's zero-shot classifier, in fp32 on CPU) runs on
open_clip's side with open_clip's tokenizer and ``create_model_and_transforms(...)[2]`` preprocessing; ours
is ``ClipColorClassifier``. Compared: tokenizer ids, preprocessed crops, text classifier, image
embeddings, logits and chosen colours. Set ``JANUS_CLIP_PARITY_REPORT=path.json`` to keep the numbers.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from reference_imports import torchvision_problem

if importlib.util.find_spec("open_clip") is None:
    pytest.skip("open_clip is not installed: pip install 'janus-eval[open-clip]' beside a torchvision that imports",
                allow_module_level=True)  # fmt: skip
if (TORCHVISION_PROBLEM := torchvision_problem()) is not None:  # CI: PyPI has no torchvision build for the CPU torch
    pytest.skip(f"open_clip needs a torchvision that imports (its image transforms are the reference here): "
                f"{TORCHVISION_PROBLEM}; docs/geneval-detector.md names a venv that runs this test", allow_module_level=True)  # fmt: skip

import open_clip
from checkpoint_writers import save_openai_state_dict
from PIL import Image, ImageDraw

from janus_eval.metrics import clip_mapping as cm
from janus_eval.metrics import geneval_models as gm

ARCH = "ViT-L-14"
CLASS_NAMES = ("car", "traffic light", "hair drier", "teddy bear")
SIZES = ((384, 384), (512, 512), (640, 427))
REPORT: dict[str, Any] = {}


def _scene(size: tuple[int, int], rng: np.random.Generator) -> tuple[Image.Image, list[dict[str, Any]]]:
    """A noisy gradient with three coloured shapes; objects carry GenEval-style float boxes and bool masks."""
    w, h = size
    base = np.linspace(0, 255, w)[None, :, None] * rng.uniform(0.2, 1.0, (1, 1, 3)) + rng.normal(0, 12, (h, w, 3))
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    objects = []
    # tall, wide and small shapes: odd sizes and non-square crops
    for k, (bw, bh) in enumerate(((37, 91), (150, 23), (7, 5))):
        x, y = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
        shape = Image.new("L", size, 0)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        box = (x, y, x + bw - 1, y + bh - 1)
        (ImageDraw.Draw(shape).ellipse if k % 2 else ImageDraw.Draw(shape).rectangle)(box, fill=255)
        image.paste(Image.new("RGB", size, colour), mask=shape)
        mask = np.asarray(shape) > 0
        ys, xs = np.nonzero(mask)
        float_box = [float(xs.min()) - 0.4, float(ys.min()) + 0.5, float(xs.max() + 1) + 0.49, float(ys.max() + 1)]
        objects.append({"box": float_box, "mask": mask if k != 1 else None})  # one object without a mask
    return image, objects


def _geneval_crop(image: Image.Image, obj: dict[str, Any], transform: Any) -> torch.Tensor:
    """evaluate_images.py's ``ImageCrops.__getitem__`` with its defaults (bgcolor #999, crop=1)."""
    rgb = image.convert("RGB")
    if obj["mask"] is not None:
        rgb = Image.composite(rgb, Image.new("RGB", image.size, color="#999"), Image.fromarray(obj["mask"]))
    return transform(rgb.crop(obj["box"][:4]))


@torch.no_grad()
def _geneval_classifier(model: Any, tokenizer: Any, class_name: str) -> torch.Tensor:
    """CLIP_benchmark 1.4.0 ``zero_shot_classifier`` with GenEval's three templates: [D, 10]."""
    columns = []
    for colour in gm.COLORS:
        texts = [t.format(c=colour, cls=class_name) for t in gm.COLOR_TEMPLATES]
        embeddings = F.normalize(model.encode_text(tokenizer(texts)), dim=-1).mean(dim=0)
        columns.append(embeddings / embeddings.norm())
    return torch.stack(columns, dim=1)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("openai_clip")
    torch.manual_seed(0)
    source, _, preprocess = open_clip.create_model_and_transforms(ARCH, force_quick_gelu=True)
    archive = folder / "ViT-L-14.pt"
    save_openai_state_dict(source.state_dict(), archive, torchscript=True, half=True, metadata=(224, 77, 49408))
    reference = open_clip.load_openai_model(str(archive), precision="fp32", device="cpu").eval()
    ours = gm.load_color_classifier(archive)
    return {"source": source.eval(), "preprocess": preprocess, "reference": reference, "ours": ours, "archive": archive}


def test_setup_matches_geneval(models: dict[str, Any]) -> None:
    """open_clip's openai preprocessing config is the one we took; our loader reads the file GenEval's does."""
    cfg = open_clip.get_pretrained_cfg(ARCH, "openai")
    assert cfg["mean"] == gm.CLIP_MEAN and cfg["std"] == gm.CLIP_STD and cfg.get("quick_gelu")
    assert cfg.get("interpolation", "bicubic") == "bicubic" and cfg.get("resize_mode", "shortest") == "shortest"
    text = repr(models["preprocess"])
    assert "Resize(size=224, interpolation=bicubic" in text and "CenterCrop(size=(224, 224))" in text
    ours = models["ours"]
    assert ours.official and ours.image_size == 224
    assert cm.find_bpe_file(models["archive"]).parent == Path(open_clip.__file__).parent  # found without importing
    REPORT["versions"] = {"open_clip": open_clip.__version__, "torch": torch.__version__,
                          "transformers": __import__("transformers").__version__}  # fmt: skip


def test_open_clip_state_dict_maps_exactly(models: dict[str, Any]) -> None:
    """open_clip's own key names (a plain ``torch.save(model.state_dict())``) convert strictly, and the fp16
    archive gives the same tensors as open_clip reads from it."""
    ours = models["ours"].model
    converted = cm.convert_state_dict(models["source"].state_dict(), ours, source="open_clip state dict")
    reference = cm.convert_state_dict(models["reference"].state_dict(), ours, source="open_clip from archive")
    loaded = ours.state_dict()
    for key, value in reference.items():
        assert torch.equal(value, loaded[key]), key
        assert torch.equal(converted[key].half().float(), loaded[key]), key


def test_tokenizer_ids_match_for_all_geneval_texts(models: dict[str, Any]) -> None:
    reference, ours = open_clip.get_tokenizer(ARCH), models["ours"].tokenizer
    texts = [t.format(c=c, cls=n) for n in gm.OBJECT_NAMES for c in gm.COLORS for t in gm.COLOR_TEMPLATES]
    theirs = reference(texts)
    mine = ours(texts, padding="max_length", max_length=77, return_tensors="pt")["input_ids"]
    eot = mine == ours.eos_token_id
    first_eot = eot.int().argmax(-1)
    after = torch.arange(77)[None] > first_eot[:, None]
    assert torch.equal(torch.where(after, 0, mine), theirs)  # we pad with EOT, open_clip with 0
    REPORT["tokenizer"] = {"texts": len(texts), "identical": int((torch.where(after, 0, mine) == theirs).all(-1).sum())}


def test_colour_procedure_matches(models: dict[str, Any]) -> None:
    reference, ours, preprocess = models["reference"], models["ours"], models["preprocess"]
    tokenizer = open_clip.get_tokenizer(ARCH)
    rng = np.random.default_rng(0)
    stats = {"crops": 0, "agree": 0, "max_pixel_diff": 0.0, "max_text_diff": 0.0, "max_image_emb_diff": 0.0,
             "max_logit_diff": 0.0, "min_top2_margin": float("inf"), "colours": []}  # fmt: skip
    for i, size in enumerate(SIZES):
        image, objects = _scene(size, rng)
        class_name = CLASS_NAMES[i % len(CLASS_NAMES)]
        theirs_classifier = _geneval_classifier(reference, tokenizer, class_name)
        mine_classifier = ours._text_classifier(class_name).T
        stats["max_text_diff"] = max(stats["max_text_diff"], (theirs_classifier - mine_classifier).abs().max().item())
        pixels = torch.stack([_geneval_crop(image, obj, preprocess) for obj in objects])
        mine_pixels = ours.crops(image, objects)
        stats["max_pixel_diff"] = max(stats["max_pixel_diff"], (pixels - mine_pixels).abs().max().item())
        with torch.no_grad():
            theirs_emb = F.normalize(reference.encode_image(pixels), dim=-1)
            mine_emb = F.normalize(ours.model.get_image_features(pixel_values=mine_pixels).pooler_output, dim=-1)
        theirs_logits = 100.0 * theirs_emb @ theirs_classifier
        mine_logits = ours.logits(image, objects, class_name)
        stats["max_image_emb_diff"] = max(stats["max_image_emb_diff"], (theirs_emb - mine_emb).abs().max().item())
        stats["max_logit_diff"] = max(stats["max_logit_diff"], (theirs_logits - mine_logits).abs().max().item())
        top2 = theirs_logits.topk(2, dim=-1).values
        stats["min_top2_margin"] = min(stats["min_top2_margin"], (top2[:, 0] - top2[:, 1]).min().item())
        theirs_colours = [gm.COLORS[k] for k in theirs_logits.argmax(1).tolist()]
        mine_colours = ours.classify(image, objects, class_name)
        stats["crops"] += len(objects)
        stats["agree"] += sum(a == b for a, b in zip(theirs_colours, mine_colours))
        stats["colours"] += theirs_colours
    REPORT["colour"] = stats
    if os.environ.get("JANUS_CLIP_PARITY_REPORT"):
        Path(os.environ["JANUS_CLIP_PARITY_REPORT"]).write_text(json.dumps(REPORT, indent=2))
    assert stats["max_pixel_diff"] == 0.0
    assert stats["max_text_diff"] < 1e-5 and stats["max_image_emb_diff"] < 1e-5 and stats["max_logit_diff"] < 1e-3
    assert stats["agree"] == stats["crops"]
