"""Rebuilding a mode from a run's records: what a resume does, and what a report does to see the search's pick at
any moment (the mode contract: decisions depend only on what was told)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from evo.modes.base import BASELINE, CROSSOVER, MUTATION, Decision, Job, Mode
from population.individual import Individual


def job_of(individual: Individual, by_id: Mapping[str, Individual]) -> Job:
    """The job as the ledger's record gives it back (kind from the number of parents, island and number)."""
    parents = tuple(by_id[p] for p in individual.parents)
    kind = BASELINE if not parents else CROSSOVER if len(parents) == 2 else MUTATION
    return Job(kind, parents, individual.island, int(individual.id))


def replay(
    mode: Mode, by_id: Mapping[str, Individual], next_number: int
) -> Iterator[tuple[Individual, list[Decision]]]:
    """Tell a fresh `mode` what the run told it: numbers below `next_number` without an individual (a proposal
    that failed or was never committed) as None, then every finished individual in the order they arrived; yields
    each individual with the decisions it brought."""
    for number in sorted(set(range(next_number)) - {int(i) for i in by_id}):
        mode.tell(Job(MUTATION, number=number), None)
    for individual in sorted(
        (i for i in by_id.values() if i.is_finished), key=lambda i: (i.finished or 0.0, int(i.id))
    ):
        yield individual, mode.tell(job_of(individual, by_id), individual)
