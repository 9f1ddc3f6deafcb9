"""What an operator is told about the run: the program, recent attempts (traces), learnings, and for a crossover
the parents' common ancestor, read from the session's records and logs."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

from evo.evaluation import TargetSpec
from evo.modes import CROSSOVER, Job
from evo.operators import Attempt, Context
from evo.operators.llm.prompts import RECENT_ATTEMPTS
from evo.search.session import RunSession
from population.individual import Individual

CRASH_LOG_CHARS = 2000  # of a crashed attempt's log, from its end


def operator_context(session: RunSession, job: Job, seed: int, learnings: str) -> Context:
    """The context for the operator making `job`'s child; `seed` drives its randomness."""
    ancestor = None
    if job.kind == CROSSOVER:
        common = common_ancestor(session.individuals, job.parents[0].id, job.parents[1].id)
        ancestor = session.store.code(session.individuals[common].commit) if common else None
    target = session.target
    return Context(
        program=target.read_program(),
        editable=target.editable,
        locked=tuple(target.locked),
        metric=target.metric.name,
        direction=session.direction,
        attempts=tuple(attempts(session, RECENT_ATTEMPTS)),
        learnings=learnings,
        ancestor=ancestor,
        seed=seed,
        locked_code=locked_python(target),
    )


def locked_python(target: TargetSpec) -> dict[str, str]:
    """The target's locked top-level Python files (name -> text): the constants a child's asserts import from them
    (``from prepare import MAX_SEQ_LEN``), which the offline operators check before a run is spent."""
    names = (name for name in target.locked if name.endswith(".py") and "/" not in name)
    return {name: (target.root / name).read_text(errors="replace") for name in names}


def attempts(session: RunSession, limit: int) -> list[Attempt]:
    """The `limit` most recent finished children as traces (only their logs are read), oldest first."""
    by_id = session.individuals
    children = list(itertools.islice((i for i in reversed(by_id.values()) if i.is_finished and i.parents), limit))
    children.reverse()  # newest last; read from the end, so a long run costs no more than a short one
    traces = []
    for individual in children:
        parent = by_id.get(individual.parents[0])
        delta = None
        if individual.metric is not None and parent is not None and parent.metric is not None:
            delta = individual.metric - parent.metric
        tail = ""
        if individual.status == "crash":
            log = session.paths.individuals / individual.id / "log.txt"
            tail = log.read_text(errors="replace")[-CRASH_LOG_CHARS:] if log.is_file() else individual.reason
        traces.append(
            Attempt(individual.description, individual.status, individual.metric, delta, tail, individual.reason)
        )
    return traces


def common_ancestor(by_id: Mapping[str, Individual], a: str, b: str) -> str | None:
    """The nearest individual both descend from (breadth-first over the ledger's parent links)."""

    def lineage(start: str) -> list[str]:
        order, frontier, seen = [], [start], {start}
        while frontier:
            current = frontier.pop(0)
            order.append(current)
            for parent in by_id[current].parents if current in by_id else ():
                if parent not in seen:
                    seen.add(parent)
                    frontier.append(parent)
        return order

    of_b = set(lineage(b))
    return next((ident for ident in lineage(a) if ident in of_b), None)
