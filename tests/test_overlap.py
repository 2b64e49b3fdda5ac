"""GenEval's scorers beside generation: each prompt scored once, whole, after its PNGs are written;
the run's records are the same as when scoring waits for the last image.

The runner scores beside generation only on CUDA (``GenerationPipeline.overlap_scoring``); here it is forced on, on
CPU, with the embedded tiny Janus and GenEval's real tiny scorers (the labelled random Mask2Former and
CLIP stand-ins). On a GPU, where the scorer runs on the same device as the model, ``bench/gpu_check.sh``
runs it.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from pathlib import Path

import pytest

from janus_eval.overlap import PromptScorer
from janus_eval.task import ImageRequest


def requests(prompts: int, per_prompt: int) -> list[list[ImageRequest]]:
    return [[ImageRequest(id=f"{p}/{k}", prompt=f"p{p}", seed=k, path=f"{p}/{k}.png", doc_index=p)
             for k in range(per_prompt)] for p in range(prompts)]  # fmt: skip


def test_a_prompt_is_scored_once_all_its_images_are_written_and_whole():
    groups = requests(3, 2)
    scored: list[list[str]] = []
    slow_write: Future[None] = Future()
    with PromptScorer(groups, {r.id for g in groups[1:] for r in g}, lambda g: scored.append([r.id for r in g])) as scorer:
        # prompt 0 was on disk already: scored at once; prompt 1 waits for its second image's write
        scorer.written(groups[1][0], None)
        scorer.written(groups[1][1], slow_write)
        time.sleep(0.05)
        assert scored == [["0/0", "0/1"]]
        slow_write.set_result(None)
        scorer.written(groups[2][1], None)
        scorer.written(groups[2][0], None)
    assert scored == [["0/0", "0/1"], ["1/0", "1/1"], ["2/0", "2/1"]]


def test_scoring_runs_off_the_generating_thread():
    groups = requests(1, 1)
    threads = []
    with PromptScorer(groups, {"0/0"}, lambda g: threads.append(threading.current_thread())) as scorer:
        scorer.written(groups[0][0], None)
    assert threads and threads[0] is not threading.current_thread()


def test_a_scorer_error_surfaces_in_the_generating_thread():
    groups = requests(2, 1)

    def fail(group: list[ImageRequest]) -> None:
        raise RuntimeError(f"detector broke on {group[0].id}")

    scorer = PromptScorer(groups, {"0/0", "1/0"}, fail)
    with pytest.raises(RuntimeError, match="detector broke on 0/0"):
        scorer.written(groups[0][0], None)
        time.sleep(0.1)
        scorer.written(groups[1][0], None)  # the next image raises the failed job's error
    scorer.close(wait_for_errors=False)


def test_a_failed_png_write_is_not_scored():
    groups = requests(1, 1)
    write: Future[None] = Future()
    write.set_exception(OSError("disk full"))
    scored = []
    scorer = PromptScorer(groups, {"0/0"}, lambda g: scored.append(g))
    with pytest.raises(OSError, match="disk full"):
        scorer.written(groups[0][0], write)
        scorer.close()
    scorer.close(wait_for_errors=False)
    assert scored == []


def test_overlapped_scoring_gives_the_same_run_directory(tmp_path: Path, monkeypatch):
    """The runner with the scorer beside generation (as on a GPU) writes the records and results it writes
    when scoring after the last image. A numpy stand-in generates, so no CPU matmul shares the cores."""
    from janus_eval.bench_pipeline import NullModel
    from janus_eval.run_options import RunOptions
    from janus_eval.generation import GenerationPipeline
    from janus_eval.runner import Runner

    def run(out: Path, overlap: bool) -> None:
        monkeypatch.setattr(GenerationPipeline, "overlap_scoring", lambda self, task: overlap)
        config = RunOptions(tasks=["geneval"], out=out, batch_size=3, workers=2, limit=5, show_progress=False,
                            task_options={"geneval": {"images_per_prompt": "2"}})  # fmt: skip
        Runner(config, model_factory=NullModel).run()

    run(tmp_path / "after", overlap=False)
    run(tmp_path / "beside", overlap=True)
    for name in ("results.json", "geneval/samples.jsonl"):
        assert (tmp_path / "after" / name).read_text() == (tmp_path / "beside" / name).read_text()


def test_tiny_janus_with_the_tiny_geneval_scorers_beside_generation_equals_scoring_after(tmp_path: Path, monkeypatch):
    """The real path: the embedded Janus generates (batches of 3 across prompts of 2 images), PNGs are written on
    threads, the tiny detector and CLIP score each finished prompt on the scorer thread; records and results
    equal a run that scores after the last image."""
    from janus_eval.run_options import RunOptions
    from janus_eval.generation import GenerationPipeline
    from janus_eval.runner import Runner

    score_group, threads = GenerationPipeline._score_group, []

    def recorded(self, *args):
        threads.append(threading.current_thread().name.startswith("scorer"))
        return score_group(self, *args)

    monkeypatch.setattr(GenerationPipeline, "_score_group", recorded)

    def run(out: Path, overlap: bool) -> list[bool]:
        monkeypatch.setattr(GenerationPipeline, "overlap_scoring", lambda self, task: overlap)
        config = RunOptions(tasks=["geneval"], out=out, batch_size=3, workers=2, limit=4, show_progress=False,
                            task_options={"geneval": {"images_per_prompt": "2"}})  # fmt: skip
        threads.clear()
        Runner(config).run()
        return list(threads)

    assert run(tmp_path / "after", overlap=False) == [False] * 4
    assert run(tmp_path / "beside", overlap=True) == [True] * 4  # every prompt scored on the scorer thread
    for name in ("results.json", "geneval/samples.jsonl"):
        assert (tmp_path / "after" / name).read_text() == (tmp_path / "beside" / name).read_text()
    pngs = sorted(p.relative_to(tmp_path / "after") for p in (tmp_path / "after").rglob("*.png"))
    assert len(pngs) == 8
    assert all((tmp_path / "after" / p).read_bytes() == (tmp_path / "beside" / p).read_bytes() for p in pngs)
