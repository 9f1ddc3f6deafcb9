"""Best-of-N: independent mutations of the baseline, the reference that shows what operators do without selection."""

from __future__ import annotations

from evo.modes.base import MUTATION, Job
from evo.modes.shared import BaselineFirst


class BestOfN(BaselineFirst):
    """Independent mutations of the baseline, any number at once: the honest reference every report includes, since
    it shows what the operators achieve without selection."""

    name = "best-of-n"

    def ask(self, number: int) -> Job | None:
        """BASELINE first; once it was committed (and while it has not failed), every ask is a MUTATION of it."""
        job = self._opening.job()
        if job is not None:
            return job
        baseline = self._opening.parent()
        return None if baseline is None else Job(MUTATION, (baseline,))
