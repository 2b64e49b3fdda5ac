"""``janus-eval download``: resumable, verified HTTP against a local server; hub snapshots mocked; offline."""

from __future__ import annotations

import hashlib
import http.server
import io
import sys
import threading
import types
import zipfile
from pathlib import Path

import pytest

from janus_eval import cli, download
from janus_eval.download import CATALOGUE, build_plan, plan_rows
from janus_eval.errors import JanusEvalError
from janus_eval.transfer import Extract, HttpFile, HubRepo, fetch_http, fetch_hub

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB, not all one byte, so a wrong offset changes the digest


class _Handler(http.server.BaseHTTPRequestHandler):
    """/range/NAME honours Range, /norange/NAME ignores it, /cut/NAME dies halfway through its first answer."""

    files: dict[str, bytes] = {}
    log: list[tuple[str, str | None]] = []
    cut_done: set[str] = set()

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        mode, _, name = self.path.lstrip("/").partition("/")
        self.log.append((self.path, self.headers.get("Range")))
        data = self.files.get(name)
        if data is None:
            self.send_error(404)
            return
        start = 0
        ranged = self.headers.get("Range")
        if ranged and mode in ("range", "cut"):
            start = int(ranged.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "cut" and name not in self.cut_done:
            self.cut_done.add(name)
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture()
def server():
    _Handler.files, _Handler.log, _Handler.cut_done = {}, [], set()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Handler
    httpd.shutdown()
    httpd.server_close()


def _item(url: str, dest: str = "weights/model.bin", data: bytes = PAYLOAD, **extra: object) -> HttpFile:
    return HttpFile(purpose="test", url=url, dest=dest, size=len(data), sha256=hashlib.sha256(data).hexdigest(), **extra)


def _quiet(_: str) -> None:
    pass


def test_fresh_download_verifies_and_renames(server, tmp_path):
    base, handler = server
    handler.files["w.bin"] = PAYLOAD
    assert fetch_http(_item(f"{base}/range/w.bin"), tmp_path, log=_quiet) == "fetched"
    assert (tmp_path / "weights/model.bin").read_bytes() == PAYLOAD
    assert not (tmp_path / "weights/model.bin.part").exists()
    # present and verified: no request at all the second time
    handler.log.clear()
    assert fetch_http(_item(f"{base}/range/w.bin"), tmp_path, log=_quiet) == "done"
    assert handler.log == []


def test_resumes_from_part_with_range(server, tmp_path):
    base, handler = server
    handler.files["w.bin"] = PAYLOAD
    part = tmp_path / "weights/model.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(PAYLOAD[:300_000])
    fetch_http(_item(f"{base}/range/w.bin"), tmp_path, log=_quiet)
    assert handler.log == [("/range/w.bin", "bytes=300000-")]
    assert (tmp_path / "weights/model.bin").read_bytes() == PAYLOAD


def test_server_ignoring_range_restarts(server, tmp_path):
    base, handler = server
    handler.files["w.bin"] = PAYLOAD
    part = tmp_path / "weights/model.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(PAYLOAD[:300_000])
    lines: list[str] = []
    fetch_http(_item(f"{base}/norange/w.bin"), tmp_path, log=lines.append)
    assert (tmp_path / "weights/model.bin").read_bytes() == PAYLOAD  # not 300,000 bytes too many
    assert any("ignored the Range" in line for line in lines)


def test_interrupted_transfer_resumes(server, tmp_path):
    base, handler = server
    handler.files["w.bin"] = PAYLOAD
    fetch_http(_item(f"{base}/cut/w.bin"), tmp_path, log=_quiet, backoff=0)
    assert (tmp_path / "weights/model.bin").read_bytes() == PAYLOAD
    assert handler.log[0] == ("/cut/w.bin", None)
    assert handler.log[1] == ("/cut/w.bin", f"bytes={len(PAYLOAD) // 2}-")


def test_whole_part_from_an_earlier_run_needs_no_request(server, tmp_path):
    base, handler = server
    part = tmp_path / "weights/model.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(PAYLOAD)
    fetch_http(_item(f"{base}/range/w.bin"), tmp_path, log=_quiet)
    assert handler.log == [] and (tmp_path / "weights/model.bin").read_bytes() == PAYLOAD


def test_corrupted_download_leaves_nothing_behind(server, tmp_path):
    base, handler = server
    handler.files["w.bin"] = PAYLOAD[:-1] + b"\x00"  # same size, different bytes
    with pytest.raises(JanusEvalError, match="failed verification.*sha256"):
        fetch_http(_item(f"{base}/range/w.bin"), tmp_path, log=_quiet)
    assert list((tmp_path / "weights").iterdir()) == []


@pytest.mark.parametrize("kind", ["md5", "sha256_prefix"])
def test_other_digests_are_checked(server, tmp_path, kind):
    base, handler = server
    handler.files["w.bin"] = PAYLOAD
    good = {"md5": hashlib.md5(PAYLOAD).hexdigest(), "sha256_prefix": hashlib.sha256(PAYLOAD).hexdigest()[:8]}[kind]
    item = HttpFile(purpose="t", url=f"{base}/range/w.bin", dest="a.bin", **{kind: good})
    fetch_http(item, tmp_path, log=_quiet)
    bad = HttpFile(purpose="t", url=f"{base}/range/w.bin", dest="b.bin", **{kind: "0" * len(good)})
    with pytest.raises(JanusEvalError, match=kind.split("_")[0]):
        fetch_http(bad, tmp_path, log=_quiet)
    assert not (tmp_path / "b.bin").exists() and not (tmp_path / "b.bin.part").exists()


def test_present_but_wrong_file_is_fetched_again(server, tmp_path):
    base, handler = server
    handler.files["w.bin"] = PAYLOAD
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights/model.bin").write_bytes(b"stale")
    fetch_http(_item(f"{base}/range/w.bin"), tmp_path, log=_quiet)
    assert (tmp_path / "weights/model.bin").read_bytes() == PAYLOAD


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def test_archive_unpacked_only_after_verification(server, tmp_path):
    base, handler = server
    archive = _zip({"val2014/COCO_val2014_000000000042.jpg": b"jpeg", "val2014/COCO_val2014_000000000073.jpg": b"jpg2"})
    handler.files["val2014.zip"] = archive
    extract = Extract(archive="coco2014/val2014.zip", into="coco2014", provides="coco2014/val2014")
    item = _item(f"{base}/range/val2014.zip", dest="coco2014/val2014.zip", data=archive, extract=extract)
    assert fetch_http(item, tmp_path, log=_quiet) == "fetched"
    assert (tmp_path / "coco2014/val2014/COCO_val2014_000000000042.jpg").read_bytes() == b"jpeg"
    assert not (tmp_path / "coco2014/val2014.zip").exists()  # the archive goes once unpacked
    assert download.status(item, tmp_path) == "done"
    handler.log.clear()
    assert fetch_http(item, tmp_path, log=_quiet) == "done" and handler.log == []
    # a corrupt archive is never unpacked
    handler.files["bad.zip"] = archive[:-10] + b"\x00" * 10
    bad = _item(f"{base}/range/bad.zip", dest="other/bad.zip", data=archive,
                extract=Extract(archive="other/bad.zip", into="other", provides="other/val2014"))  # fmt: skip
    with pytest.raises(JanusEvalError, match="verification"):
        fetch_http(bad, tmp_path, log=_quiet)
    assert list((tmp_path / "other").iterdir()) == []


def test_archive_members_filter(server, tmp_path):
    base, handler = server
    archive = _zip({"annotations/captions_val2014.json": b"{}", "annotations/instances_val2014.json": b"{}"})
    handler.files["ann.zip"] = archive
    extract = Extract(archive="coco2014/ann.zip", into="coco2014", provides="coco2014/annotations/captions_val2014.json",
                      members=("annotations/captions_val2014.json",))  # fmt: skip
    fetch_http(_item(f"{base}/range/ann.zip", dest="coco2014/ann.zip", data=archive, extract=extract), tmp_path, log=_quiet)
    assert sorted(p.name for p in (tmp_path / "coco2014/annotations").iterdir()) == ["captions_val2014.json"]


def test_unreachable_network_is_one_line_naming_what_and_where(tmp_path):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    item = _item(f"http://127.0.0.1:{port}/x/inception.pt", dest="weights/inception.pt")
    with pytest.raises(JanusEvalError) as err:
        fetch_http(item, tmp_path, log=_quiet)
    message = str(err.value)
    assert "\n" not in message and item.url in message and str(tmp_path / "weights/inception.pt") in message


# -- Hugging Face (mocked) -----------------------------------------------------------------------------
@pytest.fixture()
def fake_hub(monkeypatch):
    """A fake ``huggingface_hub`` whose snapshot_download writes files matching the patterns."""
    calls: list[dict] = []
    contents: dict[str, dict[str, bytes]] = {}

    def snapshot_download(repo_id, repo_type=None, local_dir=None, allow_patterns=None, **_):
        import fnmatch

        calls.append({"repo_id": repo_id, "repo_type": repo_type, "local_dir": local_dir, "allow_patterns": allow_patterns})
        for name, data in contents.get(repo_id, {}).items():
            if allow_patterns is None or any(fnmatch.fnmatch(name, p) for p in allow_patterns):
                path = Path(local_dir) / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        return local_dir

    module = types.ModuleType("huggingface_hub")
    module.snapshot_download = snapshot_download
    monkeypatch.setitem(sys.modules, "huggingface_hub", module)
    return calls, contents


def test_hub_snapshot_of_a_task_split(fake_hub, tmp_path):
    calls, contents = fake_hub
    contents["lmms-lab/POPE"] = {"data/test-00000-of-00001.parquet": b"p", "data/train-00000-of-00001.parquet": b"t"}
    (item,) = build_plan("pope")
    assert fetch_hub(item, tmp_path, log=_quiet) == "fetched"
    assert calls == [{"repo_id": "lmms-lab/POPE", "repo_type": "dataset", "local_dir": str(tmp_path / "POPE"),
                      "allow_patterns": ["data/test-*.parquet"]}]  # fmt: skip
    assert (tmp_path / "POPE/data/test-00000-of-00001.parquet").exists()
    assert not (tmp_path / "POPE/data/train-00000-of-00001.parquet").exists()
    assert fetch_hub(item, tmp_path, log=_quiet) == "done" and len(calls) == 1  # marker: no second call


def test_hub_snapshot_then_unpack_mjhq(fake_hub, tmp_path):
    calls, contents = fake_hub
    contents["playgroundai/MJHQ-30K"] = {
        "meta_data.json": b'{"abc": {"category": "animals", "prompt": "a cat"}}',
        "mjhq30k_imgs.zip": _zip({"animals/abc.jpg": b"jpg"}),
        "data/test-00000.parquet": b"not wanted",
    }
    (item,) = build_plan("mjhq30k")
    fetch_hub(item, tmp_path, log=_quiet)
    assert (tmp_path / "MJHQ-30K/mjhq30k_imgs/animals/abc.jpg").read_bytes() == b"jpg"
    assert (tmp_path / "MJHQ-30K/meta_data.json").exists()
    assert not (tmp_path / "MJHQ-30K/data").exists()
    assert download.status(item, tmp_path) == "done"


def test_hub_error_is_one_line_with_the_manual_command(monkeypatch, tmp_path):
    def offline(**_):
        raise OSError("Name or service not known\nmore detail")

    module = types.ModuleType("huggingface_hub")
    module.snapshot_download = offline
    monkeypatch.setitem(sys.modules, "huggingface_hub", module)
    (item,) = build_plan("mme")
    with pytest.raises(JanusEvalError) as err:
        fetch_hub(item, tmp_path, log=_quiet)
    assert "\n" not in str(err.value) and "hf download lmms-lab/MME --repo-type dataset" in str(err.value)
    assert str(tmp_path / "MME") in str(err.value)


def test_missing_huggingface_hub_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import raises ImportError
    (item,) = build_plan("pope")
    with pytest.raises(JanusEvalError, match=r"janus-eval\[download\]"):
        fetch_hub(item, tmp_path, log=_quiet)


# -- plan, catalogue, CLI ---------------------------------------------------------------------------
def test_plan_for_weights_and_models():
    plan = build_plan("geneval,coco30k", weights=True, models="Janus-Pro-1B")
    purposes = [item.purpose for item in plan]
    assert purposes[:3] == ["geneval", "coco30k", "coco30k"]
    assert {"weights:mask2former", "weights:clip", "weights:inception-clean-fid",
            "weights:inception-torch-fidelity", "weights:Janus-Pro-1B"} <= set(purposes)  # fmt: skip
    assert "weights:Janus-1.3B" not in purposes
    default = [i.purpose for i in build_plan(None, weights=True)]
    assert default == ["weights:Janus-1.3B"]
    with pytest.raises(JanusEvalError, match="unknown task"):
        build_plan("popr")
    with pytest.raises(JanusEvalError, match="unknown model"):
        build_plan("pope", models="Janus-2B")
    with pytest.raises(JanusEvalError, match="nothing to download"):
        build_plan(None)


def test_catalogue_matches_the_tasks_datasets():
    """Each implemented task's DatasetSpec is what the catalogue fetches (repo and split files)."""
    import ast
    import fnmatch
    import importlib.util

    from janus_eval.registry import SUITE, get_task
    from janus_eval.tasks.geneval import CLIP_DIR

    # read the detector's file name without importing torch (keeps this test fast)
    source = Path(importlib.util.find_spec("janus_eval.metrics.geneval_models").origin).read_text()
    (MMDET_CHECKPOINT,) = [ast.literal_eval(node.value) for node in ast.parse(source).body
                           if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "MMDET_CHECKPOINT"]  # fmt: skip

    assert set(CATALOGUE) == set(SUITE)
    hub_parquet = [name for name in SUITE if name not in ("geneval", "coco30k", "mjhq30k")]
    assert hub_parquet == ["vqav2", "gqa", "pope", "mme", "seed", "mmbench", "mmvet", "mmmu"]
    for name in hub_parquet:
        spec = get_task(name).dataset
        items = [i for i in build_plan(name) if isinstance(i, HubRepo)]
        assert items and items[0].repo_id == spec.dataset_id and items[0].dest == spec.repo, name
        wanted = f"{spec.config}/{spec.split}-00000-of-00001.parquet" if spec.config else f"data/{spec.split}-00000-of-00001.parquet"
        assert any(fnmatch.fnmatch(wanted, p) for p in items[0].allow), (name, wanted)
    weights = {i.purpose: i for i in build_plan("geneval", weights=True)}
    assert weights["weights:mask2former"].dest == f"weights/{MMDET_CHECKPOINT}"
    assert weights["weights:clip"].dest == f"weights/{CLIP_DIR}"


def test_cli_dry_run_prints_the_plan_and_fetches_nothing(monkeypatch, capsys, tmp_path):
    def no_network(*args, **kwargs):
        raise AssertionError("dry run touched the network")

    monkeypatch.setattr(download, "fetch", no_network)
    monkeypatch.setattr(sys, "argv", ["janus-eval", "download", "--tasks", "coco30k,pope", "--weights",
                                      "--data-root", str(tmp_path), "--dry-run"])  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
        raise SystemExit(0)
    out = capsys.readouterr().out
    assert (exit_info.value.code or 0) == 0
    assert "http://images.cocodataset.org/zips/val2014.zip" in out and "6.6 GB" in out
    assert f"{tmp_path}/coco2014/annotations/captions_val2014.json" in out
    assert "lmms-lab/POPE" in out and "deepseek-ai/Janus-1.3B" in out
    assert list(tmp_path.iterdir()) == []
    rows = plan_rows(build_plan("coco30k"), tmp_path)
    assert [r[-1] for r in rows] == ["missing", "missing"]


def test_cli_unknown_task_is_one_line_exit_2(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(sys, "argv", ["janus-eval", "download", "--tasks", "popr", "--data-root", str(tmp_path)])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 2
    assert "unknown task 'popr'" in capsys.readouterr().err
