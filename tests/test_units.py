"""The early-termination test's units: its margin and the reference's luck count in noise units of the final metric,
turned into curve sds by the scale k a run measures from its finished candidates (curve ends against final gains)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from evo.evaluation import Action
from evo.search.termination import EarlyTermination
from evo.stopping import CurveTest
from evo.stopping.audit import audit_line
from evo.stopping.units import PRIOR_GAP, EndPair, curve_end, end_sd, final_unit, metric_scale, prior_scale
from population.ledger import Ledger

from .test_sprt import BUDGET, FRACTIONS, MEAN, SD, model, points, rule
from .test_trend_audit import individual, run_config


def test_the_prior_scale_is_the_ratio_of_the_final_metric_to_the_curves_end() -> None:
    noise = model()  # final mean 3.0 against a curve that ends at MEAN[-1]
    assert prior_scale(noise) == pytest.approx(3.0 / MEAN[-1])
    in_bits = replace(noise, final_mean=3.0 / np.log(2))  # the metric in bits, the curve in nats
    assert prior_scale(in_bits) == pytest.approx(prior_scale(noise) / np.log(2))
    assert metric_scale([], noise) == pytest.approx(prior_scale(noise))


def test_the_scale_is_measured_from_finished_candidates_and_outweighs_the_prior() -> None:
    noise, rng = model(), np.random.default_rng(0)
    curve = rng.normal(0, 5 * end_sd(noise), 40)  # curve-end gains of forty candidates
    pairs = [EndPair(c, 2.5 * c + rng.normal(0, noise.final_sd)) for c in curve]  # the metric moves 2.5 per unit
    assert metric_scale(pairs, noise) == pytest.approx(2.5, rel=0.05)
    one = EndPair(PRIOR_GAP * end_sd(noise), 2.5 * PRIOR_GAP * end_sd(noise))  # worth as much as the prior
    assert metric_scale([one], noise) == pytest.approx((2.5 + prior_scale(noise)) / 2)
    backwards = [EndPair(c, -2.5 * c) for c in curve]  # a curve that ends better says the final metric is worse
    assert metric_scale(backwards, noise) == pytest.approx(0.1 * prior_scale(noise))


def test_one_final_noise_unit_in_curve_sds() -> None:
    noise = model(final_sd=0.01)
    assert final_unit(noise, 1.0) == pytest.approx(0.01 / SD[-1])
    assert final_unit(noise, 2.0) == pytest.approx(0.5 * final_unit(noise, 1.0))
    assert final_unit(noise) == pytest.approx(final_unit(noise, prior_scale(noise)))


@pytest.mark.parametrize(("final_sd", "stopped"), [(0.005, False), (0.06, True)])
def test_the_margin_counts_in_final_metric_noise_units(final_sd: float, stopped: bool) -> None:
    """A candidate level with its reference all along, under H0 "it wins by 1.5 noise units": where the final
    metric's noise is a quarter of the curve's sd, 1.5 of its units are a small lead on the curve and a tie is no
    evidence against it; where it is three times the curve's, the tie falls far short and is stopped."""
    noise = model(final_sd=final_sd)
    test = CurveTest(points(MEAN), noise, rule(margin=1.5, delta=2.0), BUDGET, scale=1.0)
    assert test.unit == pytest.approx(final_sd / SD[-1])
    actions = [test.update(f * BUDGET, v) for f, v in zip(FRACTIONS, MEAN, strict=True)]
    assert (Action.STOP in actions) is stopped


def test_a_run_measures_its_scale_from_watched_candidates_and_reads_it_back(tmp_path: Path) -> None:
    config = run_config(audit=0.0)
    noise = model()
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        termination = EarlyTermination(config, noise, ledger, "minimize", lambda _: None)
        assert termination.scale == pytest.approx(prior_scale(noise))
        parent = individual("0000", 3.0, MEAN)
        for number, behind in enumerate((-8, -4, 4, 8), 1):  # curve ends `behind` sds back; finals move 2x that
            curve = MEAN + behind * SD
            watch = termination.monitor(number, (parent,), parent)
            assert watch is not None and watch[0].unit == pytest.approx(final_unit(noise, termination.scale))
            metric = 3.0 + 2.0 * behind * SD[-1]
            termination.finished(individual(f"{number:04d}", metric, curve, ("0000",)), watch)
        ends = [e.data["end_gain"] for e in ledger.events("watched")]
        assert ends == pytest.approx([curve_end(points(MEAN), noise, BUDGET) - curve_end(points(MEAN + b * SD), noise,
                                      BUDGET) for b in (-8, -4, 4, 8)])  # fmt: skip
        measured = termination.scale
        assert prior_scale(noise) < measured < 2.0  # pulled from the prior toward the candidates' 2
        assert measured == pytest.approx(metric_scale(termination.ends.values(), noise))
        assert EarlyTermination(config, noise, ledger, "minimize", lambda _: None).scale == pytest.approx(measured)
        unit = ledger.events("watched")[-1].data["unit"]  # what the last monitor took, as `evo status` says it
        assert f"one noise unit of the final metric is {unit:.2f} curve sds" in str(audit_line(ledger.events()))
