"""Evaluation: one candidate under the fixed budget, safely (the target contract, docs/architecture.md).

A target directory and its description (`target`), a fresh workspace with locked files fingerprinted (`workspace`),
the candidate as a supervised process group under hard limits (`process`, `proctree`, `logcap`), its output read as
a learning curve and a summary (`parsing`), its metric attested by the locked evaluation (`manifest`, `attest`), and
one plain-data result (`result`). `evaluator.evaluate` puts them together; a `monitor` may stop a run early.
"""

from evo.evaluation.evaluator import evaluate
from evo.evaluation.monitor import Action, Monitor, NoMonitor
from evo.evaluation.result import EvalResult, Status
from evo.evaluation.settings import EvalSettings, available_cores, candidate_env, locked_settings
from evo.evaluation.target import MetricSpec, TargetSpec, load_target

__all__ = [
    "Action",
    "EvalResult",
    "EvalSettings",
    "MetricSpec",
    "Monitor",
    "NoMonitor",
    "Status",
    "TargetSpec",
    "available_cores",
    "candidate_env",
    "evaluate",
    "load_target",
    "locked_settings",
]
