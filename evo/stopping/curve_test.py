"""The early-termination test (a monitor, docs/architecture.md): a candidate's learning curve against a reference
curve at matching fractions of the budget, deciding between H0 "no worse than the reference" and H1 "worse by at
least delta", with the chance of stopping a candidate for which H0 holds at most alpha.

It is the open-ended, one-sided form of Wald's SPRT (`sprt`): accepting H0 early would save nothing (a candidate
that is no worse runs to the end anyway) and would stop watching a run that falls behind later, so it only stops for
H1, when the ratio reaches log(1 / alpha). Its likelihood is that of the whole observed
gap vector under the calibrated covariance (`NoiseModel.covariance`), recomputed at each point, so autocorrelated
points are not counted as independent evidence; under H0 the ratio is a martingale, and by Ville's inequality the
chance of a false stop is at most alpha however often the curve is looked at.

Gaps are counted in the curve's seed sds at each fraction (`NoiseModel.sd_at`, the "noise units" of the curve):
delta, the drift and the trend are in those. What a search keeps is a final metric, though, whose noise differs
(a smoothed training loss is noisier than a validation metric computed once at the end, or the reverse), so the
margin and the reference's luck are in noise units of the final metric, turned into curve sds at the scale the run
measures between the two (`units.final_unit`).

Curves of different code cross: a run with a longer warm-down looks worse until its last minutes. So H0 may allow a
gap of up to `catch_up` times the reference's own remaining improvement (how far the reference still falls between
this point and its end): early on the allowance is wide, at the end it is zero. And H0 may demand promise: with a
`margin` (in noise units of the final metric) H0 is "it would beat the reference by margin" and H1 "its curve is
worse than that by delta".

And gaps drift: a change of learning rate or size can trail for most of a run and win at its end, so a mid-run gap
over-predicts the final one. With `drift` > 0 the gap path is the final gap plus a Brownian drift run backwards
from the end: zero at the end, its variance growing with the budget still to run, `drift` noise units squared over a
whole budget. It enters the covariance of the gap vector, so the ratio stays a martingale under H0 (now "the final
gap is no worse") and alpha still holds for runs whose gap wanders that much; it buys that with later stops.

And curves cross: a larger model learns slower, trails for much of the budget and overtakes late. On a power-law
curve the gap between a slower and a faster learner closes like a power of time, so both hypotheses let the gap
close by b * t(f) (`trend_shape`, zero at the end of the budget), with b >= 0 drawn half-normal with scale `trend`
noise units and integrated out: the test then stops a candidate only once it is confidently worse at the end of the
budget, not at the current point, while a lead that shrinks (b < 0) is no excuse for a loser. How much gaps close
differs between targets, so a run measures it (`evo.stopping.trend`) from its own candidates that ran to the end,
and the test takes that unless told a value. The ratio of the two integrated likelihoods is still a martingale
under H0 (a Bayes factor), so alpha holds on average over closing trends of that scale.

And the reference may have been lucky: the candidate must beat the reference's final metric, not its curve, and a
final evaluation has noise of its own that the curve does not show. `reference_luck` measures how much worse the
reference's final metric came out than its curve promised, against the calibration's runs. Compared with an unlucky
reference a candidate needs less of a lead, with a lucky one more, so the gaps are taken net of that luck (`luck`,
in noise units). Calibration knows the baseline's code only, so for other code only an unlucky reading counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from scipy.special import log_ndtr

from evo.config import NOISE_MARGIN, EarlyStopConfig
from evo.evaluation.monitor import Action
from evo.stopping.noise import NoiseModel
from evo.stopping.sprt import open_ended
from evo.stopping.units import curve_end, end_sd, end_window, final_unit

LUCK_RANGE = 3.0  # curve-end sds: a reference whose curve ends farther than this from the baseline's has no luck
LUCK_CAP = 4.0  # final-metric noise units: a luck beyond this says more of the noise model (a deterministic target)
LUCK_RUNS = 5  # calibration runs below which a lucky reference is not trusted (3 seeds misjudge the final sd)
FEW_RUNS_VARIANCE = 1.5  # below LUCK_RUNS runs the test takes the curve's variance this much larger (`cautious`)


def noise_margin(rule: EarlyStopConfig, noise: NoiseModel) -> float:
    """`rule.margin` in noise units of the final metric; null: NOISE_MARGIN, whatever `delta_units` says."""
    if rule.margin is None:
        return NOISE_MARGIN
    return rule.margin if rule.delta_units == "noise" else rule.margin / noise.final_sd


class CurveTest:
    """The early-termination monitor: STOP once the curve is worse than the reference's by delta, with the chance
    of stopping a run that is no worse at most alpha.

    Plain data plus `update`, so it can run next to the candidate on a remote worker. Progress values are losses:
    lower is better."""

    def __init__(
        self,
        reference: Sequence[tuple[float, float]],
        noise: NoiseModel,
        rule: EarlyStopConfig,
        budget: float,
        luck: float = 0.0,
        trend: float = 0.0,
        audit: bool = False,
        scale: float | None = None,
    ) -> None:
        """`rule` gives alpha, delta, warm-up, catch-up, margin and drift; `luck` is how much worse the reference's
        final metric came out than its curve promised (final-metric noise units, `reference_luck`), 0 when not
        taken; `trend` the scale of the gap's closing trend (curve sds per unit of `trend_shape`); `audit`: a
        decision to stop is recorded (`stopped_at`) but the candidate runs on to the end, so the run learns whether
        the stop was right; `scale`: how far the final metric moves per unit of the curve's end
        (`units.metric_scale`; None: the calibration's prior), which turns the margin and the luck into curve sds."""
        if len(reference) < 2:
            raise ValueError("the reference curve needs at least two points")
        points = np.asarray(reference, dtype=float)
        self.ref_fractions = points[:, 0] / budget
        self.ref_values = points[:, 1]
        self.ref_end = float(self.ref_values[-1])
        self.noise = noise = cautious(noise)
        self.budget = budget
        self.warmup = rule.warmup
        self.catch_up = rule.catch_up
        self.unit = final_unit(noise, scale)  # one final-metric noise unit in curve sds at the end
        self.margin = noise_margin(rule, noise)  # final-metric noise units
        self.drift = rule.drift  # variance of the gap's drift over a whole budget, in curve sds squared
        self.trend = trend
        self.audit = audit
        self.luck = luck
        self.shift = rule.delta if rule.delta_units == "noise" else rule.delta / noise.final_sd * self.unit
        self.alpha = rule.alpha
        self.threshold = open_ended(rule.alpha)
        self.fractions: list[float] = []
        self.gaps: list[float] = []  # candidate minus reference, minus the catch-up allowance
        self.llr = 0.0
        self.stopped = False
        self.stopped_at: float | None = None  # the fraction of the budget at which it decided to stop
        self.stop_llr: float | None = None  # the log LR that decided it

    def update(self, t: float, value: float) -> Action:
        f = t / self.budget
        if self.stopped or f < self.warmup or f > self.ref_fractions[-1] + 1e-9:
            return Action.CONTINUE
        if (self.fractions and f <= self.fractions[-1]) or not math.isfinite(value):
            return Action.CONTINUE
        reference = float(np.interp(f, self.ref_fractions, self.ref_values))
        allowance = self.catch_up * max(0.0, reference - self.ref_end)
        self.fractions.append(f)
        offset = (self.margin - self.luck) * self.unit * float(self.noise.sd_at([f])[0])
        self.gaps.append(value - reference - allowance + offset)
        self.llr = self._llr()
        if self.llr >= self.threshold:
            self.stopped, self.stopped_at, self.stop_llr = True, f, self.llr
            return Action.CONTINUE if self.audit else Action.STOP
        return Action.CONTINUE

    def _llr(self) -> float:
        return float(self.log_ratios(np.asarray(self.fractions), np.asarray(self.gaps)[None, :])[0])

    def covariance(self, fractions: np.ndarray) -> np.ndarray:
        """The gap's covariance at `fractions` as the test takes it: the noise model's and the drift's."""
        sd = self.noise.sd_at(fractions)
        noise = self.noise.gap_covariance(fractions) + drift_covariance(fractions, self.drift) * np.outer(sd, sd)
        return noise + 1e-12 * np.eye(len(sd)) * noise.max()

    def log_ratios(self, fractions: np.ndarray, gaps: np.ndarray) -> np.ndarray:
        """log p(g | H1) - log p(g | H0) for each row g of `gaps` (gaps at `fractions`, net of the allowance and
        the offset, as `update` keeps them): one call for the test's own curve, many for a simulation of it.

        g = mu + b t + e: e ~ N(0, S), S the covariance of the gap (same-seed when calibrated with probes, else two
        seeds', plus the drift's), mu = mu0 (H0) or mu0 + d (H1), d delta noise units (seed sds of a curve) at each
        point, t the trend's shape and b >= 0 half-normal with scale `trend` (gaps close; a lead that shrinks is no
        sign of a loser). With b integrated out, each hypothesis' density is N(g; mu, S + trend^2 t t') times
        2 Phi(z), z the posterior mean of b over its sd; without a trend the ratio is d' S^-1 (g - d/2)."""
        sd = self.noise.sd_at(fractions)
        noise = self.covariance(fractions)
        shift = self.shift * sd
        llr = (gaps - shift / 2) @ np.linalg.solve(noise, shift)
        if self.trend <= 0:
            return llr
        trend = trend_shape(fractions) * sd
        along = np.linalg.solve(noise, trend)  # S^-1 t
        precision = 1 / self.trend**2 + float(trend @ along)
        z0, z1 = gaps @ along, (gaps - shift) @ along
        llr -= (z0**2 - z1**2) / (2 * precision)
        return llr + log_ndtr(z1 / math.sqrt(precision)) - log_ndtr(z0 / math.sqrt(precision))


def cautious(noise: NoiseModel) -> NoiseModel:
    """`noise` as the test takes it: from fewer than LUCK_RUNS calibration runs, its curve sds (two-seed and
    same-seed) widened to FEW_RUNS_VARIANCE times the variance. Three runs give each fraction's sd two degrees of
    freedom, so it often comes out small, and a small sd makes every gap look like evidence: on the replay's corpora
    a 3-run model stopped up to 10% of the clear winners (3 of 29 on 60 s wide variants, all Muon runs behind early),
    and at most 3.8% with the wider variance, at some cost in savings."""
    if noise.runs >= LUCK_RUNS:
        return noise
    widen = math.sqrt(FEW_RUNS_VARIANCE)
    return replace(noise, sd=tuple(widen * s for s in noise.sd), paired_sd=tuple(widen * s for s in noise.paired_sd))


def drift_covariance(fractions: np.ndarray, variance: float) -> np.ndarray:
    """Covariance (in noise units squared) of a Brownian path that ends at zero at the end of the budget and has
    gathered `variance` by its start: the part of the gap at f that the rest of the run may still undo is shared
    with every earlier point, so Cov(f_i, f_j) = variance * (1 - max(f_i, f_j))."""
    return variance * (1 - np.clip(np.maximum.outer(fractions, fractions), 0.0, 1.0))


def trend_shape(fractions: np.ndarray) -> np.ndarray:
    """2 (f^-1/2 - 1): how the gap between a slower and a faster learner closes on a power-law curve, up to its
    scale; zero at the end of the budget, steepest early. Of the shapes the replay tried (log 1/f, f^-1/2, f^-1,
    1 - f: power laws of exponent 0, 1/2 and 1, and a straight line) it saved the most compute at the fewest false
    stops over the corpora and the surrogate."""
    return 2 * (np.clip(fractions, 1e-3, 1.0) ** -0.5 - 1)


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
    noise sds from the baseline's, where the calibration says nothing. At most LUCK_CAP either way. With fewer than
    LUCK_RUNS calibration runs the final sd is too rough to trust a lucky reading (on 3 seeds it stopped 14% of the
    replay's clear near-tie winners), so again only the unlucky one counts.

    The curve's end is `units.curve_end` (its last point if smoothed, else the mean of its last steps), against the
    calibration's mean there and the sd of such an end."""
    window = end_window(noise)
    baseline = float(np.interp(window, noise.fractions, noise.mean).mean())
    curve_standing = (curve_end(curve, noise, budget) - baseline) / end_sd(noise)
    if abs(curve_standing) > LUCK_RANGE:
        return 0.0
    sign = 1.0 if direction == "minimize" else -1.0
    luck = min(LUCK_CAP, max(-LUCK_CAP, sign * (metric - noise.final_mean) / noise.final_sd - curve_standing))
    return luck if calibrated and noise.runs >= LUCK_RUNS else max(luck, 0.0)
