"""Runner: records, resume after a crash, identical results, batching independence, atomic outputs."""

import json
from pathlib import Path

import pytest

from janus_eval.io import read_jsonl
from janus_eval.run_options import RunOptions
from janus_eval.runner import Runner
from janus_eval.errors import JanusEvalError


class CrashAfter:
    """Wraps the tiny adapter and dies after ``n`` understand() calls, like a killed job."""

    def __init__(self, adapter, n: int) -> None:
        self.adapter, self.left = adapter, n

    def understand(self, *args, **kwargs):
        if self.left == 0:
            raise KeyboardInterrupt("simulated kill")
        self.left -= 1
        return self.adapter.understand(*args, **kwargs)


def run(out: Path, adapter, **overrides):
    config = RunOptions(**{"tasks": ["pope"], "out": out, "batch_size": 3, "show_progress": False, **overrides})
    return Runner(config, model_factory=lambda: adapter).run()


def test_records_and_run_card(tmp_path, tiny_adapter):
    results = run(tmp_path / "r", tiny_adapter)
    records = read_jsonl(tmp_path / "r" / "pope" / "samples.jsonl")
    assert len(records) == 12 and len({r["id"] for r in records}) == 12
    assert {"id", "prompt", "prediction", "scores"} <= set(records[0])
    card = json.loads((tmp_path / "r" / "run.json").read_text())
    pope = card["tasks"]["pope"]
    assert pope["samples"] == 12 and pope["protocol"] == "lmms-eval" and pope["generation"]["max_new_tokens"] == 128
    assert all(len(h) == 64 for h in pope["data_files"].values())
    assert len(card["checkpoint"]["sha256"]) == 64 and card["environment"]["torch"]
    assert json.loads((tmp_path / "r" / "results.json").read_text()) == results
    assert (tmp_path / "r" / "report.md").read_text().startswith("# janus-eval run")


def test_resume_after_crash_gives_identical_results(tmp_path, tiny_adapter):
    reference = run(tmp_path / "full", tiny_adapter)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "crash", CrashAfter(tiny_adapter, 2))
    partial = read_jsonl(tmp_path / "crash" / "pope" / "samples.jsonl")
    assert len(partial) == 6 and not (tmp_path / "crash" / "results.json").exists()
    # A torn last line, as a kill during a write leaves it, is dropped on resume.
    with open(tmp_path / "crash" / "pope" / "samples.jsonl", "a") as handle:
        handle.write('{"id": "trunc')
    resumed = run(tmp_path / "crash", CrashAfter(tiny_adapter, 2))  # only 2 batches left to do
    assert resumed == reference
    records = read_jsonl(tmp_path / "crash" / "pope" / "samples.jsonl")
    assert sorted(r["id"] for r in records) == sorted(r["id"] for r in read_jsonl(tmp_path / "full" / "pope" / "samples.jsonl"))


def test_rerun_of_finished_run_loads_no_model(tmp_path, tiny_adapter):
    first = run(tmp_path / "r", tiny_adapter)
    assert run(tmp_path / "r", CrashAfter(tiny_adapter, 0)) == first


def test_predictions_do_not_depend_on_batch_size(tmp_path, tiny_adapter):
    def predictions(batch: int) -> dict:
        out = tmp_path / f"b{batch}"
        Runner(RunOptions(tasks=["pope"], out=out, batch_size=batch, show_progress=False), lambda: tiny_adapter).run()
        return {r["id"]: r["prediction"] for r in read_jsonl(out / "pope" / "samples.jsonl")}

    assert predictions(1) == predictions(5) == predictions(12)


def test_limit(tmp_path, tiny_adapter):
    run(tmp_path / "r", tiny_adapter, limit=4)
    assert len(read_jsonl(tmp_path / "r" / "pope" / "samples.jsonl")) == 4
    card = json.loads((tmp_path / "r" / "run.json").read_text())
    assert card["tasks"]["pope"]["subset"] is True


def test_other_checkpoint_does_not_clobber_run(tmp_path, tiny_adapter):
    run(tmp_path / "r", tiny_adapter)
    before = (tmp_path / "r" / "results.json").read_text()
    from janus_eval.model.tiny import build_tokenizer

    ckpt = tmp_path / "ckpt"
    tiny_adapter.model.save_pretrained(ckpt)
    build_tokenizer().save_pretrained(ckpt)
    with pytest.raises(JanusEvalError, match="different checkpoint"):
        Runner(RunOptions(tasks=["pope"], out=tmp_path / "r", ckpt=str(ckpt)), lambda: tiny_adapter).run()
    assert (tmp_path / "r" / "results.json").read_text() == before


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"limit": 0}, "--limit must be a positive"),
        ({"batch_size": 0}, "--batch-size must be at least 1"),
        ({"tasks": ["pope", "pope"]}, "listed twice"),
        ({"tasks": []}, "no task given"),
        ({"ckpt": "/nonexistent/janus"}, "does not exist"),
    ],
)
def test_bad_config(tmp_path, overrides, message):
    config = {"tasks": ["pope"], "out": tmp_path / "r", **overrides}
    with pytest.raises(JanusEvalError, match=message):
        RunOptions(**config).validate()


def test_nan_logits_name_the_samples(tmp_path, tiny_adapter):
    from janus_eval.model import NonFiniteLogits

    class NaNModel:
        def understand(self, images, questions, max_new_tokens, **kwargs):
            raise NonFiniteLogits([0])

    with pytest.raises(JanusEvalError, match=r"NaN or inf logits for sample ids \['\d+'\]"):
        run(tmp_path / "r", NaNModel())


def _corrupt_dataset(tmp_path):
    """A POPE snapshot whose third image is truncated bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from janus_eval.registry import get_task

    table = pq.read_table(get_task("pope").load(None).files[0])
    rows = table.to_pylist()
    rows[2]["image"] = {"bytes": rows[2]["image"]["bytes"][:40], "path": "broken.png"}
    folder = tmp_path / "data" / "POPE" / "data"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), folder / "test-00000-of-00001.parquet")
    return tmp_path / "data", rows[2]["question_id"]


def test_corrupt_image_fails_by_default_and_can_be_skipped(tmp_path, tiny_adapter, capsys):
    data, bad_id = _corrupt_dataset(tmp_path)
    with pytest.raises(JanusEvalError, match=f"corrupt or unreadable image in pope sample {bad_id}.*--on-bad-image skip"):
        run(tmp_path / "fail", tiny_adapter, data_root=data)
    results = run(tmp_path / "skip", tiny_adapter, data_root=data, on_bad_image="skip")
    assert f"notice: skipping pope sample {bad_id}" in capsys.readouterr().err
    assert results["pope"]["skipped_samples"] == 1.0
    records = read_jsonl(tmp_path / "skip" / "pope" / "samples.jsonl")
    assert len(records) == 12 and sum(bool(r.get("skipped")) for r in records) == 1


def test_empty_dataset_is_an_error(tmp_path, tiny_adapter):
    import pyarrow.parquet as pq

    from janus_eval.registry import get_task

    table = pq.read_table(get_task("pope").load(None).files[0])
    folder = tmp_path / "data" / "POPE" / "data"
    folder.mkdir(parents=True)
    pq.write_table(table.slice(0, 0), folder / "test-00000-of-00001.parquet")
    with pytest.raises(JanusEvalError, match="is empty"):
        run(tmp_path / "r", tiny_adapter, data_root=tmp_path / "data")


def test_limit_larger_than_dataset_runs_everything(tmp_path, tiny_adapter):
    run(tmp_path / "r", tiny_adapter, limit=10_000)
    card = json.loads((tmp_path / "r" / "run.json").read_text())
    assert card["tasks"]["pope"]["samples"] == 12 and card["tasks"]["pope"]["subset"] is False


def test_overwrite_replaces_a_different_run(tmp_path, tiny_adapter):
    run(tmp_path / "r", tiny_adapter)
    with pytest.raises(JanusEvalError, match="different seed.*--overwrite"):
        run(tmp_path / "r", tiny_adapter, seed=7)
    run(tmp_path / "r", tiny_adapter, seed=7, overwrite=True)
    assert json.loads((tmp_path / "r" / "run.json").read_text())["identity"]["seed"] == 7


def test_cuda_out_of_memory_halves_the_batch_and_goes_on(tmp_path, tiny_adapter):
    import torch

    calls = []

    class OomAbove2:
        """Raises CUDA's OOM for batches larger than 2, as a too-big batch on a GPU would."""

        def understand(self, images, questions, max_new_tokens, **kwargs):
            calls.append(len(questions))
            if len(questions) > 2:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
            return tiny_adapter.understand(images, questions, max_new_tokens, **kwargs)

    assert run(tmp_path / "oom", OomAbove2(), batch_size=8) == run(tmp_path / "ref", tiny_adapter, batch_size=8)
    # 8 fails, then 4 fails; from then on every batch, this one's rest and the next ones, runs at 2.
    assert calls[:2] == [8, 4] and set(calls[2:]) == {2} and sum(calls[2:]) == 12


def test_out_of_memory_at_batch_one_is_a_clear_error(tmp_path):
    import torch

    class AlwaysOom:
        def understand(self, *args, **kwargs):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

    with pytest.raises(JanusEvalError, match="out of GPU memory with a batch of one"):
        run(tmp_path / "r", AlwaysOom())


def test_auto_batch_size_asks_the_adapter_per_batch(tmp_path, tiny_adapter):
    """``--batch-size auto`` (None) sizes each batch from its longest prompt through the adapter."""
    asked = []

    class Sized:
        def batch_size_for(self, kind, prompt, n_images=0, new_tokens=0, system_prompt=None):
            asked.append((kind, n_images, new_tokens))
            return 5

        def understand(self, images, questions, max_new_tokens, **kwargs):
            assert len(questions) <= 5
            return tiny_adapter.understand(images, questions, max_new_tokens, **kwargs)

    assert run(tmp_path / "auto", Sized(), batch_size=None) == run(tmp_path / "ref", tiny_adapter)
    assert asked == [("understand", 1, 128)] * 3  # 12 samples: batches of 5, 5, 2


def test_nan_rows_after_an_oom_split_name_the_right_samples(tmp_path, tiny_adapter):
    """An OOM halves the batch; NaN logits in the second half must name that half's ids, not the first's."""
    import torch

    from janus_eval.model import NonFiniteLogits
    from janus_eval.registry import get_task

    seen: list[list[tuple[str, bytes]]] = []

    class OomThenNan:
        def understand(self, images, questions, max_new_tokens, **kwargs):
            if len(questions) > 2:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
            seen.append([(q, ims[0].tobytes()) for q, ims in zip(questions, images)])
            if len(seen) == 2:  # the second sub-slice: its row 1 goes non-finite
                raise NonFiniteLogits([1])
            return tiny_adapter.understand(images, questions, max_new_tokens, **kwargs)

    with pytest.raises(JanusEvalError, match="NaN or inf logits") as info:
        run(tmp_path / "r", OomThenNan(), batch_size=4)
    task = get_task("pope")
    docset = task.load(None)
    key_of = {task.doc_id(d): (task.prompt(d), task.images(docset.full_doc(i))[0].tobytes()) for i, d in enumerate(docset.docs)}
    bad_id = next(doc_id for doc_id, key in key_of.items() if key == seen[1][1])
    assert str(info.value).count("'") == 2 and f"[{bad_id!r}]" in str(info.value)
