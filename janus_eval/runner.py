"""A run: lock ``--out``, check what its records were made from, hand each task to its pipeline, write the run card.

A run directory holds ``run.json`` (the protocol card), ``results.json``, ``<task>/samples.jsonl``
and ``report.md``. Records are the truth: every aggregate is recomputed from them, and a rerun of
the same command skips the ids already recorded. What happens to one sample is the business of the
understanding pipeline (``understanding.py``) or the generation pipeline (``generation.py``).
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from janus_eval import __version__
from janus_eval.distributed import World
from janus_eval.generation import GenerationPipeline
from janus_eval.identity import TaskIdentity
from janus_eval.io import sha256_file, weights_sha256, write_json
from janus_eval.lock import RunLock
from janus_eval.preflight import prepare_all
from janus_eval.provenance import environment, now, read_json, tiny_model_hash
from janus_eval.records import merge_task_records
from janus_eval.registry import get_task
from janus_eval.run_options import RunOptions
from janus_eval.settle import TaskClaim, settle
from janus_eval.contract import RunContext
from janus_eval.task import PROTOCOLS, GenerationTask, JanusEvalError, Task
from janus_eval.understanding import UnderstandingPipeline
from janus_eval.work import Batching, TaskWork, plan_work

if TYPE_CHECKING:
    from janus_eval.generation import ImageModel
    from janus_eval.understanding import UnderstandingModel


def _check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise JanusEvalError(f"cannot write to --out {out}: {err.strerror or err}") from err


def _context(task: Task, options: RunOptions, device: str) -> RunContext:
    from janus_eval.metrics.judge import JudgeSettings

    judge = JudgeSettings.from_flags(options.judge_url, options.judge_model, options.judge_key_env, options.judge_timeout,
                                     options.judge_concurrency)  # fmt: skip
    return RunContext(data_root=options.data_root, task_dir=Path(options.out) / task.name, device=device, judge=judge,
                      inception_weights=options.inception_weights, fid_backend=options.fid_backend)  # fmt: skip


class Runner:
    def __init__(self, options: RunOptions, model_factory: Callable[[], Any] | None = None,
                 tasks: list[Task] | None = None) -> None:  # fmt: skip
        """``model_factory``: a stand-in for the Janus adapter (tests, bench); it needs only what the pipelines of
        its tasks ask for (``UnderstandingModel``, ``ImageModel``). ``tasks``: already-built task objects for
        ``options.tasks`` (the bench injects its random scorers)."""
        options.validate()
        self.options = options
        self._tasks = tasks
        self.out = Path(options.out)
        self._model_factory = model_factory
        self._model: Any = None
        self.world = World.from_env()
        self._lock_path: Path | None = None
        """The run's lock file once held: loader workers close their inherited copy of it."""
        self.on_plan: Callable[[dict[str, tuple[int, str]]], None] | None = None
        """Called once the tasks are loaded with {task: (count, "samples" | "images")}: the work ahead."""
        self.on_submission: Callable[[str, Path, str | None], None] | None = None
        """Called with (task, file, who grades it) for every submission file a task wrote."""
        batching = Batching(options.batch_size, self.model)
        self.understanding = UnderstandingPipeline(options, self.world, self.device, self.model, batching,
                                                   lambda: self._lock_path)  # fmt: skip
        self.generation = GenerationPipeline(options, self.world, self.device, self.model, batching)

    def model(self) -> UnderstandingModel | ImageModel | Any:
        """Loaded on first use: a finished run re-aggregates without touching weights."""
        if self._model is None:
            if self._model_factory is not None:
                self._model = self._model_factory()
            else:
                from janus_eval.model import load

                self._model = load(self.options.ckpt, device=self.device, dtype=self.options.dtype)
        return self._model

    # -- the run ------------------------------------------------------------------------------
    def run(self) -> dict[str, dict[str, float]]:
        self.world = self.world.launched()  # first: rank 0 hands the launch id to ranks waiting for it
        self.understanding.world = self.generation.world = self.world
        tasks = self._tasks or [get_task(name, self.options.protocol) for name in self.options.tasks]
        for task in tasks:
            task.configure(**self.options.task_options.get(task.name, {}))
        plan = lambda t: plan_work(t, _context(t, self.options, self.device), self.options.limit, self.options.seed)  # noqa: E731
        works = prepare_all(tasks, plan, lambda w: w.ctx)
        _check_writable(self.out)
        if self.on_plan is not None and self.world.is_main:
            self.on_plan({w.task.name: (len(w.ids), "images" if w.requests else "samples") for w in works})
        self._set_identities(works)
        lock = RunLock(self.out, self.world.rank, self.world.token)
        try:
            first = lock.acquire()
            self._lock_path = lock.path
            claims = [TaskClaim(w.dir_name, w.identity, w.ids) for w in works]  # type: ignore[arg-type]
            settle(self.out, claims, self.options.overwrite, first, PROTOCOLS)
            if first:
                lock.publish()  # only now may this launch's other ranks read and write records
            try:
                for work in works:
                    self._run_task(work)
            except BaseException as err:
                self.world.mark(self.out, "failed", str(err) or type(err).__name__)
                raise
            self.world.mark(self.out, "done")
            if not self.world.is_main:
                return {}
            if self.world.size > 1:
                self.world.wait_for_all(self.out)
            return self.finish(works)
        finally:
            lock.release()

    def _run_task(self, work: TaskWork) -> None:
        if isinstance(work.task, GenerationTask):
            self.generation.run(work, work.task)
        else:
            self.understanding.run(work, work.task)  # type: ignore[arg-type]

    @property
    def device(self) -> str:
        """This rank's device: ``cuda`` under torchrun means the rank's own GPU, for the model and the scorers."""
        device = self.options.device
        if device == "cuda" and self.world.size > 1:
            device = f"cuda:{self.world.local_rank}"
        return device

    # -- what the records in --out were made from ---------------------------------------------
    def _run_wide_identity(self) -> dict[str, Any]:
        import torch

        from janus_eval.model import resolve_dtype

        try:
            dtype = str(resolve_dtype(self.options.dtype, torch.device(self.device))).removeprefix("torch.")
        except RuntimeError as err:
            raise JanusEvalError(f"bad --device {self.options.device!r}: {err}") from err
        return {"checkpoint_sha256": self._checkpoint_sha256(), "dtype": dtype, "seed": self.options.seed,
                "protocol": self.options.protocol}  # fmt: skip

    def _checkpoint_sha256(self) -> str:
        if not hasattr(self, "_ckpt_sha"):
            ckpt = self.options.ckpt
            self._ckpt_sha = f"embedded-tiny:{tiny_model_hash()}" if ckpt is None else weights_sha256(Path(ckpt))
        return self._ckpt_sha

    @staticmethod
    def _task_identity(work: TaskWork, run_wide: dict[str, Any]) -> TaskIdentity:
        task = work.task
        # Keyed by the path below the files' common folder: GQA's two configs share a file name, and a moved
        # data root is still the same data.
        files = work.docset.files
        root = Path(os.path.commonpath(files)) if len(files) > 1 else files[0].parent
        data = {str(f.relative_to(root)): sha256_file(f) for f in files}
        # the task's own protocol: a generation task's does not follow --protocol (see identity.py)
        inputs = {**run_wide, "protocol": task.protocol, "data_sha256": data, "options": task.option_values()}
        return TaskIdentity(inputs=inputs, scoring=task.scoring_identity(work.ctx))

    def _set_identities(self, works: list[TaskWork]) -> None:
        """What each task's records are made from (weights and data hashed here, before the lock, read-only)."""
        run_wide = self._run_wide_identity()
        for work in works:
            work.identity = self._task_identity(work, run_wide)

    def _identity(self) -> dict[str, Any]:
        """The run-wide inputs, as ``run.json`` shows them."""
        return {"checkpoint": self.options.ckpt or "embedded-tiny", **self._run_wide_identity()}

    # -- results ------------------------------------------------------------------------------
    def finish(self, works: list[TaskWork]) -> dict[str, dict[str, float]]:
        """Recompute every aggregate from the records and write the run directory's summaries."""
        results: dict[str, dict[str, float]] = {}
        sample_counts: dict[str, int] = {}
        failures: list[str] = []
        submissions: dict[str, Path] = {}
        """Per task, the file its benchmark's server grades (a split without public answers)."""
        for work in works:
            records = merge_task_records(self.out / work.dir_name, work.ids)
            failures += filter(None, [work.task.scoring_failure(records)])
            scored = [r for r in records if not r.get("skipped")]
            if not scored:
                raise JanusEvalError(f"{work.task.name}: every sample was skipped; nothing to score")
            results[work.task.name] = work.task.aggregate(scored, work.ctx)
            if len(scored) < len(records):
                results[work.task.name]["skipped_samples"] = float(len(records) - len(scored))
            sample_counts[work.task.name] = len(records)
            submission = work.task.write_submission(records, work.docset.docs, work.ctx)
            if submission is not None:
                submissions[work.task.name] = submission
        previous = read_json(self.out / "results.json")
        merged = {**previous, **results}
        write_json(self.out / "results.json", merged)
        write_json(self.out / "run.json", self._run_card(works, sample_counts, submissions))
        from janus_eval.results.report import write_reports

        write_reports(self.out)
        for work in works:
            if work.task.name in submissions and self.on_submission is not None:
                self.on_submission(work.task.name, submissions[work.task.name], work.task.submission_server)
        if failures:  # after every record and summary is written: a rerun continues from them
            raise JanusEvalError(" | ".join(failures))
        return results

    def _run_card(self, works: list[TaskWork], sample_counts: dict[str, int],
                  submissions: dict[str, Path]) -> dict[str, Any]:  # fmt: skip
        card = read_json(self.out / "run.json")
        tasks = card.get("tasks", {})
        for work in works:
            full = work.full_size
            tasks[work.task.name] = {
                **work.task.card(work.ctx),
                "data_files": {str(f): sha256_file(f) for f in work.docset.files},
                "samples": sample_counts[work.task.name],
                "dataset_size": full,
                "subset": sample_counts[work.task.name] < full,
                "identity": work.identity.as_json() if work.identity else None,
            }
            if work.task.name in submissions:
                tasks[work.task.name]["submission"] = str(submissions[work.task.name])
        config = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self.options).items()}
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
        if self.options.ckpt is None:
            return {"path": None, "name": "embedded tiny Janus (random weights)", "sha256": sha.removeprefix("embedded-tiny:")}
        return {"path": str(Path(self.options.ckpt).resolve()), "sha256": sha}
