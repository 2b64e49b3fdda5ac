"""What ``janus-eval run`` was asked to do: the run's options, checked before anything in ``--out`` is touched.

Options that belong to one task family are checked by that family's code (FID flags: ``tasks.fid_base``,
the judge URL: ``metrics.judge``, the checkpoint's files: ``model.checkpoint``); this module only calls them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from janus_eval.errors import JanusEvalError
from janus_eval.pipeline import default_workers
from janus_eval.registry import check_name


@dataclass
class RunOptions:
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
    """Per task, option name -> command-line value (``-T geneval.images_per_prompt=2``)."""
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
        from janus_eval.tasks.fid_base import check_fid_flags

        check_fid_flags(self.fid_backend, self.inception_weights, self.task_options)
        if self.ckpt is not None:  # a corrupt weight file fails here, before anything in --out is touched
            from janus_eval.model.checkpoint import check_weight_files, detect_format

            detect_format(Path(self.ckpt))
            check_weight_files(Path(self.ckpt))
