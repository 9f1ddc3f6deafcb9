"""The executor a run config asks for: `executor.kind` local (this machine) or ray (a cluster; Ray is imported only
then, since it is an optional extra)."""

from __future__ import annotations

from evo.config import RunConfig
from evo.execution.base import Executor
from evo.execution.local import LocalExecutor


def make_executor(config: RunConfig) -> Executor:
    if config.executor.kind == "ray":
        from evo.execution.ray_backend import RayExecutor

        return RayExecutor(config.executor, config.slots)
    return LocalExecutor(config.slots)
