"""GenEval's decision rules (``evaluate_images.py`` of djghosh13/geneval), on given detections.

Pure functions: no detector, no CLIP. The colour of an object arrives as ``detection["color"]``
(classified beforehand, see ``objects_needing_color``). Details that decide edge cases:
- thresholds are strict ``>`` compared in float32, as NumPy compares the detector's float32 scores
  with a Python float: a score of exactly 0.3f is dropped;
- counting prompts use 0.9 for every class of the image, and "too many" counts all kept objects
  (at most 16 per class);
- only the top-n objects of a clause (by score) are checked for colour and position; the order is
  ``np.argsort(float32 scores)[::-1]``, ties included (see ``score_order``);
- NMS is off by default (``max_overlap = 1.0``); when on it uses the "+1 pixel" IoU convention;
- position uses a dead zone of 0.1 x the per-axis sum of both box sizes, normalised by the
  unshrunk centre distance; relations are not exclusive; box geometry is float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

COLORS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white")


@dataclass(frozen=True)
class Options:
    threshold: float = 0.3
    counting_threshold: float = 0.9
    max_objects: int = 16
    max_overlap: float = 1.0
    position_threshold: float = 0.1


DEFAULT = Options()
Detections = dict[str, list[dict[str, Any]]]


def _iou_plus_one(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(x2 - x1 + 1, 0) * max(y2 - y1 + 1, 0)
    area_a = (a[2] - a[0] + 1) * (a[3] - a[1] + 1)
    area_b = (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
    return float(inter / (area_a + area_b - inter))


def score_order(scores: list[Any]) -> list[int]:
    """Indices by descending score as ``np.argsort(scores)[::-1]`` on the detector's float32 column.

    GenEval's ``evaluate_images.py`` does exactly this; argsort's default (unstable) quicksort
    decides which of two equal-score boxes comes first, and that box is the one checked for
    colour and position, so a stable sort would judge ties differently.
    """
    return np.argsort(np.asarray(scores, dtype=np.float32).reshape(-1))[::-1].tolist()


def kept_objects(metadata: dict[str, Any], detections: Detections, options: Options = DEFAULT) -> Detections:
    """Per class: sorted by score, strictly above the tag's threshold (float32), capped, optional NMS."""
    threshold = options.counting_threshold if metadata.get("tag") == "counting" else options.threshold
    cut = np.float32(threshold)
    kept: Detections = {}
    for name, objects in detections.items():
        ordered = [objects[i] for i in score_order([o["score"] for o in objects])]
        above = [o for o in ordered if np.float32(o["score"]) > cut][: options.max_objects]
        if options.max_overlap < 1:
            survivors: list[dict[str, Any]] = []
            for obj in above:
                box = np.asarray(obj["box"], dtype=np.float32)
                if all(_iou_plus_one(box, np.asarray(s["box"], dtype=np.float32)) < options.max_overlap for s in survivors):
                    survivors.append(obj)
            above = survivors
        if above:
            kept[name] = above
    return kept


def relative_position(obj: dict[str, Any], target: dict[str, Any], options: Options = DEFAULT) -> set[str]:
    """Relations of ``obj`` to ``target`` in image coordinates (y grows downward)."""
    boxes = np.array([obj["box"][:4], target["box"][:4]], dtype=np.float32).reshape(2, 2, 2)
    centers = boxes.mean(axis=-2)
    sizes = np.abs(boxes[:, 1] - boxes[:, 0])
    offset = centers[0] - centers[1]
    revised = np.maximum(np.abs(offset) - np.float32(options.position_threshold) * (sizes[0] + sizes[1]), 0)
    revised = revised * np.sign(offset)
    if np.all(np.abs(revised) < 1e-3):
        return set()
    dx, dy = revised / np.linalg.norm(offset)
    relations = set()
    if dx < -0.5:
        relations.add("left of")
    if dx > 0.5:
        relations.add("right of")
    if dy < -0.5:
        relations.add("above")
    if dy > 0.5:
        relations.add("below")
    return relations


def objects_needing_color(metadata: dict[str, Any], detections: Detections, options: Options = DEFAULT) -> Detections:
    """The objects whose colour the rules will read: the top-n kept objects of each coloured clause."""
    kept = kept_objects(metadata, detections, options)
    need: Detections = {}
    for clause in metadata.get("include", []):
        if "color" in clause and clause["class"] in kept:
            need[clause["class"]] = kept[clause["class"]][: clause["count"]]
    return need


def evaluate(metadata: dict[str, Any], detections: Detections, options: Options = DEFAULT) -> tuple[bool, str]:
    """(correct, reasons) exactly as the official evaluation decides; reasons newline-joined."""
    kept = kept_objects(metadata, detections, options)
    correct, reasons = True, []
    matched_groups: list[list[dict[str, Any]] | None] = []
    for clause in metadata.get("include", []):
        name, count = clause["class"], clause["count"]
        found = kept.get(name, [])[:count]
        matched = True
        if len(found) < count:
            matched = False
            reasons.append(f"expected {name}>={count}, found {len(found)}")
        else:
            if "color" in clause:
                colors = [o.get("color") for o in found]
                wanted = clause["color"]
                if colors.count(wanted) < count:
                    matched = False
                    seen = ", ".join(f"{colors.count(c)} {c}" for c in COLORS if c in colors)
                    reasons.append(f"expected {wanted} {name}>={count}, found {colors.count(wanted)} {wanted}; and {seen}")
            if "position" in clause and matched:
                relation, target_index = clause["position"]
                targets = matched_groups[target_index]
                if targets is None:
                    matched = False
                    reasons.append(f"no target for {name} to be {relation}")
                else:
                    for obj in found:
                        for target in targets:
                            actual = relative_position(obj, target, options)
                            if relation not in actual:
                                matched = False
                                reasons.append(f"expected {name} {relation} target, found {' and '.join(sorted(actual))} target")
                                break
                        if not matched:
                            break
        correct = correct and matched
        matched_groups.append(found if matched else None)
    for clause in metadata.get("exclude", []):
        name, count = clause["class"], clause["count"]
        if len(kept.get(name, [])) >= count:
            correct = False
            reasons.append(f"expected {name}<{count}, found {len(kept[name])}")
    return correct, "\n".join(reasons)


def verdict(metadata: dict[str, Any], detections: Detections) -> bool:
    return evaluate(metadata, detections)[0]


TAGS = ("single_object", "two_object", "counting", "colors", "position", "color_attr")


def summary(rows: list[tuple[str, bool]]) -> dict[str, float]:
    """``summary_scores.py``: per-tag image accuracy and their unweighted mean (not the image mean)."""
    per_tag: dict[str, list[bool]] = {}
    for tag, correct in rows:
        per_tag.setdefault(tag, []).append(correct)
    result = {f"geneval_{tag}": float(np.mean(per_tag[tag])) for tag in TAGS if tag in per_tag}
    result.update({f"geneval_{tag}": float(np.mean(v)) for tag, v in per_tag.items() if f"geneval_{tag}" not in result})
    result["geneval_overall"] = float(np.mean([result[f"geneval_{t}"] for t in per_tag]))
    result["geneval_images_correct"] = float(np.mean([c for _, c in rows]))
    return result
