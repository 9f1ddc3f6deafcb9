"""What every mode shares: the baseline's hand-out, autoresearch's keep/discard/crash verdict, the best so far."""

from __future__ import annotations

from evo.modes.base import BASELINE, Decision, Job
from population.individual import Individual, check_direction, rank_key


class Opening:
    """The baseline's hand-out: one BASELINE job until it is told; handed out again only if its slot came back empty
    (`tell(job, None)`), so a lost baseline cannot stall a run."""

    def __init__(self) -> None:
        self.record: Individual | None = None  # the baseline as told
        self.committed: Individual | None = None  # the baseline as committed, before its result is in
        self.pending = False

    def parent(self) -> Individual | None:
        """The baseline to mutate: as told, or while it is still running as committed (its code is all a mutant
        needs, so slots need not idle through the baseline's evaluation); None before that or once it failed."""
        if self.failed:
            return None
        return self.record or self.committed

    def job(self) -> Job | None:
        """The BASELINE job when it is due now, else None."""
        if self.record is not None or self.pending:
            return None
        self.pending = True
        return Job(BASELINE)

    def commit(self, job: Job, individual: Individual) -> None:
        if job.kind == BASELINE:
            self.committed = individual

    def tell(self, job: Job, individual: Individual | None) -> None:
        if job.kind == BASELINE:
            self.pending = False
            if individual is not None:
                self.record = individual

    @property
    def failed(self) -> bool:
        return self.record is not None and not self.record.is_parent_eligible

    def failure(self) -> str:
        """The stop message for a failed baseline."""
        assert self.record is not None
        return f"the baseline {self.record.id} failed ({outcome(self.record)}): there is nothing to breed from"


def outcome(individual: Individual) -> str:
    """One line: the status, and the reason when there is one."""
    return f"{individual.status}: {individual.reason}" if individual.reason else individual.status


def show(individual: Individual) -> str:
    return f"{individual.metric:.6g}" if individual.metric is not None else "no metric"


def judge(individual: Individual, best: Individual | None, direction: str) -> tuple[Individual | None, Decision]:
    """autoresearch's three verdicts on a result against the best so far: keep (the new best), discard, crash.
    Returns the best after the verdict."""
    if individual.status == "pruned":  # a loser stopped early: autoresearch would have discarded it at the end
        return best, Decision("discard", individual.id, outcome(individual))
    if not individual.is_parent_eligible:
        return best, Decision("crash", individual.id, outcome(individual))
    if individual.confirmed is False:
        return best, Decision("discard", individual.id, f"{show(individual)} not confirmed on fresh seeds")
    if is_new_best(individual, best, direction):
        detail = (
            f"first ({show(individual)})"
            if best is None
            else f"replaced {best.id} ({show(best)} -> {show(individual)})"
        )
        return individual, Decision("keep", individual.id, detail)
    assert best is not None
    return best, Decision("discard", individual.id, f"{show(individual)} not better than {best.id}")


class BaselineFirst:
    """What every mode shares: the baseline's hand-out, the best so far, and the stop signals a failed baseline
    raises. Only a failed baseline stops a mode: once an eligible baseline was told there is always a parent."""

    def __init__(self, direction: str) -> None:
        self.direction = check_direction(direction)
        self._opening = Opening()
        self._best: Individual | None = None

    def best(self) -> Individual | None:
        return self._best

    @property
    def failed_baseline(self) -> bool:
        return self._opening.failed

    @property
    def stuck_reason(self) -> str:
        return self._opening.failure() if self._opening.failed else ""

    @property
    def stuck(self) -> bool:
        return bool(self.stuck_reason)

    def committed(self, job: Job, individual: Individual) -> None:
        self._opening.commit(job, individual)

    def close(self) -> list[Decision]:
        return []  # a mode that decides at every result has nothing left to decide

    def tell(self, job: Job, individual: Individual | None) -> list[Decision]:
        """The ratchet's and best-of-n's verdict: keep (the new best), discard or crash."""
        self._opening.tell(job, individual)
        if individual is None:
            return []
        self._best, decision = judge(individual, self._best, self.direction)
        return [decision]


def is_new_best(individual: Individual, best: Individual | None, direction: str) -> bool:
    """Order-independent: a tie goes to the older individual, whichever was told first."""
    if not individual.is_parent_eligible or individual.confirmed is False:
        return False
    return best is None or rank_key(individual, direction) < rank_key(best, direction)
