"""Search modes speak ask/tell (the mode contract, docs/architecture.md): nothing else drives them.

`ask()` returns the next job when the mode has one (else None: wait for a result), `tell(job, individual)` reports how
it went. The same mode therefore runs synchronously in a test, on many slots, and after a crash: a resumed run rebuilds
a mode by telling it the ledger's finished individuals in id order, since a mode's decisions depend only on what it
was told (randomness comes from per-individual seeds, never from a stream whose position would need restoring).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

from population.individual import Individual

BASELINE, MUTATION, CROSSOVER = "baseline", "mutation", "crossover"


@dataclass(frozen=True)
class Job:
    kind: str  # BASELINE (the target as it is), MUTATION (one parent) or CROSSOVER (two)
    parents: tuple[Individual, ...] = ()
    island: int = 0
    number: int = -1  # the individual's number, stamped by the coordinator when it hands the job out


@dataclass(frozen=True)
class Decision:
    """What a mode decided when told a result, for the ledger's event log (and results.tsv in ratchet mode)."""

    kind: str  # e.g. "keep", "discard", "crash", "enter", "replace", "reject", "migrate"
    individual: str  # the individual the decision is about
    detail: str = ""  # one line, e.g. "replaced 0004 (3.12 -> 3.05)"


class Mode(Protocol):
    name: str

    def ask(self, number: int) -> Job | None:
        """The job for the individual numbered `number` (its seed is derived from it), or None to wait."""
        ...

    def committed(self, job: Job, individual: Individual) -> None:
        """A job's child was proposed and committed; its evaluation is to come (a mode may breed from its code)."""
        ...

    def tell(self, job: Job, individual: Individual | None) -> list[Decision]:
        """A job's outcome: the evaluated individual, or None when no child could be proposed."""
        ...

    def close(self) -> list[Decision]:
        """The run asks nothing more and everything out was told: decide what still waits for more results."""
        ...

    def best(self) -> Individual | None: ...

    @property
    def stuck(self) -> bool:
        """True when no job can ever be handed out again (e.g. the baseline failed): the run must stop."""
        ...

    @property
    def stuck_reason(self) -> str: ...


def job_rng(seed: int, number: int) -> random.Random:
    """The generator for individual `number`'s choices: a pure function of the run seed and the number."""
    return random.Random(f"{seed}:{number}")
