"""A run's result as it will hold up: its final pick's held-out value, not its best observed one.

The best observed metric is the minimum of many noisy draws, so it flatters the run, and the more candidates a run
evaluated the more (the winner's curse). The held-out value is the pick's noise-free expected metric where the
target answers that (its `expected` hook: the surrogate, the ideas landscape), else the mean of its re-evaluations
on fresh seeds the search never used (the run's final check, `holdout.seeds`), else unknown. Benches rank by it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

from evo.config import RunConfig
from evo.evaluation import TargetSpec
from evo.evaluation.hooks import hook
from population.individual import Individual
from population.ledger import Event
from population.store import GitStore

EXPECTED = "the pick's noise-free expected value (the target's `expected` hook)"


def heldout(
    root: Path, config: RunConfig, target: TargetSpec, pick: Individual | None, events: tuple[Event, ...]
) -> tuple[float | None, str]:
    """The held-out value of `pick` (a run's final best) and where it comes from, in words ((None, "") if unknown)."""
    if pick is None:
        return None, ""
    if hook(target, "expected") is not None:
        return expected_values(root, config, target, [pick])[pick.id], EXPECTED
    for event in reversed(events):
        if event.kind == "holdout" and event.data.get("best") == pick.id:
            values = [v for v in event.data["best_values"] if v is not None and math.isfinite(v)]
            return (sum(values) / len(values) if values else None), f"the mean of the pick on {len(values)} fresh seeds"
    return None, ""


def expected_values(
    root: Path, config: RunConfig, target: TargetSpec, picks: Iterable[Individual]
) -> dict[str, float | None]:
    """Each individual's noise-free expected metric through the target's `expected` hook (None where it has none, or
    the answer is not finite), by id."""
    expected = hook(target, "expected")
    values: dict[str, float | None] = {}
    with GitStore(root / "git", target.editable) as store:
        for pick in picks:
            value = (
                None
                if expected is None
                else expected(store.code(pick.commit), config.budget.seconds, {**target.env, **config.env})
            )
            values[pick.id] = None if value is None or not math.isfinite(value) else float(value)
    return values


def optimum(config: RunConfig, target: TargetSpec) -> float | None:
    """The best expected metric: the target's `optimum` hook (a landscape that depends on a locked setting), else
    `metric.optimum`."""
    answer = hook(target, "optimum")
    if answer is None:
        return target.metric.optimum
    return float(answer(config.budget.seconds, {**target.env, **config.env}))
