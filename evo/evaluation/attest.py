"""Checks that an attested metric really came from one run of the locked evaluation, on the locked data.

The candidate's stdout is never trusted for an attested metric. The locked evaluation writes its records to a
private channel; here they must match the manifest's expectations (token count, data digest), say the model is
causal, arrive exactly once, and arrive before the training budget (plus startup grace) was overrun.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from evo.config import BudgetConfig
from evo.evaluation.process import Record


class AttestationError(Exception):
    """The run's metric cannot be trusted; the message says why in one line."""


def attested_metric(records: Sequence[Record], expect: Mapping[str, Any], metric: str, budget: BudgetConfig) -> float:
    """The metric from the locked evaluation's record; raise AttestationError if it cannot be trusted."""
    evals = [r for r in records if r.data.get("kind") == "eval"]
    if not evals:
        raise AttestationError(f"no {metric} from the locked evaluation (it never ran); printed values are ignored")
    if len(evals) > 1:
        raise AttestationError(f"the locked evaluation ran {len(evals)} times; exactly one run is allowed")
    data = evals[0].data
    if data.get("metric", metric) != metric:
        raise AttestationError(f"the locked evaluation reported {data.get('metric')!r}, expected {metric!r}")
    for key, expected in expect.items():
        if data.get(key) != expected:
            raise AttestationError(
                f"the locked evaluation ran with {key}={data.get(key)!r}, expected {expected!r}: "
                "its data or token count was changed"
            )
    if data.get("causal") is False:
        raise AttestationError(
            f"the model is not causal: early logits changed by {data.get('causal_max_diff', float('nan')):.3g} "
            "when only later tokens changed"
        )
    starts = [r for r in records if r.data.get("kind") == "eval_start"]
    began = starts[0] if starts else evals[0]
    used = began.wall if budget.clock == "wall" else began.cpu
    if used > budget.seconds + budget.startup_grace:
        raise AttestationError(
            f"trained for {used:.1f} s on the {budget.clock} clock before evaluating; the budget is "
            f"{budget.seconds:g} s (+{budget.startup_grace:g} s startup grace)"
        )
    try:
        value = float(data["value"])
    except (KeyError, TypeError, ValueError):
        raise AttestationError(f"the locked evaluation gave no numeric value: {data.get('value')!r}") from None
    if not math.isfinite(value):
        raise AttestationError(f"{metric} is {value} (non-finite) from the locked evaluation")
    return value
