"""What a replayed stopping rule did: each candidate's verdict, and a rule's tally over a corpus (losers' compute
saved, false kills of clear winners, winners killed, the decisions it made)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import binomtest

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
    outcomes: list[tuple[str, float, float]] = field(default_factory=list)  # (variant, gain, compute saved)

    def add(self, candidate: Candidate, verdict: Verdict, delta: float) -> None:
        gain = candidate.reference["metric"] - candidate.metric
        stopped = verdict.stopped_at is not None
        self.candidates += 1
        self.stops += stopped
        if stopped:
            self.stop_fractions.append(float(verdict.stopped_at))  # type: ignore[arg-type]
        saved = 1 - verdict.stopped_at if verdict.stopped_at is not None else 0.0
        self.outcomes.append((candidate.variant, gain, saved))
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

    def saved_interval(self, level: float = 0.95, resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
        """A percentile bootstrap interval of the losers' compute saved, resampling variants with all their seeds
        (a variant's seeds share its code, so they are not independent draws); a resample without a loser is
        dropped."""
        variants = sorted({v for v, _, _ in self.outcomes})
        saved = np.zeros(len(variants))
        losers = np.zeros(len(variants))
        for variant, gain, share in self.outcomes:
            if gain < 0:
                k = variants.index(variant)
                saved[k] += share
                losers[k] += 1
        picks = np.random.default_rng(seed).integers(0, len(variants), size=(resamples, len(variants)))
        total = losers[picks].sum(axis=1)
        shares = saved[picks].sum(axis=1)[total > 0] / total[total > 0]
        low, high = np.quantile(shares, [(1 - level) / 2, (1 + level) / 2])
        return float(low), float(high)

    def false_kill_interval(self, level: float = 0.95) -> tuple[float, float]:
        """The exact (Clopper-Pearson) interval of the false-kill rate, candidates taken as independent."""
        interval = binomtest(self.false_kills, self.clear_winners).proportion_ci(level, method="exact")
        return float(interval.low), float(interval.high)

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
