"""The search's pick over time: the individual it would hand over if stopped at that moment, for scoring searches at
equal wall-clock time (a study stops every search at the same hour, and reads each one's pick then).

An evo mode's pick is its `best()`, which is not always the best observed metric so far (a batched ratchet decides
whole rounds), so the mode is rebuilt from the ledger and asked after every result, as a resume would rebuild it. A
peer search (Optuna) hands over its best observed trial.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from evo.config import RunConfig
from evo.modes import MODES, make_mode
from evo.modes.replay import replay
from evo.modes.shared import is_new_best
from population.individual import Individual


def pick_history(
    config: RunConfig, mode: str, individuals: Mapping[str, Individual], direction: str, workers: int, start: float
) -> tuple[tuple[float, str], ...]:
    """(seconds since `start`, the pick's id) at every change of pick, in time order."""
    history: list[tuple[float, str]] = []
    if mode in MODES:
        search = make_mode(config, direction, workers)
        next_number = max((int(i) for i in individuals), default=-1) + 1
        for individual, _ in replay(search, individuals, next_number):
            _note(history, individual, search.best())
    else:
        best: Individual | None = None
        for individual in sorted(individuals.values(), key=lambda i: (i.finished or 0.0, int(i.id))):
            if is_new_best(individual, best, direction):
                best = individual
            _note(history, individual, best)
    return tuple((at - start, pick) for at, pick in history)


def _note(history: list[tuple[float, str]], told: Individual, pick: Individual | None) -> None:
    if pick is not None and (not history or history[-1][1] != pick.id):
        history.append((told.finished or 0.0, pick.id))


def pick_at(history: Sequence[tuple[float, str]], seconds: float) -> str | None:
    """The pick at `seconds` since the start (None before the first)."""
    picked = None
    for at, pick in history:
        if at > seconds:
            break
        picked = pick
    return picked
