"""GenEval (Ghosh et al., 2023): compositional text-to-image alignment, the Janus paper's Table 3.

Data: the official 553 prompts (``evaluation_metadata.jsonl``, bundled verbatim); the default run uses
one prompt per tag. Four images per prompt, seeds derived from (base seed, prompt index, sample
index), written in the official layout so GenEval's own ``evaluate_images.py`` can score the folder
unchanged::

    <out>/geneval/images/00000/metadata.jsonl    one JSON object: that prompt's record
    <out>/geneval/images/00000/samples/00000.png

Scoring: a Mask2Former detector and a CLIP colour classifier (``metrics/geneval_models.py``), then
the official decision rules (``metrics/geneval_rules.py``); per tag and overall as
``summary_scores.py`` computes them (overall = mean of the six tag accuracies). Only mmdet's GenEval
checkpoint gives official-comparable numbers; any other detector is labelled non-official.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from janus_eval.hfdata import DocSet
from janus_eval.io import weights_sha256, write_atomic
from janus_eval.metrics import geneval_rules
from janus_eval.protocol import custom, grouped, mean
from janus_eval.registry import task
from janus_eval.contract import DatasetSpec, RunContext
from janus_eval.task import (
    GenerationTask,
    ImageRequest,
    JanusEvalError,
    Metric,
    Option,
    choice,
    derive_seed,
    record_scores,
)

PACKAGE = Path(__file__).parent.parent
METADATA = PACKAGE / "data" / "geneval" / "evaluation_metadata.jsonl"
FIXTURE_METADATA = PACKAGE / "fixtures" / "geneval" / "evaluation_metadata.jsonl"
CLIP_DIR = "clip-vit-large-patch14"
CLIP_FILE = "ViT-L-14.pt"  # OpenAI's checkpoint, the file open_clip's pretrained="openai" reads


def judge(metadata: dict[str, Any], detections: dict[str, list[dict[str, Any]]]) -> bool:
    """GenEval's verdict for one image's detections (``{"box", "score", "color"}`` per object); the name is the
    public contract's, and "judge" elsewhere means the LLM judge only."""
    return geneval_rules.verdict(metadata, detections)


def _metadata_file(ctx: RunContext) -> Path:
    """The official 553 prompts with a data root; the bundled one-prompt-per-tag fixture without."""
    return FIXTURE_METADATA if ctx.data_root is None else METADATA


def _read_rgb(path: Path) -> Any:
    """The PNG as GenEval reads it: EXIF orientation applied, RGB."""
    from PIL import Image, ImageOps

    with Image.open(path) as raw:
        return ImageOps.exif_transpose(raw).convert("RGB")


def _weights_hash(path: Path | None) -> str:
    """The weights' sha256; "tiny random" only for the stand-in (no path). A named path that is missing is an
    error naming it, never recorded as if the stand-in had scored."""
    if path is None:
        return "tiny random"
    if not path.exists():
        raise JanusEvalError(f"geneval: scorer weights {path} do not exist")
    return weights_sha256(path)


def _default_clip(weights: Path) -> Path:
    """``<weights>/clip-vit-large-patch14`` (transformers), else ``<weights>/ViT-L-14.pt`` (OpenAI) when only that exists."""
    folder, file = weights / CLIP_DIR, weights / CLIP_FILE
    return file if not folder.exists() and file.is_file() else folder


def _check_detector(path: Path) -> None:
    """mmdet's GenEval checkpoint (a file) or a transformers Mask2Former folder (its config.json)."""
    from janus_eval.metrics.geneval_models import MMDET_CHECKPOINT

    if path.is_file() or (path.is_dir() and (path / "config.json").is_file()):
        return
    what = "has no config.json (not a transformers Mask2Former folder)" if path.is_dir() else "does not exist"
    raise JanusEvalError(
        f"geneval: detector weights {path} {what}; fetch GenEval's {MMDET_CHECKPOINT} (janus-eval download --weights, or "
        "GenEval's evaluation/download_models.sh) into <data-root>/weights/ or pass -T geneval.detector=PATH"
    )


def _check_clip(path: Path) -> None:
    """OpenAI's ViT-L-14.pt with CLIP's BPE vocabulary beside it, or a transformers CLIP folder (its config.json)."""
    from janus_eval.metrics import clip_mapping

    if path.is_dir() and (path / "config.json").is_file():
        return
    if path.is_file():
        folder = path.parent
        if clip_mapping.find_bpe_file(path) or ((folder / "vocab.json").is_file() and (folder / "merges.txt").is_file()):
            return
        what = f"has no tokenizer ({clip_mapping.BPE_FILE}, or vocab.json + merges.txt) beside it"
    else:
        what = "has no config.json (not a transformers CLIP folder)" if path.is_dir() else "does not exist"
    raise JanusEvalError(
        f"geneval: CLIP weights {path} {what}; fetch OpenAI's ViT-L/14 (janus-eval download --weights) into "
        f"<data-root>/weights/{CLIP_DIR} or pass -T geneval.clip=PATH"
    )


def _per_tag(records: list[dict[str, Any]]) -> dict[str, float]:
    """``summary_scores.py``'s per-tag image accuracy, GenEval's tags in its order."""
    scored = [record_scores(r) for r in records]
    result = geneval_rules.summary([(s["tag"], s["score"] == 1.0) for s in scored])
    return {k: v for k, v in result.items() if k not in ("geneval_overall", "geneval_images_correct")}


def _official_detector(records: list[dict[str, Any]]) -> dict[str, float]:
    """1.0 when every image was scored by the official Mask2Former detector, else 0.0 (a non-official score)."""
    return {"geneval_official_detector": float(all(record_scores(r).get("official") for r in records))}


@task("geneval")
class GenEval(GenerationTask):
    headline: ClassVar[str] = "geneval_overall"
    reference_version: ClassVar[str] = "GenEval djghosh13/geneval@af4902f (evaluate_images.py, summary_scores.py)"
    source: ClassVar[str] = "GenEval evaluation_metadata.jsonl"  # type: ignore[misc]
    dataset: ClassVar[DatasetSpec] = DatasetSpec(repo="geneval", split="evaluation_metadata", fixture="geneval")
    metrics: ClassVar[tuple[Metric, ...]] = (
        custom("geneval_{tag}", _per_tag, group="tag"),  # in GenEval's tag order, as summary_scores.py prints them
        grouped("geneval_overall", group="tag", headline=True),  # the unweighted mean of the tags' accuracies
        mean("geneval_images_correct"),
        custom("geneval_official_detector", _official_detector),
    )
    options: ClassVar[dict[str, Option]] = {
        "images_per_prompt": Option(int, "images generated per prompt (official: 4)"),
        "detector": Option(Path, "mmdet GenEval checkpoint (.pth) or a transformers Mask2Former directory"),
        "clip": Option(Path, "OpenAI CLIP ViT-L/14: its ViT-L-14.pt (CLIP's BPE vocabulary beside it) or a transformers directory"),
        "backend": Option(choice(("transformers", "mmdet")), "detector runtime: transformers (default, no mmcv) or mmdet 2.x"),
        "mmdet_config": Option(Path, "backend=mmdet: the config file (default: GenEval's, from the mmdet package)"),
        "scoring_device": Option(str, "device for the detector and CLIP (default: cuda if available, else cpu)"),
    }

    images_per_prompt: int = 4
    detector: Path | None = None
    clip: Path | None = None
    backend: str = "transformers"
    mmdet_config: Path | None = None
    scoring_device: str | None = None
    _models: tuple[Any, Any] | None = None

    # -- data ---------------------------------------------------------------------------------
    def load(self, ctx: RunContext | Path | None = None) -> DocSet:
        """The bundled official metadata; the one-prompt-per-tag fixture when no data root is given."""
        path = _metadata_file(RunContext.of(ctx))
        docs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return DocSet.in_memory(docs, [path])

    def doc_id(self, doc: dict[str, Any]) -> str:
        return doc["prompt"]

    # -- prompts and images -------------------------------------------------------------------
    def requests(self, docs: list[dict[str, Any]], base_seed: int) -> list[ImageRequest]:
        if self.images_per_prompt < 1:
            raise JanusEvalError(f"geneval.images_per_prompt must be at least 1, got {self.images_per_prompt}")
        return [
            ImageRequest(
                id=f"{p:05d}/{k:05d}",
                prompt=doc["prompt"],
                seed=derive_seed(base_seed, p, k),
                path=f"images/{p:05d}/samples/{k:05d}.png",
                doc_index=p,
            )
            for p, doc in enumerate(docs)
            for k in range(self.images_per_prompt)
        ]

    def check_prerequisites(self, ctx: RunContext) -> None:
        """The detector and CLIP weights (and the mmdet runtime) exist, before any image is generated: without a
        data root or option both are the labelled tiny random stand-ins; a path given or implied must exist."""
        if self._models is not None:  # scorers handed over already loaded (the bench's full-size random ones)
            return
        detector, clip = self._weight_paths(ctx)
        if self.backend == "mmdet":
            from janus_eval.metrics.mmdet_backend import check_available

            check_available(detector)
        elif detector is not None:
            _check_detector(detector)
        if clip is not None:
            _check_clip(clip)

    def prepare(self, docs: list[dict[str, Any]], ctx: RunContext) -> None:
        self.check_prerequisites(ctx)  # fail before hours of generation, not after (the runner asked already)
        assert ctx.task_dir is not None
        for p, doc in enumerate(docs):
            target = ctx.task_dir / "images" / f"{p:05d}" / "metadata.jsonl"
            text = json.dumps(doc)
            if not target.exists() or target.read_text() != text:
                write_atomic(target, text)

    # -- score --------------------------------------------------------------------------------
    def _detector_and_colors(self, ctx: RunContext) -> tuple[Any, Any]:
        """Loaded once per task object: a run scores every prompt with the same detector and CLIP."""
        if self._models is None:
            from janus_eval.metrics import geneval_models as gm

            detector_path, clip_path = self._weight_paths(ctx)
            device = ctx.scorer_device(self.scoring_device)
            if self.backend == "mmdet":
                from janus_eval.metrics.mmdet_backend import load_mmdet_detector

                detector = load_mmdet_detector(detector_path, device, self.mmdet_config)  # type: ignore[arg-type]
            else:
                detector = gm.load_detector(detector_path) if detector_path else gm.tiny_detector()
                detector.model.to(device)
            colors = gm.load_color_classifier(clip_path) if clip_path else gm.tiny_color_classifier()
            colors.model.to(device)
            self._models = (detector, colors)
        return self._models

    def _weight_paths(self, ctx: RunContext) -> tuple[Path | None, Path | None]:
        """Explicit options first, then ``<data-root>/weights/``; without a data root, tiny random models."""
        from janus_eval.metrics.geneval_models import MMDET_CHECKPOINT

        weights = ctx.data_root / "weights" if ctx.data_root else None
        detector = self.detector or (weights / MMDET_CHECKPOINT if weights else None)
        clip = self.clip or (_default_clip(weights) if weights else None)
        return detector, clip

    def score_images(self, docs: list[dict[str, Any]], image_paths: list[Path],
                     ctx: RunContext | None = None) -> list[dict[str, Any]]:  # fmt: skip
        """The images through the detector together, then each class name's crops through CLIP together."""
        detector, colors = self._detector_and_colors(ctx or RunContext())
        images = [_read_rgb(path) for path in image_paths]
        batched = getattr(detector, "detect_batch", None)
        detections = batched(images) if batched else [detector.detect(image) for image in images]
        self._classify_colors(colors, docs, images, detections)
        return [self._verdict(doc, found, bool(detector.official and colors.official), detector.name)
                for doc, found in zip(docs, detections)]  # fmt: skip

    @staticmethod
    def _classify_colors(colors: Any, docs: list[dict[str, Any]], images: list[Any],
                         detections: list[dict[str, list[dict[str, Any]]]]) -> None:  # fmt: skip
        """Set ``color`` on the objects whose colour the rules need, one CLIP pass per class name."""
        wanted: dict[str, list[tuple[Any, list[dict[str, Any]]]]] = {}
        for doc, image, found in zip(docs, images, detections):
            for name, objects in geneval_rules.objects_needing_color(doc, found).items():
                wanted.setdefault(name, []).append((image, objects))
        for name, items in wanted.items():
            batched = getattr(colors, "classify_batch", None)
            labelled = batched(items, name) if batched else [colors.classify(image, objects, name) for image, objects in items]
            for (_, objects), labels in zip(items, labelled):
                for obj, color in zip(objects, labels):
                    obj["color"] = color

    @staticmethod
    def _verdict(doc: dict[str, Any], detections: dict[str, list[dict[str, Any]]], official: bool, detector: str) -> dict[str, Any]:
        correct, reason = geneval_rules.evaluate(doc, detections)
        kept = geneval_rules.kept_objects(doc, detections)
        return {
            "score": float(correct),
            "tag": doc["tag"],
            "reason": reason,
            "official": official,
            "detector": detector,
            "details": {k: [[*map(float, o["box"]), float(o["score"])] for o in v] for k, v in kept.items()},
        }

    def scoring_identity(self, ctx: RunContext) -> dict[str, Any]:
        """Decisions depend on the detector and CLIP weights (by content) and the detector runtime."""
        if self._models is not None:  # loaded in-process: named by what they are, not by paths they did not use
            return {"backend": self.backend, "detector": self._models[0].name, "clip": self._models[1].name}
        detector, clip = self._weight_paths(ctx)
        return {"backend": self.backend, "detector_sha256": _weights_hash(detector),
                "clip_sha256": _weights_hash(clip)}  # fmt: skip

    def card(self, ctx: RunContext | None = None) -> dict[str, Any]:
        ctx = ctx or RunContext()
        detector, clip = self._weight_paths(ctx)
        loaded = self._models is not None  # the bench's in-process scorers: no weight files behind them
        return {
            **super().card(ctx),
            "metadata_file": str(_metadata_file(ctx)),
            "detector": self._models[0].name if loaded else str(detector) if detector else "tiny random Mask2Former (non-official)",
            "detector_sha256": None if loaded or detector is None else _weights_hash(detector),
            "clip": self._models[1].name if loaded else str(clip) if clip else "tiny random CLIP (non-official)",
            "clip_sha256": None if loaded or clip is None else _weights_hash(clip),
            "backend": self.backend,
            "scoring_device": ctx.scorer_device(self.scoring_device),
            "clip_precision": "fp16 autocast on CUDA (as CLIP_benchmark), fp32 on CPU",
            "thresholds": {"threshold": 0.3, "counting_threshold": 0.9, "max_objects": 16, "max_overlap": 1.0,
                           "position_threshold": 0.1},  # fmt: skip
        }
