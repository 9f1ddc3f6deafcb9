"""Selection and replacement policies as plain functions over `Individual` records.

Randomness comes only from the `random.Random` a caller hands in, so a search replays from its seed; DEAP draws from
the global `random` module, so its calls run with that module seeded from the caller's generator and restored after.
Only parent-eligible individuals (`ok`, finite metric) are ever selected or kept: a crash says nothing of its code.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from deap import tools

from population.deap_random import seeded_global_random
from population.individual import Individual, check_direction, rank_key


@dataclass(frozen=True)
class _Scored:
    """DEAP compares `fit_attr` with `max`: a minimised metric becomes its negation, so "higher is better" holds."""

    individual: Individual
    fitness: float


def ranked(individuals: Sequence[Individual], direction: str) -> list[Individual]:
    """Best first; ineligible ones last; ties go to the older (lower id), so every ranking is deterministic."""
    return sorted(individuals, key=lambda individual: rank_key(individual, direction))


def tournament(
    individuals: Sequence[Individual], k: int, size: int, rng: random.Random, direction: str
) -> list[Individual]:
    """`k` winners of tournaments of `size` aspirants drawn with replacement from the eligible individuals (DEAP's
    `selTournament`). Empty when none is eligible: the caller decides what to breed from then (e.g. the baseline).
    Consumes exactly one draw from `rng` per call."""
    check_direction(direction)
    sign = 1.0 if direction == "maximize" else -1.0
    scored = [_Scored(ind, sign * float(ind.metric or 0.0)) for ind in individuals if ind.is_parent_eligible]
    seed = rng.getrandbits(64)  # drawn even when nothing is eligible, so later draws do not depend on eligibility
    if not scored or k <= 0:
        return []
    with seeded_global_random(seed):
        winners = tools.selTournament(scored, k, tournsize=max(1, size), fit_attr="fitness")
    return [winner.individual for winner in winners]


def survivors(
    population: Sequence[Individual], size: int, elitism: int, direction: str, fill: str = "best"
) -> list[Individual]:
    """Replacement that keeps the population at `size`: the best `elitism` eligible individuals always stay, then
    the remaining places go, with `fill="best"`, to the best of the rest (truncation: elitism then only documents a
    guarantee), or, with `fill="newest"`, to the most recent (highest id) of the rest (aging, as in regularized
    evolution: with a noisy metric a lucky evaluation cannot hold a place forever; elitism keeps the incumbent).
    Ineligible individuals never survive, so fewer than `size` come back when fewer are eligible. Returned elites
    first, each group in rank (or age) order."""
    check_direction(direction)
    if fill not in ("best", "newest"):
        raise ValueError(f"fill must be 'best' or 'newest', not {fill!r}")
    eligible = ranked([ind for ind in population if ind.is_parent_eligible], direction)
    keep = max(0, size)
    elites = eligible[: min(max(0, elitism), keep)]
    rest = eligible[len(elites) :]
    if fill == "newest":
        rest.sort(key=lambda individual: (len(individual.id), individual.id), reverse=True)
    return elites + rest[: keep - len(elites)]


@dataclass(frozen=True)
class Migration:
    """One migrant copied from island `source` to island `target`, replacing `replaced` there (None: added)."""

    individual: str
    source: int
    target: int
    replaced: str | None


def migrate(
    islands: Mapping[int, Sequence[Individual]], migrants: int, direction: str
) -> tuple[dict[int, list[Individual]], list[Migration]]:
    """Ring migration over the islands in key order: each island's best `migrants` (eligible only) are copied to
    the next island (the last to the first), each replacing one of its worst (ineligible first), as DEAP's
    `migRing` with best/worst selection does. Both choices are made on the islands as they were before this round,
    so a migrant moves one hop. A migrant already on the target island is skipped; when the target has fewer
    members than arrivals, the extra ones are added. The copy carries its new `island`; the moves come back as data
    for the caller to record (e.g. as "migrated" events)."""
    check_direction(direction)
    keys = sorted(islands)
    before = {key: list(islands[key]) for key in keys}
    after = {key: list(islands[key]) for key in keys}
    moves: list[Migration] = []
    if len(keys) < 2 or migrants <= 0:
        return after, moves
    for position, source in enumerate(keys):
        target = keys[(position + 1) % len(keys)]
        present = {ind.id for ind in before[target]}
        emigrants = [ind for ind in ranked(before[source], direction)[:migrants] if ind.is_parent_eligible]
        emigrants = [ind for ind in emigrants if ind.id not in present]
        victims = list(reversed(ranked(before[target], direction)))[: len(emigrants)]
        for number, emigrant in enumerate(emigrants):
            copy = replace(emigrant, island=target)
            if number < len(victims):
                victim = victims[number]
                after[target][_index_of(after[target], victim.id)] = copy
                moves.append(Migration(emigrant.id, source, target, victim.id))
            else:
                after[target].append(copy)
                moves.append(Migration(emigrant.id, source, target, None))
    return after, moves


def _index_of(members: list[Individual], individual_id: str) -> int:
    return next(i for i, member in enumerate(members) if member.id == individual_id)
