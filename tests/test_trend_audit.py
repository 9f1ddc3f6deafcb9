"""Curves that cross and the self-audit: the test's closing trend keeps its error rate for slow starters that
overtake, the trend measured from finished candidates, the audit's false-stop rate and interval, and loosening."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from evo.config import BudgetConfig, EarlyStopConfig, RunConfig
from evo.evaluation import Action, EvalResult, Status
from evo.search.termination import EarlyTermination
from evo.stopping import CurveTest
from evo.stopping.audit import AuditTally, audit_from, audit_line
from evo.stopping.curve_test import FEW_RUNS_VARIANCE, LUCK_RUNS, reference_luck, trend_shape
from evo.stopping.trend import PRIOR_TREND, PRIOR_WEIGHT, Closing, closing, trend_scale
from population.individual import Individual
from population.ledger import Ledger

from .test_sprt import BUDGET, FRACTIONS, MEAN, SD, draw, model, points, rule


def slow_starters(scale: float, final: float, rng: np.random.Generator, count: int) -> np.ndarray:
    """`count` gap paths (metric units) that close along the trend's shape from b ~ half-normal(`scale`) noise units
    to `final` noise units at the end: larger models that trail early and end `final` behind."""
    b = np.abs(rng.normal(0.0, scale, count))
    return (b[:, None] * trend_shape(FRACTIONS)[None, :] + final) * SD


def stopped_share(gaps: np.ndarray, trend: float, seed: int, **settings: float) -> float:
    rng = np.random.default_rng(seed)
    noise = model()
    references, candidates = draw(noise, rng, len(gaps)), draw(noise, rng, len(gaps)) + gaps
    stopped = 0
    for reference, candidate in zip(references, candidates, strict=True):
        test = CurveTest(points(reference), noise, rule(warmup=0.1, **settings), BUDGET, trend=trend)
        stopped += any(test.update(f * BUDGET, v) is Action.STOP for f, v in zip(FRACTIONS, candidate, strict=True))
    return stopped / len(gaps)


def test_slow_starters_that_end_level_are_stopped_at_most_alpha_with_the_trend_and_often_without() -> None:
    gaps = slow_starters(3.0, 0.0, np.random.default_rng(0), 300)
    with_trend = stopped_share(gaps, trend=3.0, seed=1, alpha=0.05)
    without = stopped_share(gaps, trend=0.0, seed=1, alpha=0.05)
    assert with_trend <= 0.05 + 0.03  # alpha, plus three binomial sds at n = 300
    assert without > 0.3  # the gap at the current point says "loser" for most of them


def test_a_steady_loser_is_still_stopped_with_a_trend() -> None:
    for behind, share in ((3.0, 0.75), (5.0, 0.95)):  # noise units behind all along: no closing
        steady = np.tile(behind * SD, (100, 1))
        assert stopped_share(steady, trend=1.0, seed=2, delta=2.0) >= share


def test_a_lead_that_shrinks_is_no_sign_of_a_loser() -> None:
    # Better by 6 units early, still better by 2 at the end: b < 0, which the half-normal trend does not allow.
    shrinking = (-6.0 + 4.0 * (1 - trend_shape(FRACTIONS) / trend_shape(FRACTIONS)[4]).clip(0, 1))[None, :] * SD
    assert stopped_share(np.tile(shrinking, (100, 1)), trend=5.0, seed=3) == 0.0


def test_closing_slope_recovers_a_noise_free_trend_and_knows_its_noise() -> None:
    noise = model()
    reference = points(MEAN)
    candidate = points(MEAN + (2.5 * trend_shape(FRACTIONS) - 1.0) * SD)
    measured = closing(candidate, reference, noise, BUDGET, warmup=0.1, gain=1.0)
    assert measured.slope == pytest.approx(2.5, rel=1e-6)
    assert measured.noise > 0 and measured.weight == 1.0 and measured.gain == 1.0
    # Gaps that open (the candidate falls behind late) have a negative slope, which the scale ignores.
    opening = closing(points(MEAN + (-1.0 * trend_shape(FRACTIONS) + 3) * SD), reference, noise, BUDGET, 0.1, -3.0)
    assert opening.slope == pytest.approx(-1.0, rel=1e-6)


def test_trend_scale_pools_the_prior_with_closing_slopes_net_of_noise_and_weights_audits() -> None:
    assert trend_scale([]) == pytest.approx(PRIOR_TREND)
    flat = [Closing(-2.0, 0.0, gain=1.0)] * 96  # none closes: the prior fades
    assert trend_scale(flat) == pytest.approx(PRIOR_TREND * math.sqrt(PRIOR_WEIGHT / (PRIOR_WEIGHT + 96)))
    noisy = [Closing(1.0, 2.0, gain=1.0)] * 96  # slopes no larger than noise alone gives: no trend
    assert trend_scale(noisy) == pytest.approx(math.sqrt(PRIOR_WEIGHT * PRIOR_TREND**2 / (PRIOR_WEIGHT + 96)))
    # One audited candidate stands for ten stopped ones.
    audited = [*flat[:10], Closing(5.0, 0.0, gain=2.0, weight=10.0)]
    expected = math.sqrt((PRIOR_WEIGHT * PRIOR_TREND**2 + 10 * 25.0) / (PRIOR_WEIGHT + 10 + 10))
    assert trend_scale(audited) == pytest.approx(expected)


def test_only_winners_closings_measure_the_trend() -> None:
    # Losers whose huge gaps closed part of the way (and one that ended level) say nothing of how a winner's gap
    # moves: with them alone the trend stays the prior, and they leave the winners' measurement unchanged.
    losers = [Closing(6.0, 0.0, gain=-40.0)] * 20 + [Closing(6.0, 0.0, gain=0.0)]
    assert trend_scale(losers) == pytest.approx(PRIOR_TREND)
    winners = [Closing(0.5, 0.0, gain=3.0)] * 8
    assert trend_scale(winners + losers) == pytest.approx(trend_scale(winners))
    assert trend_scale(winners) < PRIOR_TREND


def test_an_audited_monitor_records_its_decision_but_lets_the_candidate_run() -> None:
    noise = model()
    reference = points(MEAN)
    loser = points(MEAN + 5 * SD)
    plain = CurveTest(reference, noise, rule(), BUDGET)
    audited = CurveTest(reference, noise, rule(), BUDGET, audit=True)
    plain_actions = [plain.update(t, v) for t, v in loser]
    audited_actions = [audited.update(t, v) for t, v in loser]
    assert Action.STOP in plain_actions and Action.STOP not in audited_actions
    assert audited.stopped and audited.stopped_at == plain.stopped_at and audited.stop_llr == plain.stop_llr


def test_the_false_stop_rate_and_its_exact_interval() -> None:
    # 20 decisions to stop, 5 audited, 1 of those would have won; 9 winners ran to the end undisturbed.
    tally = AuditTally(stops=15, audits=5, audit_wins=1, wins=9)
    rate = tally.false_stop_rate()
    assert rate is not None
    assert rate.estimate == pytest.approx(4 / 13)  # 1/5 of 20 decisions: 4 winners stopped, of 13
    low, high = 1 - 0.975 ** (1 / 5), 0.71642  # Clopper-Pearson for 1 in 5 (the table's upper bound)
    assert rate.low == pytest.approx(low * 20 / (low * 20 + 9), rel=1e-3)
    assert rate.high == pytest.approx(high * 20 / (high * 20 + 9), rel=1e-3)
    assert rate.low < rate.estimate < rate.high
    assert AuditTally(stops=4).false_stop_rate() is None  # decisions, none audited: nothing measured
    none_stopped = AuditTally(wins=3).false_stop_rate()  # winners, and no decision to stop: none stopped
    assert none_stopped is not None and none_stopped.high == 0.0
    line = tally.line(0.05)
    assert "20 decisions to stop, 5 audited (run to the end)" in line
    assert "31% [" in line and "stated at most 5%" in line
    costed = replace(tally, audit_budgets=2.5).line(0.05, spent=50.0)  # 5 audited ran on for 2.5 budgets of 50
    pooled = tally + AuditTally(stops=1, audits=1, wins=1, audit_budgets=0.5)  # two runs' tallies
    assert pooled == AuditTally(stops=16, audits=6, audit_wins=1, wins=10, audit_budgets=0.5)
    assert "20 decisions to stop, 5 audited (run to the end, 5.0% of the training)" in costed
    many = AuditTally(stops=10, audits=10, audit_wins=8, wins=2)
    assert "MORE than stated" in many.line(0.05)
    assert "no false-stop rate measured yet" in AuditTally(stops=4).line(0.05, share=0.1)
    off = AuditTally(stops=4).line(0.05, share=0.0)
    said = "the self-audit is off (early_stop.audit 0): no false-stop rate measured (stated at most 5%)"
    assert off == f"4 decisions to stop; {said}"


def individual(ident: str, metric: float, curve: np.ndarray, parents: tuple[str, ...] = ()) -> Individual:
    return Individual(ident, parents, status="ok", metric=metric, curve=tuple(points(curve)))


def run_config(**early: float) -> RunConfig:
    return replace(RunConfig(), budget=BudgetConfig(BUDGET), early_stop=EarlyStopConfig(enabled=True, **early))


def test_early_termination_records_audits_in_the_ledger_and_loosens_when_it_stops_winners(tmp_path: Path) -> None:
    config = run_config(audit=1.0, warmup=0.1)
    notices: list[str] = []
    noise = model()
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        termination = EarlyTermination(config, noise, ledger, "minimize", notices.append)
        parent = individual("0000", 3.0, MEAN)
        for number in range(1, 5):
            watch = termination.monitor(number, (parent,), parent)
            assert watch is not None and watch[0].audit  # audit = 1: every decision to stop is audited
            # Behind by 5 units all along, yet it ends 3 units ahead: each is a false stop the audit catches.
            curve = MEAN + 5 * SD
            assert all(watch[0].update(t, v) is Action.CONTINUE for t, v in points(curve))
            assert watch[0].stopped
            termination.finished(individual(f"{number:04d}", 3.0 - 3 * noise.final_sd, curve, ("0000",)), watch)
        watched = ledger.events("watched")
        assert len(watched) == 4 and all(e.data["audited"] is not None and e.data["won"] for e in watched)
        measured = audit_from(ledger.events())
        ran_on = sum(1 - e.data["audited"] for e in watched)  # whole budgets the audited ones trained after the stop
        assert ran_on > 0
        assert measured is not None
        assert measured[0] == AuditTally(stops=0, audits=4, audit_wins=4, wins=0, audit_budgets=pytest.approx(ran_on))
        loosened = ledger.events("loosened")
        assert loosened and loosened[0].data["alpha"] == pytest.approx(0.025)
        assert termination.alpha == pytest.approx(0.05 / 2 ** len(loosened))
        assert any("would have won: a false stop" in n for n in notices)
        assert any("loosened" in n for n in notices)
        # The same run resumed reads the audits and the loosening back from its ledger.
        again = EarlyTermination(config, noise, ledger, "minimize", notices.append)
        assert again.alpha == termination.alpha and len(again.closings) == 4


def test_a_run_measures_its_trend_from_its_winners_only(tmp_path: Path) -> None:
    config = run_config(audit=0.0)
    noise = model()
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        termination = EarlyTermination(config, noise, ledger, "minimize", lambda _: None)
        parent = individual("0000", 3.0, MEAN)
        closes = MEAN + (3.0 * trend_shape(FRACTIONS) + 1.0) * SD  # far behind early, one unit behind at the end
        for number, (metric, curve) in enumerate(((3.0 + 5 * noise.final_sd, closes), (3.0 - noise.final_sd, MEAN)), 1):
            watch = termination.monitor(number, (parent,), parent)
            assert watch is not None
            termination.finished(individual(f"{number:04d}", metric, curve, ("0000",)), watch)
        assert [e.data["slope"] > 2 for e in ledger.events("watched")] == [True, False]  # both recorded
        winner_only = trend_scale([termination.closings["0002"]])
        assert termination.trend == pytest.approx(winner_only) and winner_only < PRIOR_TREND
        # resumed from the ledger: the same
        assert EarlyTermination(config, noise, ledger, "minimize", lambda _: None).trend == termination.trend
        line = audit_line(ledger.events())  # the events record the audit's share: with none, no "not yet"
        assert line is not None and "the self-audit is off (early_stop.audit 0)" in line and "yet" not in line


def test_a_three_seed_calibration_trusts_only_an_unlucky_reference() -> None:
    three, five = replace(model(), seeds=(1, 2, 3)), model()
    assert three.runs == 3 < LUCK_RUNS <= five.runs
    curve = points(MEAN)
    lucky = 3.0 - 2 * three.final_sd  # its final metric came out better than its (average) curve promised
    assert reference_luck(curve, lucky, five, BUDGET, "minimize", calibrated=True) < -1
    assert reference_luck(curve, lucky, three, BUDGET, "minimize", calibrated=True) == 0.0
    unlucky = 3.0 + 2 * three.final_sd
    assert reference_luck(curve, unlucky, three, BUDGET, "minimize", calibrated=True) > 1


def test_a_three_run_noise_model_is_taken_wider_so_the_same_gap_is_weaker_evidence() -> None:
    three, five = replace(model(), seeds=(1, 2, 3)), model()
    tests = {runs: CurveTest(points(MEAN), noise, rule(), BUDGET) for runs, noise in ((3, three), (5, five))}
    assert tests[5].noise is five
    assert np.allclose(tests[3].noise.sd, math.sqrt(FEW_RUNS_VARIANCE) * SD)
    f, value = FRACTIONS[10], MEAN[10] + 3 * SD[10]  # one point, three sds behind
    for test in tests.values():
        assert test.update(f * BUDGET, value) is Action.CONTINUE
    assert 0 < tests[3].llr < tests[5].llr


def test_a_pruned_result_is_not_watched(tmp_path: Path) -> None:
    """Only candidates that ran to the end say how their gap ended."""
    config = run_config()
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        termination = EarlyTermination(config, model(), ledger, "minimize", lambda _: None)
        parent = individual("0000", 3.0, MEAN)
        test = CurveTest(points(MEAN), model(), rule(), BUDGET)
        child = Individual("0001", ("0000",), status="running")
        curve = tuple(points(MEAN + 5 * SD))[:10]
        result = EvalResult(Status.PRUNED, None, "stopped", {}, curve, None, 1.0, 0.0, 0, BUDGET, "wall", "", "")
        charged = termination.pruned(child, result, None, (test, parent))
        assert charged.status == "pruned" and ledger.events("pruned") and not ledger.events("watched")


def test_on_a_raw_curve_one_noisy_last_step_does_not_pass_for_luck() -> None:
    smoothed, raw = model(), replace(model(), autocorr=(0.2,) * len(FRACTIONS))  # each point one step's loss
    curve = points(np.concatenate([MEAN[:-1], [MEAN[-1] + 2.5 * SD[-1]]]))  # level all along, one bad last step
    level = 3.0  # the final metric: the calibration's mean
    assert reference_luck(curve, level, smoothed, BUDGET, "minimize", calibrated=True) == pytest.approx(-2.5)
    assert abs(reference_luck(curve, level, raw, BUDGET, "minimize", calibrated=True)) < 1.0
