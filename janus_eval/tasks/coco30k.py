"""COCO-30K FID (zero-shot text-to-image on MS-COCO 2014 val), the GigaGAN protocol the Janus paper's Table 4 uses.

Data (``--data-root DATA``): ``DATA/coco2014/annotations/captions_val2014.json`` and
``DATA/coco2014/val2014/*.jpg`` (40,504 images; http://images.cocodataset.org/zips/val2014.zip and
http://images.cocodataset.org/annotations/annotations_trainval2014.zip).

Prompts. GigaGAN's evaluation code ships its 30K captions inside an image tarball and has no
sampling step, so we fix one, reproducible in any language and independent of library versions:
every val2014 image with a caption gets the rank ``sha256("coco30k:0:image:<image_id>")`` (first 8
bytes, big-endian); the 30,000 lowest ranks are the sample, in rank order (so ``--limit N`` takes a
uniform random N-subset of it). Each sampled image contributes one caption: its captions sorted by
annotation id, index ``sha256("coco30k:0:caption:<image_id>") mod count``. The prompt is that caption
with whitespace collapsed. Fewer than 30,000 images available -> all of them.

Metric (GigaGAN ``evaluation.py`` -> clean-fid ``compute_fid(val2014, fake_images)``): every real and
generated image is centre-cropped to a square and resized to 256 with PIL LANCZOS, then clean-fid
"clean" preprocessing (float bicubic to 299) and its TorchScript Inception-v3; FID over 2048-d pool
features (``metrics/fid_sets.py``, which names the steps' modules). Reference set,
option ``reference``: ``full-val2014`` (default; every image file in ``val2014/``, what GigaGAN's code
does) or ``sampled-30k`` (the real images of the generated pairs). The choice is in ``run.json``
(task card) and changes the number.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, ClassVar

from janus_eval.hfdata import FIXTURES, DocSet
from janus_eval.registry import task
from janus_eval.task import DatasetSpec, ImageRequest, JanusEvalError, Metric, Option, RunContext, choice, derive_seed
from janus_eval.tasks.fid_base import COUNT, FID_METRIC, FID_OPTIONS, FidTask, run_folder

N_PAIRS = 30_000
SAMPLE_SEED = 0
REFERENCES = ("full-val2014", "sampled-30k")
CAPTIONS = Path("annotations") / "captions_val2014.json"
COCO_URLS = ("http://images.cocodataset.org/annotations/annotations_trainval2014.zip (captions) and "
             "http://images.cocodataset.org/zips/val2014.zip (images)")  # fmt: skip


def _rank(kind: str, image_id: int, seed: int = SAMPLE_SEED) -> int:
    return int.from_bytes(hashlib.sha256(f"coco30k:{seed}:{kind}:{image_id}".encode()).digest()[:8], "big")


def sample_pairs(captions: dict[str, Any], n: int = N_PAIRS, seed: int = SAMPLE_SEED) -> list[dict[str, Any]]:
    """The documented (image, caption) sample of ``captions_val2014.json``: one caption per image, rank order."""
    by_image: dict[int, list[dict[str, Any]]] = {}
    for ann in captions.get("annotations", []):
        by_image.setdefault(int(ann["image_id"]), []).append(ann)
    files = {int(img["id"]): img["file_name"] for img in captions.get("images", [])}
    candidates = sorted(i for i in by_image if i in files)
    chosen = sorted(candidates, key=lambda i: (_rank("image", i, seed), i))[:n]
    pairs = []
    for image_id in chosen:
        anns = sorted(by_image[image_id], key=lambda a: int(a["id"]))
        ann = anns[_rank("caption", image_id, seed) % len(anns)]
        pairs.append({"image_id": image_id, "file_name": files[image_id], "caption_id": int(ann["id"]),
                      "caption": ann["caption"]})  # fmt: skip
    return pairs


@task("coco30k")
class Coco30k(FidTask):
    headline: ClassVar[str] = "fid"
    source: ClassVar[str] = "MS-COCO 2014 val"  # type: ignore[misc]
    reference_version: ClassVar[str] = (
        "GigaGAN evaluation.py (mingukkang/GigaGAN@b2d3716) -> clean-fid 0.1.35 compute_fid, mode 'clean'")
    dataset: ClassVar[DatasetSpec] = DatasetSpec(repo="coco2014", split="val2014", fixture="coco2014")
    metrics: ClassVar[tuple[Metric, ...]] = (
        FID_METRIC,
        Metric("n_generated", **COUNT),
        Metric("n_reference", **COUNT),
    )
    options: ClassVar[dict[str, Option]] = {
        "reference": Option(choice(REFERENCES), "real set: full-val2014 (GigaGAN's code, default) or sampled-30k"),
        **FID_OPTIONS,
    }

    reference: str = "full-val2014"

    # -- data ---------------------------------------------------------------------------------
    def root(self, data_root: Path | None) -> Path:
        return FIXTURES / "coco2014" if data_root is None else Path(data_root) / "coco2014"

    def load(self, ctx: RunContext | Path | None = None) -> DocSet:
        """The 30K sampled pairs (fewer if the annotation file has fewer images)."""
        root = self.root(RunContext.of(ctx).data_root)
        captions_file = root / CAPTIONS
        if not captions_file.is_file():
            raise JanusEvalError(f"COCO 2014 captions not found: expected {captions_file}; fetch {COCO_URLS} "
                                 f"and unzip them into {root}")  # fmt: skip
        if not (root / "val2014").is_dir():
            raise JanusEvalError(f"COCO 2014 val images not found: expected {root / 'val2014'}/COCO_val2014_*.jpg; "
                                 f"fetch {COCO_URLS}")  # fmt: skip
        try:
            captions = json.loads(captions_file.read_text(encoding="utf-8"))
            docs = sample_pairs(captions)
        except (ValueError, KeyError, TypeError) as err:
            raise JanusEvalError(f"{captions_file} is not a COCO captions file ({type(err).__name__}: {err})") from err
        if not docs:
            raise JanusEvalError(f"{captions_file} has no captioned images")
        return DocSet.in_memory(docs, [captions_file])

    def doc_id(self, doc: dict[str, Any]) -> str:
        return str(doc["image_id"])

    # -- prompts and images -------------------------------------------------------------------
    def requests(self, docs: list[dict[str, Any]], base_seed: int) -> list[ImageRequest]:
        return [
            ImageRequest(id=str(doc["image_id"]), prompt=" ".join(doc["caption"].split()),
                         seed=derive_seed(base_seed, p, 0), path=f"images/{doc['image_id']:012d}.png", doc_index=p)
            for p, doc in enumerate(docs)
        ]  # fmt: skip

    # -- score --------------------------------------------------------------------------------
    def _reference_paths(self, records: list[dict[str, Any]], ctx: RunContext) -> list[Path]:
        from janus_eval.metrics.fid_images import folder_images

        val = self.root(ctx.data_root) / "val2014"
        if self.reference == "full-val2014":
            paths = folder_images(val)
        else:
            files = {str(doc["image_id"]): doc["file_name"] for doc in self.load(ctx).docs}
            unknown = [r["id"] for r in records if r["id"] not in files]
            if unknown:
                raise JanusEvalError(f"coco30k: record ids {unknown[:3]} are not in the sampled pairs")
            paths = [val / files[r["id"]] for r in records]
            absent = [p for p in paths if not p.is_file()]
            if absent:
                raise JanusEvalError(f"coco30k: {len(absent)} sampled val2014 images are missing, e.g. {absent[0]}")
        if len(paths) < 2:
            raise JanusEvalError(f"coco30k: FID needs at least 2 reference images, found {len(paths)} in {val}")
        return paths

    def aggregate(self, records: list[dict[str, Any]], ctx: RunContext | None = None) -> dict[str, float]:
        from janus_eval.metrics.fid_images import GIGAGAN_COCO, generated_paths

        ctx = ctx or RunContext()
        generated = generated_paths(run_folder(self.name, ctx), records, "coco30k")
        fid = self.fid(generated, self._reference_paths(records, ctx), GIGAGAN_COCO, ctx)
        return {"fid": fid.fid, "n_generated": float(fid.n_generated), "n_reference": float(fid.n_reference),
                **self.stand_in_label(ctx)}  # fmt: skip

    def card(self, ctx: RunContext | None = None) -> dict[str, Any]:
        ctx = ctx or RunContext()
        return {
            **super().card(ctx),
            "dataset_id": "MS-COCO 2014 val (captions_val2014.json + val2014/)",
            "sampling": f"{N_PAIRS} images by sha256('coco30k:{SAMPLE_SEED}:image:<id>') rank, one caption each by "
                        f"sha256('coco30k:{SAMPLE_SEED}:caption:<id>') mod #captions (sorted by annotation id)",
            "reference": self.reference,
            "fid": {"preprocess": "center crop + PIL LANCZOS 256 (GigaGAN), clean-fid 'clean' float bicubic 299",
                    **self.fid_card(ctx)},  # fmt: skip
        }
