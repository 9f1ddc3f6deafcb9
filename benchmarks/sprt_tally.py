"""What a replayed stopping rule did: each candidate's verdict, and a rule's tally over a corpus (losers' compute
saved, false kills of clear winners, winners killed, the decisions it made)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from benchmarks.sprt_corpus import Candidate


@dataclass(frozen=True)
class Verdict:
    stopped_at: float | None  # fraction of the budget where the rule stopped it; None: ran to the end


@dataclass
class Tally:
    """One rule on one corpus, summed over arrival orders."""

    candidates: int = 0
    losers: int = 0
    loser_compute_saved: float = 0.0  # in whole budgets
    clear_losers: int = 0  # lost to the parent by more than delta
    clear_loser_compute_saved: float = 0.0
    winners: int = 0
    winners_killed: int = 0
    clear_winners: int = 0  # beat the parent by more than delta
    false_kills: int = 0
    stops: int = 0
    stop_fractions: list[float] = field(default_factory=list)

    def add(self, candidate: Candidate, verdict: Verdict, delta: float) -> None:
        gain = candidate.reference["metric"] - candidate.metric
        stopped = verdict.stopped_at is not None
        self.candidates += 1
        self.stops += stopped
        if stopped:
            self.stop_fractions.append(float(verdict.stopped_at))  # type: ignore[arg-type]
        saved = 1 - verdict.stopped_at if verdict.stopped_at is not None else 0.0
        if gain < -delta:
            self.clear_losers += 1
            self.clear_loser_compute_saved += saved
        if gain < 0:
            self.losers += 1
            self.loser_compute_saved += saved
        else:
            self.winners += 1
            self.winners_killed += stopped
        if gain > delta:
            self.clear_winners += 1
            self.false_kills += stopped

    def row(self, name: str) -> list[str]:
        def pct(part: float, whole: float) -> str:
            return f"{100 * part / whole:.1f}%" if whole else "-"

        median = f"{np.median(self.stop_fractions):.2f}" if self.stop_fractions else "-"
        return [
            name,
            pct(self.loser_compute_saved, self.losers),
            pct(self.clear_loser_compute_saved, self.clear_losers),
            pct(self.false_kills, self.clear_winners),
            pct(self.winners_killed, self.winners),
            pct(self.stops, self.candidates),
            median,
        ]
