"""Every bad input the README promises to handle, driven through the CLI: exit 2, one stderr line,
no traceback, and whatever an earlier run left in --out unchanged."""

from __future__ import annotations

import errno
import io
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import paused_run
from janus_eval.hfdata import FIXTURES
from janus_eval.io import read_jsonl

POPE_FIXTURE = FIXTURES / "POPE" / "data" / "test-00000-of-00001.parquet"
FAST = ("--limit", "2", "--no-progress")


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (the lock file aside), to compare before and after."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and ".janus-eval" not in p.parts}  # fmt: skip


def assert_one_line_error(result: tuple[int, str, str], *fragments: str) -> str:
    code, _, err = result
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    return lines[0]


@pytest.fixture(scope="module")
def earlier_run(tmp_path_factory) -> Path:
    """A finished POPE run of the embedded model; tests copy it to check nothing in it changes."""
    out = tmp_path_factory.mktemp("earlier") / "run"
    done = subprocess.run([sys.executable, "-m", "janus_eval", "run", "--tasks", "pope", "--out", str(out), *FAST],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture
def out(tmp_path, earlier_run) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(earlier_run, copy)
    return copy


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """The embedded tiny model saved as a Hugging Face checkpoint directory."""
    from janus_eval.model import load
    from janus_eval.model.tiny import build_tokenizer

    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    load(None).model.save_pretrained(path)
    build_tokenizer().save_pretrained(path)
    return path


def pope_copy(data_root: Path, change) -> Path:
    """A POPE snapshot under ``data_root`` whose table is ``change(table)``."""
    target = data_root / "POPE" / "data" / POPE_FIXTURE.name
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(change(pq.read_table(POPE_FIXTURE)), target)
    return data_root


def with_column(table: pa.Table, name: str, values: list, kind: pa.DataType | None = None) -> pa.Table:
    index = table.schema.get_field_index(name)
    return table.set_column(index, name, pa.array(values, type=kind or table.schema.field(name).type))


# -- weights ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f: f.write_bytes(f.read_bytes()[:100_000]), "is truncated"),
        (lambda f: f.write_bytes(b""), "is empty"),
        (lambda f: f.write_bytes(os.urandom(4096)), "not a readable safetensors file"),
        (lambda f: f.unlink(), "no model.safetensors or pytorch_model.bin"),
    ],
    ids=["truncated", "empty", "random-bytes", "missing"],
)
def test_bad_weight_files(cli_invoke, tmp_path, checkpoint, out, damage, message):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(checkpoint, ckpt)
    damage(ckpt / "model.safetensors")
    before = snapshot(out)
    assert_one_line_error(cli_invoke("run", "--tasks", "pope", "--ckpt", str(ckpt), "--out", str(out), "--overwrite", *FAST),
                          message)  # fmt: skip
    assert snapshot(out) == before  # even --overwrite removed nothing


# -- data ---------------------------------------------------------------------------------------
def test_dataset_without_its_image_column_fails_before_the_model_runs(cli_invoke, tmp_path, out):
    data = pope_copy(tmp_path / "data", lambda t: t.drop_columns(["image"]))
    before = snapshot(out)
    assert_one_line_error(cli_invoke("run", "--tasks", "pope", "--data-root", str(data), "--out", str(out), *FAST),
                          "lacks column(s) image")  # fmt: skip
    assert snapshot(out) == before


def test_decompression_bomb_is_a_bad_image(cli_invoke, tmp_path):
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("1", (15000, 15000)).save(buffer, format="PNG")  # 225 Mpx: over Pillow's 2x bomb limit, 30 KB on disk
    bomb = {"bytes": buffer.getvalue(), "path": "bomb.png"}

    def plant(table: pa.Table) -> pa.Table:
        images = table.column("image").to_pylist()
        return with_column(table, "image", [bomb, *images[1:]])

    data = pope_copy(tmp_path / "data", plant)
    line = assert_one_line_error(cli_invoke("run", "--tasks", "pope", "--data-root", str(data), "--out", str(tmp_path / "r"), *FAST),
                                 "corrupt or unreadable image", "--on-bad-image skip")  # fmt: skip
    assert "decompression bomb" in line.lower()
    code, _, err = cli_invoke("run", "--tasks", "pope", "--data-root", str(data), "--out", str(tmp_path / "s"),
                              "--on-bad-image", "skip", *FAST)  # fmt: skip
    assert code == 0, err
    assert json.loads((tmp_path / "s" / "results.json").read_text())["pope"]["skipped_samples"] == 1.0


@pytest.mark.parametrize(
    "question, kind, message",
    [
        (None, None, "has no value in column(s) question"),
        (b"\xff\xfe not text", pa.binary(), "hold bytes, not text"),
        ("Is there a cat? " * 62_500, None, "exceeds the model's context"),
    ],
    ids=["null", "binary", "one-million-characters"],
)
def test_bad_questions(cli_invoke, tmp_path, question, kind, message):
    def plant(table: pa.Table) -> pa.Table:
        questions = table.column("question").to_pylist()
        if kind is not None:
            questions = [q.encode() for q in questions]
        return with_column(table, "question", [question, *questions[1:]], kind)

    data = pope_copy(tmp_path / "data", plant)
    line = assert_one_line_error(cli_invoke("run", "--tasks", "pope", "--data-root", str(data), "--out", str(tmp_path / "r"), *FAST),
                                 message)  # fmt: skip
    if kind is None:  # a per-sample problem: named, and skippable like a bad image
        first_id = str(pq.read_table(POPE_FIXTURE).column("question_id")[0].as_py())
        assert f"pope sample {first_id}" in line
        code, _, err = cli_invoke("run", "--tasks", "pope", "--data-root", str(data), "--out", str(tmp_path / "s"),
                                  "--on-bad-image", "skip", *FAST)  # fmt: skip
        assert code == 0, err
        assert json.loads((tmp_path / "s" / "results.json").read_text())["pope"]["skipped_samples"] == 1.0


def test_a_shard_set_with_a_gap_is_refused_before_the_model_loads(cli_invoke, tmp_path, out, model_loads):
    """Half of a two-shard POPE would be scored as the whole benchmark (#24.15)."""
    table = pq.read_table(POPE_FIXTURE)
    folder = tmp_path / "data" / "POPE" / "data"
    folder.mkdir(parents=True)
    pq.write_table(table.slice(0, table.num_rows // 2), folder / "test-00000-of-00002.parquet")
    before = snapshot(out)
    assert_one_line_error(cli_invoke("run", "--tasks", "pope", "--data-root", str(tmp_path / "data"), "--out", str(out), *FAST),
                          "is incomplete", "lacks test-00001-of-00002.parquet")  # fmt: skip
    assert snapshot(out) == before and model_loads == []
    pq.write_table(table.slice(table.num_rows // 2), folder / "test-00001-of-00002.parquet")  # the whole set runs
    code, _, err = cli_invoke("run", "--tasks", "pope", "--data-root", str(tmp_path / "data"), "--out", str(tmp_path / "r"), *FAST)
    assert code == 0, err


@pytest.mark.parametrize(
    "column, values, kind, message",
    [
        ("answer", lambda n: [1] * n, pa.int64(), "column answer is int64, expected text"),
        ("question_id", lambda n: [0.5] * n, pa.float64(), "column question_id is double, expected text or an integer"),
        ("image", lambda n: ["x.png"] * n, pa.string(), "column image is string, expected an image"),
    ],
    ids=["integer-answer", "float-id", "image-as-path"],
)
def test_a_column_of_the_wrong_type_is_refused_before_the_model_loads(cli_invoke, tmp_path, out, model_loads, column,
                                                                       values, kind, message):  # fmt: skip
    """An integer POPE answer was read as "1" and scored wrong, sample after sample (#24.16)."""
    data = pope_copy(tmp_path / "data", lambda t: with_column(t, column, values(t.num_rows), kind))
    before = snapshot(out)
    assert_one_line_error(cli_invoke("run", "--tasks", "pope", "--data-root", str(data), "--out", str(out), *FAST), message)
    assert snapshot(out) == before and model_loads == []


def test_question_that_is_not_utf8_names_the_file(cli_invoke, tmp_path):
    table = pq.read_table(POPE_FIXTURE)
    raw = [q.encode() for q in table.column("question").to_pylist()]
    raw[0] = b"caf\xe9?"  # Latin-1, not UTF-8, inside a column declared as text
    offsets = [0]
    for value in raw:
        offsets.append(offsets[-1] + len(value))
    bad = pa.Array.from_buffers(pa.string(), len(raw), [None, pa.py_buffer(pa.array(offsets, pa.int32()).buffers()[1]),
                                                        pa.py_buffer(b"".join(raw))])  # fmt: skip
    target = tmp_path / "data" / "POPE" / "data" / POPE_FIXTURE.name
    target.parent.mkdir(parents=True)
    pq.write_table(table.set_column(table.schema.get_field_index("question"), "question", bad), target)
    assert_one_line_error(cli_invoke("run", "--tasks", "pope", "--data-root", str(tmp_path / "data"),
                                     "--out", str(tmp_path / "r"), *FAST), str(target))  # fmt: skip


# -- records on disk ----------------------------------------------------------------------------
def test_torn_middle_line_names_file_and_line(cli_invoke, out):
    samples = out / "pope" / "samples.jsonl"
    lines = samples.read_text().splitlines(keepends=True)
    samples.write_text(lines[0][:20] + "\n" + "".join(lines[1:]))
    before = snapshot(out)
    line = assert_one_line_error(cli_invoke("run", "--tasks", "pope", "--out", str(out), *FAST),
                                 str(samples), "line 1 of", "delete that line")  # fmt: skip
    assert "rerun" in line
    assert snapshot(out) == before


def test_disk_full_during_a_write(cli_invoke, monkeypatch, out):
    import janus_eval.io

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    before = snapshot(out)
    monkeypatch.setattr(janus_eval.io.os, "fsync", full)
    assert_one_line_error(cli_invoke("run", "--tasks", "pope,geneval", "--out", str(out), *FAST),
                          "No space left on device", "rerun the same command")  # fmt: skip
    monkeypatch.undo()
    assert_earlier_results_kept(out, before)


def test_file_size_limit_during_a_write(tmp_path, out):
    """RLIMIT_FSIZE makes writes fail with EFBIG (after SIGXFSZ, which the CLI ignores)."""
    before = snapshot(out)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    done = subprocess.run([sys.executable, "-m", "janus_eval", "run", "--tasks", "pope,geneval", "--out", str(out), *FAST],
                          capture_output=True, text=True, timeout=300, preexec_fn=limit)  # fmt: skip
    assert_one_line_error((done.returncode, done.stdout, done.stderr), "File too large")
    assert_earlier_results_kept(out, before)


def assert_earlier_results_kept(out: Path, before: dict[str, bytes]) -> None:
    """The earlier task's files are byte-identical; a summary rewritten on the way keeps its numbers."""
    after = snapshot(out)
    assert {k: after.get(k) for k in before if k.startswith("pope")} == {k: v for k, v in before.items() if k.startswith("pope")}
    assert json.loads(after["results.json"])["pope"] == json.loads(before["results.json"])["pope"]
    assert not [k for k in after if Path(k).name.startswith(".") and Path(k).parent.name != ".ranks"]  # no temp files


# -- options ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, message",
    [
        (["-T", "geneval.images_per_prompt=2", "-T", "geneval.images_per_prompt=3", "--tasks", "geneval"], "given twice"),
        (["--tasks", "coco30k", "-T", "coco30k.inception_weights=/w.pt", "--inception-weights", "/v.pt"],
         "-T coco30k.inception_weights and --inception-weights both given"),
        (["--tasks", "mjhq30k", "-T", "mjhq30k.fid_backend=clean-fid", "--fid-backend", "torch-fidelity"],
         "-T mjhq30k.fid_backend and --fid-backend both given"),
        (["--tasks", "pope", "--fid-backend", "pytorch-fid"], "unknown --fid-backend 'pytorch-fid'"),
    ],
    ids=["repeated-T", "inception-twice", "backend-twice", "unknown-backend"],
)
def test_conflicting_options(cli_invoke, out, args, message):
    before = snapshot(out)
    assert_one_line_error(cli_invoke("run", *args, "--out", str(out), *FAST), message)
    assert snapshot(out) == before


def test_missing_data_says_hf_download(cli_invoke, tmp_path):
    assert_one_line_error(cli_invoke("run", "--tasks", "pope", "--data-root", str(tmp_path)),
                          "`hf download lmms-lab/POPE --repo-type dataset")  # fmt: skip


def test_ctrl_c_says_how_to_resume(tmp_path):
    """The interrupt lands while the model is paused before its second batch (``paused_run``): mid-run, always."""
    out = tmp_path / "run"
    args = ["run", "--tasks", "pope", "--batch-size", "1", "--out", str(out), "--no-progress"]
    reached = tmp_path / "paused"
    proc = subprocess.Popen(paused_run.command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=paused_run.pause_env(2, reached))  # fmt: skip
    paused_run.wait_for_pause(proc, reached)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err and "rerun the same command to resume" in lines[0], err
    assert len(read_jsonl(out / "pope" / "samples.jsonl")) == 1  # the first batch's record survives the interrupt
    resumed = subprocess.run([sys.executable, "-m", "janus_eval", *args], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr


# -- the MM-Vet judge ---------------------------------------------------------------------------
def test_judge_url_that_is_not_a_url_fails_before_the_model_runs(cli_invoke, tmp_path):
    assert_one_line_error(cli_invoke("run", "--tasks", "mmvet", "--judge-url", "notaurl", "--out", str(tmp_path / "r"), *FAST),
                          "notaurl")  # fmt: skip
    assert not (tmp_path / "r" / "mmvet").exists()


@pytest.mark.parametrize(
    "reply, message, requests",
    [(b"\xff\xfe\xfa", "UTF-8", 1), ("hang", "did not answer within the 0.5 s timeout (2 tries)", 2)],
    ids=["non-utf8", "hanging"],
)
def test_bad_judge_replies(cli_invoke, tmp_path, monkeypatch, reply, message, requests):
    """One sample: a reply that is not UTF-8 fails at once, a hanging judge after the one retry its timeout allows
    (``--judge-timeout`` reaches the client: the message names it); no further request either way."""
    from fake_chat_server import serve

    monkeypatch.setenv("JANUS_TEST_JUDGE_KEY", "k")
    with serve(lambda request, n: (200, reply)) as (url, seen):
        line = assert_one_line_error(cli_invoke("run", "--tasks", "mmvet", "--judge-url", url, "--judge-key-env",
                                                "JANUS_TEST_JUDGE_KEY", "--judge-timeout", "0.5", "--out",
                                                str(tmp_path / "r"), "--limit", "1", "--no-progress"))  # fmt: skip
        assert len(seen) == requests
    assert message in line or message.lower() in line.lower(), line


# -- every prerequisite of every task, before the model loads (#24.7) ----------------------------
def test_paper_with_a_missing_inception_file_refuses_before_the_model_loads(cli_invoke, tmp_path, out, model_loads):
    """The paper preset used to run every understanding task and GenEval, then stop at COCO-30K."""
    before = snapshot(out)
    line = assert_one_line_error(cli_invoke("run", "--tasks", "paper", "--inception-weights", str(tmp_path / "nope.pt"),
                                            "--out", str(out), *FAST), f"{tmp_path / 'nope.pt'} does not exist")  # fmt: skip
    assert "coco30k" in line and "mjhq30k" in line
    assert model_loads == [] and snapshot(out) == before
    assert not [name for name in ("geneval", "coco30k", "mme", "vqav2") if (out / name).exists()]


def test_paper_on_an_empty_data_root_names_everything_missing_at_once(cli_invoke, tmp_path, model_loads):
    from janus_eval.registry import list_tasks

    data, run = tmp_path / "data", tmp_path / "run"
    data.mkdir()
    line = assert_one_line_error(cli_invoke("run", "--tasks", "paper", "--data-root", str(data), "--out", str(run), *FAST),
                                 "cannot start, 11 tasks lack inputs")  # fmt: skip
    assert all(f"{name}:" in line for name in list_tasks())  # GenEval's weights and the Inception file included
    assert str(data / "weights") in line
    assert model_loads == [] and not run.exists()


# -- messages (#24.11, #24.20) ------------------------------------------------------------------
def test_an_input_that_is_a_folder_is_not_called_a_failed_write(cli_invoke, tmp_path, checkpoint, out):
    """Every OSError was reported as "nothing written before this was changed", even for an input (#24.11)."""
    ckpt = tmp_path / "ckpt"
    shutil.copytree(checkpoint, ckpt)
    (ckpt / "model.safetensors").unlink()
    (ckpt / "model.safetensors").mkdir()
    before = snapshot(out)
    line = assert_one_line_error(cli_invoke("run", "--tasks", "pope", "--ckpt", str(ckpt), "--out", str(out), *FAST),
                                 f"{ckpt / 'model.safetensors'} is a folder where a file was expected")  # fmt: skip
    assert "writ" not in line
    assert snapshot(out) == before


@pytest.mark.parametrize(
    "cause, expected",
    [
        (errno.ENOENT, "/in/put.jsonl does not exist"),
        (errno.EACCES, "permission denied: /in/put.jsonl"),
        (errno.ENOSPC, "writing /in/put.jsonl; what was written before is unchanged"),
    ],
    ids=["missing", "permission", "disk-full"],
)
def test_os_errors_are_named_by_cause(cli_invoke, monkeypatch, tmp_path, cause, expected):
    """Root runs the suite here, so a real unreadable file cannot be made: the scorer's read raises instead."""
    import janus_eval.scoring

    def fail(*args, **kwargs):
        raise OSError(cause, os.strerror(cause), "/in/put.jsonl")

    monkeypatch.setattr(janus_eval.scoring, "score_predictions", fail)
    line = assert_one_line_error(cli_invoke("score", "--task", "pope", "--predictions", str(tmp_path / "p.jsonl")), expected)
    assert ("unchanged" in line) == (cause == errno.ENOSPC)


def test_a_skipped_sample_is_a_one_line_notice(cli_invoke, tmp_path):
    data = pope_copy(tmp_path / "data", lambda t: with_column(t, "question", [None, *t.column("question").to_pylist()[1:]]))
    code, _, err = cli_invoke("run", "--tasks", "pope", "--data-root", str(data), "--out", str(tmp_path / "r"),
                              "--on-bad-image", "skip", *FAST)  # fmt: skip
    assert code == 0, err
    notices = [line for line in err.splitlines() if "skipping" in line]
    assert len(notices) == 1 and notices[0].startswith("notice: skipping pope sample"), err
    assert "Warning" not in err and ".py:" not in err


def test_predictions_that_are_a_folder(cli_invoke, tmp_path):
    assert_one_line_error(cli_invoke("score", "--task", "pope", "--predictions", str(tmp_path)),
                          f"--predictions {tmp_path} is a folder; expected a .jsonl file")  # fmt: skip


def test_an_unknown_task_lists_the_tasks_and_presets(cli_invoke, tmp_path):
    line = assert_one_line_error(cli_invoke("run", "--tasks", "tabel2", "--out", str(tmp_path / "r")), "did you mean 'table2'")
    assert "presets: table2, table3, table4, paper" in line and "mjhq30k" in line


def test_an_option_for_a_task_without_options(cli_invoke, tmp_path):
    line = assert_one_line_error(cli_invoke("run", "--tasks", "pope", "-T", "pope.speed=9", "--out", str(tmp_path / "r"), *FAST),
                                 "task 'pope' has no options")  # fmt: skip
    assert "none" not in line
