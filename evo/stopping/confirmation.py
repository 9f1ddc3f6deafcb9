"""Confirmation of a would-be new best: the child and the best it would displace re-run on the same fresh seed, one
pair per job, until the paired test decides. The seeds are a pure function of the run seed, the child and the pair's
number, so a resumed run draws the same ones."""

from __future__ import annotations

import random
from dataclasses import dataclass

from evo.config import ConfirmConfig
from evo.stopping.noise import NoiseModel
from evo.stopping.paired_test import PairedTest
from population.individual import Individual


def needs_confirmation(individual: Individual, best: Individual, confirm: ConfirmConfig, direction: str) -> bool:
    """A child that would become the new best must first be confirmed (when confirmation is on)."""
    return confirm.enabled and individual.better_than(best, direction)


@dataclass
class Confirmation:
    """A child waiting for its verdict: the best it would displace, the test, and the pairs run so far. `job` is the
    search's record of the child's job, handed back when the verdict is in."""

    job: object
    child: Individual  # as evaluated (not yet told to the mode): re-evaluations add to its seeds and seconds
    incumbent: Individual
    test: PairedTest
    run_seed: int

    @classmethod
    def start(
        cls,
        job: object,
        child: Individual,
        incumbent: Individual,
        confirm: ConfirmConfig,
        noise: NoiseModel,
        direction: str,
        run_seed: int,
    ) -> Confirmation:
        return cls(job, child, incumbent, PairedTest(noise, confirm, direction), run_seed)

    def next_seed(self) -> int:
        """The fresh seed of the next pair: never the run's own seed, the same on a resumed run."""
        number = len(self.test.gains)
        seed = random.Random(f"{self.run_seed}:{self.child.id}:confirm:{number}").getrandbits(31)
        return seed if seed != self.run_seed else seed + 1
