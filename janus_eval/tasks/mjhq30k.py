"""MJHQ-30K FID (Playground v2.5's aesthetic benchmark), the Janus paper's Table 4, with clean-fid defaults.

Data (``--data-root DATA``): a snapshot of the Hugging Face dataset ``playgroundai/MJHQ-30K`` with its
image zip unpacked: ``DATA/MJHQ-30K/meta_data.json`` (``{image_id: {"category", "prompt"}}``) and
``DATA/MJHQ-30K/mjhq30k_imgs/<category>/<image_id>.jpg`` (``mjhq30k_imgs.zip`` unpacked; category
folders directly under ``DATA/MJHQ-30K/`` or one ``mjhq30k_imgs/`` deeper work too). 10 categories x 3,000 images, 1024x1024.

Prompts: every ``meta_data.json`` entry, ordered by image id (hex, so ``--limit N`` takes a mix of
categories), one image each at ``images/<category>/<image_id>.png`` (the layout of the public
per-category evaluation scripts).

Metric: clean-fid ``compute_fid(real, generated)`` with its defaults - mode "clean" (float bicubic
resize straight to 299, no crop, no 256 step) and its TorchScript Inception-v3. ``fid`` is over all
images (every image file under the image folder vs every generated image; not the mean of the
categories); ``fid/<category>`` compares that category's generated images with its real folder
(3,000 vs 3,000 in a full run). A category with fewer than 2 generated images (``--limit``) has no key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from janus_eval.hfdata import FIXTURES, DocSet
from janus_eval.registry import task
from janus_eval.hints import hf_download
from janus_eval.task import DatasetSpec, ImageRequest, JanusEvalError, Metric, RunContext, derive_seed
from janus_eval.protocol import WHOLE_SET
from janus_eval.tasks.fid_base import COUNT, FID_METRIC, FidTask, run_folder

CATEGORIES = ("animals", "art", "fashion", "food", "indoor", "landscape", "logo", "people", "plants", "vehicles")
IMAGE_FOLDER = "mjhq30k_imgs"


@task("mjhq30k")
class Mjhq30k(FidTask):
    headline: ClassVar[str] = "fid"
    reference_version: ClassVar[str] = "clean-fid 0.1.35 compute_fid defaults (mode 'clean'), MJHQ-30K card protocol"
    dataset: ClassVar[DatasetSpec] = DatasetSpec(repo="MJHQ-30K", split="test", orgs=("playgroundai",), fixture="MJHQ-30K")
    metrics: ClassVar[tuple[Metric, ...]] = (
        FID_METRIC,
        Metric("fid/{category}", form="custom", higher_is_better=False, group="category", unit=WHOLE_SET),
        Metric("n_generated", **COUNT),
        Metric("n_reference", **COUNT),
    )

    # -- data ---------------------------------------------------------------------------------
    def root(self, data_root: Path | None) -> Path:
        return FIXTURES / "MJHQ-30K" if data_root is None else Path(data_root) / "MJHQ-30K"

    def image_root(self, data_root: Path | None) -> Path:
        """``<root>/mjhq30k_imgs/``; also ``<root>/`` and ``<root>/mjhq30k_imgs/mjhq30k_imgs/`` (the zip unpacked one
        level higher or lower)."""
        root = self.root(data_root)
        for candidate in (root / IMAGE_FOLDER, root, root / IMAGE_FOLDER / IMAGE_FOLDER):
            if any((candidate / c).is_dir() for c in CATEGORIES):
                return candidate
        raise JanusEvalError(f"MJHQ-30K images not found: expected {root / IMAGE_FOLDER}/<category>/<id>.jpg "
                             f"(unzip mjhq30k_imgs.zip from playgroundai/MJHQ-30K into {root})")  # fmt: skip

    def load(self, ctx: RunContext | Path | None = None) -> DocSet:
        data_root = RunContext.of(ctx).data_root
        root = self.root(data_root)
        meta_file = root / "meta_data.json"
        if not meta_file.is_file():
            raise JanusEvalError(f"MJHQ-30K metadata not found: expected {meta_file}; fetch it with "
                                 f"{hf_download('playgroundai/MJHQ-30K', str(root), dataset=True)}")
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
            docs = [{"id": str(key), "category": str(value["category"]), "prompt": str(value["prompt"])}
                    for key, value in sorted(meta.items())]  # fmt: skip
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise JanusEvalError(f"{meta_file} is not MJHQ-30K metadata {{id: {{category, prompt}}}} ({err})") from err
        if not docs:
            raise JanusEvalError(f"{meta_file} lists no images")
        unknown = sorted({d["category"] for d in docs} - set(CATEGORIES))
        if unknown:
            raise JanusEvalError(f"{meta_file}: unknown categories {unknown}; expected {', '.join(CATEGORIES)}")
        self.image_root(data_root)
        return DocSet.in_memory(docs, [meta_file])

    def doc_id(self, doc: dict[str, Any]) -> str:
        return doc["id"]

    # -- prompts and images -------------------------------------------------------------------
    def requests(self, docs: list[dict[str, Any]], base_seed: int) -> list[ImageRequest]:
        return [
            ImageRequest(id=doc["id"], prompt=doc["prompt"], seed=derive_seed(base_seed, p, 0),
                         path=f"images/{doc['category']}/{doc['id']}.png", doc_index=p)
            for p, doc in enumerate(docs)
        ]  # fmt: skip

    # -- score --------------------------------------------------------------------------------
    def aggregate(self, records: list[dict[str, Any]], ctx: RunContext | None = None) -> dict[str, float]:
        from janus_eval.metrics.fid_images import CLEANFID_DEFAULT, folder_images, generated_paths

        ctx = ctx or RunContext()
        generated = generated_paths(run_folder(self.name, ctx), records, "mjhq30k")
        categories = {doc["id"]: doc["category"] for doc in self.load(ctx).docs}
        unknown = [r["id"] for r in records if r["id"] not in categories]
        if unknown:
            raise JanusEvalError(f"mjhq30k: record ids {unknown[:3]} are not in meta_data.json")
        image_root = self.image_root(ctx.data_root)
        reference = folder_images(image_root)
        real = self._category_members(image_root, reference)
        subsets = {category: ([i for i, r in enumerate(records) if categories[r["id"]] == category], real.get(category, []))
                   for category in CATEGORIES}  # fmt: skip
        fid = self.fid(generated, reference, CLEANFID_DEFAULT, ctx, subsets)
        return {"fid": fid.fid, "n_generated": float(fid.n_generated), "n_reference": float(fid.n_reference),
                **self.stand_in_label(ctx), **{f"fid/{category}": value for category, value in fid.subsets.items()}}  # fmt: skip

    @staticmethod
    def _category_members(image_root: Path, reference: list[Path]) -> dict[str, list[int]]:
        """Each category folder's images as indices into ``reference`` (the per-category real sets)."""
        from janus_eval.metrics.fid_images import folder_images

        by_path = {str(p): i for i, p in enumerate(reference)}
        return {category: [by_path[str(p)] for p in folder_images(image_root / category)]
                for category in CATEGORIES if (image_root / category).is_dir()}  # fmt: skip

    def card(self, ctx: RunContext | None = None) -> dict[str, Any]:
        ctx = ctx or RunContext()
        return {
            **super().card(ctx),
            "order": "meta_data.json entries sorted by image id",
            "fid": {"preprocess": "clean-fid 'clean' float bicubic 299 (no crop, no 256 step)",
                    "overall": "all images vs all generated (not the mean of categories)", **self.fid_card(ctx)},  # fmt: skip
        }
