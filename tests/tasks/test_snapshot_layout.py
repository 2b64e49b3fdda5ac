"""A ``huggingface-cli download`` snapshot under ``--data-root`` loads the rows the bundled fixture holds (#23.7).

One test for every task read from parquet shards: the fixture's shards re-cut into two (``-of-00002``),
beside a shard of another split that must be ignored, load the same docs and images; a snapshot in
another layout is refused with the path the task expects.
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from janus_eval.errors import JanusEvalError
from janus_eval.hfdata import FIXTURES
from janus_eval.registry import get_task

CASES = [  # (task, folder under --data-root holding the repo snapshot)
    ("pope", "POPE"),
    ("mme", "MME"),
    ("seed", "SEED-Bench"),
    ("gqa", "GQA"),
    ("vqav2", "lmms-lab-encoder/VQAv2"),  # the org-prefixed layout is accepted too
]


def _recut(fixture: Path, root: Path) -> None:
    """Every fixture shard ``<split>-00000-of-00001.parquet`` as two shards, plus one shard of another split."""
    for shard in fixture.rglob("*.parquet"):
        table = pq.read_table(shard)
        folder = root / shard.parent.relative_to(fixture)
        folder.mkdir(parents=True, exist_ok=True)
        split = shard.name.split("-00000-of-", 1)[0]
        half = table.num_rows // 2
        pq.write_table(table.slice(0, half), folder / f"{split}-00000-of-00002.parquet")
        pq.write_table(table.slice(half), folder / f"{split}-00001-of-00002.parquet")
        pq.write_table(table.slice(0, 1), folder / "othersplit-00000-of-00001.parquet")


@pytest.mark.parametrize("name, folder", CASES, ids=[c[0] for c in CASES])
def test_snapshot_layout_and_wrong_layout(tmp_path: Path, name: str, folder: str):
    task = get_task(name)
    fixture = task.load(None)
    _recut(FIXTURES / str(task.dataset.fixture), tmp_path / folder)
    docset = task.load(tmp_path)
    assert [task.doc_id(d) for d in docset.docs] == [task.doc_id(d) for d in fixture.docs]
    last = len(docset) - 1
    assert [i.tobytes() for i in task.images(docset.full_doc(last))] == [i.tobytes() for i in task.images(fixture.full_doc(last))]

    wrong = tmp_path / "wrong" / folder
    wrong.mkdir(parents=True)
    (wrong / "rows.csv").write_text("a,b\n")
    expected = re.escape(folder.rsplit("/", 1)[-1]) + r"/\S*" + re.escape(task.dataset.split) + r"-\*\.parquet"
    with pytest.raises(JanusEvalError, match=expected):
        task.load(tmp_path / "wrong")
