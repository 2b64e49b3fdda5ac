"""``janus-eval bench --mode pipeline``: the harness alone, with a null model, serial against parallel.

A null model answers at once and "generates" seeded noise, so what is timed is everything around
the model: parquet reads, image decode and resize, prompts, records, PNG encoding and GenEval
scoring. Understanding runs twice over the same synthetic POPE-layout data (COCO-sized JPEGs made
on the fly), with ``--workers 0`` and with ``--workers N``, in the same process; the records of
both must be byte-identical. Generation runs GenEval's official prompts with tiny scorers.
"""

from __future__ import annotations

import io
import resource
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

POPE_QUESTIONS = ("Is there a dog in the image?", "Is there a person in the image?", "Is there a car in the image?")


@dataclass(frozen=True)
class PipelineTiming:
    stage: str
    unit: str
    serial_per_s: float
    parallel_per_s: float
    workers: int
    items: int
    identical_records: bool

    @property
    def speedup(self) -> float:
        return self.parallel_per_s / self.serial_per_s


class NullModel:
    """No model: "yes" for every question, seeded noise for every image (the harness's cost only)."""

    loader_image_size = 384
    """Images are resized and padded to the 1.3B encoder's input in the loaders, as for the real adapter."""

    def understand(self, images: list[Any], questions: list[str], max_new_tokens: int, system_prompt: str | None = None) -> list[str]:
        return ["yes"] * len(questions)

    def generate_images(self, prompts: list[str], seeds: list[int], cfg_scale: float = 5.0, temperature: float = 1.0) -> np.ndarray:
        return np.stack([np.random.default_rng(seed).integers(0, 256, (384, 384, 3), dtype=np.uint8) for seed in seeds])


def write_pope_layout(root: Path, n: int, size: tuple[int, int] = (640, 480)) -> Path:
    """``root/POPE/data/test-00000-of-00001.parquet`` with ``n`` rows of COCO-sized JPEGs."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image

    rng = np.random.default_rng(0)
    images = []
    for k in range(min(n, 64)):  # distinct images, reused: encoding 30K JPEGs would time the setup, not the harness
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(buffer, format="JPEG", quality=90)
        images.append({"bytes": buffer.getvalue(), "path": f"{k}.jpg"})
    rows = {
        "id": [str(i) for i in range(n)], "question_id": [str(i) for i in range(n)],
        "question": [POPE_QUESTIONS[i % 3] for i in range(n)], "answer": ["yes" if i % 2 else "no" for i in range(n)],
        "image_source": [f"{i % 64}" for i in range(n)], "image": [images[i % len(images)] for i in range(n)],
        "category": [("adversarial", "popular", "random")[i % 3] for i in range(n)],
    }  # fmt: skip
    target = root / "POPE" / "data" / "test-00000-of-00001.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(rows), target, row_group_size=256)
    return root


def _run(tasks: list[str], out: Path, data_root: Path | None, workers: int, limit: int | None = None,
         task_objects: list[Any] | None = None) -> float:  # fmt: skip
    from janus_eval.runner import Runner
    from janus_eval.run_options import RunOptions

    config = RunOptions(tasks=tasks, out=out, data_root=data_root, batch_size=32, workers=workers, limit=limit,
                        show_progress=False)  # fmt: skip
    start = time.perf_counter()
    Runner(config, model_factory=NullModel, tasks=task_objects).run()  # type: ignore[arg-type]
    return time.perf_counter() - start


def understanding_stage(tmp: Path, n: int, workers: int) -> PipelineTiming:
    data = write_pope_layout(tmp / "data", n)
    serial = _run(["pope"], tmp / "serial", data, 0)
    parallel = _run(["pope"], tmp / "parallel", data, workers)
    same = (tmp / "serial" / "pope" / "samples.jsonl").read_bytes() == (tmp / "parallel" / "pope" / "samples.jsonl").read_bytes()
    return PipelineTiming("understanding (POPE layout, 640x480 JPEG)", "samples/s", n / serial, n / parallel, workers, n, same)


def generation_stage(tmp: Path, prompts: int, workers: int) -> PipelineTiming:
    """GenEval's official prompts, 4 images each: PNG encoding and writing, then scoring with tiny scorers."""
    from janus_eval.metrics import geneval_models as gm
    from janus_eval.registry import get_task

    def timed(out: Path, w: int) -> float:
        task = get_task("geneval")
        task._models = (gm.tiny_detector(), gm.tiny_color_classifier())  # type: ignore[attr-defined]
        return _run(["geneval"], out, tmp, w, limit=prompts, task_objects=[task])

    serial, parallel = timed(tmp / "gen-serial", 0), timed(tmp / "gen-parallel", workers)
    same = (tmp / "gen-serial" / "geneval" / "samples.jsonl").read_bytes() == (tmp / "gen-parallel" / "geneval" / "samples.jsonl").read_bytes()
    images = prompts * 4
    return PipelineTiming("generation (GenEval: PNG + tiny-scorer scoring)", "images/s", images / serial, images / parallel,
                          workers, images, same)  # fmt: skip


def peak_rss_mib() -> float:
    """Peak resident memory of this process and its (worker) children, in MiB (Linux reports KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024


def run_pipeline_bench(samples: int, prompts: int, workers: int) -> dict[str, Any]:
    import os

    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        stages = [understanding_stage(tmp, samples, workers), generation_stage(tmp, prompts, workers)]
    return {
        "stages": [{**asdict(s), "speedup": s.speedup} for s in stages],
        "peak_rss_mib": peak_rss_mib(),
        "cpus": os.cpu_count(),
        "date": datetime.now(timezone.utc).date().isoformat(),
    }
