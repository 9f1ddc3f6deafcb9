"""The confirmation test: paired re-evaluations of a would-be new best and the incumbent on fresh seeds, Wald's SPRT
(`sprt`) on the gain, until it decides whether the gain exceeds delta."""

from __future__ import annotations

from evo.config import ConfirmConfig
from evo.stopping.noise import NoiseModel
from evo.stopping.sprt import delta_in_metric_units, wald_bounds


class PairedTest:
    """Confirmation: each pair is the incumbent and the child run on the same fresh seed; the gain is how much
    better the child was (in the metric's direction). H1 "the gain is at least delta" against H0 "no gain", with
    the pair difference's spread that of a same-seed gap (`NoiseModel.gap_final_sd`). Undecided after `max_pairs`: not
    confirmed (a change must earn its place)."""

    def __init__(self, noise: NoiseModel, rule: ConfirmConfig, direction: str) -> None:
        self.lower, self.upper = wald_bounds(rule.alpha, rule.beta)
        self.delta = delta_in_metric_units(rule, noise)
        self.variance = noise.gap_final_sd**2
        self.max_pairs = rule.max_pairs
        self.sign = 1.0 if direction == "minimize" else -1.0
        self.gains: list[float] = []
        self.llr = 0.0

    def add(self, incumbent: float, child: float) -> bool | None:
        """Record one pair; True (confirmed), False (not), or None (another pair is needed)."""
        gain = self.sign * (incumbent - child)
        self.gains.append(gain)
        self.llr += self.delta / self.variance * (gain - self.delta / 2)
        if self.llr >= self.upper:
            return True
        if self.llr <= self.lower or len(self.gains) >= self.max_pairs:
            return False
        return None

    def summary(self) -> str:
        mean = sum(self.gains) / len(self.gains) if self.gains else float("nan")
        return f"{len(self.gains)} pairs, mean gain {mean:.4g} (delta {self.delta:.4g}), log LR {self.llr:.2f}"
