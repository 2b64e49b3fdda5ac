"""Janus as an lmms-eval 0.7.x model: ``lmms-eval --model janus --model_args pretrained=PATH --tasks pope``.

lmms-eval finds this class through the ``lmms_eval.models`` entry point (``lmms_eval_manifest``
below), so its own task configs, prompts and scoring run on our batched ``JanusAdapter``: a
cross-check of janus-eval's reimplemented scoring against the reference code, on the same model.

Model args: ``pretrained`` (a local checkpoint directory, or ``tiny`` for the embedded random
model), ``device`` (default cuda when available), ``dtype`` (float32 | bfloat16 | float16; default
bf16 on GPU, fp32 on CPU), ``batch_size`` (default 8), ``max_new_tokens`` (used only when a task's
yaml gives none). Without it such a task gets janus-eval's number for the same benchmark
(``seedbench``: 32, as ``janus-eval run --tasks seed``), so both front doors decode the same tokens;
a task janus-eval does not know gets 1024. Only ``generate_until`` is supported, greedy; it is a
"simple" model (images from ``doc_to_visual``, text from ``doc_to_text``, images put before the
text) run in a single process.

lmms_eval is imported only here and only when present: ``janus_eval`` never needs it.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Sequence

from janus_eval.errors import JanusEvalError

if TYPE_CHECKING:
    from janus_eval.model import JanusAdapter

INSTALL_HINT = "pip install 'janus-eval[lmms-eval]'"
MODEL_ID = "janus"
CLASS_PATH = "janus_eval.interop.lmms_eval_model.JanusLmms"
LMMS_TASKS: dict[str, str] = {"pope": "pope", "vqav2_val": "vqav2", "gqa": "gqa", "mme": "mme", "seedbench": "seed",
                              "mmbench_en_dev": "mmbench", "mmvet": "mmvet", "mmmu_val": "mmmu"}  # fmt: skip
"""lmms-eval task name -> the janus-eval task that reimplements it (``janus-eval run --tasks``)."""
FALLBACK_MAX_NEW_TOKENS = 1024
"""New tokens for a task that sets none and that janus-eval does not know (lmms-eval's adapters' usual default)."""

try:  # the base class lmms-eval validates against; absent when lmms-eval is not installed
    from lmms_eval.api.model import lmms as _LmmsBase

    HAVE_LMMS_EVAL = True
except ImportError:  # keep this module importable (docs, tests that skip) without lmms-eval
    HAVE_LMMS_EVAL = False

    class _LmmsBase:  # type: ignore[no-redef]
        is_simple = True

        def __init__(self) -> None:
            raise JanusEvalError(f"the lmms-eval model needs lmms-eval: {INSTALL_HINT}")


def lmms_eval_manifest() -> Any:
    """Entry point of the ``lmms_eval.models`` group: registers ``--model janus``."""
    from lmms_eval.models.registry_v2 import ModelManifest

    return ModelManifest(model_id=MODEL_ID, simple_class_path=CLASS_PATH, aliases=("janus_eval",))


def cut_at_stops(text: str, until: Sequence[str]) -> str:
    """Truncate at the earliest stop string, as lmms-eval's adapters do with ``until``."""
    cut = len(text)
    for stop in until:
        if stop:
            at = text.find(stop)
            if at != -1:
                cut = min(cut, at)
    return text[:cut]


def _as_list(until: Any) -> list[str]:
    if until is None:
        return []
    if isinstance(until, str):
        return [until]
    if isinstance(until, (list, tuple)):
        return [str(u) for u in until]
    raise ValueError(f"generation_kwargs['until'] must be a string or a list of strings, got {type(until).__name__}")


@lru_cache(maxsize=None)
def default_max_new_tokens(lmms_task: str) -> int:
    """A task's budget when its yaml sets none: janus-eval's number for that benchmark, else 1024.

    lmms-eval leaves it to the model adapter (``seedbench`` sets only ``until``); taking janus-eval's
    keeps ``lmms-eval --model janus`` and ``janus-eval run`` on the same tokens.
    """
    from janus_eval.registry import get_task

    name = LMMS_TASKS.get(lmms_task)
    return FALLBACK_MAX_NEW_TOKENS if name is None else get_task(name).generation.max_new_tokens


def _parse_batch_size(value: Any, default: int = 8) -> int:
    """lmms-eval passes its ``--batch_size`` (int, digit string, None or ``auto``) next to the model args."""
    if value is None or value == "" or str(value).startswith("auto"):
        return default
    size = int(value)
    if size < 1:
        raise JanusEvalError(f"batch_size must be >= 1, got {value!r}")
    return size


def _parse_max_new_tokens(value: Any) -> int | None:
    if value is None or value == "":
        return None
    tokens = int(value)
    if tokens < 1:
        raise JanusEvalError(f"max_new_tokens must be >= 1, got {value!r}")
    return tokens


class JanusLmms(_LmmsBase):
    """lmms-eval ``simple`` model over ``janus_eval.model.load``: batched greedy understanding."""

    is_simple = True

    def __init__(
        self,
        pretrained: str | None = "tiny",
        device: str | None = None,
        dtype: str | None = None,
        batch_size: int | str | None = 8,
        max_new_tokens: int | str | None = None,
        adapter: JanusAdapter | None = None,
        **unused: Any,
    ) -> None:
        super().__init__()
        unused = {k: v for k, v in unused.items() if v is not None and k not in ("max_batch_size",)}
        if unused:
            warnings.warn(f"janus: ignoring unknown model args {sorted(unused)}", stacklevel=2)
        import torch

        from janus_eval.model import load

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        ckpt = None if pretrained in (None, "", "tiny") else str(pretrained)
        self.adapter = adapter if adapter is not None else load(ckpt, device=device, dtype=dtype)
        self.batch_size = _parse_batch_size(batch_size)
        # the max_new_tokens model arg; None: default_max_new_tokens(task)
        self.default_max_new_tokens = _parse_max_new_tokens(max_new_tokens)
        self._warned_sampling = False

    # -- requests -----------------------------------------------------------------------------------
    def _visuals(self, doc_to_visual: Any, doc_id: Any, task: str, split: str) -> list[Any]:
        """The request's images as RGB PIL images (lmms-eval hands a callable over the doc)."""
        from PIL import Image

        if doc_to_visual is None:
            return []
        visuals = doc_to_visual(self.task_dict[task][split][doc_id])
        if visuals is None:
            return []
        if not isinstance(visuals, (list, tuple)):
            visuals = [visuals]
        images = []
        for visual in visuals:
            if visual is None:
                continue
            if not isinstance(visual, Image.Image):
                raise NotImplementedError(
                    f"janus: task {task!r} gives a {type(visual).__name__} visual (video/audio?); only images are supported"
                )
            images.append(visual.convert("RGB"))
        return images

    def _settings(self, gen_kwargs: dict[str, Any], task: str) -> tuple[int, tuple[str, ...]]:
        """(max_new_tokens, until): the task's, else the model arg, else ``default_max_new_tokens(task)``."""
        gen_kwargs = dict(gen_kwargs or {})
        until = tuple(_as_list(gen_kwargs.get("until")))
        max_new_tokens = int(gen_kwargs.get("max_new_tokens") or self.default_max_new_tokens
                             or default_max_new_tokens(task))  # fmt: skip
        sampling = bool(gen_kwargs.get("do_sample")) or float(gen_kwargs.get("temperature") or 0) > 0
        if sampling and not self._warned_sampling:
            warnings.warn("janus: the task asks for sampling; this adapter decodes greedily", stacklevel=3)
            self._warned_sampling = True
        return max_new_tokens, until

    def generate_until(self, requests: list[Any]) -> list[str]:
        """Greedy answers in request order, batched ``batch_size`` at a time per generation setting."""
        groups: dict[tuple[int, tuple[str, ...]], list[int]] = {}
        for index, request in enumerate(requests):
            groups.setdefault(self._settings(request.args[1], request.args[4]), []).append(index)
        answers: list[str | None] = [None] * len(requests)
        progress = _progress(len(requests), disable=getattr(self, "rank", 0) != 0)
        for (max_new_tokens, until), indices in groups.items():
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start : start + self.batch_size]
                contexts, images = [], []
                for index in chunk:
                    context, _, doc_to_visual, doc_id, task, split = requests[index].args
                    contexts.append(context)
                    images.append(self._visuals(doc_to_visual, doc_id, task, split))
                outputs = self.adapter.understand(images, contexts, max_new_tokens)
                for index, text in zip(chunk, outputs):
                    answers[index] = cut_at_stops(text, until)
                    self.cache_hook.add_partial("generate_until", requests[index].args, answers[index])
                progress.update(len(chunk))
        progress.close()
        return [a if a is not None else "" for a in answers]

    def loglikelihood(self, requests: list[Any]) -> list[tuple[float, bool]]:
        raise NotImplementedError(
            "janus: loglikelihood requests are not supported (the Janus adapter only generates); "
            "pick generate_until tasks such as pope, mme, gqa, vqav2_val, seedbench, mmbench_en_dev, mmmu_val"
        )

    def generate_until_multi_round(self, requests: list[Any]) -> list[str]:
        raise NotImplementedError("janus: multi-round generation is not supported")


class _NoProgress:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, disable: bool) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoProgress()
    return tqdm(total=total, disable=disable, desc="janus responding")
