"""What both sequential tests share: Wald's thresholds and the confirmation's effect size in metric units.

The confirmation test (`paired_test`) is Wald's SPRT: decide H1 when the log likelihood ratio reaches
log((1 - beta) / alpha), H0 when it falls to log(beta / (1 - alpha)). The curve test (`curve_test`) is its
open-ended, one-sided form, which stops only for H1, at log(1 / alpha): by Ville's inequality its false-stop rate is
at most alpha however often the curve is looked at.
"""

from __future__ import annotations

import math

from evo.config import SprtConfig
from evo.stopping.noise import NoiseModel


def wald_bounds(alpha: float, beta: float) -> tuple[float, float]:
    """(lower, upper) log likelihood ratio thresholds: accept H0 at or below lower, H1 at or above upper."""
    return math.log(beta / (1 - alpha)), math.log((1 - beta) / alpha)


def open_ended(alpha: float) -> float:
    """The one-sided test's threshold: Ville's inequality bounds its false-stop rate by alpha."""
    return math.log(1 / alpha)


def delta_in_metric_units(test: SprtConfig, noise: NoiseModel) -> float:
    return test.delta * noise.final_sd if test.delta_units == "noise" else test.delta
