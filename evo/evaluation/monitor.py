"""The evaluator's early-termination hook (the monitor contract, docs/architecture.md): the evaluator streams each
progress point into a monitor, which may stop the run."""

from __future__ import annotations

import enum
from typing import Protocol


class Action(enum.Enum):
    """What a monitor tells the evaluator after a progress point."""

    CONTINUE = "continue"
    STOP = "stop"


class Monitor(Protocol):
    """Sees each progress point as it is parsed; `STOP` kills the candidate, which then ends as `pruned`.

    A monitor is plain data plus this method, so it can run beside a candidate on a remote worker.
    """

    def update(self, t: float, value: float) -> Action: ...


class NoMonitor:
    """Never stops a run: the default until calibrated early termination is configured."""

    def update(self, t: float, value: float) -> Action:
        return Action.CONTINUE
