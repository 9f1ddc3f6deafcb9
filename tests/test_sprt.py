"""The sequential tests on simulated curves whose noise is known: false stops at or below alpha for autocorrelated
curves and for gaps that drift, power against clear losers, the warm-up, the catch-up allowance and the drift, the
paired confirmation test, the reference's luck, and the noise model's fit."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from evo.config import NOISE_MARGIN, ConfirmConfig, EarlyStopConfig
from evo.errors import EvoError
from evo.evaluation import Action
from evo.stopping import CurveTest, PairedTest, monitor_for
from evo.stopping.curve_test import LUCK_CAP, LUCK_RANGE, drift_covariance, reference_luck
from evo.stopping.noise import GRID, NoiseModel, fit_noise, fit_paired
from population.individual import Individual

BUDGET = 100.0
FRACTIONS = np.arange(1, GRID + 1) / GRID
MEAN = 3 + 5 * (1 + 30 * FRACTIONS) ** -0.7  # a learning curve's shape
SD = 0.02 + 0.05 * (1 - FRACTIONS)  # noisier early


def model(persistent: float = 0.2, phi: float = 0.8, final_sd: float = 0.02) -> NoiseModel:
    return NoiseModel(
        tuple(FRACTIONS), tuple(MEAN), tuple(SD), (1.0,) * GRID, persistent, phi, 3.0, final_sd, (), (1, 2, 3, 4, 5),
        BUDGET, "wall", "val_bpb", "minimize",
    )  # fmt: skip


def rule(**settings: float) -> EarlyStopConfig:
    """The plain test: delta 1 noise unit, no margin, no drift, a 0.2 warm-up, unless `settings` say otherwise."""
    return EarlyStopConfig(**{"delta": 1.0, "margin": 0.0, "drift": 0.0, "warmup": 0.2, **settings})


def points(values: np.ndarray) -> list[tuple[float, float]]:
    return [(float(f * BUDGET), float(v)) for f, v in zip(FRACTIONS, values, strict=True)]


def draw(noise: NoiseModel, rng: np.random.Generator, count: int) -> np.ndarray:
    """`count` curves from the two-part autocorrelated model."""
    chol = np.linalg.cholesky(noise.covariance(FRACTIONS) + 1e-12 * np.eye(GRID))
    return MEAN + rng.standard_normal((count, GRID)) @ chol.T


def drifts(variance: float, rng: np.random.Generator, count: int) -> np.ndarray:
    """`count` gap paths that wander by a Brownian drift of `variance` noise units squared and end at zero."""
    chol = np.linalg.cholesky(drift_covariance(FRACTIONS, variance) + 1e-12 * np.eye(GRID))
    return rng.standard_normal((count, GRID)) @ chol.T * SD


def stops(
    noise: NoiseModel, gap: float | np.ndarray, alpha: float, count: int, seed: int, **kw: float
) -> list[float | None]:
    """Where the test stopped each of `count` candidates whose true curve is `gap` above the reference's (one value,
    or one path per candidate)."""
    rng = np.random.default_rng(seed)
    truth = model(noise.persistent, noise.phi)
    references, candidates = draw(truth, rng, count), draw(truth, rng, count) + gap
    out: list[float | None] = []
    for reference, candidate in zip(references, candidates, strict=True):
        test = CurveTest(points(reference), noise, rule(alpha=alpha, **kw), BUDGET)
        stopped = None
        for f, value in zip(FRACTIONS, candidate, strict=True):
            if test.update(f * BUDGET, value) is Action.STOP:
                stopped = f
                break
        out.append(stopped)
    return out


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.2])
@pytest.mark.parametrize(("persistent", "phi"), [(0.2, 0.8), (0.0, 0.95)])
def test_false_stops_stay_at_or_below_alpha_on_autocorrelated_curves(
    alpha: float, persistent: float, phi: float
) -> None:
    count = 400
    rate = sum(s is not None for s in stops(model(persistent, phi), 0.0, alpha, count, seed=7, warmup=0.1)) / count
    assert rate <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / count)


def test_taking_autocorrelated_points_as_independent_would_stop_far_too_often() -> None:
    """The ablation that shows the property above is not vacuous: ignoring the correlation breaks alpha."""
    wrong = replace(model(0.2, 0.8), persistent=0.0, phi=0.0)
    rng = np.random.default_rng(3)
    truth = model(0.2, 0.8)
    count, stopped = 200, 0
    for reference, candidate in zip(draw(truth, rng, count), draw(truth, rng, count), strict=True):
        test = CurveTest(points(reference), wrong, rule(alpha=0.05, warmup=0.1), BUDGET)
        stopped += any(test.update(f * BUDGET, v) is Action.STOP for f, v in zip(FRACTIONS, candidate, strict=True))
    assert stopped / count > 0.15


def test_a_clear_loser_is_stopped_early_and_never_before_the_warmup() -> None:
    where = stops(model(), gap=8 * float(SD.max()), alpha=0.05, count=50, seed=1, warmup=0.3)
    assert all(s is not None for s in where)
    assert min(s for s in where if s is not None) >= 0.3
    assert float(np.median([s for s in where if s is not None])) <= 0.5


def test_the_catch_up_allowance_spares_a_run_that_is_behind_by_less_than_the_reference_still_falls() -> None:
    noise = model()
    behind = MEAN + 0.3 * (MEAN - MEAN[-1])  # behind by 30% of what the reference still has to fall, equal at the end
    strict = CurveTest(points(MEAN), noise, rule(warmup=0.1, catch_up=0.0), BUDGET)
    lenient = CurveTest(points(MEAN), noise, rule(warmup=0.1, catch_up=0.5), BUDGET)
    verdicts = [
        [test.update(f * BUDGET, v) for f, v in zip(FRACTIONS, behind, strict=True)] for test in (strict, lenient)
    ]
    assert Action.STOP in verdicts[0]
    assert Action.STOP not in verdicts[1]


def test_false_stops_stay_at_or_below_alpha_when_the_gap_drifts_as_modelled() -> None:
    """Runs that end level with the reference but wander on the way (some trail early and catch up late): with the
    drift in the model the test keeps alpha; without it, it stops far too many of them."""
    count, alpha, variance = 300, 0.05, 9.0
    paths = drifts(variance, np.random.default_rng(17), count)
    rates = {
        drift: sum(s is not None for s in stops(model(), paths, alpha, count, seed=9, warmup=0.1, drift=drift)) / count
        for drift in (variance, 0.0)
    }
    assert rates[variance] <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / count)
    assert rates[0.0] > 2 * alpha


def test_drift_spares_a_run_that_trails_early_and_still_stops_a_clear_loser() -> None:
    def stopped(curve: np.ndarray, drift: float) -> bool:
        test = CurveTest(points(MEAN), model(), rule(warmup=0.1, drift=drift), BUDGET)
        return any(test.update(f * BUDGET, v) is Action.STOP for f, v in zip(FRACTIONS, curve, strict=True))

    trailing = MEAN + 6 * SD * (1 - FRACTIONS)  # behind by 6 noise units at the start, level at the end
    loser = MEAN + 8 * SD
    assert [stopped(trailing, 0.0), stopped(trailing, 4.0)] == [True, False]
    assert [stopped(loser, 0.0), stopped(loser, 4.0)] == [True, True]


def test_reference_luck_is_the_final_metrics_standing_less_the_curves() -> None:
    noise = model(final_sd=0.02)  # final mean 3.0; the curve's end: mean MEAN[-1], sd SD[-1]
    level, worse = points(MEAN), 3.0 + 2 * 0.02
    assert reference_luck(level, worse, noise, BUDGET, "minimize", calibrated=True) == pytest.approx(2.0)
    assert reference_luck(level, worse, noise, BUDGET, "maximize", calibrated=True) == pytest.approx(-2.0)
    ahead = points(MEAN - SD[-1])  # a curve one sd better at its end, a final metric only level: unlucky by one
    assert reference_luck(ahead, 3.0, noise, BUDGET, "minimize", calibrated=True) == pytest.approx(1.0)
    assert reference_luck(level, 3.0 + 99 * 0.02, noise, BUDGET, "minimize", calibrated=True) == LUCK_CAP
    far = points(MEAN - (LUCK_RANGE + 1) * SD[-1])  # a curve far from the calibrated baseline's: nothing is known
    assert reference_luck(far, worse, noise, BUDGET, "minimize", calibrated=True) == 0.0
    # Other code than the calibrated baseline's: an unlucky reading counts, a lucky one (maybe the code) does not.
    assert reference_luck(level, worse, noise, BUDGET, "minimize", calibrated=False) == pytest.approx(2.0)
    assert reference_luck(level, worse, noise, BUDGET, "maximize", calibrated=False) == 0.0


@pytest.mark.parametrize(
    ("gap", "luck", "stopped"), [(3.0, 0.0, True), (3.0, 3.0, False), (0.0, 0.0, False), (0.0, -3.0, True)]
)
def test_gaps_are_taken_net_of_the_references_luck(gap: float, luck: float, stopped: bool) -> None:
    """3 units behind the curve of a reference whose final metric came out 3 units worse than its curve promised, a
    candidate is still level with that final metric: it runs on. Level with a lucky reference's curve, it is 3 units
    behind the final metric it must beat: it stops."""
    test = CurveTest(points(MEAN), model(), rule(warmup=0.1), BUDGET, luck=luck)
    candidate = MEAN + gap * SD
    verdicts = [test.update(f * BUDGET, v) for f, v in zip(FRACTIONS, candidate, strict=True)]
    assert (Action.STOP in verdicts) is stopped


def test_points_beyond_the_reference_and_repeated_points_are_ignored() -> None:
    test = CurveTest([(0.0, 5.0), (50.0, 4.0)], model(), rule(warmup=0.0), BUDGET)
    assert test.update(10.0, 4.9) is Action.CONTINUE
    assert test.update(10.0, 99.0) is Action.CONTINUE  # same fraction again
    assert test.update(80.0, 99.0) is Action.CONTINUE  # past the reference's last point
    assert test.fractions == [0.1]


@pytest.mark.parametrize(("gain", "expected"), [(0.0, False), (3.0, True)])
def test_the_paired_test_confirms_real_gains_and_rejects_none(gain: float, expected: bool) -> None:
    noise = model(final_sd=0.02)
    rng = np.random.default_rng(5)
    verdicts = []
    for _ in range(300):
        test = PairedTest(noise, ConfirmConfig(alpha=0.05, beta=0.2, max_pairs=20), "minimize")
        verdict = None
        while verdict is None:
            incumbent = 3.0 + rng.normal(0, 0.02)
            verdict = test.add(incumbent, 3.0 - gain * 0.02 + rng.normal(0, 0.02))
        verdicts.append(verdict)
    share = sum(v == expected for v in verdicts) / len(verdicts)
    assert share >= (0.95 - 3 * math.sqrt(0.05 * 0.95 / 300) if not expected else 0.8)


def test_the_paired_test_gives_up_unconfirmed_after_max_pairs() -> None:
    test = PairedTest(model(final_sd=1.0), ConfirmConfig(delta=0.01, max_pairs=3), "maximize")
    assert [test.add(1.0, 1.005) for _ in range(3)] == [None, None, False]


def test_fit_noise_recovers_the_spread_and_the_correlation() -> None:
    truth = model(0.3, 0.8)
    curves = draw(truth, np.random.default_rng(11), 60)
    runs = [points(curve) for curve in curves]
    finals = list(3.0 + np.random.default_rng(12).normal(0, 0.02, 60))
    fitted = fit_noise(runs, finals, list(range(60)), BUDGET)
    assert np.allclose(fitted.sd, SD, rtol=0.25)
    assert abs(fitted.persistent - 0.3) < 0.15 and abs(fitted.phi - 0.8) < 0.15
    assert fitted.final_sd == pytest.approx(0.02, rel=0.3)
    assert NoiseModel.from_json(fitted.to_json()) == fitted


@pytest.mark.parametrize("seed", range(4))
def test_five_seeds_sd_is_taken_no_lower_than_a_smooth_profile(seed: int) -> None:
    """Five seeds measure each fraction's sd with waves of error (a seed's deviation persists along the curve); the
    fit lifts the dips, where a small sd would make every gap look like evidence."""
    curves = draw(model(0.0, 0.9), np.random.default_rng(seed), 5)
    measured = curves.std(axis=0, ddof=1) / SD
    fitted = np.asarray(fit_noise([points(c) for c in curves], [3.0] * 5, list(range(5)), BUDGET).sd) / SD
    assert measured.min() < 0.35 and fitted.min() > 0.5
    assert np.sqrt(np.mean(np.log(fitted) ** 2)) < np.sqrt(np.mean(np.log(measured) ** 2)) - 0.05


def test_fit_noise_needs_three_runs() -> None:
    with pytest.raises(EvoError, match="at least 3"):
        fit_noise([[(0, 1.0), (1, 0.5)]] * 2, [1.0, 1.1], [1, 2], 1.0)


def test_probes_measure_the_smaller_noise_of_same_seed_comparisons_and_the_test_uses_it() -> None:
    """Runs on one seed share a large deviation (data order, initialisation) that a same-seed gap cancels: probes
    trained on the baseline's seeds measure the gap's own noise, and the curve test gains the power it allows."""
    rng = np.random.default_rng(21)
    seeds = range(1, 7)
    shared = {s: 0.05 * rng.standard_normal() + 0.05 * draw(model(0.0, 0.9), rng, 1)[0] / SD for s in seeds}
    own = 0.01  # each run's own noise, the only part a same-seed gap keeps

    def run(effect: float, seed: int) -> tuple[list[tuple[float, float]], float]:
        curve = MEAN + effect + shared[seed] + own * rng.standard_normal(GRID)
        return points(curve), float(curve[-1])

    baseline = {s: run(0.0, s) for s in seeds}
    probes = {f"probe {k}": {s: run(0.02 * k, s) for s in seeds} for k in range(4)}
    two_seed = fit_noise([c for c, _ in baseline.values()], [m for _, m in baseline.values()], list(seeds), BUDGET)
    paired = fit_paired(two_seed, baseline, probes)
    assert paired.paired and len(paired.probes) == 4
    assert np.median(paired.paired_sd) == pytest.approx(own * math.sqrt(2), rel=0.35)
    assert paired.gap_final_sd < 0.5 * two_seed.gap_final_sd
    assert NoiseModel.from_json(paired.to_json()) == paired
    # A candidate 4 same-seed sds behind on the reference's seed: the paired model stops it, the two-seed one not.
    reference, _ = run(0.0, 1)
    candidate, _ = run(4 * own * math.sqrt(2), 1)
    verdicts = {}
    for name, noise in (("paired", paired), ("two seeds", two_seed)):
        test = CurveTest(reference, noise, rule(alpha=0.05, delta=0.5, warmup=0.1), BUDGET)
        verdicts[name] = any(test.update(t, v) is Action.STOP for t, v in candidate)
    assert verdicts == {"paired": True, "two seeds": False}


def test_fit_paired_needs_a_probe_with_two_shared_seeds() -> None:
    base = fit_noise([points(MEAN + 0.01 * k) for k in range(3)], [3.0, 3.01, 3.02], [1, 2, 3], BUDGET)
    with pytest.raises(EvoError, match="no probe finished on two seeds"):
        fit_paired(base, {1: (points(MEAN), 3.0)}, {"p": {1: (points(MEAN), 3.0), 9: (points(MEAN), 3.0)}})


@pytest.mark.parametrize(("luck", "parents", "expected"), [(True, (), -2.0), (True, ("0000",), 0.0), (False, (), 0.0)])
def test_the_monitor_takes_the_references_luck_when_asked(
    luck: bool, parents: tuple[str, ...], expected: float
) -> None:
    """A baseline (no parents: the calibrated code) whose final metric came out 2 units better than its curve was
    lucky; a child of it with the same record may owe that to its code, so no luck is taken; nor when it is off."""
    reference = Individual("0001", parents, status="ok", metric=3.0 - 2 * 0.02, curve=tuple(points(MEAN)))
    early_stop = EarlyStopConfig(enabled=True, luck=luck)
    watch = monitor_for((reference,), reference, early_stop, model(), BUDGET, "minimize")
    assert watch is not None
    test, watched = watch
    assert watched is reference
    assert test.luck == pytest.approx(expected)


@pytest.mark.parametrize(
    ("units", "margin", "expected"),
    [("noise", None, NOISE_MARGIN), ("metric", None, NOISE_MARGIN), ("metric", 0.04, 2.0), ("noise", 0.5, 0.5)],
)
def test_the_margin_is_noise_margin_noise_units_unless_set_in_delta_units(
    units: str, margin: float | None, expected: float
) -> None:
    reference = Individual("0001", status="ok", metric=3.0, curve=tuple(points(MEAN)))
    early_stop = EarlyStopConfig(
        enabled=True, delta_units=units, delta=2.0 if units == "noise" else 0.04, margin=margin
    )
    watch = monitor_for((reference,), reference, early_stop, model(final_sd=0.02), BUDGET, "minimize")
    assert watch is not None and watch[0].margin == pytest.approx(expected)


def test_the_simulated_error_is_the_tests_own_and_villes_bound_leaves_slack() -> None:
    """benchmarks/sprt_model_error.py: the share of simulated H0 paths whose log ratio reaches a threshold is the
    share of H0 curves the test itself stops there, and at log(1 / alpha) it is below alpha (a run is watched at
    finitely many points and ends)."""
    from benchmarks.sprt_model_error import maxima
    from evo.stopping.curve_test import trend_shape

    test = CurveTest(points(MEAN), model(0.2, 0.8), rule(warmup=0.1), BUDGET, trend=1.0)
    looks = FRACTIONS[FRACTIONS >= 0.1]
    peaks = maxima(test, looks, np.random.default_rng(0))
    assert np.mean(peaks >= test.threshold) < 0.05
    threshold = float(np.quantile(peaks, 0.9))
    assert threshold < test.threshold
    rng, count = np.random.default_rng(1), 400
    sd = test.noise.sd_at(FRACTIONS)
    chol = np.linalg.cholesky(test.covariance(FRACTIONS))
    closing = np.abs(rng.standard_normal(count))[:, None] * (trend_shape(FRACTIONS) * sd)
    stopped = 0
    for gap in rng.standard_normal((count, GRID)) @ chol.T + closing:
        run = CurveTest(points(MEAN), model(0.2, 0.8), rule(warmup=0.1), BUDGET, trend=1.0)
        run.threshold = threshold
        stopped += any(run.update(f * BUDGET, v) is Action.STOP for f, v in zip(FRACTIONS, MEAN + gap, strict=True))
    assert abs(stopped / count - 0.1) <= 3 * math.sqrt(0.1 * 0.9 / count)


def test_the_replays_savings_interval_resamples_variants_with_their_seeds() -> None:
    """Seeds of one variant share its code: a variant whose ten seeds are all stopped at once and another whose ten
    all run to the end make two draws, not twenty, so the interval spans both (resampling seeds would give about
    [0.3, 0.7])."""
    from benchmarks.sprt_corpus import Candidate
    from benchmarks.sprt_tally import Tally, Verdict

    tally = Tally()
    for variant, stopped in (("quick", 0.0), ("slow", None)):
        for seed in range(10):
            loser = Candidate(variant, seed, ((1.0, 1.0),), 1.1, {"metric": 1.0})  # worse than its parent's 1.0
            tally.add(loser, Verdict(stopped), 0.05)
    assert tally.loser_compute_saved / tally.losers == 0.5
    assert tally.saved_interval() == (0.0, 1.0)


def test_the_frontier_holds_every_corpus_to_false_kills_and_only_wide_and_near_ties_to_savings() -> None:
    """benchmarks/sprt_frontier.py: a setting misses a goal when any corpus stops more than 5% of its clear winners,
    or a wide corpus saves under 60% or a near-tie one under 40% of its losers' compute; a slow corpus is held to
    false kills only, and a corpus without clear winners has none to kill."""
    from benchmarks.sprt_frontier import missed
    from benchmarks.sprt_tally import Tally

    def tally(saved: float, kills: int, winners: int) -> Tally:
        return Tally(losers=10, loser_compute_saved=10 * saved, clear_winners=winners, false_kills=kills)

    fine = {"20 s wide": tally(0.6, 1, 29), "20 s near-tie": tally(0.4, 0, 13), "20 s slow": tally(0.1, 0, 0)}
    assert missed(fine) == []
    assert missed({**fine, "20 s wide": tally(0.59, 1, 29)}) == ["20 s wide: 59.0% saved"]
    assert missed({**fine, "20 s near-tie": tally(0.7, 1, 13)}) == ["20 s near-tie: 1 of 13 false kills"]
    assert missed({**fine, "20 s slow": tally(0.1, 1, 7)}) == ["20 s slow: 1 of 7 false kills"]
