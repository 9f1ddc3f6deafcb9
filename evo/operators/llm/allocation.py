"""Which model of the ensemble answers a proposal (`llm.allocation`): fixed shares by weight, or a bandit that moves
calls toward the models whose children beat their parents, per unit spent.

The bandit is Thompson sampling (Thompson 1933; Chapelle and Li 2011) on successes per unit spent, as budgeted
Thompson sampling (Xia et al. 2015) has it, with each model's mean cost plugged in rather than drawn. A proposal of
model m succeeds when its child beats its parent (a failed proposal, a crash or a worse child is a failure; a child
still running is neither yet). Its success rate has the Beta posterior

    theta_m ~ Beta(w_m / w_max + improved_m, 1 + failures_m)

and the model with the largest theta_m / c_m is asked, where c_m is its mean spend per proposal shrunk toward the
run's mean c by one proposal, (spent_m + c) / (proposals_m + 1): cost, or tokens when no model has a price, and 1 for
all while nothing was spent. The prior Beta(w_m / w_max, 1) carries the weights: a Beta(a, 1) draw is U^(1/a), so
with no results the largest draw is model m's with probability w_m / sum(w) exactly (Efraimidis and Spirakis'
weighted sampling), and results soon outweigh it (it is worth at most one success). The records come from the run's
ledger (`Context.model_stats`) and the draws from the proposal's seed, so a search, resumed or not, replays exactly.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from evo.config import ModelConfig
from evo.operators.base import ModelStats


def choose_model(
    models: Sequence[ModelConfig], allocation: str, stats: Mapping[str, ModelStats], rng: random.Random
) -> ModelConfig:
    """The model to ask: by weight, or by the bandit over `stats` (model name -> its record this run)."""
    if allocation == "bandit" and len(models) > 1:
        return bandit_model(models, stats, rng)
    return rng.choices(list(models), weights=[m.weight for m in models])[0]


def bandit_model(models: Sequence[ModelConfig], stats: Mapping[str, ModelStats], rng: random.Random) -> ModelConfig:
    """Thompson sampling per unit spent (the module's docstring): one Beta draw per model, in the config's order."""
    heaviest = max(m.weight for m in models)
    records = [stats.get(m.name, ModelStats()) for m in models]
    costs = _unit_costs(records, priced=any(m.prompt_price or m.completion_price for m in models))
    scores = []
    for model, record, cost in zip(models, records, costs, strict=True):
        misses = record.children - record.improved + record.failed
        scores.append(rng.betavariate(model.weight / heaviest + record.improved, 1 + misses) / cost)
    return models[scores.index(max(scores))]


def _unit_costs(records: Sequence[ModelStats], priced: bool) -> list[float]:
    """Each model's mean spend per proposal, shrunk toward the run's mean by one proposal's worth (so a model not yet
    asked costs the mean); all 1 while nothing was spent."""
    spent = [r.cost if priced else float(r.tokens) for r in records]
    total, proposals = sum(spent), sum(r.proposals for r in records)
    if total <= 0:
        return [1.0] * len(records)
    mean = total / proposals
    return [(s + mean) / (r.proposals + 1) for s, r in zip(spent, records, strict=True)]
