"""Optuna's pruners replayed on the same corpora as evo's test (`benchmarks.sprt_replay`), through ask-and-tell in
the same arrival orders, each candidate reporting its curve at the noise model's grid of budget fractions."""

from __future__ import annotations

import random
import warnings
from typing import Any

import numpy as np

from benchmarks.sprt_corpus import Candidate
from benchmarks.sprt_tally import Tally, Verdict
from evo.stopping import GRID, resample

WARMUP_STEPS = int(0.1 * GRID)  # the pruners' warm-up: the grid steps in evo's default warm-up


def optuna_pruners(warmup_steps: int) -> dict[str, Any]:
    import optuna

    return {
        "MedianPruner": optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=warmup_steps),
        "PercentilePruner(25)": optuna.pruners.PercentilePruner(25.0, n_startup_trials=1, n_warmup_steps=warmup_steps),
        "SuccessiveHalvingPruner": optuna.pruners.SuccessiveHalvingPruner(),
        "HyperbandPruner": optuna.pruners.HyperbandPruner(min_resource=1, max_resource=GRID),
        "WilcoxonPruner": optuna.pruners.WilcoxonPruner(p_threshold=0.1, n_startup_steps=warmup_steps),
    }


def optuna_verdicts(
    pruner: Any, order: list[Candidate], parents: dict[int, dict[str, Any]], budget: float
) -> list[Verdict]:
    """Replay one arrival order through Optuna's ask-and-tell: the parent's runs first (complete), then the
    candidates, each reporting its curve at the same grid of budget fractions, pruned when the pruner says so."""
    import optuna

    study = optuna.create_study(  # a fixed name: HyperbandPruner assigns brackets by hashing it
        study_name="sprt-replay", direction="minimize", pruner=pruner, sampler=optuna.samplers.RandomSampler(seed=0)
    )
    fractions = np.arange(1, GRID + 1) / GRID

    def run(curve: Any, metric: float) -> Verdict:
        trial = study.ask()
        for step, value in enumerate(resample(curve, budget, fractions), 1):
            trial.report(float(value), step)
            if trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                return Verdict(step / GRID)
        study.tell(trial, metric)
        return Verdict(None)

    for parent in parents.values():
        run(parent["curve"], parent["metric"])
    return [run(candidate.curve, candidate.metric) for candidate in order]


def optuna_tallies(
    candidates: list[Candidate], parents: dict[int, dict[str, Any]], budget: float, delta: float, orders: int
) -> dict[str, Tally]:
    """Each pruner over `orders` random arrival orders of the candidates (a search's history informs it), then over
    each candidate alone after the parent's runs (as evo's test sees it)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # WilcoxonPruner's
    tallies: dict[str, Tally] = {}
    rng = random.Random(0)
    for _ in range(orders):
        order = rng.sample(candidates, len(candidates))
        for label, pruner in optuna_pruners(WARMUP_STEPS).items():
            tally = tallies.setdefault(label, Tally())
            for candidate, verdict in zip(order, optuna_verdicts(pruner, order, parents, budget), strict=True):
                tally.add(candidate, verdict, delta)
    for label in optuna_pruners(WARMUP_STEPS):
        tally = tallies.setdefault(f"{label}, parent's runs only", Tally())
        for candidate in candidates:
            pruner = optuna_pruners(WARMUP_STEPS)[label]
            tally.add(candidate, optuna_verdicts(pruner, [candidate], parents, budget)[0], delta)
    return tallies
