"""How much gaps close on this target: the scale of the closing trend the early-termination test allows
(`CurveTest`'s `trend`), measured from the run's own candidates that ran to the end and beat their reference.

For each such candidate, its gap to its reference in curve noise sds at the grid's fractions past the warm-up, less
its final gap, is regressed on the trend's shape (`trend_shape`): b, the closing slope (positive: the gap was wider
early and closed). Noise alone gives b a spread the noise model predicts (variance v), so the trend's scale is the
root of the mean of max(0, max(b, 0)^2 - v / 2) (half of a pure-noise b lands on the closing side; no candidate
counts below zero, which errs on the side of a larger trend), pooled with a prior of PRIOR_TREND worth PRIOR_WEIGHT
candidates: a run starts cautious and learns its target. Only closing counts: a gap that opens ends worse anyway
(and the half-normal scale is the root of the mean of max(b, 0)^2). Unclamped, the estimate fell to zero in live
searches whose finished candidates never closed, and stopped slow starters again.

Only winners count (a final gain over the reference above zero): the test's error rate is that of stopping
candidates for which H0 holds, and holds on average over their closing trends, so theirs is the trend to measure.
A loser's large gap often closes part of the way (a learning rate ten times too small still learns), and counted,
such losers raised the trend until every huge loser could pass for a slow starter: on raw-loss curves they were
stopped at a quarter of the budget instead of near the warm-up. The prior is worth one candidate: worth four, it
still held the trend at 0.5 after fifteen winners that never closed.

Candidates stopped early never show how their gaps would have ended, and theirs are the gaps that close most, so the
finished ones alone understate the trend. The audit (`early_stop.audit`) lets a random share p of the decisions to
stop run to the end; each audited candidate stands for 1 / p stopped ones (an inverse-probability weight).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from evo.stopping.curve_test import trend_shape
from evo.stopping.noise import NoiseModel, resample

PRIOR_TREND = 1.0  # curve sds per unit of the trend's shape: the trend a run assumes before it has measured one
PRIOR_WEIGHT = 1.0  # worth this many candidates


@dataclass(frozen=True)
class Closing:
    """One finished candidate's closing slope against its reference."""

    slope: float  # b: curve sds per unit of the trend's shape; positive: the gap closed
    noise: float  # the variance b has under noise alone
    gain: float  # its final gain over the reference, in noise units of the final metric (positive: it won)
    weight: float = 1.0  # how many candidates it stands for (1 / p when audited)


def closing(
    curve: Sequence[tuple[float, float]],
    reference: Sequence[tuple[float, float]],
    noise: NoiseModel,
    budget: float,
    warmup: float,
    gain: float,
    weight: float = 1.0,
) -> Closing:
    """The closing slope of `curve`'s gap to `reference` (both lower-is-better progress values) past the warm-up;
    `gain`: the candidate's final gain over the reference (noise units)."""
    grid = np.asarray(noise.fractions)
    fractions = grid[grid >= warmup] if np.sum(grid >= warmup) >= 2 else grid[-2:]
    sd = noise.sd_at(fractions)
    gaps = (resample(curve, budget, fractions) - resample(reference, budget, fractions)) / sd
    shape = trend_shape(fractions)
    projection = shape / float(shape @ shape)
    slope = float(projection @ (gaps - gaps[-1]))
    less_end = np.eye(len(fractions)) - np.eye(len(fractions))[-1]  # g -> g - g[-1]
    covariance = less_end @ (noise.gap_covariance(fractions) / np.outer(sd, sd)) @ less_end.T
    return Closing(slope, float(projection @ covariance @ projection), gain, weight)


def trend_scale(closings: Iterable[Closing]) -> float:
    """The trend's sd measured from the winners among `closings`, pooled with the prior (PRIOR_TREND,
    PRIOR_WEIGHT)."""
    total, weight = PRIOR_WEIGHT * PRIOR_TREND**2, PRIOR_WEIGHT
    for c in closings:
        if c.gain <= 0:
            continue
        total += c.weight * max(0.0, max(c.slope, 0.0) ** 2 - c.noise / 2)
        weight += c.weight
    return math.sqrt(total / weight)
