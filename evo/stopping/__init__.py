"""Stopping: early termination of clear losers and confirmation of would-be new bests, both sequential tests with
stated error rates on a measured noise model.

`noise` (the noise model and its fit) and `calibration` (measuring it: the baseline on several seeds, cached); `sprt`
(Wald's thresholds, shared); `curve_test` (the early-termination monitor), `early_stop` (which curve a child is watched
against), `trend` (how much gaps close) and `units` (what a curve's gap means for the final metric); `paired_test` (the
confirmation test) and `confirmation` (its pairs and seeds).
"""

from evo.stopping.confirmation import Confirmation, needs_confirmation
from evo.stopping.curve_test import CurveTest, noise_margin, reference_luck
from evo.stopping.early_stop import monitor_for
from evo.stopping.noise import GRID, NoiseModel, fit_noise, fit_paired, load_noise, resample
from evo.stopping.paired_test import PairedTest

__all__ = [
    "GRID",
    "Confirmation",
    "CurveTest",
    "NoiseModel",
    "PairedTest",
    "fit_noise",
    "fit_paired",
    "load_noise",
    "monitor_for",
    "needs_confirmation",
    "noise_margin",
    "reference_luck",
    "resample",
]
