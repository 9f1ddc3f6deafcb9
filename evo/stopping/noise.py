"""The noise model: how much a target's learning curve and final metric move when only the seed changes.

Measured by training the baseline K times (`evo calibrate`), it is what the early-termination test and the
confirmation test need to tell a real difference from luck. Curves are compared at fractions of the budget, so the
model holds, per fraction of a fixed grid, the mean and spread of the progress value; the correlation between two
fractions follows a two-part model fitted to all lags at once:

    corr(f_i, f_j) = w + (1 - w) * phi ** (|f_i - f_j| * GRID)

`w` is the share of a seed's deviation that persists for the whole run (initialisation, data order) and `phi` the
lag-one correlation of the rest (the smoothed loss's short memory). A test that assumed independent points would
count one lucky seed's deviation at every point as fresh evidence; this one does not.

evo runs every candidate of a search on the run's seed, so a candidate and its reference share initialisation and
data order, and the gap between them is far less noisy than the gap between two seeds. Calibration with probes
measures that noise too: a few children of the baseline (small changes, as a search makes) trained on the same seeds
as the baseline; the spread of each probe's gap to the baseline across seeds (around that probe's own mean gap) is
the noise of a same-seed comparison. Without probes the tests take the conservative two-seed noise.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from evo.errors import EvoError

GRID = 50  # fractions 1/GRID .. 1 at which curves are resampled
MAX_LAG = 10  # lags (in grid steps) the correlation model is fitted to
FIT_VERSION = 2  # bumped when the fit gives another model for the same runs: cached models of an older fit expire


@dataclass(frozen=True)
class NoiseModel:
    fractions: tuple[float, ...]  # the grid: 1/GRID .. 1
    mean: tuple[float, ...]  # the baseline's mean progress value at each fraction
    sd: tuple[float, ...]  # its seed-to-seed standard deviation there
    autocorr: tuple[float, ...]  # correlation of the deviation at each fraction with the previous one (first: 1)
    persistent: float  # w: the share of a deviation that lasts the whole run
    phi: float  # lag-one (one grid step) correlation of the rest
    final_mean: float  # the final metric's mean over the seeds
    final_sd: float  # and its standard deviation: one "noise unit" of the metric
    finals: tuple[float, ...]  # each seed's final metric
    seeds: tuple[int, ...]
    budget: float
    clock: str
    metric: str
    direction: str
    # The same-seed gap's noise, measured with probes (empty without): its sd per fraction, correlation, final sd.
    paired_sd: tuple[float, ...] = ()
    paired_persistent: float = 0.0
    paired_phi: float = 0.0
    paired_final_sd: float = 0.0
    probes: tuple[str, ...] = ()  # what each probe changed

    @property
    def paired(self) -> bool:
        return bool(self.paired_sd)

    @property
    def runs(self) -> int:
        return len(self.seeds)

    def sd_at(self, fractions: Sequence[float] | np.ndarray) -> np.ndarray:
        return np.interp(np.asarray(fractions, dtype=float), self.fractions, self.sd)

    def correlation(self, fractions: Sequence[float] | np.ndarray) -> np.ndarray:
        """The correlation matrix of the deviations at `fractions` under the two-part model."""
        return _two_part(fractions, self.persistent, self.phi)

    def covariance(self, fractions: Sequence[float] | np.ndarray) -> np.ndarray:
        sd = self.sd_at(fractions)
        return self.correlation(fractions) * np.outer(sd, sd)

    def gap_covariance(self, fractions: Sequence[float] | np.ndarray) -> np.ndarray:
        """The covariance of a candidate's curve minus its reference's on the same seed: measured by probes, else
        that of two independent seeds (twice one curve's), which overstates it."""
        if not self.paired:
            return 2 * self.covariance(fractions)
        sd = np.interp(np.asarray(fractions, dtype=float), self.fractions, self.paired_sd)
        return _two_part(fractions, self.paired_persistent, self.paired_phi) * np.outer(sd, sd)

    @property
    def gap_final_sd(self) -> float:
        """The sd of a final-metric difference between two individuals run on the same seed."""
        return self.paired_final_sd if self.paired else math.sqrt(2) * self.final_sd

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NoiseModel:
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**fields)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # one temporary file per writer: runs in threads (or processes) may save the same cached model at once
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        tmp.replace(path)  # atomic: a killed calibration leaves no half-written model

    def summary(self) -> str:
        """One line for logs and the CLI."""
        mid = len(self.sd) // 2
        line = (
            f"{self.runs} seeds: final {self.metric} {self.final_mean:.4f} ± {self.final_sd:.4f} (sd); "
            f"curve sd {self.sd[mid]:.4f} at mid-budget; correlation {self.persistent:.2f} persistent + "
            f"{1 - self.persistent:.2f} with lag-one {self.phi:.2f}"
        )
        if self.paired:
            line += (
                f"; same-seed gap ({len(self.probes)} probes): final sd {self.paired_final_sd:.4f} "
                f"(two seeds: {math.sqrt(2) * self.final_sd:.4f}), curve sd {self.paired_sd[mid]:.4f} at mid-budget"
            )
        return line


def load_noise(path: Path) -> NoiseModel:
    try:
        return NoiseModel.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise EvoError(f"noise model {path}: cannot be read ({exc})") from None


def resample(curve: Sequence[tuple[float, float]], budget: float, fractions: np.ndarray) -> np.ndarray:
    """A curve's values at `fractions` of the budget, linearly interpolated (held flat beyond its ends)."""
    points = np.asarray(curve, dtype=float)
    return np.interp(fractions * budget, points[:, 0], points[:, 1])


def fit_noise(
    curves: Sequence[Sequence[tuple[float, float]]],
    finals: Sequence[float],
    seeds: Sequence[int],
    budget: float,
    clock: str = "wall",
    metric: str = "metric",
    direction: str = "minimize",
) -> NoiseModel:
    """Fit the model to K >= 3 runs of the same code with different seeds (their curves and final metrics)."""
    if len(curves) < 3 or len(curves) != len(finals):
        raise EvoError(f"calibration needs at least 3 finished runs with curves, got {len(curves)}")
    if any(len(curve) < 2 for curve in curves):
        raise EvoError("calibration: a run printed fewer than 2 progress points; the target's progress pattern?")
    fractions = np.arange(1, GRID + 1) / GRID
    values = np.stack([resample(curve, budget, fractions) for curve in curves])
    mean = values.mean(axis=0)
    deviations = values - mean
    sd = _profile(fractions, deviations.std(axis=0, ddof=1), mean)
    z = deviations / sd
    autocorr = [1.0] + [_corr(z[:, k - 1], z[:, k]) for k in range(1, GRID)]
    persistent, phi = _fit_correlation(z)
    final = np.asarray(finals, dtype=float)
    return NoiseModel(
        fractions=tuple(fractions.tolist()),
        mean=tuple(mean.tolist()),
        sd=tuple(sd.tolist()),
        autocorr=tuple(autocorr),
        persistent=persistent,
        phi=phi,
        final_mean=float(final.mean()),
        final_sd=max(float(final.std(ddof=1)), 1e-9),
        finals=tuple(final.tolist()),
        seeds=tuple(int(s) for s in seeds),
        budget=float(budget),
        clock=clock,
        metric=metric,
        direction=direction,
    )


def fit_paired(
    model: NoiseModel,
    baseline: dict[int, tuple[Sequence[tuple[float, float]], float]],
    probes: dict[str, dict[int, tuple[Sequence[tuple[float, float]], float]]],
) -> NoiseModel:
    """`model` with the same-seed gap noise measured from probes: `baseline` and each probe map a seed to its run's
    (curve, final metric). A probe counts with at least two seeds that the baseline also has."""
    fractions = np.asarray(model.fractions)
    deviations, final_deviations, kept = [], [], []
    for name, runs in probes.items():
        seeds = sorted(set(runs) & set(baseline))
        if len(seeds) < 2:
            continue
        gaps = np.stack(
            [resample(runs[s][0], model.budget, fractions) - resample(baseline[s][0], model.budget, fractions)
             for s in seeds]
        )  # fmt: skip
        finals = np.array([runs[s][1] - baseline[s][1] for s in seeds])
        deviations.append(gaps - gaps.mean(axis=0))
        final_deviations.append(finals - finals.mean())
        kept.append((name, len(seeds) - 1))
    if not kept:
        raise EvoError("calibration: no probe finished on two seeds the baseline also finished")
    dof = sum(n for _, n in kept)
    stacked = np.concatenate(deviations)
    sd = _profile(fractions, np.sqrt((stacked**2).sum(axis=0) / dof), np.asarray(model.mean))
    persistent, phi = _fit_correlation(stacked / sd)
    final_sd = math.sqrt(float((np.concatenate(final_deviations) ** 2).sum()) / dof)
    return replace(
        model,
        paired_sd=tuple(sd.tolist()),
        paired_persistent=persistent,
        paired_phi=phi,
        paired_final_sd=max(final_sd, 1e-9),
        probes=tuple(name for name, _ in kept),
    )


def _two_part(fractions: Sequence[float] | np.ndarray, persistent: float, phi: float) -> np.ndarray:
    f = np.asarray(fractions, dtype=float)
    lags = np.abs(f[:, None] - f[None, :]) * GRID
    return persistent + (1 - persistent) * phi**lags


def _profile(fractions: np.ndarray, sd: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """The sd per fraction, never below a smooth profile: a quadratic in log f fitted to the log variance, or the
    variance averaged over the 5 nearest fractions where that is larger. A few seeds give a ragged estimate per
    point, and since a seed's deviations persist along the curve its errors come in waves, not point by point: on
    the surrogate (true sd 1% of a slowly falling loss, 0.012-0.015) 5 seeds measured 0.009-0.018, and each dip made
    every gap there look like evidence (three of the four would-be winners that live searches on fresh seeds still
    stopped were stopped in one). The quadratic follows a sd that falls or rises over training; a dip below it is
    taken for sampling error, a bump above it is kept (it may be real: the test errs toward stopping less).
    Floored so that a deterministic stretch does not divide by zero."""
    floor = 1e-9 + 1e-6 * np.abs(mean)
    log_f, log_var = np.log(fractions), np.log(np.maximum(sd, floor) ** 2)
    fitted = np.sqrt(np.exp(np.polyval(np.polyfit(log_f, log_var, 2), log_f)))
    local = np.sqrt(np.convolve(np.pad(sd**2, 2, mode="edge"), np.ones(5) / 5, mode="valid"))
    return np.maximum(np.maximum(fitted, local), floor)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    denominator = math.sqrt(float(np.sum(a * a) * np.sum(b * b)))
    return float(np.sum(a * b) / denominator) if denominator > 0 else 1.0


def _fit_correlation(z: np.ndarray) -> tuple[float, float]:
    """Least-squares fit of w and phi to the pooled correlations at lags 1..MAX_LAG, on a grid (robust: no
    optimiser to diverge)."""
    lags = np.arange(1, MAX_LAG + 1)
    observed = np.array([_corr(z[:, :-lag].ravel(), z[:, lag:].ravel()) for lag in lags])
    w, phi = np.meshgrid(np.linspace(0, 0.98, 50), np.linspace(0, 0.99, 100), indexing="ij")
    model = w[..., None] + (1 - w[..., None]) * phi[..., None] ** lags
    i, j = np.unravel_index(np.argmin(np.sum((model - observed) ** 2, axis=-1)), w.shape)
    return float(w[i, j]), float(phi[i, j])
