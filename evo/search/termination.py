"""Early termination inside a run: each child's monitor (with the closing trend and the scale k measured so far and
a random audit draw), the ledger's record of every decision to stop and of every watched candidate that ran to the
end, and the self-audit that measures the run's false-stop rate and loosens the rule when it is more than stated.

Events: `pruned` (a decision to stop that stopped the candidate) and `watched` (a watched candidate that ran to the
end: its gain over its reference in noise units, whether it would have won, its closing slope, its curve end's gain
in curve units, and `audited`, the fraction at which the test decided to stop it when that decision was audited);
`loosened` when the audit halved alpha. On resume all of it is read back from the ledger.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import replace

from evo.config import RunConfig
from evo.evaluation import EvalResult
from evo.search.session import charge_pruned
from evo.stopping import CurveTest, NoiseModel, monitor_for, noise_margin
from evo.stopping.audit import audit_from
from evo.stopping.trend import Closing, closing, trend_scale
from evo.stopping.units import EndPair, end_gain, metric_scale
from population.individual import Individual
from population.ledger import Ledger

Watch = tuple[CurveTest, Individual]  # a child's monitor and the individual its curve is compared with


class EarlyTermination:
    def __init__(
        self,
        config: RunConfig,
        noise: NoiseModel | None,
        ledger: Ledger,
        direction: str,
        on_notice: Callable[[str], None],
    ) -> None:
        self.rule, self.noise, self.ledger, self.on_notice = config.early_stop, noise, ledger, on_notice
        self.budget, self.seed, self.direction = config.budget.seconds, config.seed, direction
        self.closings = {  # by individual: one evaluated again after a kill keeps its last record
            e.data["individual"]: Closing(e.data["slope"], e.data["slope_noise"], e.data["gain"], e.data["weight"])
            for e in ledger.events("watched")
        }
        self.ends = {  # k's evidence; runs from before k was measured have none
            e.data["individual"]: EndPair(e.data["end_gain"], e.data["gain"] * noise.final_sd)
            for e in ledger.events("watched")
            if "end_gain" in e.data and noise is not None
        }
        self.alpha = self.rule.alpha / 2 ** len(ledger.events("loosened"))

    @property
    def trend(self) -> float:
        """The closing trend's sd the next monitor takes: the configured one, else the one measured so far."""
        if self.rule.trend is not None:
            return self.rule.trend
        return trend_scale(self.closings.values())

    @property
    def scale(self) -> float | None:
        """k, how far the final metric moves per unit of the curve's end, measured so far (None: no noise model)."""
        return metric_scale(self.ends.values(), self.noise) if self.noise is not None else None

    def monitor(self, number: int, parents: Sequence[Individual], best: Individual | None) -> Watch | None:
        """Child `number`'s monitor; whether a decision to stop it is audited is drawn from the run's seed."""
        audit = random.Random(f"{self.seed}-audit-{number}").random() < self.rule.audit
        rule = replace(self.rule, alpha=self.alpha)
        return monitor_for(parents, best, rule, self.noise, self.budget, self.direction, self.trend, audit, self.scale)

    def pruned(self, individual: Individual, result: EvalResult, finished: float | None, watch: Watch) -> Individual:
        """`individual` stopped by its monitor: charged up to where it stopped, and the `pruned` event."""
        test, reference = watch
        charged, used, saved = charge_pruned(
            individual,
            result,
            finished,
            f"stopped at {test.stopped_at or 0:.0%} of the budget: its curve is worse than {reference.id}'s"
            f" (SPRT log LR {test.llr:.1f})",
        )
        self.stopped(individual, watch, used, saved)
        return charged

    def stopped(self, individual: Individual, watch: Watch, used: float, saved: float) -> None:
        """The `pruned` event of a decision to stop that stopped `individual` after `used` budget seconds."""
        test, _ = watch
        self.ledger.event(
            "pruned",
            **watched_by(individual, watch, self.rule.audit),
            fraction=test.stopped_at,
            llr=test.llr,
            luck=test.luck,
            used_seconds=used,
            saved_seconds=saved,
        )

    def finished(self, individual: Individual, watch: Watch) -> None:
        """A watched candidate that ran to the end (`individual` with its result): its `watched` event, the trend's
        new evidence, and the audit's verdict when its monitor had decided to stop it."""
        test, reference = watch
        if self.noise is None or individual.metric is None or reference.metric is None:
            return
        sign = 1.0 if self.direction == "minimize" else -1.0
        gain = sign * (reference.metric - individual.metric) / self.noise.final_sd
        won = gain > noise_margin(self.rule, self.noise)
        audited = test.stopped_at if test.audit and test.stopped else None
        weight = 1.0 / self.rule.audit if audited is not None else 1.0
        slope = closing(individual.curve, reference.curve, self.noise, self.budget, self.rule.warmup, gain, weight)
        self.closings[individual.id] = slope
        ends = end_gain(individual.curve, reference.curve, self.noise, self.budget)
        self.ends[individual.id] = EndPair(ends, gain * self.noise.final_sd)
        self.ledger.event(
            "watched",
            **watched_by(individual, watch, self.rule.audit),
            gain=gain,
            won=won,
            audited=audited,
            llr=test.stop_llr,
            slope=slope.slope,
            slope_noise=slope.noise,
            end_gain=ends,
            weight=weight,
        )
        if audited is not None:
            self._audited(individual, reference, audited, won)

    def _audited(self, individual: Individual, reference: Individual, fraction: float, won: bool) -> None:
        """Say what the audit found; loosen the rule when the measured rate is significantly above the stated one."""
        verdict = "would have won: a false stop" if won else "was rightly stopped"
        self.on_notice(
            f"audit: {individual.id} ran to the end though the test stopped it at {fraction:.0%} against "
            f"{reference.id}; it {verdict}"
        )
        measured = audit_from(self.ledger.events())
        if not won or measured is None:
            return
        tally = measured.tally
        rate = tally.false_stop_rate()
        if rate is None or rate.low <= self.alpha:
            return
        self.on_notice(f"audit: {tally.line(self.alpha)}")
        if self.rule.loosen:
            self.alpha /= 2
            self.ledger.event("loosened", alpha=self.alpha, rate=rate.estimate, low=rate.low, high=rate.high)
            self.on_notice(f"audit: early termination loosened: alpha is now {self.alpha:g}")


def watched_by(individual: Individual, watch: Watch, audit: float) -> dict[str, object]:
    """What every early-termination event says: who, against whom, the trend, alpha and final noise unit (in curve
    sds) its monitor took, and the share of decisions to stop the self-audit lets run on (`early_stop.audit`)."""
    test, reference = watch
    return {
        "individual": individual.id,
        "reference": reference.id,
        "trend": test.trend,
        "alpha": test.alpha,
        "unit": test.unit,
        "audit": audit,
    }
