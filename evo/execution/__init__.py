"""Execution: where candidates run, behind one small protocol (the executor contract, docs/architecture.md).

`base` holds the protocol and the data that crosses it; `local` runs candidates as subprocesses of this machine,
`ray_backend` as tasks on a Ray cluster; `factory.make_executor` picks the one a run config names.
"""

from evo.execution.base import Clock, EvalRequest, Executor, Finished, run_all
from evo.execution.factory import make_executor
from evo.execution.local import LocalExecutor, WallClock, placement

__all__ = [
    "Clock",
    "EvalRequest",
    "Executor",
    "Finished",
    "LocalExecutor",
    "WallClock",
    "make_executor",
    "placement",
    "run_all",
]
