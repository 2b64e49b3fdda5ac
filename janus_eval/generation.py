"""The generation pipeline: prompts -> image batches -> PNG writes -> image scoring -> records.

Phase 1 makes every image not yet valid on disk; phase 2 scores images not yet recorded. The PNG is
the checkpoint of phase 1 (written atomically, verified on resume), the record that of phase 2, so a
kill at any point loses at most the images still queued for writing and one prompt's scores.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

from janus_eval.distributed import World
from janus_eval.io import append_jsonl
from janus_eval.overlap import PromptScorer
from janus_eval.pipeline import PngWriter
from janus_eval.records import valid_png
from janus_eval.run_options import RunOptions
from janus_eval.task import GenerationTask, ImageRequest, JanusEvalError, split_scores
from janus_eval.work import Batching, SizesBatches, TaskWork, batches, progress

PNG_THREADS = 4
"""Threads encoding and writing generated PNGs (zlib releases the GIL); none under ``--workers 0``."""


class ImageModel(SizesBatches, Protocol):
    """What this pipeline asks of a model: seeded images for prompts (and, without ``--batch-size``, a batch size)."""

    def generate_images(self, prompts: list[str], seeds: list[int], cfg_scale: float = 5.0,
                        temperature: float = 1.0) -> Any: ...  # fmt: skip


class GenerationPipeline:
    """One run's generation tasks; the model is loaded (``model()``) only when an image is missing."""

    def __init__(self, options: RunOptions, world: World, device: str, model: Callable[[], ImageModel],
                 batching: Batching) -> None:  # fmt: skip
        self.options, self.world, self.device, self.model, self.batching = options, world, device, model, batching

    def run(self, work: TaskWork, task: GenerationTask) -> None:
        docs = [work.docset.docs[i] for i in work.indices]
        task.prepare(docs, work.ctx)
        mine = [r for r in work.requests if self.owns(r)]
        missing = [r for r in mine if not valid_png(work.folder / r.path)]
        if missing:
            self._make_images(work, task, docs, missing, len(mine))
        self._score_images(work, task, docs)

    def owns(self, request: ImageRequest) -> bool:
        """Ranks own whole prompts: a prompt's images are always scored as one batch, whatever the rank count."""
        return self.world.owns(f"prompt:{request.doc_index}")

    def overlap_scoring(self, task: GenerationTask) -> bool:
        """Score beside generation only on a GPU: on CPU both would share the cores, and a CPU matmul's
        rounding depends on how many threads are free, so images would depend on the scorer's timing."""
        return _scores_each_image(task) and self.options.resolved_workers > 0 and self.device.startswith("cuda")

    def _make_images(self, work: TaskWork, task: GenerationTask, docs: list[dict[str, Any]], missing: list[ImageRequest],
                     total: int) -> None:  # fmt: skip
        """Generate longest prompts first; PNGs are encoded and written on threads while the next batch runs,
        and a task scoring each image (GenEval) scores every prompt whose images are all written meanwhile."""
        todo, current = self._unscored_groups(work) if self.overlap_scoring(task) else ([], set())
        scorer = PromptScorer(todo, {r.id for r in missing}, lambda group: self._score_group(work, task, docs, group, current))
        writer = PngWriter(PNG_THREADS if self.options.resolved_workers else 0)
        with progress(f"{task.name} images", total, total - len(missing), self.options.show_progress) as advance, \
                writer, scorer:  # fmt: skip
            order = sorted(missing, key=lambda r: -len(r.prompt))
            for members in batches(order, lambda r: self.batching.size(task.name, "generate", r.prompt)):
                images = self._generate(task, members)
                for request, pixels in zip(members, images):
                    scorer.written(request, writer.submit(work.folder / request.path, pixels))
                advance(len(members))

    def _generate(self, task: GenerationTask, members: list[ImageRequest]) -> Any:
        from janus_eval.model import NonFiniteLogits

        def call(prompts: list[str], seeds: list[int]) -> list[Any]:
            return list(self.model().generate_images(prompts, seeds, cfg_scale=task.cfg_scale, temperature=task.temperature))

        try:
            return self.batching.within_memory(task.name, call, [r.prompt for r in members], [r.seed for r in members])
        except NonFiniteLogits as err:
            ids = [members[r].id for r in err.rows]
            raise JanusEvalError(f"{task.name}: NaN or inf logits for sample ids {ids}; check the checkpoint and --dtype") from err

    def _unscored_groups(self, work: TaskWork) -> tuple[list[list[ImageRequest]], set[str]]:
        """This rank's prompts with an image not yet recorded by this scorer, and the ids that are."""
        work.done_ids(self.world)  # repairs a torn last line before anything is appended
        current = {r["id"] for r in work.latest_records() if r.get("scorer") == work.scorer_key}
        groups: dict[int, list[ImageRequest]] = {}
        for request in work.requests:
            if self.owns(request):
                groups.setdefault(request.doc_index, []).append(request)
        return [g for g in groups.values() if any(r.id not in current for r in g)], current

    def _score_images(self, work: TaskWork, task: GenerationTask, docs: list[dict[str, Any]]) -> None:
        """Score, a prompt's images at a time, every image of this rank not yet recorded with this scorer.

        A prompt with some images already scored is scored whole again (only the missing records are
        written): a batched scorer then always sees the same batch, whatever the interruptions.
        """
        todo, current = self._unscored_groups(work)
        total = sum(self.owns(r) for r in work.requests)
        left = sum(r.id not in current for g in todo for r in g)
        with progress(f"{task.name} scoring", total, total - left, self.options.show_progress and bool(todo)) as advance:
            for group in todo:
                advance(self._score_group(work, task, docs, group, current))

    def _score_group(self, work: TaskWork, task: GenerationTask, docs: list[dict[str, Any]], group: list[ImageRequest],
                     current: set[str]) -> int:  # fmt: skip
        """One prompt's images through the task's scorers; appends the records not yet there, returns how many."""
        scored = task.score_images([docs[r.doc_index] for r in group], [work.folder / r.path for r in group], work.ctx)
        records = [_image_record(r, result, work.scorer_key) for r, result in zip(group, scored) if r.id not in current]
        append_jsonl(work.records_path(self.world), records)
        return len(records)


def _image_record(request: ImageRequest, result: dict[str, Any], scorer: str) -> dict[str, Any]:
    scores, info = split_scores(result)
    return {"id": request.id, "prompt": request.prompt, "prediction": request.path, "seed": request.seed,
            "scores": scores, "score_info": info, "scorer": scorer}  # fmt: skip


def _scores_each_image(task: GenerationTask) -> bool:
    """GenEval scores images one prompt at a time; FID only scores the whole set at the end."""
    return type(task).score_images is not GenerationTask.score_images
