"""The operator contract (docs/architecture.md): `propose(parents, context) -> Proposal`.

An operator turns one parent (mutation) or two (crossover) into a child's code. LLM operators and offline operators
speak the same protocol and return the same record, so a search mode never knows which one it called.
"""

from __future__ import annotations

import ast
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from evo.evaluation.target import MetricSpec

Code = Mapping[str, str]  # editable file name -> its full text


@dataclass(frozen=True)
class Parent:
    id: str
    code: Code
    metric: float | None
    status: str
    description: str = ""


@dataclass(frozen=True)
class Attempt:
    """An attempt and how it went, with the evidence that says so: the traces an LLM operator learns from (recent
    ones, earlier runs', the best so far, inspirations from other lineages)."""

    description: str
    status: str
    metric: float | None
    delta: float | None  # metric minus its parent's metric (None when either is missing)
    log_tail: str = ""
    reason: str = ""  # why the status is not ok, in one line ("" when ok)
    id: str = ""  # "0007"; an earlier run's "run-name/0007"
    parents: tuple[str, ...] = ()  # its parents' ids
    operator: str = ""
    change: str = ""  # the delta in the run's noise units, in words ("within the noise"); "" when the noise is unknown
    stopped_at: float | None = None  # the fraction of the budget at which early termination stopped it
    diff: str = ""  # an inspiration's changes since its common ancestor with the parent (a unified diff)


@dataclass(frozen=True)
class ModelStats:
    """What one model's proposals came to so far in a run, read from its records (never from memory, so a resumed
    run allocates as the first session would have): the evidence `llm.allocation: bandit` allocates calls by."""

    proposals: int = 0  # calls for a child: children of any status plus failed proposals
    children: int = 0  # children that finished
    improved: int = 0  # finished children better than their (first) parent
    failed: int = 0  # proposals that made no child
    cost: float = 0.0  # LLM cost of all its proposals
    tokens: int = 0  # prompt plus completion tokens of all its proposals


@dataclass(frozen=True)
class Context:
    program: str  # the target's research directions (program.md)
    editable: tuple[str, ...]  # the files a child may change
    locked: tuple[str, ...]  # the files it may not
    metric: str = MetricSpec.name
    direction: str = MetricSpec.direction
    attempts: tuple[Attempt, ...] = ()  # most recent last
    learnings: str = ""  # the run's condensed notes
    ancestor: Code | None = None  # crossover: the parents' common ancestor, for diffs and three-way merges
    seed: int = 0  # operators draw their randomness from this, so a search replays exactly
    locked_code: Mapping[str, str] = field(default_factory=dict)  # locked .py file -> text: constants asserts import
    model_stats: Mapping[str, ModelStats] = field(default_factory=dict)  # model name -> its record this run
    earlier: tuple[Attempt, ...] = ()  # attempts of earlier runs on the same target (memory), most recent last
    avoid: str = ""  # the duplicate this operator proposed last for the same child: propose something else
    noise: str = ""  # the run's noise level in words ("differences under 0.004 are noise"); "" when unknown
    best: Attempt | None = None  # the best individual so far
    dynamics: Mapping[str, str] = field(default_factory=dict)  # parent id -> its training dynamics in numbers
    inspirations: tuple[Attempt, ...] = ()  # strong individuals of other islands or lineages, with their diffs


@dataclass(frozen=True)
class Usage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    cached_tokens: int = 0  # of the prompt tokens, those the endpoint served from its prompt cache (where it says)

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.calls + other.calls,
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cost + other.cost,
            self.cached_tokens + other.cached_tokens,
        )


# Why a proposal can fail, with what a user should check. The fatal kinds stop a search at once: no later call can
# succeed while the setup is wrong, so spending twenty proposals to find that out helps nobody.
FAILURES = {
    "endpoint": "nothing answers at the endpoint: check OPENAI_BASE_URL (or llm.models[].base_url) and that the "
    "server is running",
    "auth": "the endpoint refused the key: check the variable llm.models[].api_key_env names (OPENAI_API_KEY unless "
    "set)",
    "model": "the endpoint does not serve that model or path: check EVO_MODEL (or llm.models[].name) and that the "
    "base URL ends in /v1",
    "cap": "the run's LLM spend cap is reached (llm.max_cost, llm.max_tokens_total, stop.cost)",
    "unavailable": "the endpoint kept failing (rate limits, server errors, timeouts) through every retry",
    "request": "the endpoint rejected the request",
    "context": "the prompt does not fit the model's context, even trimmed: a model with a longer one, and "
    "llm.context_tokens raised to match, can take this file",
    "duplicate": "the operator kept proposing children the run (or an earlier run, through memory) already has",
    "answer": "the model's answer could not be used",
    "child": "no valid child came of it",
}
FATAL_FAILURES = frozenset({"endpoint", "auth", "model", "cap"})


@dataclass(frozen=True)
class Proposal:
    """A child, or the reason there is none (`code` is None, `error` says why in one line, `failure` is its kind: a
    key of FAILURES)."""

    code: Code | None
    description: str  # one line: what changed
    rationale: str = ""  # why it might help
    operator: str = ""  # e.g. "llm-mutation", "param", "merge"
    model: str | None = None
    usage: Usage = field(default_factory=Usage)
    error: str = ""
    failure: str = "child"

    @property
    def ok(self) -> bool:
        return self.code is not None

    @property
    def fatal(self) -> bool:
        return not self.ok and self.failure in FATAL_FAILURES


class Operator(Protocol):
    name: str
    arity: int  # parents it takes: 1 for a mutation, 2 for a crossover

    def propose(self, parents: Sequence[Parent], context: Context) -> Proposal: ...


class Notes(Protocol):
    """The run's notes, learnings.md, which the coordinator has rewritten from the recent attempts every `every`
    finished individuals and which the LLM operators' prompts carry (an LLM writes them, or the offline keeper)."""

    path: Path
    every: int

    @property
    def text(self) -> str: ...

    def due(self, evaluations: int) -> bool: ...

    def update(self, attempts: Sequence[Attempt], context: Context) -> tuple[Usage, str]:
        """Rewrite the notes; returns the usage spent and an error ("" on success), keeping the old notes on one."""
        ...


_PARSING = threading.Lock()


def parse_python(text: str) -> ast.Module:
    """`ast.parse`, one thread at a time: CPython 3.11 can fail with "AST constructor recursion depth mismatch" when
    threads parse at once, and operators run on the executor's threads."""
    with _PARSING:
        return ast.parse(text)


def child_problem(parent: Code, child: Code, context: Context) -> str | None:
    """Why `child` is not a valid child of `parent` (one line), or None: it must touch only editable files, parse
    as Python, and differ from its parent."""
    for name in child:
        if name not in context.editable:
            return f"edits locked file {name!r} (only {', '.join(context.editable)} may change)"
    for name, text in child.items():
        if name.endswith(".py"):
            try:
                parse_python(text)
            except SyntaxError as exc:
                return f"{name} does not parse: {exc.msg} (line {exc.lineno})"
    if all(child.get(name, parent.get(name)) == parent.get(name) for name in {*parent, *child}):
        return "the child is identical to its parent"
    return None
