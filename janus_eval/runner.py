"""Run tasks against a model: batching, per-sample records, resume, aggregation, run directory.

A run directory holds ``run.json`` (the protocol card), ``results.json``, ``<task>/samples.jsonl``
and ``report.md``. Records are the truth: every aggregate is recomputed from them, and a rerun of
the same command skips the ids already recorded.
"""

from __future__ import annotations

import os
import time
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, TypeVar

from janus_eval import __version__
from janus_eval.distributed import World
from janus_eval.identity import TaskIdentity
from janus_eval.io import append_jsonl, notice, read_jsonl, sha256_file, weights_sha256, write_json
from janus_eval.lock import RunLock
from janus_eval.overlap import PromptScorer
from janus_eval.pipeline import PngWriter, default_workers, loaded_windows
from janus_eval.preflight import prepare_all
from janus_eval.provenance import environment, now, read_json, tiny_model_hash
from janus_eval.records import latest_by_id, merge_task_records, read_task_records, valid_png
from janus_eval.registry import check_name, get_task
from janus_eval.settle import TaskClaim, settle
from janus_eval.contract import IMAGE_PLACEHOLDER, RunContext
from janus_eval.task import (
    GenerationTask,
    ImageRequest,
    PROTOCOLS,
    JanusEvalError,
    Task,
    UnderstandingTask,
    split_scores,
)

if TYPE_CHECKING:
    from janus_eval.hfdata import DocSet
    from janus_eval.model import JanusAdapter

T = TypeVar("T")

SORT_WINDOW = 32
"""Docs are length-sorted within windows of this many batches, so image reads stay local."""
AUTO_WINDOW_BATCH = 16
"""The batch size the sort window assumes under ``--batch-size auto``."""
PNG_THREADS = 4
"""Threads encoding and writing generated PNGs (zlib releases the GIL); none under ``--workers 0``."""


@dataclass
class RunConfig:
    tasks: list[str]
    out: Path
    ckpt: str | None = None
    data_root: Path | None = None
    limit: int | None = None
    batch_size: int | None = None
    """None: chosen per batch from free GPU memory (8 on CPU), then halved for good after an OOM."""
    seed: int = 42
    device: str = "cpu"
    dtype: str | None = None
    protocol: str = "lmms-eval"
    task_options: dict[str, dict[str, str]] = field(default_factory=dict)
    on_bad_image: str = "fail"
    """``fail`` stops at a corrupt image; ``skip`` records the sample as skipped and counts it."""
    overwrite: bool = False
    """Replace a run of a different checkpoint/config in ``out`` instead of refusing."""
    inception_weights: Path | None = None
    """FID tasks' Inception file (default ``<data-root>/weights/``)."""
    fid_backend: str | None = None
    """None: clean-fid (the protocol)."""
    judge_url: str | None = None
    """OpenAI-compatible endpoint for judge-scored tasks (MM-Vet); with neither url nor model, no judge."""
    judge_model: str | None = None
    judge_key_env: str = "OPENAI_API_KEY"
    judge_timeout: float = 60.0
    """Seconds per judge request before it counts as failed."""
    judge_concurrency: int = 1
    """Judge requests in flight at once (records and cache are the same at any value)."""
    """Per task, option name -> command-line value (``-T geneval.images_per_prompt=2``)."""
    show_progress: bool = True
    workers: int | None = None
    """Processes that read and decode understanding samples ahead of the model; None: from the CPU count; 0: all
    in-process, PNGs written in line too (the serial baseline ``bench --mode pipeline`` compares against)."""

    @property
    def resolved_workers(self) -> int:
        return default_workers() if self.workers is None else self.workers

    def validate(self) -> None:
        if not self.tasks:
            raise JanusEvalError("no task given; pass --tasks, e.g. --tasks pope")
        for name in self.tasks:
            check_name(name)
        if len(set(self.tasks)) != len(self.tasks):
            raise JanusEvalError(f"a task is listed twice in --tasks {','.join(self.tasks)}")
        if self.limit is not None and self.limit < 1:
            raise JanusEvalError(f"--limit must be a positive number of samples, got {self.limit}")
        if self.on_bad_image not in ("fail", "skip"):
            raise JanusEvalError(f"--on-bad-image must be fail or skip, got {self.on_bad_image!r}")
        if self.workers is not None and self.workers < 0:
            raise JanusEvalError(f"--workers must be 0 (in-process) or more, got {self.workers}")
        if self.batch_size is not None and self.batch_size < 1:
            raise JanusEvalError(f"--batch-size must be at least 1, got {self.batch_size}")
        for name in self.task_options:
            if name not in self.tasks:
                raise JanusEvalError(f"-T option for task {name!r}, which is not in --tasks {','.join(self.tasks)}")
        if self.judge_url is not None:
            from janus_eval.metrics.judge import check_judge_url

            check_judge_url(self.judge_url)
        if self.judge_timeout <= 0 or self.judge_concurrency < 1:
            raise JanusEvalError("--judge-timeout must be positive and --judge-concurrency at least 1")
        from janus_eval.tasks.fid_base import FID_BACKENDS

        if self.fid_backend is not None and self.fid_backend not in FID_BACKENDS:
            raise JanusEvalError(f"unknown --fid-backend {self.fid_backend!r}; expected one of: {', '.join(FID_BACKENDS)}")
        both = {"inception_weights": ("--inception-weights", self.inception_weights), "fid_backend": ("--fid-backend", self.fid_backend)}
        for task_name, options in self.task_options.items():
            for option, (flag, value) in both.items():
                if option in options and value is not None:
                    raise JanusEvalError(f"-T {task_name}.{option} and {flag} both given; pass one of them")
        if self.ckpt is not None:  # a corrupt weight file fails here, before anything in --out is touched
            from janus_eval.model.checkpoint import check_weight_files, detect_format

            detect_format(Path(self.ckpt))
            check_weight_files(Path(self.ckpt))


@dataclass
class TaskRun:
    """One task's docs, limited, with ids checked for uniqueness."""

    task: Task
    docset: DocSet
    indices: list[int]
    ids: list[str] = field(default_factory=list)
    identity: TaskIdentity | None = None
    """Set by the runner once the task's inputs are known to match its folder."""
    ctx: RunContext = field(default_factory=RunContext)
    """What the run gives the task (data root, task folder, device, judge, scorer weights)."""
    requests: list[ImageRequest] = field(default_factory=list)
    """Generation tasks only: every image to make; ``ids`` are then the request ids."""
    full_size: int = 0
    """Samples in the whole benchmark (images for generation tasks), to mark subset runs."""

    @property
    def dir_name(self) -> str:
        return self.task.name


def _check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise JanusEvalError(f"cannot write to --out {out}: {err.strerror or err}") from err


def _context(task: Task, config: RunConfig, device: str) -> RunContext:
    from janus_eval.metrics.judge import JudgeSettings

    judge = JudgeSettings.from_flags(config.judge_url, config.judge_model, config.judge_key_env, config.judge_timeout,
                                     config.judge_concurrency)  # fmt: skip
    return RunContext(data_root=config.data_root, task_dir=Path(config.out) / task.name, device=device, judge=judge,
                      inception_weights=config.inception_weights, fid_backend=config.fid_backend)  # fmt: skip


def _prepare(task: Task, config: RunConfig, device: str) -> TaskRun:
    ctx = _context(task, config, device)
    docset = task.load(ctx)
    count = len(docset) if config.limit is None else min(config.limit, len(docset))
    indices = list(range(count))
    requests: list[ImageRequest] = []
    if isinstance(task, GenerationTask):
        requests = task.requests([docset.docs[i] for i in indices], config.seed)
        ids = [r.id for r in requests]
        full_size = len(requests) if count == len(docset) else len(task.requests(docset.docs, config.seed))
    else:
        ids = [task.doc_id(docset.docs[i]) for i in indices]
        full_size = len(docset)
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise JanusEvalError(f"{task.name}: sample id {dup!r} occurs more than once in {docset.files[0].parent}")
    return TaskRun(task=task, docset=docset, indices=indices, ids=ids, ctx=ctx, requests=requests, full_size=full_size)


def _windows(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _batches(items: list[T], size_of: Callable[[T], int]) -> Iterator[list[T]]:
    """Consecutive batches, each sized (lazily, after the previous one ran) from its first item."""
    start = 0
    while start < len(items):
        size = max(1, size_of(items[start]))
        yield items[start : start + size]
        start += size


class Runner:
    def __init__(self, config: RunConfig, model_factory: Callable[[], JanusAdapter] | None = None,
                 tasks: list[Task] | None = None) -> None:  # fmt: skip
        """``tasks``: already-built task objects for ``config.tasks`` (the bench injects its random scorers)."""
        config.validate()
        self.config = config
        self._tasks = tasks
        self.out = Path(config.out)
        self._model_factory = model_factory
        self._model: JanusAdapter | None = None
        self.world = World.from_env()
        self._oom_limit: dict[str, int] = {}
        """Per task, the batch size that an out-of-memory error halved down to."""
        self._lock_path: Path | None = None
        self.on_plan: Callable[[dict[str, tuple[int, str]]], None] | None = None
        """Called once the tasks are loaded with {task: (count, "samples" | "images")}: the work ahead."""
        """The run's lock file once held: loader workers close their inherited copy of it."""

    @property
    def model(self) -> JanusAdapter:
        """Loaded on first use: a finished run re-aggregates without touching weights."""
        if self._model is None:
            if self._model_factory is not None:
                self._model = self._model_factory()
            else:
                from janus_eval.model import load

                self._model = load(self.config.ckpt, device=self.device, dtype=self.config.dtype)
        return self._model

    # -- the run ------------------------------------------------------------------------------
    def run(self) -> dict[str, dict[str, float]]:
        self.world = self.world.launched()  # first: rank 0 hands the launch id to ranks waiting for it
        tasks = self._tasks or [get_task(name, self.config.protocol) for name in self.config.tasks]
        for task in tasks:
            task.configure(**self.config.task_options.get(task.name, {}))
        runs = prepare_all(tasks, lambda t: _prepare(t, self.config, self.device), lambda r: r.ctx)
        _check_writable(self.out)
        if self.on_plan is not None and self.world.is_main:
            self.on_plan({r.task.name: (len(r.ids), "images" if r.requests else "samples") for r in runs})
        self._set_identities(runs)
        lock = RunLock(self.out, self.world.rank, self.world.token)
        try:
            first = lock.acquire()
            self._lock_path = lock.path
            claims = [TaskClaim(r.dir_name, r.identity, r.ids) for r in runs]  # type: ignore[arg-type]
            settle(self.out, claims, self.config.overwrite, first, PROTOCOLS)
            if first:
                lock.publish()  # only now may this launch's other ranks read and write records
            try:
                for task_run in runs:
                    self._run_task(task_run)
            except BaseException as err:
                self.world.mark(self.out, "failed", str(err) or type(err).__name__)
                raise
            self.world.mark(self.out, "done")
            if not self.world.is_main:
                return {}
            if self.world.size > 1:
                self.world.wait_for_all(self.out)
            return self.finish(runs)
        finally:
            lock.release()

    @property
    def device(self) -> str:
        """This rank's device: ``cuda`` under torchrun means the rank's own GPU, for the model and the scorers."""
        device = self.config.device
        if device == "cuda" and self.world.size > 1:
            device = f"cuda:{self.world.local_rank}"
        return device

    # -- what the records in --out were made from ---------------------------------------------
    def _run_wide_identity(self) -> dict[str, Any]:
        import torch

        from janus_eval.model import resolve_dtype

        try:
            dtype = str(resolve_dtype(self.config.dtype, torch.device(self.device))).removeprefix("torch.")
        except RuntimeError as err:
            raise JanusEvalError(f"bad --device {self.config.device!r}: {err}") from err
        return {"checkpoint_sha256": self._checkpoint_sha256(), "dtype": dtype, "seed": self.config.seed,
                "protocol": self.config.protocol}  # fmt: skip

    def _checkpoint_sha256(self) -> str:
        if not hasattr(self, "_ckpt_sha"):
            ckpt = self.config.ckpt
            self._ckpt_sha = f"embedded-tiny:{tiny_model_hash()}" if ckpt is None else weights_sha256(Path(ckpt))
        return self._ckpt_sha

    def _task_identity(self, task_run: TaskRun, run_wide: dict[str, Any]) -> TaskIdentity:
        task = task_run.task
        # Keyed by the path below the files' common folder: GQA's two configs share a file name, and a moved
        # data root is still the same data.
        files = task_run.docset.files
        root = Path(os.path.commonpath(files)) if len(files) > 1 else files[0].parent
        data = {str(f.relative_to(root)): sha256_file(f) for f in files}
        # the task's own protocol: a generation task's does not follow --protocol (see identity.py)
        inputs = {**run_wide, "protocol": task.protocol, "data_sha256": data, "options": task.option_values()}
        return TaskIdentity(inputs=inputs, scoring=task.scoring_identity(task_run.ctx))

    def _set_identities(self, runs: list[TaskRun]) -> None:
        """What each task's records are made from (weights and data hashed here, before the lock, read-only)."""
        run_wide = self._run_wide_identity()
        for task_run in runs:
            task_run.identity = self._task_identity(task_run, run_wide)

    def _identity(self) -> dict[str, Any]:
        """The run-wide inputs, as ``run.json`` shows them."""
        return {"checkpoint": self.config.ckpt or "embedded-tiny", **self._run_wide_identity()}

    def _records_path(self, task_run: TaskRun) -> Path:
        """This rank's record file (``samples.jsonl`` when running alone)."""
        return self.out / task_run.dir_name / self.world.records_name()

    def _done_ids(self, task_run: TaskRun) -> set[str]:
        """Ids recorded by any rank of any earlier launch (own file repaired if torn)."""
        read_jsonl(self._records_path(task_run), repair=True)
        return {r["id"] for r in read_task_records(self.out / task_run.dir_name)}

    def _run_task(self, task_run: TaskRun) -> None:
        if isinstance(task_run.task, GenerationTask):
            self._run_generation(task_run)
        else:
            self._run_understanding(task_run)

    def _run_understanding(self, task_run: TaskRun) -> None:
        task = task_run.task
        assert isinstance(task, UnderstandingTask)
        path = self._records_path(task_run)
        done = self._done_ids(task_run)
        self._rescore(task_run)
        pending = [(i, doc_id) for i, doc_id in zip(task_run.indices, task_run.ids)
                   if doc_id not in done and self.world.owns(doc_id)]  # fmt: skip
        if not pending:
            return
        window = SORT_WINDOW * (self.config.batch_size or AUTO_WINDOW_BATCH)
        stream = loaded_windows(task, task_run.docset, [i for i, _ in pending], window, self.config.resolved_workers,
                                self._encoder_size(), release=(self._lock_path,) if self._lock_path else (),
                                device=self.device)  # fmt: skip
        with _progress(task.name, len(done) + len(pending), len(done), self.config.show_progress) as advance, closing(stream):
            for chunk, loaded in zip(_windows(list(range(len(pending))), window), stream):
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
                    return self._batch_size(task.name, "understand", prompt, n_images,
                                            task.generation.max_new_tokens, task.system_prompt)  # fmt: skip

                for members in _batches(order, size_of):
                    records = self._understand_batch(task_run, members, docs, images, prompts)
                    append_jsonl(path, records)
                    advance(len(records))

    def _encoder_size(self) -> int | None:
        """The Janus adapter's square input size: the loaders resize, pad and quantise images to it so the
        model only copies them to its device; a stand-in adapter may ask for it with ``loader_image_size``
        (the pipeline bench's null model), else None (the loaders hand over decoded images)."""
        from janus_eval.model import JanusAdapter

        if isinstance(self.model, JanusAdapter):
            return self.model.image_size
        return getattr(self.model, "loader_image_size", None)

    def _scorer_key(self, task_run: TaskRun) -> str:
        assert task_run.identity is not None
        return task_run.identity.scorer_key

    def _rescore(self, task_run: TaskRun) -> None:
        """Score again, from the stored prediction, records scored by another scorer or with less than now."""
        task = task_run.task
        assert isinstance(task, UnderstandingTask)
        key = self._scorer_key(task_run)
        stale = [r for r in self._latest_records(task_run)
                 if self.world.owns(r["id"]) and not r.get("skipped") and (r.get("scorer") != key or task.needs_rescore(r, task_run.ctx))]  # fmt: skip
        index = {doc_id: i for i, doc_id in zip(task_run.indices, task_run.ids)}
        stale = [r for r in stale if r["id"] in index]
        for batch in _windows(list(range(len(stale))), 64):
            chunk = [stale[k] for k in batch]
            docs = [task_run.docset.docs[index[r["id"]]] for r in chunk]
            scored = task.score_samples(docs, [r["prediction"] for r in chunk], task_run.ctx)
            updated = []
            for record, result in zip(chunk, scored):
                scores, info = split_scores(result)
                updated.append({**record, "scores": scores, "score_info": info, "scorer": key})
            append_jsonl(self._records_path(task_run), updated)

    def _latest_records(self, task_run: TaskRun) -> list[dict[str, Any]]:
        """One record per id: the last one written (a re-scored record follows the one it replaces)."""
        return list(latest_by_id(read_task_records(self.out / task_run.dir_name)).values())

    def _understand_batch(
        self,
        task_run: TaskRun,
        members: list[tuple[int, str]],
        docs: dict[int, dict[str, Any]],
        decoded: dict[int, list[Any] | JanusEvalError],
        prompts: dict[int, str],
    ) -> list[dict[str, Any]]:
        """One model call; a sample whose images did not decode is skipped or stops the run, in batch order."""
        from janus_eval.model import NonFiniteLogits

        task, scorer = task_run.task, self._scorer_key(task_run)
        assert isinstance(task, UnderstandingTask)

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
        try:
            raw = self._understand_with_backoff(task, images, questions)
        except NonFiniteLogits as err:
            ids = [members[r][1] for r in err.rows]
            raise JanusEvalError(f"{task.name}: NaN or inf logits for sample ids {ids}; check the checkpoint and --dtype") from err
        records = []
        predictions = [task.postprocess(text) for text in raw]
        scored = task.score_samples([docs[i] for i, _ in members], predictions, task_run.ctx)
        for (i, doc_id), question, text, prediction, result in zip(members, questions, raw, predictions, scored):
            scores, info = split_scores(result)
            record = {"id": doc_id, "prompt": question, "prediction": prediction, "scores": scores, "score_info": info,
                      "scorer": scorer}  # fmt: skip
            if text != prediction:
                record["raw_prediction"] = text
            records.append(record)
        return skipped + records

    def _bad_sample(self, task: Task, doc_id: str, prompt: str | None, err: JanusEvalError) -> dict[str, Any]:
        """Stop on a bad sample (``--on-bad-image fail``), or record it as skipped, counted in the results."""
        if self.config.on_bad_image == "fail":
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
        new_tokens, model = task.generation.max_new_tokens, self.model
        if not hasattr(model, "context_length"):  # a stand-in adapter (tests, bench) without a context limit
            return prompt
        n_images = max(1, prompt.count(IMAGE_PLACEHOLDER))
        # A token covers at most 4 characters' worth of bytes... or more: only tokenise prompts that could be too long.
        if 4 * len(prompt) + n_images * (model.num_image_tokens + 2) + new_tokens + 64 > model.context_length:
            length = model.prompt_length(prompt, n_images, task.system_prompt)
            if length + new_tokens > model.context_length:
                raise JanusEvalError(
                    f"{where}: its prompt is {length} tokens, which with {new_tokens} new tokens exceeds the model's "
                    f"context of {model.context_length}"
                )
        return prompt

    def _understand_with_backoff(self, task: UnderstandingTask, images: list[Any], questions: list[str]) -> list[str]:
        def call(ims: list[Any], qs: list[str]) -> list[str]:
            return self.model.understand(ims, qs, task.generation.max_new_tokens, system_prompt=task.system_prompt)

        return self._within_memory(task.name, call, images, questions)

    def _batch_size(self, task_name: str, kind: Any, prompt: str, n_images: int = 0, new_tokens: int = 0,
                    system_prompt: str | None = None) -> int:  # fmt: skip
        """``--batch-size``, or the largest that fits free memory for this prompt; never above an OOM's limit."""
        size = self.config.batch_size or self.model.batch_size_for(kind, prompt, n_images, new_tokens, system_prompt)
        return min(size, self._oom_limit.get(task_name, size))

    def _within_memory(self, task_name: str, call: Callable[..., list[Any]], *columns: list[Any]) -> list[Any]:
        """``call`` over the batch; on CUDA out-of-memory halve the size, for this batch and the task's next ones.

        NaN/inf rows of a sub-slice are reported as rows of the whole batch.
        """
        import torch

        from janus_eval.model import NonFiniteLogits

        results: list[Any] = []
        start, total = 0, len(columns[0])
        while start < total:
            size = min(total - start, self._oom_limit.get(task_name, total))
            try:
                results += call(*(c[start : start + size] for c in columns))
            except NonFiniteLogits as err:
                raise NonFiniteLogits([start + row for row in err.rows]) from None
            except torch.cuda.OutOfMemoryError:
                if size == 1:
                    raise JanusEvalError("out of GPU memory with a batch of one sample; use a smaller model or dtype") from None
                torch.cuda.empty_cache()
                self._oom_limit[task_name] = size // 2
                continue
            start += size
        return results

    # -- generation ---------------------------------------------------------------------------
    def _run_generation(self, task_run: TaskRun) -> None:
        """Phase 1 makes every image not yet valid on disk; phase 2 scores images not yet recorded.

        The PNG is the checkpoint of phase 1 (written atomically, verified on resume), the record
        that of phase 2, so a kill at any point loses at most the images still queued for writing
        and one prompt's scores.
        """
        task = task_run.task
        assert isinstance(task, GenerationTask)
        task_dir = self.out / task.name
        docs = [task_run.docset.docs[i] for i in task_run.indices]
        task.prepare(docs, task_run.ctx)
        mine = [r for r in task_run.requests if self._owns(r)]
        missing = [r for r in mine if not valid_png(task_dir / r.path)]
        if missing:
            self._make_images(task_run, docs, missing, len(mine))
        self._score_images(task_run, docs)

    def _make_images(self, task_run: TaskRun, docs: list[dict[str, Any]], missing: list[ImageRequest], total: int) -> None:
        """Generate longest prompts first; PNGs are encoded and written on threads while the next batch runs,
        and a task scoring each image (GenEval) scores every prompt whose images are all written meanwhile."""
        task, task_dir = task_run.task, self.out / task_run.dir_name
        assert isinstance(task, GenerationTask)
        todo, current = self._unscored_groups(task_run) if self._overlap_scoring(task) else ([], set())
        scorer = PromptScorer(todo, {r.id for r in missing}, lambda group: self._score_group(task_run, docs, group, current))
        writer = PngWriter(PNG_THREADS if self.config.resolved_workers else 0)
        with _progress(f"{task.name} images", total, total - len(missing), self.config.show_progress) as advance, \
                writer, scorer:  # fmt: skip
            order = sorted(missing, key=lambda r: -len(r.prompt))
            for members in _batches(order, lambda r: self._batch_size(task.name, "generate", r.prompt)):
                images = self._generate_with_backoff(task, members)
                for request, pixels in zip(members, images):
                    scorer.written(request, writer.submit(task_dir / request.path, pixels))
                advance(len(members))

    def _overlap_scoring(self, task: GenerationTask) -> bool:
        """Score beside generation only on a GPU: on CPU both would share the cores, and a CPU matmul's
        rounding depends on how many threads are free, so images would depend on the scorer's timing."""
        return _scores_each_image(task) and self.config.resolved_workers > 0 and self.device.startswith("cuda")

    def _unscored_groups(self, task_run: TaskRun) -> tuple[list[list[ImageRequest]], set[str]]:
        """This rank's prompts with an image not yet recorded by this scorer, and the ids that are."""
        self._done_ids(task_run)  # repairs a torn last line before anything is appended
        key = self._scorer_key(task_run)
        current = {r["id"] for r in self._latest_records(task_run) if r.get("scorer") == key}
        groups: dict[int, list[ImageRequest]] = {}
        for request in task_run.requests:
            if self._owns(request):
                groups.setdefault(request.doc_index, []).append(request)
        return [g for g in groups.values() if any(r.id not in current for r in g)], current

    def _score_images(self, task_run: TaskRun, docs: list[dict[str, Any]]) -> None:
        """Score, a prompt's images at a time, every image of this rank not yet recorded with this scorer.

        A prompt with some images already scored is scored whole again (only the missing records are
        written): a batched scorer then always sees the same batch, whatever the interruptions.
        """
        todo, current = self._unscored_groups(task_run)
        total = sum(self._owns(r) for r in task_run.requests)
        left = sum(r.id not in current for g in todo for r in g)
        name = f"{task_run.task.name} scoring"
        with _progress(name, total, total - left, self.config.show_progress and bool(todo)) as advance:
            for group in todo:
                advance(self._score_group(task_run, docs, group, current))

    def _score_group(self, task_run: TaskRun, docs: list[dict[str, Any]], group: list[ImageRequest],
                     current: set[str]) -> int:  # fmt: skip
        """One prompt's images through the task's scorers; appends the records not yet there, returns how many."""
        task, task_dir = task_run.task, self.out / task_run.dir_name
        assert isinstance(task, GenerationTask)
        scored = task.score_images([docs[r.doc_index] for r in group], [task_dir / r.path for r in group], task_run.ctx)
        key = self._scorer_key(task_run)
        records = [self._image_record(r, result, key) for r, result in zip(group, scored) if r.id not in current]
        append_jsonl(self._records_path(task_run), records)
        return len(records)

    def _owns(self, request: ImageRequest) -> bool:
        """Ranks own whole prompts: a prompt's images are always scored as one batch, whatever the rank count."""
        return self.world.owns(f"prompt:{request.doc_index}")

    @staticmethod
    def _image_record(request: ImageRequest, result: dict[str, Any], scorer: str) -> dict[str, Any]:
        scores, info = split_scores(result)
        return {"id": request.id, "prompt": request.prompt, "prediction": request.path, "seed": request.seed,
                "scores": scores, "score_info": info, "scorer": scorer}  # fmt: skip

    def _generate_with_backoff(self, task: GenerationTask, members: list[ImageRequest]) -> Any:
        from janus_eval.model import NonFiniteLogits

        def call(prompts: list[str], seeds: list[int]) -> list[Any]:
            return list(self.model.generate_images(prompts, seeds, cfg_scale=task.cfg_scale, temperature=task.temperature))

        try:
            return self._within_memory(task.name, call, [r.prompt for r in members], [r.seed for r in members])
        except NonFiniteLogits as err:
            ids = [members[r].id for r in err.rows]
            raise JanusEvalError(f"{task.name}: NaN or inf logits for sample ids {ids}; check the checkpoint and --dtype") from err

    # -- results ------------------------------------------------------------------------------
    def finish(self, runs: list[TaskRun]) -> dict[str, dict[str, float]]:
        """Recompute every aggregate from the records and write the run directory's summaries."""
        results: dict[str, dict[str, float]] = {}
        sample_counts: dict[str, int] = {}
        failures: list[str] = []
        for task_run in runs:
            records = merge_task_records(self.out / task_run.dir_name, task_run.ids)
            failures += filter(None, [task_run.task.scoring_failure(records)])
            scored = [r for r in records if not r.get("skipped")]
            if not scored:
                raise JanusEvalError(f"{task_run.task.name}: every sample was skipped; nothing to score")
            results[task_run.task.name] = task_run.task.aggregate(scored, task_run.ctx)
            if len(scored) < len(records):
                results[task_run.task.name]["skipped_samples"] = float(len(records) - len(scored))
            sample_counts[task_run.task.name] = len(records)
        previous = read_json(self.out / "results.json")
        merged = {**previous, **results}
        write_json(self.out / "results.json", merged)
        write_json(self.out / "run.json", self._run_card(runs, sample_counts))
        from janus_eval.results.report import write_reports

        write_reports(self.out)
        if failures:  # after every record and summary is written: a rerun continues from them
            raise JanusEvalError(" | ".join(failures))
        return results

    def _run_card(self, runs: list[TaskRun], sample_counts: dict[str, int]) -> dict[str, Any]:
        card = read_json(self.out / "run.json")
        tasks = card.get("tasks", {})
        for task_run in runs:
            full = task_run.full_size
            tasks[task_run.task.name] = {
                **task_run.task.card(task_run.ctx),
                "data_files": {str(f): sha256_file(f) for f in task_run.docset.files},
                "samples": sample_counts[task_run.task.name],
                "dataset_size": full,
                "subset": sample_counts[task_run.task.name] < full,
                "identity": task_run.identity.as_json() if task_run.identity else None,
            }
        config = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self.config).items()}
        config.pop("show_progress", None)
        return {
            "janus_eval_version": __version__,
            "created": card.get("created", now()),
            "updated": now(),
            "identity": self._identity(),
            "checkpoint": self._checkpoint_card(),
            "config": config,
            "environment": environment(),
            "tasks": tasks,
        }

    def _checkpoint_card(self) -> dict[str, Any]:
        """The weights this run used, hashed now (every task's records were checked against the same hash)."""
        sha = self._checkpoint_sha256()
        if self.config.ckpt is None:
            return {"path": None, "name": "embedded tiny Janus (random weights)", "sha256": sha.removeprefix("embedded-tiny:")}
        return {"path": str(Path(self.config.ckpt).resolve()), "sha256": sha}


def _scores_each_image(task: GenerationTask) -> bool:
    """GenEval scores images one prompt at a time; FID only scores the whole set at the end."""
    return type(task).score_images is not GenerationTask.score_images


class _progress:
    """A rich progress bar (samples/s and ETA) that degrades to nothing when disabled."""

    def __init__(self, name: str, total: int, done: int, enabled: bool) -> None:
        self.name, self.total, self.done, self.enabled = name, total, done, enabled

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._start, self._new = time.perf_counter(), 0
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=Console(stderr=True),
        )  # fmt: skip
        self.progress.start()
        self.bar = self.progress.add_task(self.name, total=self.total, completed=self.done, rate="")

        def advance(n: int) -> None:
            self._new += n
            rate = self._new / max(time.perf_counter() - self._start, 1e-9)
            self.progress.update(self.bar, advance=n, rate=f"{rate:.1f} samples/s")

        return advance

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.progress.stop()
