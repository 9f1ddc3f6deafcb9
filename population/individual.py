"""One individual (the individual contract, docs/architecture.md): an immutable record of a variant of the editable
files and how its evaluation went.

Records are replaced, never mutated (`dataclasses.replace`), so a mode can hand one to a thread, a report or the
ledger without copying, and the ledger's row is always a whole record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

STATUSES = ("pending", "running", "ok", "crash", "timeout", "pruned", "invalid")
FINISHED = ("ok", "crash", "timeout", "pruned", "invalid")
DIRECTIONS = ("minimize", "maximize")


def format_id(number: int) -> str:
    """Ids are zero-padded counters ("0007") so they sort as text while runs stay under 10,000 individuals."""
    return f"{number:04d}"


def check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'minimize' or 'maximize', not {direction!r}")
    return direction


@dataclass(frozen=True)
class Individual:
    id: str  # zero-padded counter, e.g. "0007"
    parents: tuple[str, ...] = ()  # parent ids: () for the baseline, two for a crossover
    operator: str = ""  # e.g. "baseline", "llm-mutation", "param", "merge"
    model: str | None = None  # the LLM that proposed it, None for offline operators
    commit: str = ""  # git sha in the run's store; "" until committed
    description: str = ""  # one line: what changed
    rationale: str = ""  # why it might help
    status: str = "pending"  # one of STATUSES
    metric: float | None = None  # the target's metric; only trusted when status is "ok"
    summary: dict[str, Any] = field(default_factory=dict, hash=False)  # every `key: value` of the summary block
    curve: tuple[tuple[float, float], ...] = ()  # (seconds on the budget clock, progress value)
    seeds: tuple[int, ...] = ()  # the seed of each evaluation
    budget_seconds: float = 0.0  # budget seconds used, re-evaluations included
    saved_seconds: float = 0.0  # budget seconds early termination saved (the budget minus where it stopped)
    confirmed: bool | None = None  # the confirmation test's verdict on a would-be new best (None: not tested)
    wall_seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0  # LLM cost in the provider's currency
    island: int = 0
    created: float | None = None  # unix timestamps
    started: float | None = None
    finished: float | None = None
    reason: str = ""  # one line saying why the status is not ok

    def __post_init__(self) -> None:
        # Normalise what JSON and callers hand in (lists, str-enums), so a record read back equals the one written.
        status = getattr(self.status, "value", self.status)
        if status not in STATUSES:
            raise ValueError(f"individual {self.id}: unknown status {status!r} (expected one of {', '.join(STATUSES)})")
        object.__setattr__(self, "status", str(status))
        object.__setattr__(self, "parents", tuple(str(p) for p in self.parents))
        object.__setattr__(self, "curve", tuple((float(t), float(v)) for t, v in self.curve))
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        if self.metric is not None:
            object.__setattr__(self, "metric", float(self.metric))
        if self.confirmed is not None:
            object.__setattr__(self, "confirmed", bool(self.confirmed))

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def is_parent_eligible(self) -> bool:
        """Only an `ok` run with a finite metric may breed: a crash, prune or NaN says nothing of its code's worth."""
        return self.status == "ok" and self.metric is not None and math.isfinite(self.metric)

    def better_than(self, other: Individual, direction: str) -> bool:
        """Strictly better: an eligible individual beats an ineligible one; two ineligible ones are never better."""
        check_direction(direction)
        if not self.is_parent_eligible:
            return False
        if not other.is_parent_eligible:
            return True
        assert self.metric is not None and other.metric is not None
        return self.metric < other.metric if direction == "minimize" else self.metric > other.metric

    def with_result(self, result: Any, finished: float | None = None) -> Individual:
        """This individual after one evaluation (the engine's result record, read by attribute so this package
        needs no engine import): its outcome replaces the record's, its seed and seconds add to what was spent."""
        return replace(
            self,
            status=getattr(result.status, "value", result.status),
            metric=result.metric,
            summary=dict(result.summary),
            curve=tuple(result.curve),
            seeds=(*self.seeds, result.seed),
            budget_seconds=self.budget_seconds + result.used,
            wall_seconds=self.wall_seconds + result.wall_seconds,
            reason=result.reason,
            finished=finished,
        )


def rank_key(individual: Individual, direction: str) -> tuple[int, float, int, str]:
    """Sort key, best first: eligible before ineligible, then by metric in `direction`, then older (lower id) first,
    so every ranking in a run is total and deterministic."""
    check_direction(direction)
    if not individual.is_parent_eligible:
        return (1, 0.0, len(individual.id), individual.id)
    assert individual.metric is not None
    score = individual.metric if direction == "minimize" else -individual.metric
    return (0, score, len(individual.id), individual.id)
