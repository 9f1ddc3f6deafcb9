"""Search modes (the mode contract, docs/architecture.md): small ask/tell policies that choose parents and
survivors, and do no I/O: `ratchet` (the greedy ratchets: sequential, batched, asynchronous), `population`,
`best_of_n`, on `base` and `shared`.

Shared rules, so the coordinator can treat the modes alike:
- `ask(number)` returning None consumes nothing: ask again with the same number once a result was told. The first
  ask hands out the BASELINE job whatever its number; nothing else is handed out until the baseline was told.
- `committed(job, individual)` tells a mode that a job's child exists (proposed and committed) before its result:
  the population and best-of-n modes then hand out mutants of the committed baseline at once, so the slots do not
  idle through the baseline's evaluation; selection among results waits for results.
- A failed baseline (crash, timeout, invalid, ...) is never a parent, so every mode then stops asking and says why in
  `stuck_reason` (and `failed_baseline`). `stuck` means: ask returns None and nothing outstanding
  can ever change that (only the baseline was handed out), so the coordinator stops with `stuck_reason` as its
  message. Once an eligible baseline was told no mode can get stuck: it always has a parent.
- `tell` reads only `job.kind` (is it the BASELINE?), `job.island` and `job.number`, never `job.parents`: a resume
  can rebuild the job from the ledger's record (kind from its number of parents, island from `individual.island`,
  which the coordinator must set to `job.island`, number from the id). `tell(job, None)` (no child could be
  proposed) frees the slot; a resume tells it for every number below the next that has no individual.
- Decisions usually come at once; a mode may hold results back until more are in (the batched ratchet decides a
  round when all of it is back) and decides the rest at `close()`, when the run asks nothing more.
- A `pruned` individual (stopped early) is discarded like any loser; one whose confirmation failed
  (`confirmed is False`) is discarded or rejected: it never becomes the best or a member.
- State depends only on what was told, and ties always go to the older individual (`rank_key`), so telling the
  finished individuals in id order rebuilds the same next jobs. One exception, documented at `Population`:
  migration timing follows the order results arrived.
"""

from __future__ import annotations

from evo.config import RunConfig
from evo.modes.base import BASELINE, CROSSOVER, MUTATION, Decision, Job, Mode, job_rng
from evo.modes.best_of_n import BestOfN
from evo.modes.population import Population
from evo.modes.ratchet import AsyncRatchet, BatchedRatchet, Ratchet

MODES = ("ratchet", "batched-ratchet", "async-ratchet", "population", "best-of-n")
RATCHETS = ("ratchet", "batched-ratchet", "async-ratchet")  # they keep results.tsv and the `ratchet` branch

__all__ = [
    "BASELINE",
    "CROSSOVER",
    "MODES",
    "MUTATION",
    "RATCHETS",
    "AsyncRatchet",
    "BatchedRatchet",
    "BestOfN",
    "Decision",
    "Job",
    "Mode",
    "Population",
    "Ratchet",
    "job_rng",
    "make_mode",
]


def make_mode(config: RunConfig, direction: str, workers: int = 1) -> Mode:
    """The mode `config.mode` names, for a target whose metric is to be minimised or maximised (`direction`), on
    `workers` slots (the batched ratchet's round size)."""
    if config.mode == "ratchet":
        return Ratchet(direction)
    if config.mode == "batched-ratchet":
        return BatchedRatchet(direction, workers)
    if config.mode == "async-ratchet":
        return AsyncRatchet(direction)
    if config.mode == "best-of-n":
        return BestOfN(direction)
    if config.mode == "population":
        return Population(config.population, direction, config.seed)
    raise ValueError(f"unknown mode {config.mode!r} (expected one of {', '.join(MODES)})")
