"""The early-termination hook (contract 5): the evaluator streams progress into a monitor that may stop the run."""

from __future__ import annotations

import enum
from typing import Protocol


class Decision(enum.Enum):
    CONTINUE = "continue"
    STOP = "stop"


class Monitor(Protocol):
    """Sees each progress point as it is parsed; `STOP` kills the candidate, which then ends as `pruned`.

    A monitor is plain data plus this method, so it can run beside a candidate on a remote worker.
    """

    def update(self, t: float, value: float) -> Decision: ...


class NoMonitor:
    """Never stops a run: the default until calibrated early termination is configured."""

    def update(self, t: float, value: float) -> Decision:
        return Decision.CONTINUE
