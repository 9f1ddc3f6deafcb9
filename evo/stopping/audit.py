"""The self-audit: early termination's false-stop rate measured inside the run, next to the rate it states.

A random share p of the decisions to stop (`early_stop.audit`) let the candidate run to the end instead. A false
stop is a decision to stop a candidate that would have beaten its reference by more than the margin (H0, which the
test keeps at most alpha of the time). The audited decisions are a random sample of all of them, so the share q of
would-be winners among them (with its exact Clopper-Pearson interval) says how many of the D decisions stopped a
winner, q * D; against the C winners that ran to the end undisturbed, the false-stop rate is q * D / (q * D + C), the
share of would-be winners that early termination stops, which is what alpha promises to keep small.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import NamedTuple

from scipy.stats import binomtest

from population.ledger import Event

LEVEL = 0.95  # the interval's confidence


@dataclass(frozen=True)
class Rate:
    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class AuditTally:
    """What the run's ledger says about its decisions to stop."""

    stops: int = 0  # decisions to stop that stopped the candidate
    audits: int = 0  # decisions to stop that let it run to the end
    audit_wins: int = 0  # of those, how many would have beaten the reference by more than the margin
    wins: int = 0  # watched candidates that ran to the end with no decision to stop and won by that much
    audit_budgets: float = 0.0  # what the audited candidates trained after their decision, in whole budgets

    def __add__(self, other: AuditTally) -> AuditTally:
        """Two runs' tallies pooled (every field is a count or a sum)."""
        return AuditTally(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def decisions(self) -> int:
        return self.stops + self.audits

    def false_stop_rate(self) -> Rate | None:
        """The share of would-be winners stopped, with its interval; None when no decision to stop was audited yet
        (and there were some). No decision to stop at all: none stopped."""
        if self.decisions == 0:
            return Rate(0.0, 0.0, 0.0) if self.wins else None
        if self.audits == 0:
            return None
        interval = binomtest(self.audit_wins, self.audits).proportion_ci(LEVEL, method="exact")

        def rate(q: float) -> float:
            stopped = q * self.decisions
            return stopped / (stopped + self.wins) if stopped + self.wins > 0 else 0.0

        return Rate(rate(self.audit_wins / self.audits), rate(interval.low), rate(interval.high))

    def line(self, alpha: float, spent: float | None = None, share: float | None = None) -> str:
        """One line for `evo status` and the run report (`alpha` NaN: not known, from a run before the audit;
        `spent`: the run's training so far in whole budgets, to say what share of it the audit took; `share`: the
        audit's share of decisions, when known, so a run with the audit off says so instead of "not yet")."""
        stated = f"stated at most {alpha:.0%}" if math.isfinite(alpha) else "no stated rate recorded"
        if share == 0 and not self.audits:
            off = "the self-audit is off (early_stop.audit 0): no false-stop rate measured"
            return f"{self.decisions} decisions to stop; {off} ({stated})"
        cost = f", {self.audit_budgets / spent:.1%} of the training" if spent and self.audits else ""
        head = f"{self.decisions} decisions to stop, {self.audits} audited (run to the end{cost})"
        measured = self.false_stop_rate()
        if measured is None:
            return f"{head}: no false-stop rate measured yet ({stated})"
        verdict = ""
        if math.isfinite(alpha) and measured.low > alpha:
            verdict = "; MORE than stated"
        elif math.isfinite(alpha) and measured.estimate > alpha:
            verdict = "; above the stated rate, not significantly"
        return (
            f"{head}, {self.audit_wins} of them would have won: false-stop rate {measured.estimate:.0%} "
            f"[{measured.low:.0%}, {measured.high:.0%}] ({LEVEL:.0%}) of {self.wins + self.audit_wins} seen "
            f"winners, {stated}{verdict}"
        )


def audit_line(events: Iterable[Event], spent: float | None = None) -> str | None:
    """What `evo status` and the run report say of early termination: the audit's line (with the share of `spent`,
    the run's training in whole budgets, that the audit took), and the closing trend and final noise unit the last
    monitor took; None when the run has nothing to say (early termination off, or nothing watched yet)."""
    events = list(events)
    measured = audit_from(events)
    if measured is None:
        return None
    tally, alpha, share = measured
    last = [e.data for e in events if e.kind in ("pruned", "watched")]
    trend = last[-1].get("trend") if last else None
    unit = last[-1].get("unit") if last else None
    loosened = sum(e.kind == "loosened" for e in events)
    return (
        tally.line(alpha, spent, share)
        + (f"; closing trend {trend:.2f} curve sds" if trend is not None else "")
        + (f"; one noise unit of the final metric is {unit:.2f} curve sds" if unit is not None else "")
        + (f"; loosened {loosened} time{'s' if loosened > 1 else ''}" if loosened else "")
    )


class Measured(NamedTuple):
    """What a run's ledger says of its self-audit."""

    tally: AuditTally
    alpha: float  # the stated rate last in force (NaN: not recorded)
    share: float | None  # early_stop.audit, the audit's share of decisions (None: a run from before it was recorded)


def audit_from(events: Iterable[Event]) -> Measured | None:
    """The tally a run's ledger events hold (`pruned` and `watched`), with the alpha and audit share last in force;
    None when the run watched no candidate to its end and stopped none (early termination off, or nothing finished
    yet)."""
    pruned, watched, alpha, share = set(), {}, math.nan, None
    for event in events:  # by individual: one evaluated again after a kill has its events twice
        if event.kind == "pruned":
            pruned.add(event.data["individual"])
        elif event.kind == "watched":
            watched[event.data["individual"]] = event.data
        if event.kind in ("pruned", "watched"):
            alpha = float(event.data.get("alpha", alpha))
            share = event.data.get("audit", share)
    if not pruned and not watched:
        return None
    audited = [w for w in watched.values() if w.get("audited") is not None]
    tally = AuditTally(
        stops=len(pruned),
        audits=len(audited),
        audit_wins=sum(bool(w["won"]) for w in audited),
        wins=sum(bool(w["won"]) for w in watched.values() if w.get("audited") is None),
        audit_budgets=sum(1 - float(w["audited"]) for w in audited),
    )
    return Measured(tally, alpha, share)
