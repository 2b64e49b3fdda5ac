import pytest

from janus_eval.registry import get_task, is_implemented, list_tasks
from janus_eval.task import JanusEvalError, TaskNotImplemented

SUITE = "vqav2 gqa pope mme seed mmbench mmvet mmmu geneval coco30k mjhq30k".split()


def test_list_tasks_is_exactly_the_suite():
    assert list_tasks() == SUITE


def test_get_task_builds_registered_task():
    task = get_task("pope")
    assert task.name == "pope" and task.protocol == "lmms-eval" and task.kind == "understanding"


def test_unknown_task_suggests_closest_name():
    with pytest.raises(JanusEvalError, match="did you mean 'pope'"):
        get_task("popee")


def test_every_benchmark_is_implemented():
    assert [name for name in SUITE if not is_implemented(name)] == []


def test_unimplemented_task_says_so(monkeypatch):
    from janus_eval import registry

    assert is_implemented("mmvet")  # discovery done: a listed benchmark whose module is gone, as before it was built
    monkeypatch.delitem(registry._REGISTRY, "mmvet")
    assert not is_implemented("mmvet") and "mmvet" in list_tasks()
    with pytest.raises(TaskNotImplemented, match="not implemented yet"):
        get_task("mmvet")


def test_unknown_protocol_is_rejected():
    with pytest.raises(JanusEvalError, match="unknown protocol"):
        get_task("pope", protocol="helm")
