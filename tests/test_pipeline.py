"""The CPU pipeline: records and images do not depend on loader workers, PNG writer threads or scoring batches."""

from pathlib import Path

import numpy as np
import pytest

from janus_eval import generation as generation_module
from janus_eval.io import read_jsonl
from janus_eval.pipeline import PngWriter
from janus_eval.run_options import RunOptions
from janus_eval.runner import Runner
from janus_eval.errors import JanusEvalError
from test_runner import _corrupt_dataset


def run(out: Path, adapter, **overrides):
    config = RunOptions(**{"tasks": ["pope"], "out": out, "batch_size": 3, "show_progress": False, **overrides})
    return Runner(config, model_factory=lambda: adapter).run()


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


@pytest.mark.parametrize("task", ["pope", "gqa"])  # gqa: a joined doc set, whose nested files workers reopen too
def test_records_do_not_depend_on_workers(tmp_path, tiny_adapter, task):
    run(tmp_path / "w0", tiny_adapter, tasks=[task], workers=0, limit=8)
    run(tmp_path / "w2", tiny_adapter, tasks=[task], workers=2, limit=8)
    assert _lines(tmp_path / "w0" / task / "samples.jsonl") == _lines(tmp_path / "w2" / task / "samples.jsonl")


class Delegate:
    """The tiny adapter seen as a stand-in: the runner then leaves resizing to the adapter itself."""

    def __init__(self, adapter) -> None:
        self.understand = adapter.understand


def test_resizing_in_the_loaders_changes_no_record(tmp_path, tiny_adapter):
    run(tmp_path / "loaders", tiny_adapter, tasks=["mmmu"], workers=2, limit=6)  # several images per sample
    run(tmp_path / "adapter", Delegate(tiny_adapter), tasks=["mmmu"], workers=0, limit=6)
    assert _lines(tmp_path / "loaders" / "mmmu" / "samples.jsonl") == _lines(tmp_path / "adapter" / "mmmu" / "samples.jsonl")


def test_corrupt_image_with_workers(tmp_path, tiny_adapter, capsys):
    data, bad_id = _corrupt_dataset(tmp_path)
    with pytest.raises(JanusEvalError, match=f"corrupt or unreadable image in pope sample {bad_id}.*--on-bad-image skip"):
        run(tmp_path / "fail", tiny_adapter, data_root=data, workers=2)
    for workers in (0, 2):
        run(tmp_path / f"skip{workers}", tiny_adapter, data_root=data, on_bad_image="skip", workers=workers)
        assert f"notice: skipping pope sample {bad_id}" in capsys.readouterr().err
    assert _lines(tmp_path / "skip0" / "pope" / "samples.jsonl") == _lines(tmp_path / "skip2" / "pope" / "samples.jsonl")


def test_negative_workers_is_an_error(tmp_path, tiny_adapter):
    with pytest.raises(JanusEvalError, match="--workers must be 0"):
        run(tmp_path / "r", tiny_adapter, workers=-1)


def test_png_writer_threads_write_the_same_images(tmp_path, tiny_adapter, monkeypatch):
    options = {"geneval": {"images_per_prompt": "2"}}
    monkeypatch.setattr(generation_module, "PNG_THREADS", 0)
    run(tmp_path / "serial", tiny_adapter, tasks=["geneval"], task_options=options, limit=2)
    monkeypatch.setattr(generation_module, "PNG_THREADS", 3)
    run(tmp_path / "pool", tiny_adapter, tasks=["geneval"], task_options=options, limit=2)
    pngs = sorted((tmp_path / "serial" / "geneval" / "images").rglob("*.png"))
    assert len(pngs) == 4
    for png in pngs:
        assert png.read_bytes() == (tmp_path / "pool" / png.relative_to(tmp_path / "serial")).read_bytes()
    assert _lines(tmp_path / "serial" / "geneval" / "samples.jsonl") == _lines(tmp_path / "pool" / "geneval" / "samples.jsonl")


def test_png_writer_reports_a_failed_write(tmp_path):
    pixels = np.zeros((8, 8, 3), dtype=np.uint8)
    (tmp_path / "file").write_text("")
    writer = PngWriter(threads=2)
    writer.submit(tmp_path / "ok.png", pixels)
    with pytest.raises(JanusEvalError, match="cannot write .*under-a-file.png"):  # at the next submit or at close
        writer.submit(tmp_path / "file" / "under-a-file.png", pixels)  # its folder cannot be made
        writer.submit(tmp_path / "later.png", pixels)
        writer.close()
    writer.close()  # the writes still queued finish
    assert (tmp_path / "ok.png").stat().st_size > 0


def test_batched_geneval_scoring_agrees_with_one_image_at_a_time(tmp_path, tiny_adapter):
    """Same verdicts; floats agree to float noise (a batched forward pass is not bit-identical)."""
    from janus_eval.registry import get_task

    run(tmp_path / "r", tiny_adapter, tasks=["geneval"], task_options={"geneval": {"images_per_prompt": "3"}}, limit=6)
    task = get_task("geneval")
    docs = task.load(None).docs
    for p, doc in enumerate(docs[:6]):
        paths = [tmp_path / "r" / "geneval" / "images" / f"{p:05d}" / "samples" / f"{k:05d}.png" for k in range(3)]
        batched = task.score_images([doc] * 3, paths)
        for path, together in zip(paths, batched):
            alone = task.score_images([doc], [path])[0]
            assert {k: together[k] for k in ("score", "tag", "reason")} == {k: alone[k] for k in ("score", "tag", "reason")}
            assert together["details"].keys() == alone["details"].keys()
            for name, rows in alone["details"].items():
                np.testing.assert_allclose(together["details"][name], rows, rtol=1e-4, atol=1e-5)


def test_geneval_records_do_not_depend_on_where_scoring_stopped(tmp_path, tiny_adapter):
    """A prompt with some images scored is scored whole again: its batch, and so its floats, stay the same."""
    options = {"geneval": {"images_per_prompt": "3"}}
    run(tmp_path / "r", tiny_adapter, tasks=["geneval"], task_options=options, limit=3)
    samples = tmp_path / "r" / "geneval" / "samples.jsonl"
    full = _lines(samples)
    samples.write_text("\n".join(full[:4]) + "\n")  # prompt 1 half scored, prompt 2 not at all
    run(tmp_path / "r", tiny_adapter, tasks=["geneval"], task_options=options, limit=3)
    assert sorted(_lines(samples)) == sorted(full)
    assert len(read_jsonl(samples)) == 9


@pytest.mark.parametrize("size", [(80, 80), (97, 41), (23, 300), (640, 480)])
def test_the_adapter_preprocessing_of_a_loader_resized_image_is_exact(size):
    """Resize-and-pad first (what the loaders did before they prepared pixels fully), then the adapter's own
    pass, equals the adapter's pass alone: a pre-resized image is never resized twice."""
    import torch
    from PIL import Image

    from janus_eval.model.preprocess import pixel_values, resize_and_pad

    pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    for encoder in (32, 384):
        assert torch.equal(pixel_values([resize_and_pad(image, encoder)], encoder), pixel_values([image], encoder))


@pytest.mark.parametrize("release", [True, False])
def test_loader_workers_do_not_hold_the_run_lock(tmp_path, release):
    """A SIGKILLed run's forked workers live on for a moment: they must not keep ``--out`` locked."""
    from janus_eval.lock import RunLock
    from janus_eval.pipeline import loaded_windows
    from janus_eval.registry import get_task

    task = get_task("pope")
    lock = RunLock(tmp_path, 0).__enter__()
    paths = (lock.path,) if release else ()
    stream = loaded_windows(task, task.load(None), list(range(12)), window=4, workers=1, release=paths)
    next(stream)  # the worker is up, with more to load
    lock.__exit__(None, None, None)  # as a kill of the main process closes its descriptor
    try:
        if release:
            with RunLock(tmp_path, 0):
                pass
        else:
            with pytest.raises(JanusEvalError, match="in use"):
                with RunLock(tmp_path, 0):
                    pass
    finally:
        stream.close()


def test_records_images_and_results_identical_for_0_and_4_workers(tmp_path, tiny_adapter):
    """Issue #16's condition: the whole run directory's outputs do not depend on the worker count."""
    options = {"geneval": {"images_per_prompt": "2"}}
    for workers in (0, 4):
        run(tmp_path / f"w{workers}", tiny_adapter, tasks=["pope", "geneval"], task_options=options, workers=workers, limit=4)
    w0, w4 = tmp_path / "w0", tmp_path / "w4"
    assert (w0 / "results.json").read_text() == (w4 / "results.json").read_text()
    for task in ("pope", "geneval"):
        assert _lines(w0 / task / "samples.jsonl") == _lines(w4 / task / "samples.jsonl")
    pngs = sorted((w0 / "geneval" / "images").rglob("*.png"))
    assert len(pngs) == 8 and all(p.read_bytes() == (w4 / p.relative_to(w0)).read_bytes() for p in pngs)


@pytest.mark.parametrize(("device", "pinned"), [("cuda", True), ("cuda:1", True), ("cpu", False), ("meta", False)])
def test_loader_pins_memory_only_for_a_cuda_model(device, pinned):
    import torch

    from janus_eval.pipeline import loader_kwargs

    assert loader_kwargs(2, 64, device)["pin_memory"] is pinned
    assert loader_kwargs(2, 64, torch.device(device))["pin_memory"] is pinned


def test_loader_workers_prepare_the_adapters_pixels(tiny_adapter):
    """What the workers hand over is ``preprocess.pixel_levels`` of the task's images, as the adapter makes them."""
    from janus_eval.model.preprocess import pixel_levels
    from janus_eval.pipeline import load_sample
    from janus_eval.registry import get_task

    task = get_task("mmmu")
    docset = task.load(None)
    for index in range(4):
        loaded = load_sample(task, docset, index, tiny_adapter.image_size)
        expected = pixel_levels(task.images(docset.full_doc(index)), tiny_adapter.image_size)
        assert loaded.images.dtype == np.uint8 and np.array_equal(loaded.images, expected)


def test_the_pin_thread_pins_prepared_pixels_and_leaves_the_rest(monkeypatch):
    """torch's pin step (what ``pin_memory=True`` runs on each chunk) reaches ``Loaded.pin_memory``."""
    import torch
    from PIL import Image
    from torch.utils.data._utils.pin_memory import pin_memory

    from janus_eval.pipeline import Loaded

    pinned = []
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self, *a: pinned.append(self) or self)  # no CUDA here
    levels = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    error = JanusEvalError("corrupt")
    chunk = [Loaded(0, {}, levels), Loaded(1, {}, [Image.new("RGB", (4, 4))]), Loaded(2, {}, error), Loaded(3, None, error, error)]
    out = pin_memory(chunk)
    assert isinstance(out[0].images, torch.Tensor) and np.array_equal(out[0].images.numpy(), levels) and len(pinned) == 1
    assert out[1:] == chunk[1:] and out[0].index == 0 and out[0].doc == {}


def test_a_pinning_loader_starts_with_the_models_gpu_current(monkeypatch):
    """The pin thread works on the device current when the iterator starts: the model's, not GPU 0."""
    import contextlib

    import torch

    from janus_eval import pipeline

    entered = []

    @contextlib.contextmanager
    def fake_device(device):
        entered.append(device)
        yield

    class Loader:
        def __init__(self, pin_memory: bool) -> None:
            self.pin_memory = pin_memory

        def __iter__(self):
            return iter([entered[:]])

    monkeypatch.setattr(torch.cuda, "device", fake_device)
    assert next(pipeline._start(Loader(True), "cuda:3")) == [torch.device("cuda:3")]
    entered.clear()
    assert next(pipeline._start(Loader(False), "cpu")) == [] and entered == []
