"""What a gap between two curves' ends means for their final metrics: how far the final metric moves per unit of the
curve's end (the scale k), measured from the run's own candidates that ran to the end.

The early-termination test reads the curve, but its margin, the reference's luck and every audit count wins in the
final metric's noise units. The two are different quantities: a smoothed training loss has other noise than the
validation metric computed once at the end (on the surrogate one final sd is about half the curve's end sd; on the
replay's corpora 0.2-0.9 of it), and the metric may be in other units altogether (bits per byte against a loss in
nats per token). Taken as curve sds, a margin of 1.5 protected only wins of about 2.8 final sds on the surrogate, and
the live searches stopped 8 of 68 would-be winners on fresh seeds, 6 of them winners by 1.5-2.5.

Each watched candidate that ran to the end gives a pair: its curve's end gain over its reference's (curve units,
positive: better) and its final gain (metric units, the metric's direction). k is their regression through the origin,
pooled with a prior: the ratio of the calibration's final mean to its curve's end mean (a metric that is the curve's
quantity in other units, as bits per byte of a loss), worth one candidate PRIOR_GAP curve sds from its reference. All
pairs count, the far ones most: near ties alone measure k through their noise, which pulls it toward zero (on the
replay's near-tie corpora 0.9 where the wide ones and the units say 1.2-1.4). k is floored at a tenth of the prior: a
curve that says nothing of the final metric must not make the margin infinite (it would stop every candidate).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from evo.stopping.noise import NoiseModel, resample

END_WINDOW = 0.1  # the share of the budget at its end over which a curve's end is averaged
SMOOTH = 0.5  # a lag-one correlation of the curve's deviations at its end above which it counts as smoothed
PRIOR_GAP = 3.0  # curve sds: the prior counts as one candidate this far from its reference
FLOOR = 0.1  # k is at least this share of its prior


@dataclass(frozen=True)
class EndPair:
    """One finished candidate: its curve's end gain over its reference's, and its final one."""

    curve: float  # curve units, positive: its curve ended better
    final: float  # metric units, in the metric's direction (positive: it won)


def end_window(noise: NoiseModel) -> np.ndarray:
    """The fractions a curve's end is averaged over: the last END_WINDOW of the budget, or its last point on a
    smoothed curve (its points already average the steps before). On a raw curve (each point one step's loss) the
    window keeps one noisy step from passing for the end."""
    grid = np.asarray(noise.fractions)
    window = grid[grid >= 1 - END_WINDOW - 1e-9]
    if float(np.mean(noise.autocorr[-len(window) :])) >= SMOOTH:
        return window[-1:]
    return window


def curve_end(curve: Sequence[tuple[float, float]], noise: NoiseModel, budget: float) -> float:
    """A curve's end: its mean over `end_window`."""
    return float(resample(curve, budget, end_window(noise)).mean())


def end_gain(
    curve: Sequence[tuple[float, float]], reference: Sequence[tuple[float, float]], noise: NoiseModel, budget: float
) -> float:
    """How much better (curve units, lower-is-better progress values) `curve` ended than `reference`."""
    return curve_end(reference, noise, budget) - curve_end(curve, noise, budget)


def end_sd(noise: NoiseModel) -> float:
    """The seed sd of a curve's end (`curve_end`)."""
    return math.sqrt(float(noise.covariance(end_window(noise)).mean()))


def prior_scale(noise: NoiseModel) -> float:
    """k before the run has measured it: the calibration's final mean over its curve's end mean (1 where either is
    zero)."""
    end = float(np.interp(end_window(noise), noise.fractions, noise.mean).mean())
    ratio = abs(noise.final_mean / end) if end and noise.final_mean else 1.0
    return ratio if math.isfinite(ratio) else 1.0


def metric_scale(pairs: Iterable[EndPair], noise: NoiseModel) -> float:
    """k: how far the final metric moves (metric units) per unit of the curve's end, from `pairs` pooled with the
    prior."""
    prior = prior_scale(noise)
    weight = (PRIOR_GAP * end_sd(noise)) ** 2
    cross, square = prior * weight, weight
    for pair in pairs:
        cross += pair.curve * pair.final
        square += pair.curve**2
    return max(cross / square, FLOOR * prior)


def final_unit(noise: NoiseModel, scale: float | None = None) -> float:
    """One noise unit of the final metric (its seed sd) in seed sds of the curve's last point, the unit the test
    counts gaps in, at scale k (`scale`; None: the prior)."""
    k = prior_scale(noise) if scale is None else scale
    return noise.final_sd / (k * noise.sd[-1])
