"""Comparing two sets of search results (one final metric per seed): the statistics a benchmark report prints.

Medians, not means: a search's final metric is skewed (a few seeds find a big gain). The difference of medians gets
a percentile bootstrap interval, the two-sided Mann-Whitney U test a p-value (exact for small samples, as scipy
chooses), and Cliff's delta the effect size: the chance that a run of A beats a run of B minus the reverse, in the
metric's direction, so +1 means every run of A beat every run of B.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import mannwhitneyu


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    n_a: int
    n_b: int
    median_a: float
    median_b: float
    advantage: float  # how much better A's median is than B's, in the metric's direction (positive: A better)
    low: float  # the bootstrap interval of `advantage`
    high: float
    confidence: float
    p_value: float  # two-sided Mann-Whitney U
    cliffs_delta: float  # P(A beats B) - P(B beats A), in [-1, 1]

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_value < alpha

    @property
    def effect(self) -> str:
        """Romano et al.'s conventional labels for |Cliff's delta|."""
        size = abs(self.cliffs_delta)
        return "negligible" if size < 0.147 else "small" if size < 0.33 else "medium" if size < 0.474 else "large"


def compare(
    a: Sequence[float],
    b: Sequence[float],
    names: tuple[str, str] = ("A", "B"),
    direction: str = "minimize",
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> Comparison:
    """Compare two independent samples of a final metric; `direction` says which way is better."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) < 2 or len(y) < 2 or not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError(f"compare needs at least 2 finite values per side, got {len(x)} and {len(y)}")
    sign = 1.0 if direction == "minimize" else -1.0
    rng = np.random.default_rng(seed)
    boot_x = _bootstrap_medians(x, rng, resamples)
    boot_y = _bootstrap_medians(y, rng, resamples)
    low, high = _interval(sign * (boot_y - boot_x), confidence)
    wins = float(np.sum(sign * (y[None, :] - x[:, None]) > 0))
    losses = float(np.sum(sign * (y[None, :] - x[:, None]) < 0))
    p_value = float(mannwhitneyu(x, y, alternative="two-sided").pvalue)
    return Comparison(
        a=names[0],
        b=names[1],
        n_a=len(x),
        n_b=len(y),
        median_a=float(np.median(x)),
        median_b=float(np.median(y)),
        advantage=float(sign * (np.median(y) - np.median(x))),
        low=low,
        high=high,
        confidence=confidence,
        p_value=p_value if math.isfinite(p_value) else 1.0,
        cliffs_delta=(wins - losses) / (len(x) * len(y)),
    )


def median_interval(
    values: Sequence[float], confidence: float = 0.95, resamples: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of one sample's median (a ranking table's error bar); one value gives (v, v)."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0 or not np.isfinite(x).all():
        raise ValueError(f"median_interval needs finite values, got {len(x)}")
    return _interval(_bootstrap_medians(x, np.random.default_rng(seed), resamples), confidence)


def _bootstrap_medians(x: np.ndarray, rng: np.random.Generator, resamples: int) -> np.ndarray:
    return np.median(rng.choice(x, (resamples, len(x))), axis=1)


def _interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central `confidence` percentile interval of bootstrap samples."""
    tail = (1 - confidence) / 2
    low, high = np.quantile(samples, [tail, 1 - tail])
    return float(low), float(high)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment: the adjusted p-values keep the family-wise error rate at alpha across all pairs
    (uniformly more powerful than Bonferroni), in the order given."""
    order = sorted(range(len(p_values)), key=lambda k: p_values[k])
    adjusted, running = [1.0] * len(p_values), 0.0
    for rank, k in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[k]))
        adjusted[k] = running
    return adjusted
