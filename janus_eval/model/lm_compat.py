"""The language model's KV-cache keyword across transformers versions.

transformers renamed the forward keyword ``past_key_values`` to ``cache`` (and the output field
likewise); the old name still works until 5.40 but prints a FutureWarning on every call, and
is gone after. The forward signature says which name this installation takes, so it is read once
per model class and the cache travels under that name, with no warning on either side of the rename.
"""

from __future__ import annotations

import inspect
from functools import lru_cache
from typing import Any

NEW, OLD = "cache", "past_key_values"


def cache_keyword(module: Any) -> str:
    """The keyword ``module``'s forward takes its KV cache under (read once per class)."""
    return _cache_keyword(type(module))


@lru_cache(maxsize=None)
def _cache_keyword(forward_owner: type) -> str:
    """``cache`` where the forward declares it, else the pre-rename ``past_key_values``."""
    try:
        parameters = inspect.signature(forward_owner.forward).parameters
    except (TypeError, ValueError):
        return OLD
    return NEW if NEW in parameters else OLD


def cache_kwargs(module: Any, cache: Any) -> dict[str, Any]:
    """``{name: cache}`` for ``module(**...)`` under this transformers' spelling."""
    return {cache_keyword(module): cache}


def output_cache(output: Any) -> Any:
    """The cache a forward returned: the ``cache`` field where it exists, else ``past_key_values``."""
    fields = getattr(type(output), "__dataclass_fields__", {})
    if NEW in fields:
        return getattr(output, NEW)
    return getattr(output, OLD)
