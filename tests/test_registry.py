import pytest

from janus_eval.registry import PRESETS, get_task, list_tasks, task_class
from janus_eval.task import JanusEvalError

SUITE = "vqav2 gqa pope mme seed mmbench mmvet mmmu geneval coco30k mjhq30k".split()


def test_list_tasks_is_exactly_the_suite():
    assert list_tasks() == SUITE


def test_get_task_builds_registered_task():
    task = get_task("pope")
    assert task.name == "pope" and task.protocol == "lmms-eval" and task.kind == "understanding"


def test_unknown_task_suggests_closest_name():
    with pytest.raises(JanusEvalError, match="did you mean 'pope'"):
        get_task("popee")


def test_every_benchmark_is_built_under_each_protocol_it_declares():
    built = [(name, protocol) for name in SUITE for protocol in task_class(name).protocols]
    assert len(built) == 27  # eight understanding tasks x 3 protocols (VQAv2 scores as lmms-eval under all); 3 x 1
    for name, protocol in built:
        task = get_task(name, protocol)
        assert task.name == name and task.protocol == protocol and task.headline in {m.name for m in task.metrics}
    # #22.2: --protocol chooses understanding rules; a generation task takes any choice and keeps its own
    assert get_task("geneval", protocol="vlmevalkit").protocol == "official"


def test_presets_are_the_paper_tables():
    assert PRESETS["table2"] == tuple(n for n in SUITE if task_class(n).kind == "understanding")
    assert PRESETS["table3"] + PRESETS["table4"] == tuple(n for n in SUITE if task_class(n).kind == "generation")
    assert PRESETS["paper"] == tuple(SUITE)


def test_unknown_protocol_is_rejected():
    with pytest.raises(JanusEvalError, match="unknown protocol"):
        get_task("pope", protocol="helm")
