"""The test-only builders in ``tests/fixture_builders`` still rebuild the bundled fixtures the package ships."""

import importlib
import pkgutil
import random
from pathlib import Path

import pyarrow.parquet as pq

from fixture_builders.common import BUILDERS, FIXTURES

HAND_WRITTEN = {Path("__init__.py"), Path("geneval/evaluation_metadata.jsonl")}


def _files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def test_builders_reproduce_the_bundled_fixtures(tmp_path, monkeypatch):
    builders = [m.name for m in pkgutil.iter_modules([str(BUILDERS)]) if m.name.startswith("make_")]
    assert len(builders) == 10, builders
    for name in builders:
        module = importlib.import_module(f"fixture_builders.{name}")
        monkeypatch.setattr(module, "FIXTURES", tmp_path)
        module.build(random.Random(name))  # the seed ``python -m fixture_builders`` uses
    built = _files(tmp_path)
    assert built == _files(FIXTURES) - HAND_WRITTEN
    for path in sorted(built):
        if path.suffix == ".parquet":  # the file's bytes name the pyarrow version that wrote it: compare tables
            assert pq.read_table(tmp_path / path).equals(pq.read_table(FIXTURES / path)), path
        else:
            assert (tmp_path / path).read_bytes() == (FIXTURES / path).read_bytes(), path
