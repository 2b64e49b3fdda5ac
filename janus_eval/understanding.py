"""The understanding pipeline: loaders -> prompts -> batches -> model -> scoring -> records.

Docs are read and their images decoded ahead of the model (``pipeline.loaded_windows``), length-sorted
within windows so batches pad little, answered a batch at a time, scored by the task's rules and
appended to the rank's record file. Records already written are skipped; records scored by another
scorer are scored again from their stored prediction, without the model.
"""

from __future__ import annotations

from contextlib import closing
from typing import Any, Callable, Protocol, runtime_checkable

from janus_eval.distributed import World
from janus_eval.io import append_jsonl, notice
from janus_eval.pipeline import loaded_windows
from janus_eval.run_options import RunOptions
from janus_eval.contract import IMAGE_PLACEHOLDER
from janus_eval.task import JanusEvalError, Task, UnderstandingTask, split_scores
from janus_eval.work import Batching, SizesBatches, TaskWork, batches, progress, windows

SORT_WINDOW = 32
"""Docs are length-sorted within windows of this many batches, so image reads stay local."""
AUTO_WINDOW_BATCH = 16
"""The batch size the sort window assumes under ``--batch-size auto``."""
RESCORE_BATCH = 64
"""Stored predictions scored again per call of the task's scorer."""


class UnderstandingModel(SizesBatches, Protocol):
    """What this pipeline asks of a model: answers to questions about images (and, without ``--batch-size``,
    a batch size)."""

    def understand(self, images: list[Any], questions: list[str], max_new_tokens: int,
                   system_prompt: str | None = None) -> list[str]: ...  # fmt: skip


@runtime_checkable
class ContextLimited(Protocol):
    """A model with a context limit (the Janus adapter; the tests' and bench's stand-ins have none)."""

    def prompt_overflow(self, question: str, n_images: int, new_tokens: int, system_prompt: str | None = None) -> int | None: ...

    @property
    def context_length(self) -> int: ...


@runtime_checkable
class PreparesInLoaders(Protocol):
    """A model whose image preprocessing (resize, pad, 8-bit levels) the loader workers do for it."""

    @property
    def loader_image_size(self) -> int: ...


class UnderstandingPipeline:
    """One run's understanding tasks; the model is loaded (``model()``) only when a sample needs an answer."""

    def __init__(self, options: RunOptions, world: World, device: str, model: Callable[[], UnderstandingModel],
                 batching: Batching, lock_path: Callable[[], Any]) -> None:  # fmt: skip
        self.options, self.world, self.device, self.model, self.batching = options, world, device, model, batching
        self._lock_path = lock_path
        """The run's lock file once held: loader workers close their inherited copy of it."""

    def run(self, work: TaskWork, task: UnderstandingTask) -> None:
        path = work.records_path(self.world)
        done = work.done_ids(self.world)
        self.rescore(work, task)
        pending = [(i, doc_id) for i, doc_id in zip(work.indices, work.ids) if doc_id not in done and self.world.owns(doc_id)]
        if not pending:
            return
        window = SORT_WINDOW * (self.options.batch_size or AUTO_WINDOW_BATCH)
        lock = self._lock_path()
        model = self.model()
        image_size = model.loader_image_size if isinstance(model, PreparesInLoaders) else None
        stream = loaded_windows(task, work.docset, [i for i, _ in pending], window, self.options.resolved_workers,
                                image_size, release=(lock,) if lock else (), device=self.device)  # fmt: skip
        with progress(task.name, len(done) + len(pending), len(done), self.options.show_progress) as advance, closing(stream):
            for chunk, loaded in zip(windows(list(range(len(pending))), window), stream):
                items = [pending[k] for k in chunk]
                docs = {item.index: item.doc or {} for item in loaded}
                images = {item.index: item.images for item in loaded}
                prompts, skipped = {}, []
                for i, doc_id in items:
                    try:
                        prompts[i] = self._checked_prompt(task, docs[i], doc_id)
                    except JanusEvalError as err:
                        skipped.append(self._bad_sample(task, doc_id, None, err))
                append_jsonl(path, skipped)
                advance(len(skipped))
                items = [item for item in items if item[0] in prompts]
                # Longest first within the window: less padding, and OOM shows up on the first batch.
                order = sorted(items, key=lambda item: -len(prompts[item[0]]))

                def size_of(item: tuple[int, str]) -> int:
                    prompt = prompts[item[0]]
                    n_images = max(1, prompt.count(IMAGE_PLACEHOLDER))
                    return self.batching.size(task.name, "understand", prompt, n_images, task.generation.max_new_tokens,
                                              task.system_prompt)  # fmt: skip

                for members in batches(order, size_of):
                    records = self._answer_batch(work, task, members, docs, images, prompts)
                    append_jsonl(path, records)
                    advance(len(records))

    def rescore(self, work: TaskWork, task: UnderstandingTask) -> None:
        """Score again, from the stored prediction, records scored by another scorer or with less than now."""
        key = work.scorer_key
        stale = [r for r in work.latest_records()
                 if self.world.owns(r["id"]) and not r.get("skipped") and (r.get("scorer") != key or task.needs_rescore(r, work.ctx))]  # fmt: skip
        index = {doc_id: i for i, doc_id in zip(work.indices, work.ids)}
        stale = [r for r in stale if r["id"] in index]
        for chunk in windows(stale, RESCORE_BATCH):
            docs = [work.docset.docs[index[r["id"]]] for r in chunk]
            scored = task.score_samples(docs, [r["prediction"] for r in chunk], work.ctx)
            updated = []
            for record, result in zip(chunk, scored):
                scores, info = split_scores(result)
                updated.append({**record, "scores": scores, "score_info": info, "scorer": key})
            append_jsonl(work.records_path(self.world), updated)

    def _answer_batch(self, work: TaskWork, task: UnderstandingTask, members: list[tuple[int, str]],
                      docs: dict[int, dict[str, Any]], decoded: dict[int, Any],
                      prompts: dict[int, str]) -> list[dict[str, Any]]:  # fmt: skip
        """One model call; a sample whose images did not decode is skipped or stops the run, in batch order."""
        from janus_eval.model import NonFiniteLogits

        skipped, usable, images = [], [], []
        for i, doc_id in members:
            got = decoded[i]
            if isinstance(got, JanusEvalError):
                skipped.append(self._bad_sample(task, doc_id, prompts[i], got))
            else:
                images.append(got)
                usable.append((i, doc_id))
        members = usable
        if not members:
            return skipped
        questions = [prompts[i] for i, _ in members]

        def call(ims: list[Any], qs: list[str]) -> list[str]:
            return self.model().understand(ims, qs, task.generation.max_new_tokens, system_prompt=task.system_prompt)

        try:
            raw = self.batching.within_memory(task.name, call, images, questions)
        except NonFiniteLogits as err:
            ids = [members[r][1] for r in err.rows]
            raise JanusEvalError(f"{task.name}: NaN or inf logits for sample ids {ids}; check the checkpoint and --dtype") from err
        records = []
        predictions = [task.postprocess(text) for text in raw]
        scored = task.score_samples([docs[i] for i, _ in members], predictions, work.ctx)
        for (i, doc_id), question, text, prediction, result in zip(members, questions, raw, predictions, scored):
            scores, info = split_scores(result)
            record = {"id": doc_id, "prompt": question, "prediction": prediction, "scores": scores, "score_info": info,
                      "scorer": work.scorer_key}  # fmt: skip
            if text != prediction:
                record["raw_prediction"] = text
            records.append(record)
        return skipped + records

    def _bad_sample(self, task: Task, doc_id: str, prompt: str | None, err: JanusEvalError) -> dict[str, Any]:
        """Stop on a bad sample (``--on-bad-image fail``), or record it as skipped, counted in the results."""
        if self.options.on_bad_image == "fail":
            raise JanusEvalError(f"{err} (pass --on-bad-image skip to skip and count such samples)") from err
        notice(f"skipping {task.name} sample {doc_id}: {err}")
        return {"id": doc_id, "prompt": prompt, "prediction": None, "scores": {}, "score_info": {}, "skipped": str(err)}

    def _checked_prompt(self, task: UnderstandingTask, doc: dict[str, Any], doc_id: str) -> str:
        """The sample's prompt, or a one-line error naming it: a null field, or a prompt over the model's context."""
        where = f"{task.name} sample {doc_id}"
        empty = [c for c in task.dataset.columns if doc.get(c) is None and c not in task.dataset.nullable]
        if empty:
            raise JanusEvalError(f"{where} has no value in column(s) {', '.join(empty)}")
        try:
            prompt = task.prompt(doc)
        except (TypeError, ValueError, KeyError, AttributeError) as err:
            raise JanusEvalError(f"{where}: its prompt cannot be built ({type(err).__name__}: {err})") from None
        model, new_tokens = self.model(), task.generation.max_new_tokens
        if not isinstance(model, ContextLimited):
            return prompt
        length = model.prompt_overflow(prompt, max(1, prompt.count(IMAGE_PLACEHOLDER)), new_tokens, task.system_prompt)
        if length is not None:
            raise JanusEvalError(f"{where}: its prompt is {length} tokens, which with {new_tokens} new tokens exceeds the "
                                 f"model's context of {model.context_length}")  # fmt: skip
        return prompt
