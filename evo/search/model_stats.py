"""Each model's record in a run, read from the ledger (its individuals and its `proposal_failed` events), for the
bandit allocation (`llm.allocation: bandit`): from records, never from memory, so a resumed run allocates the same."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from evo.operators import ModelStats
from evo.search.session import RunSession
from population.individual import Individual


def run_model_stats(session: RunSession) -> dict[str, ModelStats]:
    """The session's models' records when the bandit needs them; none otherwise (a pass over the whole ledger per
    proposal is not worth making for fixed weights)."""
    if session.config.llm.allocation != "bandit":
        return {}
    failures = (event.data for event in session.ledger.events("proposal_failed"))
    return model_stats(session.individuals.values(), failures, session.direction)


def model_stats(
    individuals: Iterable[Individual], failures: Iterable[Mapping[str, Any]], direction: str
) -> dict[str, ModelStats]:
    """Model name -> its proposals, finished children, children better than their first parent, failed proposals,
    cost and tokens; `failures` are the data of `proposal_failed` events (one without a model is left out)."""
    records = list(individuals)
    by_id = {i.id: i for i in records}
    stats: dict[str, ModelStats] = {}
    for child in records:
        if child.model is None or not child.parents:
            continue
        parent = by_id.get(child.parents[0])
        improved = parent is not None and child.confirmed is not False and child.better_than(parent, direction)
        stats[child.model] = _add(
            stats.get(child.model, ModelStats()),
            child.cost,
            child.prompt_tokens + child.completion_tokens,
            children=child.is_finished,
            improved=improved,
        )
    for failure in failures:
        if failure.get("model"):
            tokens = int(failure.get("prompt_tokens", 0)) + int(failure.get("completion_tokens", 0))
            model = str(failure["model"])
            stats[model] = _add(stats.get(model, ModelStats()), float(failure.get("cost", 0.0)), tokens, failed=True)
    return stats


def _add(
    record: ModelStats, cost: float, tokens: int, children: bool = False, improved: bool = False, failed: bool = False
) -> ModelStats:
    return replace(
        record,
        proposals=record.proposals + 1,
        children=record.children + children,
        improved=record.improved + improved,
        failed=record.failed + failed,
        cost=record.cost + cost,
        tokens=record.tokens + tokens,
    )
