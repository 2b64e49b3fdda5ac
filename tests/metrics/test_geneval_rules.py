"""GenEval's decision rules on constructed detections, worked out from evaluate_images.py's logic."""

import numpy as np
import pytest

from janus_eval.metrics.geneval_rules import Options, evaluate, kept_objects, relative_position, summary
from janus_eval.tasks.geneval import judge


def obj(score, box=(0, 0, 10, 10), color=None):
    return {"box": list(box), "score": score, "color": color}


SINGLE = {"tag": "single_object", "include": [{"class": "bench", "count": 1}], "prompt": "a photo of a bench"}
TWO = {"tag": "two_object", "include": [{"class": "cat", "count": 1}, {"class": "dog", "count": 1}]}
COUNT3 = {"tag": "counting", "include": [{"class": "clock", "count": 3}], "exclude": [{"class": "clock", "count": 4}]}
COLOR = {"tag": "colors", "include": [{"class": "car", "count": 1, "color": "red"}]}
COLOR_ATTR = {"tag": "color_attr", "include": [{"class": "car", "count": 1, "color": "red"},
                                               {"class": "bus", "count": 1, "color": "blue"}]}  # fmt: skip


def position(rel):
    return {"tag": "position", "include": [{"class": "dog", "count": 1}, {"class": "cat", "count": 1, "position": [rel, 0]}]}


class TestThresholds:
    def test_exactly_point_three_in_float32_is_dropped(self):
        assert not judge(SINGLE, {"bench": [obj(np.float32(0.3))]})
        assert not judge(SINGLE, {"bench": [obj(0.3)]})

    def test_next_float32_above_is_kept(self):
        assert judge(SINGLE, {"bench": [obj(np.nextafter(np.float32(0.3), np.float32(1)))]})

    def test_python_float_just_above_but_equal_in_float32_is_dropped(self):
        # 0.30000001 rounds to 0.3f: the official code compares in float32, so it is dropped.
        assert np.float32(0.30000001) == np.float32(0.3)
        assert not judge(SINGLE, {"bench": [obj(0.30000001)]})

    def test_extra_classes_and_instances_are_irrelevant(self):
        assert judge(SINGLE, {"bench": [obj(0.9), obj(0.8)], "person": [obj(0.99)]})

    def test_two_object_needs_both(self):
        assert judge(TWO, {"cat": [obj(0.5)], "dog": [obj(0.31)]})
        assert not judge(TWO, {"cat": [obj(0.5)], "dog": [obj(0.29)]})


class TestCounting:
    def test_exact_count_above_point_nine(self):
        assert judge(COUNT3, {"clock": [obj(0.95), obj(0.91), obj(0.99)]})

    def test_point_nine_exactly_does_not_count(self):
        assert not judge(COUNT3, {"clock": [obj(0.95), obj(0.91), obj(0.9)]})

    def test_too_many_fails_via_exclude(self):
        correct, reason = evaluate(COUNT3, {"clock": [obj(0.95)] * 4})
        assert not correct and "expected clock<4, found 4" in reason

    def test_mid_scores_are_ignored_for_counting(self):
        assert judge(COUNT3, {"clock": [obj(0.95)] * 3 + [obj(0.85)] * 5})

    def test_counting_threshold_applies_to_every_class(self):
        kept = kept_objects(COUNT3, {"clock": [obj(0.95)], "dog": [obj(0.8)]})
        assert "dog" not in kept

    def test_at_most_sixteen_objects_are_kept(self):
        kept = kept_objects(SINGLE, {"bench": [obj(0.5 + i / 100) for i in range(20)]})
        assert len(kept["bench"]) == 16 and kept["bench"][0]["score"] == pytest.approx(0.69)


class TestColors:
    def test_top_object_colour_decides(self):
        assert judge(COLOR, {"car": [obj(0.9, color="red"), obj(0.5, color="blue")]})
        # a lower-scoring red car does not rescue a blue top-1
        assert not judge(COLOR, {"car": [obj(0.9, color="blue"), obj(0.5, color="red")]})

    def test_colour_attr_swapped_fails(self):
        assert judge(COLOR_ATTR, {"car": [obj(0.9, color="red")], "bus": [obj(0.9, color="blue")]})
        correct, reason = evaluate(COLOR_ATTR, {"car": [obj(0.9, color="blue")], "bus": [obj(0.9, color="red")]})
        assert not correct and reason.count("expected") == 2

    def test_colour_reason_lists_found_colours(self):
        _, reason = evaluate(COLOR, {"car": [obj(0.9, color="green")]})
        assert reason == "expected red car>=1, found 0 red; and 1 green"


class TestPosition:
    def test_worked_examples_from_the_reference(self):
        # Two 40x40 boxes, offsets (-60, -84): dx = -52 / 103.2 = -0.504 -> left of (and above).
        b = obj(0.9, (100, 100, 140, 140))
        assert relative_position(obj(0.9, (40, 16, 80, 56)), b) == {"left of", "above"}
        # (-60, -86): dx = -0.496 -> not left of.
        assert "left of" not in relative_position(obj(0.9, (40, 14, 80, 54)), b)

    def test_dead_zone_boundary_is_strict(self):
        # Two 10x10 boxes on a horizontal line: shrink 0.1*(10+10) = 2; (d - 2)/d > 0.5 iff d > 4.
        b = obj(0.9, (100, 100, 110, 110))
        assert relative_position(obj(0.9, (95, 100, 105, 110)), b) == {"left of"}  # d = 5: 3/5 = 0.6
        assert relative_position(obj(0.9, (104, 100, 114, 110)), b) == set()  # d = 4: 2/4 = 0.5, not > 0.5

    def test_overlapping_centres_give_no_relation(self):
        assert relative_position(obj(0.9, (0, 0, 10, 10)), obj(0.9, (1, 1, 9, 9))) == set()

    @pytest.mark.parametrize(
        "rel, box",
        [("left of", (0, 100, 10, 110)), ("right of", (200, 100, 210, 110)), ("above", (100, 0, 110, 10)),
         ("below", (100, 200, 110, 210))],
    )  # fmt: skip
    def test_each_relation(self, rel, box):
        dets = {"dog": [obj(0.9, (100, 100, 110, 110))], "cat": [obj(0.9, box)]}
        assert judge(position(rel), dets)
        others = {"left of", "right of", "above", "below"} - {rel}
        assert not any(judge(position(o), dets) for o in others)

    def test_missing_target(self):
        correct, reason = evaluate(position("left of"), {"cat": [obj(0.9)]})
        assert not correct and "no target for cat to be left of" in reason

    def test_only_top_objects_are_compared(self):
        dets = {"dog": [obj(0.9, (100, 100, 110, 110))], "cat": [obj(0.9, (200, 100, 210, 110)), obj(0.5, (0, 100, 10, 110))]}
        assert not judge(position("left of"), dets)


def test_nms_when_enabled_uses_plus_one_iou():
    dets = {"bench": [obj(0.9, (0, 0, 9, 9)), obj(0.8, (0, 0, 9, 9)), obj(0.7, (50, 50, 60, 60))]}
    assert len(kept_objects(SINGLE, dets, Options(max_overlap=0.5))["bench"]) == 2
    assert len(kept_objects(SINGLE, dets)["bench"]) == 3  # off by default


def test_overall_is_mean_of_tags_not_of_images():
    rows = [("single_object", True)] * 4 + [("counting", False)] * 1 + [("counting", True)] * 1
    result = summary(rows)
    assert result["geneval_single_object"] == 1.0 and result["geneval_counting"] == 0.5
    assert result["geneval_overall"] == 0.75 and result["geneval_images_correct"] == pytest.approx(5 / 6)


class TestTieOrder:
    """Per-class order is ``np.argsort(scores)[::-1]`` as in evaluate_images.py, ties included."""

    @pytest.mark.parametrize("scores", [[0.5, 0.9, 0.5, 0.5], [0.5, 0.5], [0.7, 0.7, 0.7], [0.4, 0.8, 0.8, 0.35, 0.8]])
    def test_order_is_numpy_argsort_reversed(self, scores):
        from janus_eval.metrics.geneval_rules import score_order

        expected = np.argsort(np.asarray(scores, dtype=np.float32))[::-1].tolist()
        assert score_order(scores) == expected
        kept = kept_objects(SINGLE, {"bench": [obj(s, box=(i, 0, 10, 10)) for i, s in enumerate(scores)]})
        assert [o["box"][0] for o in kept["bench"]] == expected

    def test_tied_box_that_argsort_puts_first_decides_colour(self):
        scores = [0.5, 0.9, 0.5, 0.5]
        order = np.argsort(np.asarray(scores, dtype=np.float32))[::-1].tolist()
        winner = order[1]  # the tied 0.5 box GenEval checks second
        two_red = {"tag": "colors", "include": [{"class": "car", "count": 2, "color": "red"}]}
        cars = [obj(s, color="red" if i in (1, winner) else "blue") for i, s in enumerate(scores)]
        assert judge(two_red, {"car": cars})
        # the same boxes with another tied box red instead: GenEval says wrong
        loser = next(i for i in (0, 2, 3) if i != winner)
        cars = [obj(s, color="red" if i in (1, loser) else "blue") for i, s in enumerate(scores)]
        assert not judge(two_red, {"car": cars})
