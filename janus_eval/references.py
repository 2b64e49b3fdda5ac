"""The tasks' own aggregates as bootstrap references: the bridge from ``results`` to the task code.

``results`` reads run directories only. A custom metric (POPE F1, MME sums) has no closed form, so
only its task's ``aggregate`` can recompute it on a resample; the CLI builds that callable here and
hands it to the gate and the leaderboard. Importing the registry loads the task modules, not torch.
"""

from __future__ import annotations

from janus_eval.results.bootstrap import Records, Reference
from janus_eval.errors import JanusEvalError


def task_reference(task: str, metric: str, protocol: str) -> Reference | None:
    """``metric`` recomputed by the task's own ``aggregate``, or None when the task is not available."""
    from janus_eval.registry import get_task

    try:
        task_obj = get_task(task, protocol)
    except JanusEvalError:
        return None

    def reference(records: Records) -> float:
        value = task_obj.aggregate(records).get(metric)
        if value is None:
            raise JanusEvalError(f"{task}'s aggregate gives no {metric!r}")
        return float(value)

    return reference
