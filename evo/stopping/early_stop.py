"""Which curve a candidate is watched against: the early-termination test for one child, built from the run's
`early_stop` settings and noise model (the same constructor serves the search and the replay benchmark)."""

from __future__ import annotations

from collections.abc import Sequence

from evo.config import EarlyStopConfig
from evo.stopping.curve_test import CurveTest, reference_luck
from evo.stopping.noise import NoiseModel
from population.individual import Individual, rank_key


def monitor_for(
    parents: Sequence[Individual],
    best: Individual | None,
    rule: EarlyStopConfig,
    noise: NoiseModel | None,
    budget: float,
    direction: str,
    trend: float = 0.0,
    audit: bool = False,
    scale: float | None = None,
) -> tuple[CurveTest, Individual] | None:
    """The early-termination test for a child of `parents` and the individual whose curve it is compared with: the
    better parent's, or the best so far's (`rule.reference`). None when off or when no curve is there to compare.
    `trend`, `audit` and `scale` as `CurveTest` takes them."""
    if not rule.enabled or noise is None:
        return None
    candidates = parents if rule.reference == "parent" else (best,) if best is not None else ()
    eligible = [p for p in candidates if p.is_parent_eligible and len(p.curve) >= 2]
    if not eligible:
        return None
    reference = min(eligible, key=lambda p: rank_key(p, direction))
    luck = 0.0
    if rule.luck and reference.metric is not None:  # the baseline (no parents) is the calibrated code
        luck = reference_luck(reference.curve, reference.metric, noise, budget, direction, not reference.parents)
    return CurveTest(reference.curve, noise, rule, budget, luck, trend, audit, scale), reference
