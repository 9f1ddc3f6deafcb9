"""Sequential probability ratio tests with stated error rates (contract 5).

`CurveTest` is the early-termination monitor: it watches a candidate's learning curve against a reference curve at
matching fractions of the budget and decides between H0 "no worse than the reference" and H1 "worse by at least
delta". `PairedTest` is the confirmation test: paired re-evaluations on fresh seeds until it decides whether a
child's gain over the incumbent exceeds delta.

The confirmation test is Wald's SPRT: decide H1 when the log likelihood ratio reaches log((1 - beta) / alpha), H0
when it falls to log(beta / (1 - alpha)). The curve test is its open-ended, one-sided form: accepting H0 early would
save nothing (a candidate that is no worse runs to the end anyway) and would stop watching a run that falls behind
later, so it only stops for H1, when the ratio reaches log(1 / alpha). Its likelihood is that of the whole observed
gap vector under the calibrated covariance (`NoiseModel.covariance`), recomputed at each point, so autocorrelated
points are not counted as independent evidence; under H0 the ratio is a martingale, and by Ville's inequality the
chance of a false stop is at most alpha however often the curve is looked at.

Curves of different code cross: a run with a longer warm-down looks worse until its last minutes. So H0 may allow a
gap of up to `catch_up` times the reference's own remaining improvement (how far the reference still falls between
this point and its end): early on the allowance is wide, at the end it is zero. And H0 may demand promise: with a
`margin` (in noise units) H0 is "better than the reference by margin" and H1 "worse than that by delta"; margin =
delta stops a candidate once it is unlikely to beat its reference by delta, the bar confirmation would set anyway.

And gaps drift: a change of learning rate or size can trail for most of a run and win at its end, so a mid-run gap
over-predicts the final one. With `drift` > 0 the gap path is the final gap plus a Brownian drift run backwards
from the end: zero at the end, its variance growing with the budget still to run, `drift` noise units squared over a
whole budget. It enters the covariance of the gap vector, so the ratio stays a martingale under H0 (now "the final
gap is no worse") and alpha still holds for runs whose gap wanders that much; it buys that with later stops.

And the reference may have been lucky: the candidate must beat the reference's final metric, not its curve, and a
final evaluation has noise of its own that the curve does not show. `reference_luck` measures how much worse the
reference's final metric came out than its curve promised, against the calibration's runs. Compared with an unlucky
reference a candidate needs less of a lead, with a lucky one more, so the gaps are taken net of that luck (`luck`,
in noise units). Calibration knows the baseline's code only, so for other code only an unlucky reading counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from evo.monitor import Decision
from evo.noise import NoiseModel, resample

LUCK_RANGE = 3.0  # noise sds: a reference whose curve ends farther than this from the baseline's has no luck measured
LUCK_CAP = 4.0  # noise units: a luck beyond this says more of the noise model (a near-deterministic target)


@dataclass(frozen=True)
class SprtSettings:
    """Error rates and the effect size shared by both tests."""

    alpha: float = 0.05  # chance of deciding "worse" (curve test) or "better" (confirmation) when it is not
    beta: float = 0.2  # confirmation: chance of missing a gain of delta (the curve test has no lower boundary)
    delta: float = 1.0  # the difference that matters
    units: Literal["noise", "metric"] = "noise"  # delta in seed standard deviations, or in metric units

    @property
    def upper(self) -> float:
        return math.log((1 - self.beta) / self.alpha)

    @property
    def open_ended(self) -> float:
        """The one-sided test's threshold: Ville's inequality bounds its false-stop rate by alpha."""
        return math.log(1 / self.alpha)

    @property
    def lower(self) -> float:
        return math.log(self.beta / (1 - self.alpha))

    def in_noise_units(self, noise: NoiseModel) -> float:
        return self.delta if self.units == "noise" else self.delta / noise.final_sd

    def in_metric_units(self, noise: NoiseModel) -> float:
        return self.delta * noise.final_sd if self.units == "noise" else self.delta


class CurveTest:
    """The early-termination monitor: STOP once the curve is worse than the reference's by delta, with the chance
    of stopping a run that is no worse at most alpha.

    Plain data plus `update`, so it can run next to the candidate on a remote worker. Progress values are losses:
    lower is better."""

    def __init__(
        self,
        reference: Sequence[tuple[float, float]],
        noise: NoiseModel,
        settings: SprtSettings,
        budget: float,
        warmup: float = 0.2,
        catch_up: float = 0.0,
        margin: float = 0.0,
        drift: float = 0.0,
        luck: float = 0.0,
    ) -> None:
        if len(reference) < 2:
            raise ValueError("the reference curve needs at least two points")
        points = np.asarray(reference, dtype=float)
        self.ref_fractions = points[:, 0] / budget
        self.ref_values = points[:, 1]
        self.ref_end = float(self.ref_values[-1])
        self.noise = noise
        self.settings = settings
        self.budget = budget
        self.warmup = warmup
        self.catch_up = catch_up
        self.margin = margin
        self.drift = drift  # variance of the gap's drift over a whole budget, in noise units squared
        self.luck = luck  # how much worse the reference's final metric came out than its curve promised (noise units)
        self.shift = settings.in_noise_units(noise)
        self.fractions: list[float] = []
        self.gaps: list[float] = []  # candidate minus reference, minus the catch-up allowance
        self.llr = 0.0
        self.stopped = False
        self.stopped_at: float | None = None  # the fraction of the budget at which it decided to stop

    def update(self, t: float, value: float) -> Decision:
        f = t / self.budget
        if self.stopped or f < self.warmup or f > self.ref_fractions[-1] + 1e-9:
            return Decision.CONTINUE
        if (self.fractions and f <= self.fractions[-1]) or not math.isfinite(value):
            return Decision.CONTINUE
        reference = float(np.interp(f, self.ref_fractions, self.ref_values))
        allowance = self.catch_up * max(0.0, reference - self.ref_end)
        self.fractions.append(f)
        self.gaps.append(value - reference - allowance + (self.margin - self.luck) * float(self.noise.sd_at([f])[0]))
        self.llr = self._llr()
        if self.llr >= self.settings.open_ended:
            self.stopped, self.stopped_at = True, f
            return Decision.STOP
        return Decision.CONTINUE

    def _llr(self) -> float:
        """log N(g; mu0 + d, S) - log N(g; mu0, S) = d' S^-1 (g - d/2), with S the covariance of the gap (same-seed
        when calibrated with probes, else two seeds', plus the drift's) and d delta noise units (seed sds of a curve)
        at each point."""
        fractions = np.asarray(self.fractions)
        sd = self.noise.sd_at(fractions)
        covariance = self.noise.gap_covariance(fractions) + drift_covariance(fractions, self.drift) * np.outer(sd, sd)
        shift = self.shift * sd
        gaps = np.asarray(self.gaps)
        weights = np.linalg.solve(covariance + 1e-12 * np.eye(len(gaps)) * covariance.max(), shift)
        return float(weights @ (gaps - shift / 2))


def drift_covariance(fractions: np.ndarray, variance: float) -> np.ndarray:
    """Covariance (in noise units squared) of a Brownian path that ends at zero at the end of the budget and has
    gathered `variance` by its start: the part of the gap at f that the rest of the run may still undo is shared
    with every earlier point, so Cov(f_i, f_j) = variance * (1 - max(f_i, f_j))."""
    return variance * (1 - np.clip(np.maximum.outer(fractions, fractions), 0.0, 1.0))


def reference_luck(
    curve: Sequence[tuple[float, float]],
    metric: float,
    noise: NoiseModel,
    budget: float,
    direction: str,
    calibrated: bool,
) -> float:
    """How much worse (in noise units, the metric's direction) the reference's final metric came out than its curve
    promised: its final metric's standing among the calibration's runs less its curve end's standing there.

    Calibration ran the baseline's code only (`calibrated`: the reference is that code). Other code may sit better
    or worse against its curve for a reason of its own (a change that curbs overfitting lowers the validation metric
    more than the training curve), which no single run tells from luck, so for other code only the reading that
    stops less counts (an unlucky reference); and none for a reference whose curve ends farther than LUCK_RANGE
    noise sds from the baseline's, where the calibration says nothing. At most LUCK_CAP either way."""
    end = float(resample(curve, budget, np.array([1.0]))[0])
    curve_standing = (end - noise.mean[-1]) / noise.sd[-1]
    if abs(curve_standing) > LUCK_RANGE:
        return 0.0
    sign = 1.0 if direction == "minimize" else -1.0
    luck = min(LUCK_CAP, max(-LUCK_CAP, sign * (metric - noise.final_mean) / noise.final_sd - curve_standing))
    return luck if calibrated else max(luck, 0.0)


class PairedTest:
    """Confirmation: each pair is the incumbent and the child run on the same fresh seed; the gain is how much
    better the child was (in the metric's direction). H1 "the gain is at least delta" against H0 "no gain", with
    the pair difference's spread that of a same-seed gap (`NoiseModel.gap_final_sd`). Undecided after `max_pairs`: not
    confirmed (a change must earn its place)."""

    def __init__(self, noise: NoiseModel, settings: SprtSettings, max_pairs: int, direction: str) -> None:
        self.settings = settings
        self.delta = settings.in_metric_units(noise)
        self.variance = noise.gap_final_sd**2
        self.max_pairs = max_pairs
        self.sign = 1.0 if direction == "minimize" else -1.0
        self.gains: list[float] = []
        self.llr = 0.0

    def add(self, incumbent: float, child: float) -> bool | None:
        """Record one pair; True (confirmed), False (not), or None (another pair is needed)."""
        gain = self.sign * (incumbent - child)
        self.gains.append(gain)
        self.llr += self.delta / self.variance * (gain - self.delta / 2)
        if self.llr >= self.settings.upper:
            return True
        if self.llr <= self.settings.lower or len(self.gains) >= self.max_pairs:
            return False
        return None

    def summary(self) -> str:
        mean = sum(self.gains) / len(self.gains) if self.gains else float("nan")
        return f"{len(self.gains)} pairs, mean gain {mean:.4g} (delta {self.delta:.4g}), log LR {self.llr:.2f}"
