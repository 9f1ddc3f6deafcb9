"""How many children to propose ahead of the free slots, so that a slot never waits for the LLM to answer.

A proposal takes `latency`; so every evaluation due to end within one latency from now needs its successor under
way now, and one more absorbs the spread. Latency and evaluation time are measured as the run goes (moving
averages), and each running evaluation's start is known, so the depth follows bursts (candidates that started
together end together) as well as the average. It is at most `slots.ahead`, and operators that answer at once (the
offline ones) get none: proposing ahead would only make selection see older results.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SMOOTHING = 0.2  # weight of the newest measurement in the moving averages


@dataclass
class Lookahead:
    limit: int  # slots.ahead (0 for operators that answer at once)
    latency: float | None = None  # seconds per proposal
    duration: float | None = None  # seconds per evaluation
    _proposing: dict[int, float] = field(default_factory=dict)  # tag -> when it was asked
    _evaluating: dict[int, float] = field(default_factory=dict)  # tag -> when it started

    def proposing(self, tag: int, now: float) -> None:
        self._proposing[tag] = now

    def proposed(self, tag: int, now: float) -> None:
        if tag in self._proposing:
            self.latency = _average(self.latency, now - self._proposing.pop(tag))

    def evaluating(self, tag: int, now: float) -> None:
        self._evaluating[tag] = now

    def evaluated(self, tag: int, now: float) -> None:
        if tag in self._evaluating:
            self.duration = _average(self.duration, now - self._evaluating.pop(tag))

    def depth(self, now: float) -> int:
        if self.limit == 0:
            return 0
        if self.latency is None or self.duration is None:
            return 1
        horizon = now + self.latency - self.duration
        ending = sum(started <= horizon for started in self._evaluating.values())
        return min(self.limit, 1 + ending)

    def next_look(self, now: float) -> float | None:
        """Seconds until the depth may grow (the next running evaluation comes within one answer's time of its
        end): when to look again if nothing else happens first; None when it will not."""
        if self.limit == 0 or self.latency is None or self.duration is None:
            return None
        horizon = now + self.latency - self.duration
        later = [started for started in self._evaluating.values() if started > horizon]
        return min(later) - horizon if later else None


def _average(mean: float | None, sample: float) -> float:
    return sample if mean is None else (1 - SMOOTHING) * mean + SMOOTHING * sample
