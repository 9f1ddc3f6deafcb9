"""The greedy ratchet: autoresearch's loop, one incumbent and one job at a time."""

from __future__ import annotations

from evo.modes.base import MUTATION, Decision, Job
from evo.modes.shared import BaselineFirst
from population.individual import Individual


class Ratchet(BaselineFirst):
    """autoresearch's loop: one incumbent, one job at a time, a child replaces the incumbent only when strictly
    better. Decisions are autoresearch's statuses: keep, discard, crash."""

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
