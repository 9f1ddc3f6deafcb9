"""What one candidate's run gets: the run's budget (the same for every candidate), its seed, where it runs, and the
environment that carries all of it to the candidate."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from evo.config import BudgetConfig, ExecutorConfig, SlotsConfig
from evo.evaluation.target import TargetSpec

_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH", re.IGNORECASE)
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")
# On the cpu clock a candidate's waiting threads must sleep: OpenMP's default spin-wait burns CPU seconds that count
# against the budget whenever another process holds a core (benchmarks/busy_budget.py measures it). A target or a
# config can still set these itself: locked settings are applied after.
_PASSIVE_WAIT = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}
LOG_BYTES = 1 << 20  # a candidate's log keeps this much: its head and its tail


@dataclass(frozen=True)
class EvalSettings:
    budget: BudgetConfig = field(default_factory=BudgetConfig)  # seconds, clock, graces, memory limit
    seed: int = 0
    threads: int | None = None  # CPU threads for the candidate (None: all cores)
    device: str = SlotsConfig.device  # "auto", "cpu" or "cuda", passed as EVO_DEVICE
    gpus: str | None = None  # CUDA_VISIBLE_DEVICES for this candidate
    sandbox: str = ExecutorConfig.sandbox  # "auto", "off" or "required" (evo.evaluation.sandbox)
    env: Mapping[str, str] = field(default_factory=dict)  # locked settings over the target's env (e.g. EVO_CORPUS)
    marks: Mapping[str, str] = field(default_factory=dict)  # extra env that is not a setting (e.g. the run's id)
    log_bytes: int = LOG_BYTES

    @property
    def hard_limit(self) -> float:
        """Wall seconds after which the candidate is killed, whatever its budget clock says."""
        return self.budget.seconds + self.budget.startup_grace + self.budget.eval_grace


def available_cores() -> int:
    """The cores this process may run on (its affinity mask where the platform has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def candidate_env(target: TargetSpec, settings: EvalSettings) -> dict[str, str]:
    """The candidate's environment: the user's, minus anything that looks like a secret, plus evo's settings."""
    env = {k: v for k, v in os.environ.items() if not _SECRET_NAME.search(k)}
    threads = str(settings.threads or os.cpu_count() or 1)
    env.update({var: threads for var in _THREAD_VARS})
    env.update(
        EVO_TIME_BUDGET=f"{settings.budget.seconds:g}",
        EVO_BUDGET_CLOCK=settings.budget.clock,
        EVO_SEED=str(settings.seed),
        EVO_THREADS=threads,
        EVO_DEVICE=settings.device,
        PYTHONUNBUFFERED="1",
    )
    if settings.budget.clock == "cpu":
        env.update(_PASSIVE_WAIT)
    if settings.gpus is not None:
        env["CUDA_VISIBLE_DEVICES"] = settings.gpus
    env.update(locked_settings(target, settings))
    env.update(settings.marks)
    return env


def locked_settings(target: TargetSpec, settings: EvalSettings) -> dict[str, str]:
    return {**target.env, **settings.env}
