"""A run directory read back as plain data, for reports and benchmarks: the ledger is the only source.

Compute is counted in budget seconds (training seconds on the budget clock, re-evaluations included, a pruned run
only up to where it stopped), the currency searches are compared in: equal compute means equal budget seconds, and
early termination shows up as more candidates for the same spend.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from evo.config import PopulationConfig, RunConfig, SlotsConfig, load_config
from evo.errors import EvoError
from evo.evaluation.control import unattested_line
from evo.evaluation.target import load_target
from evo.reporting.heldout import heldout, optimum
from evo.reporting.picks import pick_history
from population.individual import Individual
from population.ledger import Event, Ledger

PEER_FILE = "peer.json"  # in a peer's run directory (e.g. Optuna TPE): {"name": ..., and its settings}


@dataclass(frozen=True)
class RunData:
    root: Path
    name: str
    mode: str  # the config's mode, or the peer's name
    metric: str
    direction: str
    budget: float  # per-candidate budget seconds
    optimum: float | None  # the target's known best expected metric (regret is measured to it), if declared
    individuals: tuple[Individual, ...]  # in id order
    events: tuple[Event, ...]
    settings: tuple[tuple[str, str], ...] = ()  # how the search ran, as the report shows it: (name, value) rows
    heldout: float | None = None  # the final pick's held-out value (evo.reporting.heldout), if known
    heldout_source: str = ""  # where it comes from, in words
    picks: tuple[tuple[float, str], ...] = ()  # (seconds since the run started, the search's pick) at each change
    warning: str = ""  # said at the top of its report: a metric the target does not attest
    cached_tokens: int = 0  # prompt tokens the endpoint served from its prompt cache (the ledger's meta)
    known: int = 0  # attempts of earlier runs on the target that memory held when the run last started
    started: float = 0.0  # unix time the run started (its first candidate's start for runs from before it was kept)

    def better(self, a: float, b: float) -> bool:
        return a < b if self.direction == "minimize" else a > b

    @property
    def finished(self) -> list[Individual]:
        """Finished individuals in the order they finished (ties by id)."""
        done = [i for i in self.individuals if i.is_finished]
        return sorted(done, key=lambda i: (i.finished if i.finished is not None else math.inf, i.id))

    @property
    def baseline(self) -> Individual | None:
        return next((i for i in self.individuals if not i.parents), None)

    def counts(self) -> dict[str, int]:
        """Finished individuals by status."""
        counts: dict[str, int] = {}
        for individual in self.finished:
            counts[individual.status] = counts.get(individual.status, 0) + 1
        return counts


def counts_as_best(individual: Individual) -> bool:
    """Eligible to be a run's best: `ok` with a finite metric, and not refused by confirmation."""
    return individual.is_parent_eligible and individual.confirmed is not False


def running_best(run: RunData) -> list[tuple[Individual, float, str, bool]]:
    """For each finished individual in finish order: it, the best metric so far (NaN before the first eligible one),
    that best's id, and whether this individual set it."""
    best, best_id, rows = math.nan, "", []
    for individual in run.finished:
        sets = counts_as_best(individual) and (math.isnan(best) or run.better(individual.metric, best))  # type: ignore[arg-type]
        if sets:
            best, best_id = float(individual.metric), individual.id  # type: ignore[arg-type]
        rows.append((individual, best, best_id, sets))
    return rows


def best_so_far(run: RunData) -> list[tuple[float, float, str]]:
    """(budget seconds spent so far, best metric so far, its id) after each finished individual, in finish order;
    points before the first eligible individual are left out."""
    spent, points = 0.0, []
    for individual, best, best_id, _ in running_best(run):
        spent += individual.budget_seconds
        if not math.isnan(best):
            points.append((spent, best, best_id))
    return points


def final_best(run: RunData) -> Individual | None:
    """The search's final pick: its mode's best at the end (`picks`), else the best observed."""
    chosen = run.picks[-1][1] if run.picks else next((b[2] for b in reversed(best_so_far(run))), None)
    return next((i for i in run.individuals if i.id == chosen), None)


def duplicates(run: RunData) -> tuple[int, float]:
    """Children the novelty gate kept from evaluation, and the budget seconds they would have cost (the run's mean
    per evaluated individual)."""
    count = sum(event.kind == "duplicate" for event in run.events)
    evaluated = [i for i in run.individuals if i.is_finished]
    mean = sum(i.budget_seconds for i in evaluated) / len(evaluated) if evaluated else run.budget
    return count, count * mean


def training_seconds(run: RunData) -> tuple[float, float]:
    """Budget seconds used and saved by early termination over the whole run."""
    return sum(i.budget_seconds for i in run.individuals), sum(i.saved_seconds for i in run.individuals)


def load_run(root: str | Path, readonly: bool = False) -> RunData:
    """Read a run directory (live or finished); raise EvoError naming it if it is not one. `readonly`: as a reader
    beside a live coordinator (`Ledger(readonly=True)`), from one consistent snapshot of the ledger."""
    root = Path(root)
    ledger_path, config_path = root / "ledger.sqlite", root / "config.yaml"
    if not ledger_path.is_file() or not config_path.is_file():
        raise EvoError(f"{root} is not a run directory (no ledger.sqlite or config.yaml)")
    config = load_config(config_path)
    target = load_target(config.target)
    metric = target.metric
    peer_path = root / PEER_FILE
    peer = json.loads(peer_path.read_text()) if peer_path.is_file() else None
    with Ledger(ledger_path, readonly=readonly) as ledger, ledger.snapshot():
        individuals, events = tuple(ledger.all()), tuple(ledger.events())
        workers, start = int(ledger.get_meta("workers", 0)), ledger.get_meta("started")
        cached = int(ledger.get_meta("llm_cached_tokens", 0))
        known = int(ledger.get_meta("memory_attempts", 0))
    run = RunData(
        root=root,
        name=root.name,
        mode=peer["name"] if peer else config.mode,
        metric=metric.name,
        direction=metric.direction,
        budget=config.budget.seconds,
        optimum=optimum(config, target),
        individuals=tuple(sorted(individuals, key=lambda i: (len(i.id), i.id))),
        events=events,
        settings=run_settings(config, peer),
        warning="" if metric.attested else unattested_line(target),
        cached_tokens=cached,
        known=known,
    )
    by_id = {i.id: i for i in run.individuals}
    if start is None:  # a run from before the start was recorded: its first candidate's start
        start = min((i.started for i in individuals if i.started is not None), default=0.0)
    count = config.slots.count if isinstance(config.slots.count, int) else 1
    history = pick_history(config, run.mode, by_id, metric.direction, workers or count, start)
    value, source = heldout(root, config, target, by_id[history[-1][1]] if history else None, events)
    return replace(run, heldout=value, heldout_source=source, picks=history, started=float(start))


def run_settings(config: RunConfig, peer: dict[str, Any] | None) -> tuple[tuple[str, str], ...]:
    """What a reader needs to tell one search from another beyond its mode: the mode's own knobs (the population's,
    or a peer's from peer.json), an ensemble's models, the slots (how many candidates shared the machine) and the
    budget clock."""
    if peer is not None:
        knobs = [(f"{peer['name']} {key}", str(value)) for key, value in peer.items() if key != "name"]
    else:
        knobs = population_settings(config.population) if config.mode == "population" else []
    if len(config.llm.models) > 1:  # an ensemble: how calls were shared among its models
        weights = ", ".join(f"{m.name} (weight {m.weight:g})" for m in config.llm.models)
        knobs.append(("models", f"{weights}, allocated by {config.llm.allocation}"))
    clock = {"wall": "wall (elapsed seconds)", "cpu": "cpu (the candidate's CPU seconds)"}[config.budget.clock]
    return (*knobs, ("slots", slots_text(config.slots)), ("budget clock", clock))


def population_settings(population: PopulationConfig) -> list[tuple[str, str]]:
    islands = str(population.islands)
    if population.islands > 1:
        migrants = f"{population.migrants} migrant{'' if population.migrants == 1 else 's'}"
        islands += f" ({migrants} every {population.migration_every} evaluations)"
    return [
        ("population size", f"{population.size} per island"),
        ("tournament size", str(population.tournament)),
        ("crossover rate", f"{population.crossover_rate:g}"),
        ("elitism", f"{population.elitism} best never replaced"),
        ("islands", islands),
    ]


def slots_text(slots: SlotsConfig) -> str:
    threads = slots.threads
    each = f"{threads} CPU thread{'' if threads == 1 else 's'} each" if threads else "the CPU cores split evenly"
    gpus = f", GPUs {' | '.join(slots.gpus)}" if slots.gpus else ""
    return f"{slots.count} at once, {each}{gpus}"
