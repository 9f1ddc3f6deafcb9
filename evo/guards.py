"""The coordinator's use of the sequential tests (evo.sprt): which curve a candidate is watched against, and when
a would-be new best must first be confirmed on fresh seeds.

Confirmation re-runs the child and the best it would displace on the same fresh seed, one pair per job, until the
paired test decides; the seeds are a pure function of the run seed, the child and the pair's number, so a resumed
run draws the same ones.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from evo.config import ConfirmConfig, EarlyStopConfig
from evo.mode import Job
from evo.noise import NoiseModel
from evo.sprt import CurveTest, PairedTest, SprtSettings, reference_luck
from population.individual import Individual, rank_key

MARGIN = 1.0  # noise units: H0 "it would beat its reference by one noise unit", a win worth keeping


def monitor_for(
    job: Job,
    best: Individual | None,
    early_stop: EarlyStopConfig,
    noise: NoiseModel | None,
    budget: float,
    direction: str,
) -> tuple[CurveTest, Individual] | None:
    """The early-termination test for a job's child and the individual whose curve it is compared with: the better
    parent's, or the best so far's (`early_stop.reference`). None when off or when no curve is there to compare."""
    if not early_stop.enabled or noise is None:
        return None
    candidates = job.parents if early_stop.reference == "parent" else (best,) if best is not None else ()
    eligible = [p for p in candidates if p.is_parent_eligible and len(p.curve) >= 2]
    if not eligible:
        return None
    reference = min(eligible, key=lambda p: rank_key(p, direction))
    margin = noise_margin(early_stop, noise)
    settings = SprtSettings(alpha=early_stop.alpha, delta=early_stop.delta, units=early_stop.delta_units)
    luck = 0.0
    if early_stop.luck and reference.metric is not None:  # the baseline (no parents) is the calibrated code
        luck = reference_luck(reference.curve, reference.metric, noise, budget, direction, not reference.parents)
    test = CurveTest(
        reference.curve, noise, settings, budget, early_stop.warmup, early_stop.catch_up, margin, early_stop.drift, luck
    )
    return test, reference


def noise_margin(early_stop: EarlyStopConfig, noise: NoiseModel) -> float:
    """`early_stop.margin` in noise units; null: MARGIN, whatever `delta_units` says."""
    if early_stop.margin is None:
        return MARGIN
    return early_stop.margin if early_stop.delta_units == "noise" else early_stop.margin / noise.final_sd


def needs_confirmation(individual: Individual, best: Individual, confirm: ConfirmConfig, direction: str) -> bool:
    """A child that would become the new best must first be confirmed (when confirmation is on)."""
    return confirm.enabled and individual.better_than(best, direction)


@dataclass
class Confirmation:
    """A child waiting for its verdict: the best it would displace, the test, and the pairs run so far."""

    job: Job
    child: Individual  # as evaluated (not yet told to the mode): re-evaluations add to its seeds and seconds
    incumbent: Individual
    test: PairedTest
    run_seed: int

    @classmethod
    def start(
        cls,
        job: Job,
        child: Individual,
        incumbent: Individual,
        confirm: ConfirmConfig,
        noise: NoiseModel,
        direction: str,
        run_seed: int,
    ) -> Confirmation:
        settings = SprtSettings(confirm.alpha, confirm.beta, confirm.delta, confirm.delta_units)
        test = PairedTest(noise, settings, confirm.max_pairs, direction)
        return cls(job, child, incumbent, test, run_seed)

    def next_seed(self) -> int:
        """The fresh seed of the next pair: never the run's own seed, the same on a resumed run."""
        number = len(self.test.gains)
        seed = random.Random(f"{self.run_seed}:{self.child.id}:confirm:{number}").getrandbits(31)
        return seed if seed != self.run_seed else seed + 1
