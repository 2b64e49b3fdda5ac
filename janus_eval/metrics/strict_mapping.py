"""What every strict checkpoint key mapping shares (mmdet's Mask2Former, OpenAI's CLIP): each source
tensor consumed once and shape-checked, every model tensor filled, and every misfit reported in one error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Generic, Iterable, TypeVar

import torch

from janus_eval.errors import JanusEvalError

SHOW = 8
"""Keys listed per category in error messages."""
L = TypeVar("L")


@dataclass
class Conversion(Generic[L]):
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    """Transformers name -> tensor, for every link that fit."""
    consumed: set[str] = field(default_factory=set)
    missing: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


def convert_links(
    state_dict: dict[str, torch.Tensor],
    target: dict[str, torch.Tensor],
    links: Iterable[L],
    source_key: Callable[[L], str],
    hf_keys: Callable[[L], tuple[str, ...]],
    expected_shape: Callable[[L, list[torch.Size]], tuple[int, ...]],
    to_hf: Callable[[L, torch.Tensor], list[torch.Tensor]],
) -> Conversion[L]:
    """Apply each link: its source tensor, shape-checked against the transformers tensors it becomes."""
    result: Conversion[L] = Conversion()
    for link in links:
        key, names = source_key(link), hf_keys(link)
        if key not in state_dict:
            result.missing.append(key)
            continue
        result.consumed.add(key)
        tensor = state_dict[key]
        if any(h not in target for h in names):
            raise JanusEvalError(f"internal mapping error: {names} not in the transformers model")
        expected = expected_shape(link, [target[h].shape for h in names])
        if tuple(tensor.shape) != expected:
            result.wrong.append(f"{key} {tuple(tensor.shape)} (expected {expected})")
            continue
        for name, value in zip(names, to_hf(link, tensor)):
            result.tensors[name] = value.to(target[name].dtype).contiguous()
    return result


def _listing(title: str, items: list[str]) -> str:
    more = f", ... (+{len(items) - SHOW} more)" if len(items) > SHOW else ""
    return f"{len(items)} {title}: {', '.join(items[:SHOW])}{more}"


def raise_misfits(conversion: Conversion[L], unfilled: list[str], source: str, layout: str, label: str) -> None:
    """One error naming every missing, mis-shaped, unexpected and unfilled key, if there is any."""
    categories = ((f"missing {label} keys", conversion.missing), ("shape mismatches", conversion.wrong),
                  (f"unexpected (unmapped) {label} keys", conversion.unexpected),
                  ("model tensors left unfilled", unfilled))  # fmt: skip
    problems = [_listing(title, items) for title, items in categories if items]
    if problems:
        raise JanusEvalError(f"{source} does not match {layout} for this config: " + "; ".join(problems))
