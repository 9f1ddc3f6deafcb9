"""The evidence an operator is shown about the run, read from its records: each attempt's trace (ids, operator,
outcome, its change in noise units, where early termination stopped it, its crash log), the run's noise in words, a
parent's training dynamics in numbers, the best so far, and inspirations from other islands or lineages with their
diffs. The size of each is ruled in `evo.operators.llm.evidence`."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from evo.modes import Job
from evo.operators import Attempt
from evo.operators.llm.evidence import (
    CRASH_LOG_CHARS,
    DYNAMICS_FRACTIONS,
    DYNAMICS_KEYS,
    INSPIRATION_DIFF_LINES,
    code_diff,
)
from evo.search.outcome import WITHIN_NOISE, noise_verdict
from evo.search.session import RunSession
from evo.stopping import NoiseModel
from population.individual import Individual, rank_key

# Summary keys that tell how training went (steps, throughput, memory, size), as targets name them.
_DYNAMICS_KEY = re.compile(r"step|tok|throughput|mfu|memory|vram|param", re.IGNORECASE)


def traces(
    session: RunSession, children: Sequence[Individual], noise: NoiseModel | None, logs: bool = True
) -> list[Attempt]:
    """`children` as traces: the change against the first parent (in noise units where the noise is known), where a
    pruned one was stopped (the ledger's `pruned` events), and (`logs`) a crashed one's log tail."""
    by_id = session.individuals
    stopped = {}
    if any(child.status == "pruned" for child in children):
        stopped = {e.data.get("individual"): e.data.get("fraction") for e in session.ledger.events("pruned")}
    found = []
    for child in children:
        tail = ""
        if logs and child.status == "crash":
            folder = session.paths.individuals / child.id
            log = folder / "log.txt"
            tail = log.read_text(errors="replace")[-CRASH_LOG_CHARS:] if log.is_file() else child.reason
            tail = tail.replace(f"{folder / 'workspace'}/", "")  # "train.py", not where this run keeps it
        found.append(trace(child, by_id, session.direction, noise, tail, stopped.get(child.id)))
    return found


def trace(
    individual: Individual,
    by_id: Mapping[str, Individual],
    direction: str,
    noise: NoiseModel | None,
    log_tail: str = "",
    stopped_at: float | None = None,
) -> Attempt:
    parent = by_id.get(individual.parents[0]) if individual.parents else None
    delta = None
    if individual.metric is not None and parent is not None and parent.metric is not None:
        delta = individual.metric - parent.metric
    change = noise_verdict(delta, direction, noise) if delta is not None and noise is not None else ""
    return Attempt(
        individual.description,
        individual.status,
        individual.metric,
        delta,
        log_tail,
        individual.reason,
        id=individual.id,
        parents=individual.parents,
        operator=individual.operator,
        change=change,
        stopped_at=stopped_at,
    )


def noise_words(noise: NoiseModel | None, metric: str) -> str:
    """The run's noise level in plain words ("" when the run has no noise model: the prompt then says so)."""
    if noise is None:
        return ""
    sd = noise.final_sd
    return (
        f"Differences in {metric} under {WITHIN_NOISE * sd:.4g} are noise: one noise sd is {sd:.4g}, the spread of "
        f"the baseline's {metric} over {noise.runs} seeds; a change is called real from {WITHIN_NOISE:g} noise sd."
    )


def dynamics(individual: Individual, budget: float) -> str:
    """How its training went, in a few numbers: the loss at fractions of the budget, then the summary's steps,
    throughput and memory (whichever the target prints)."""
    points = []
    for fraction in DYNAMICS_FRACTIONS:
        seen = [value for t, value in individual.curve if t <= fraction * budget * 1.001]
        if seen:
            points.append(f"{seen[-1]:.4g} at {fraction:.0%}")
    shown = [(k, v) for k, v in individual.summary.items() if _DYNAMICS_KEY.search(k)][:DYNAMICS_KEYS]
    words = [f"loss {', '.join(points)}"] if points else []
    words += [", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in shown)] if shown else []
    return "; ".join(words)


def best_so_far(by_id: Mapping[str, Individual], direction: str) -> Individual | None:
    """The best eligible individual (one the confirmation test turned down does not count)."""
    eligible = [i for i in by_id.values() if i.is_parent_eligible and i.confirmed is not False]
    return min(eligible, key=lambda i: rank_key(i, direction), default=None)


def inspirations(session: RunSession, job: Job, count: int, noise: NoiseModel | None) -> tuple[Attempt, ...]:
    """Up to `count` strong individuals of other lineages (of other islands first, where the run has several) for
    `job`'s prompt, each from a lineage of its own, with its changes since its common ancestor with the first parent:
    ideas the parent's line has not tried. Never the parents, their ancestors or their descendants."""
    if count <= 0 or not job.parents:
        return ()
    by_id, store = session.individuals, session.store
    kin = {p.id for p in job.parents}
    related = set().union(*(ancestors(by_id, p.id) for p in job.parents))
    eligible = [i for i in by_id.values() if i.is_parent_eligible and i.confirmed is not False and i.id not in related]
    eligible.sort(key=lambda i: rank_key(i, session.direction))
    pool = [i for i in eligible if i.island != job.island] or eligible
    chosen: list[tuple[Individual, set[str]]] = []
    for candidate in pool:
        lineage = ancestors(by_id, candidate.id)
        if kin & lineage or any(c.id in lineage or candidate.id in line for c, line in chosen):
            continue
        chosen.append((candidate, lineage))
        if len(chosen) == count:
            break
    found = []
    for candidate, _ in chosen:
        common = common_ancestor(by_id, job.parents[0].id, candidate.id)
        before = store.code(by_id[common].commit) if common else {}
        diff = code_diff(before, store.code(candidate.commit), INSPIRATION_DIFF_LINES)
        found.append(replace(trace(candidate, by_id, session.direction, noise), diff=diff))
    return tuple(found)


def ancestors(by_id: Mapping[str, Individual], ident: str) -> set[str]:
    """`ident` and every individual it descends from."""
    seen, frontier = {ident}, [ident]
    while frontier:
        current = frontier.pop()
        for parent in by_id[current].parents if current in by_id else ():
            if parent not in seen:
                seen.add(parent)
                frontier.append(parent)
    return seen


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
