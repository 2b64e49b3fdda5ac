"""The sha256 cache kept across processes (#24.10): a relaunch must not re-read a checkpoint it already hashed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from janus_eval import io


@pytest.fixture
def fresh_process(monkeypatch, tmp_path):
    """A user cache in tmp_path, the in-process memo emptied (as in a new launch), and every full read counted."""
    monkeypatch.setenv(io.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(io, "_SHA256_CACHE", {})
    reads: list[Path] = []
    real = io._sha256_uncached

    def counted(path: Path, chunk: int) -> str:
        reads.append(Path(path))
        return real(path, chunk)

    monkeypatch.setattr(io, "_sha256_uncached", counted)
    return reads


def big_file(path: Path, fill: bytes = b"w") -> Path:
    path.write_bytes(fill * io.PERSIST_MIN_BYTES)
    return path


def new_launch(monkeypatch) -> None:
    monkeypatch.setattr(io, "_SHA256_CACHE", {})


def test_a_second_launch_does_not_read_the_file_again(fresh_process, monkeypatch, tmp_path):
    weights = big_file(tmp_path / "model.safetensors")
    expected = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert io.sha256_file(weights) == expected
    new_launch(monkeypatch)
    assert io.sha256_file(weights) == expected
    assert fresh_process == [weights]  # read once, by the first launch only
    assert (tmp_path / "cache" / "sha256.json").is_file()
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir() if p.is_file())  # nothing beside the weights


@pytest.mark.parametrize("change", ["content-same-size", "size", "replaced"])
def test_a_changed_file_is_hashed_again(fresh_process, monkeypatch, tmp_path, change):
    weights = big_file(tmp_path / "model.safetensors")
    io.sha256_file(weights)
    stat = weights.stat()
    if change == "content-same-size":  # same size, new mtime
        weights.write_bytes(b"x" * io.PERSIST_MIN_BYTES)
        os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    elif change == "size":
        weights.write_bytes(b"w" * (io.PERSIST_MIN_BYTES + 1))
        os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    else:  # a new file renamed over the old one: new inode, same size and mtime
        other = big_file(tmp_path / "other", b"y")
        os.utime(other, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        os.replace(other, weights)
    new_launch(monkeypatch)
    assert io.sha256_file(weights) == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert len(fresh_process) == 2


def test_a_read_only_or_absent_cache_only_costs_a_re_read(fresh_process, monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv(io.CACHE_ENV, str(blocker / "cache"))  # cannot be created
    weights = big_file(tmp_path / "model.safetensors")
    assert io.sha256_file(weights) == hashlib.sha256(weights.read_bytes()).hexdigest()
    monkeypatch.setenv(io.CACHE_ENV, "off")
    new_launch(monkeypatch)
    io.sha256_file(weights)
    assert len(fresh_process) == 2


def test_a_corrupt_sidecar_is_ignored(fresh_process, monkeypatch, tmp_path):
    weights = big_file(tmp_path / "model.safetensors")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "sha256.json").write_text("{not json")
    io.sha256_file(weights)
    new_launch(monkeypatch)
    assert io.sha256_file(weights) == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert len(fresh_process) == 1  # the corrupt file was replaced by a good one
