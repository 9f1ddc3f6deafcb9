"""The greedy ratchets: autoresearch's loop (one incumbent, a child replaces it only when strictly better) as people
run it on one worker and on N: sequential, in batched rounds, and asynchronously."""

from __future__ import annotations

from evo.modes.base import MUTATION, Decision, Job
from evo.modes.shared import BaselineFirst, judge
from population.individual import Individual, rank_key


class Ratchet(BaselineFirst):
    """autoresearch's loop as published: one job at a time, however many workers there are. Decisions are
    autoresearch's statuses: keep, discard, crash."""

    name = "ratchet"

    def __init__(self, direction: str) -> None:
        super().__init__(direction)
        self._outstanding = False

    def ask(self, number: int) -> Job | None:
        """BASELINE first, then a MUTATION of the incumbent; None while a job is out or after a failed baseline."""
        if self._outstanding or self._opening.failed:
            return None
        job = self._opening.job()
        if job is None:
            if self._best is None:  # only while the baseline is out, which `_outstanding` already covers
                return None
            job = Job(MUTATION, (self._best,))
        self._outstanding = True
        return job

    def tell(self, job: Job, individual: Individual | None) -> list[Decision]:
        self._outstanding = False
        return super().tell(job, individual)


class AsyncRatchet(BaselineFirst):
    """The ratchet on N workers without waiting: every free worker mutates the incumbent as it is now, and a child
    that beats the incumbent when it finishes replaces it (so children of an old incumbent still count)."""

    name = "async-ratchet"

    def ask(self, number: int) -> Job | None:
        """BASELINE first; then a MUTATION of the incumbent (of the committed baseline while it still runs)."""
        job = self._opening.job()
        if job is not None:
            return job
        parent = self._best or self._opening.parent()
        return None if parent is None else Job(MUTATION, (parent,))


class BatchedRatchet(BaselineFirst):
    """The ratchet in rounds of `batch` children of the incumbent, all out at once: once every child of a round is
    back (and the baseline, which it must beat), the round's best replaces the incumbent if it beats it, the rest
    are discarded; only then does the next round start. Round k holds the numbers k*batch+1 .. (k+1)*batch, so a
    rebuilt mode knows which results belong together (a number whose proposal failed is told as None)."""

    name = "batched-ratchet"

    def __init__(self, direction: str, batch: int) -> None:
        super().__init__(direction)
        self.batch = batch
        self._round = 0  # the round being handed out or awaited
        self._back: dict[int, list[Individual | None]] = {}  # round -> what was told of it so far

    def ask(self, number: int) -> Job | None:
        """BASELINE first; then the current round's MUTATIONs of the incumbent (round 0: of the committed
        baseline); None for a number of a later round until the current one is decided."""
        job = self._opening.job()
        if job is not None:
            return job
        parent = self._best if self._round else self._opening.parent()
        if parent is None or self._round_of(number) != self._round:
            return None
        return Job(MUTATION, (parent,))

    def _round_of(self, number: int) -> int:
        return (number - 1) // self.batch

    def tell(self, job: Job, individual: Individual | None) -> list[Decision]:
        if job.kind != MUTATION:  # the baseline: its verdict, then any round that waited for it
            return super().tell(job, individual) + self._decide()
        number = job.number if individual is None else int(individual.id)
        self._back.setdefault(self._round_of(number), []).append(individual)
        return self._decide()

    def close(self) -> list[Decision]:
        """The run asks nothing more: decide the round that is back, however few of its children were handed out."""
        return self._decide(partial=True)

    def _decide(self, partial: bool = False) -> list[Decision]:
        """Decide every round that is complete (the baseline told), in order: its best first, against the
        incumbent (keep or discard), then the others against the new incumbent (discard or crash)."""
        decisions: list[Decision] = []
        while self._opening.record is not None and not self._opening.failed:
            back = self._back.get(self._round, [])
            if not (len(back) == self.batch or (partial and back)):
                break
            members = [member for member in self._back.pop(self._round) if member is not None]
            for member in sorted(members, key=lambda m: rank_key(m, self.direction)):
                self._best, decision = judge(member, self._best, self.direction)
                decisions.append(decision)
            self._round += 1
        return decisions
