"""The executor a run config asks for: `executor.kind` local (this machine), ray (a cluster; Ray is imported only
then, since it is an optional extra) or simulated (a virtual clock, for simulated targets)."""

from __future__ import annotations

from evo.config import RunConfig
from evo.execution.base import Executor
from evo.execution.local import LocalExecutor
from evo.execution.simulated import SimulatedExecutor


def make_executor(config: RunConfig) -> Executor:
    if config.executor.kind == "ray":
        from evo.execution.ray_backend import RayExecutor

        return RayExecutor(config.executor, config.slots)
    if config.executor.kind == "simulated":
        return SimulatedExecutor(config.slots, config.executor, config.seed)
    return LocalExecutor(config.slots)
