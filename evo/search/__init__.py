"""The search: a run directory and its sessions (`session`), the coordinator that drives a mode, its operators and
an executor (`coordinator`), what operators are told (`context`), and autoresearch's results.tsv (`results_tsv`)."""

from evo.search.coordinator import Coordinator
from evo.search.outcome import Outcome, Progress
from evo.search.session import RUN_MARK, RunPaths, RunSession, improvement, session_config, start

__all__ = [
    "RUN_MARK",
    "Coordinator",
    "Outcome",
    "Progress",
    "RunPaths",
    "RunSession",
    "improvement",
    "session_config",
    "start",
]
