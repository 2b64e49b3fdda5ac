"""The types a run and a benchmark share, below every module that needs them: it imports nothing of ours.

``DatasetSpec`` says where a benchmark's rows live (``hfdata`` reads it), ``RunContext`` is what a run
hands a task (``task``, ``protocol`` and the runner pass it on), and ``IMAGE_PLACEHOLDER`` is where a
prompt puts an image (protocols write it, the model's chat template expands it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

IMAGE_PLACEHOLDER = "<image_placeholder>"
"""Where a prompt puts an image; the model adapter expands it. Prompts without one get images first."""
ColumnType = Literal["text", "integer", "id", "image", "images"]
"""A dataset column's type: ``id`` is text or integer; ``image`` a ``{bytes, path}`` struct, ``images`` a list of them."""


@dataclass(frozen=True)
class DatasetSpec:
    """Where a benchmark's rows live: a Hugging Face dataset repo, snapshot under ``--data-root``.

    ``repo`` is the repo name without its org (``POPE``); both lmms-eval orgs are accepted.
    ``fixture`` names the folder under ``janus_eval/fixtures`` holding the bundled mini copy.
    """

    repo: str
    split: str
    config: str | None = None
    orgs: tuple[str, ...] = ("lmms-lab-encoder", "lmms-lab")
    fixture: str | None = None
    columns: tuple[str, ...] = ()
    """Columns the task reads: a copy without one fails before the model runs, not half-way (or text-only)."""
    nullable: tuple[str, ...] = ()
    """Of ``columns``, those a row may leave null (any other null is a bad sample)."""
    types: tuple[tuple[str, ColumnType], ...] = ()
    """The type of each column in ``columns`` that is not text: (column, type). Checked before the model
    loads, so an integer ``answer`` is refused instead of scored as the string "1"."""
    splits: tuple[str, ...] = ()
    """Every split a run may choose with ``-T <task>.split=`` (``split`` is the default); empty: ``split`` only."""
    private: tuple[str, ...] = ()
    """Of ``splits``, those whose answers are private (MMBench test, VQAv2 test-dev): only the benchmark's
    server scores them, from the submission file a run writes."""

    def column_type(self, column: str) -> ColumnType:
        """What ``column`` must hold: its declared type, else text."""
        return dict(self.types).get(column, "text")

    @property
    def dataset_id(self) -> str:
        return f"{self.orgs[-1]}/{self.repo}"

    @property
    def answers_private(self) -> bool:
        return self.split in self.private


@dataclass(frozen=True)
class RunContext:
    """What a run gives a task: where data and outputs live, the rank's device, judge and scorer weights.

    Built once per task by the runner and passed to ``load``, ``prepare``, scoring and ``aggregate``;
    a task never stores it. ``RunContext()`` is a run on the bundled fixtures with no judge.
    """

    data_root: Path | None = None
    task_dir: Path | None = None
    """``<out>/<task>``: generated images, feature caches, judge replies."""
    device: str | None = None
    """The rank's device (``cuda:3`` under torchrun); scorers default to it on a GPU run."""
    judge: Any = None
    """MM-Vet's LLM judge (``janus_eval.metrics.judge.JudgeSettings``); None scores nothing and says so."""
    inception_weights: Path | None = None
    """``--inception-weights``: FID's feature network (a ``-T`` option of the task overrides it)."""
    fid_backend: str | None = None
    """``--fid-backend``: clean-fid (the protocol, when None) or torch-fidelity (a ``-T`` option overrides it)."""

    @classmethod
    def of(cls, value: RunContext | Path | str | None) -> RunContext:
        """A context as given, or one holding just a data root (``task.load(path)`` in scripts)."""
        if isinstance(value, RunContext):
            return value
        return cls(data_root=None if value is None else Path(value))

    def scorer_device(self, explicit: str | None) -> str:
        """An explicit ``-T`` device, else the run's GPU, else cuda when there is one, else cpu."""
        if explicit:
            return explicit
        if self.device and self.device.startswith("cuda"):
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
