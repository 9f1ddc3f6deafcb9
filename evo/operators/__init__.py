"""Operators (the operator contract, docs/architecture.md): one parent (mutation) or two (crossover) in, a child's
code out, with a one-line description and a rationale.

`base` holds the protocol and its records; `param_mutation` and `merge_crossover` are the offline operators (no LLM),
over the constants `train_constants` reads: `knobs` keeps those that matter (`constant_flow` finds the ones that only
feed printouts) and `constant_checks` refuses a child that fails the file's own asserts. `offline_notes` keeps
learnings.md without an LLM; `llm/` is the LLM operator (client, prompts, edits, cassettes, learnings);
`factory.make_operators` chooses a run's operators (imported from there: it loads the LLM client).
"""

from evo.operators.base import (
    Attempt,
    Code,
    Context,
    ModelStats,
    Notes,
    Operator,
    Parent,
    Proposal,
    Usage,
    child_problem,
)
from evo.operators.merge_crossover import MergeCrossover
from evo.operators.offline_notes import OfflineNotes
from evo.operators.param_mutation import ParamMutation

__all__ = [
    "Attempt",
    "Code",
    "Context",
    "MergeCrossover",
    "ModelStats",
    "Notes",
    "OfflineNotes",
    "Operator",
    "ParamMutation",
    "Parent",
    "Proposal",
    "Usage",
    "child_problem",
]
