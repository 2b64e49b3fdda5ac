"""The run lock's rules without a model: one launch holds a directory; its ranks share the hold; the
directory is settled once per launch, even by a rank that arrives after the others have ended."""

import pytest

from janus_eval.errors import JanusEvalError
from janus_eval.lock import RunLock


def test_a_launch_settles_once_even_when_a_rank_arrives_after_the_others_ended(tmp_path):
    first = RunLock(tmp_path, rank=1, launch="launch-a")
    assert first.acquire()  # the first rank of the launch: settles, then publishes
    first.publish()
    first.release()  # it had nothing to do and ended
    late = RunLock(tmp_path, rank=0, launch="launch-a")
    assert not late.acquire()  # joins: settling again would clear the flags the ended rank left
    late.release()
    following = RunLock(tmp_path, rank=0, launch="launch-b")
    assert following.acquire()  # the next launch settles again
    following.release()


def test_ranks_of_one_launch_share_the_lock_and_another_launch_is_refused(tmp_path):
    first = RunLock(tmp_path, rank=0, launch="launch-a")
    assert first.acquire()
    first.publish()
    second = RunLock(tmp_path, rank=1, launch="launch-a")
    try:
        assert not second.acquire()
        with pytest.raises(JanusEvalError, match=r"in use by another janus-eval run \(pid \d+ \(rank 0\)"):
            RunLock(tmp_path, rank=1, launch="launch-b").acquire()
        first.release()
        with pytest.raises(JanusEvalError, match="in use"):  # rank 1 of launch-a still holds it
            RunLock(tmp_path, rank=0, launch="launch-b").acquire()
    finally:
        first.release()
        second.release()
    following = RunLock(tmp_path, rank=0, launch="launch-b")
    assert following.acquire()
    following.release()
