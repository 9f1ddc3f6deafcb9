"""The three search modes (contract 3): small ask/tell policies that choose parents and survivors, and do no I/O.

Shared rules, so the coordinator can treat the modes alike:
- `ask(number)` returning None consumes nothing: ask again with the same number once a result was told. The first
  ask hands out the BASELINE job whatever its number; nothing else is handed out until the baseline was told.
- A failed baseline (crash, timeout, invalid, ...) is never a parent, so every mode then stops asking and says why in
  `stuck_reason` (and `failed_baseline`). `stuck` means: ask returns None and nothing outstanding
  can ever change that (only the baseline was handed out), so the coordinator stops with `stuck_reason` as its
  message. Once an eligible baseline was told no mode can get stuck: it always has a parent.
- `tell` reads only `job.kind` (is it the BASELINE?) and `job.island`, never `job.parents`: a resume can rebuild the
  job from the ledger's record (kind from its number of parents, island from `individual.island`, which the
  coordinator must set to `job.island`). `tell(job, None)` (no child could be proposed) frees the slot, decides
  nothing.
- A `pruned` individual (stopped early) is discarded like any loser; one whose confirmation failed
  (`confirmed is False`) is discarded or rejected: it never becomes the best or a member.
- State depends only on what was told, and ties always go to the older individual (`rank_key`), so telling the
  finished individuals in id order rebuilds the same next jobs. One exception, documented at `Population`:
  migration timing follows the order results arrived.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evo.mode import BASELINE, CROSSOVER, MUTATION, Decision, Job, Mode, job_rng
from population.individual import Individual, check_direction, rank_key
from population.selection import migrate, survivors, tournament

if TYPE_CHECKING:  # the config module pulls in the evaluator and the LLM client; a mode needs only its fields
    from evo.config import PopulationConfig, RunConfig

__all__ = ["BestOfN", "Population", "Ratchet", "make_mode"]


def make_mode(config: RunConfig, direction: str) -> Mode:
    """The mode `config.mode` names, for a target whose metric is to be minimised or maximised (`direction`)."""
    if config.mode == "ratchet":
        return Ratchet(direction)
    if config.mode == "best-of-n":
        return BestOfN(direction)
    if config.mode == "population":
        return Population(config.population, direction, config.seed)
    raise ValueError(f"unknown mode {config.mode!r} (expected ratchet, population or best-of-n)")


# ---------------------------------------------------------------------------------------------------- shared parts


class _Opening:
    """The baseline's hand-out: one BASELINE job until it is told; handed out again only if its slot came back empty
    (`tell(job, None)`), so a lost baseline cannot stall a run."""

    def __init__(self) -> None:
        self.record: Individual | None = None  # the baseline as told
        self.pending = False

    def job(self) -> Job | None:
        """The BASELINE job when it is due now, else None."""
        if self.record is not None or self.pending:
            return None
        self.pending = True
        return Job(BASELINE)

    def tell(self, job: Job, individual: Individual | None) -> None:
        if job.kind == BASELINE:
            self.pending = False
            if individual is not None:
                self.record = individual

    @property
    def failed(self) -> bool:
        return self.record is not None and not self.record.is_parent_eligible

    def failure(self) -> str:
        """The stop message for a failed baseline."""
        assert self.record is not None
        return f"the baseline {self.record.id} failed ({_outcome(self.record)}): there is nothing to breed from"


def _outcome(individual: Individual) -> str:
    """One line: the status, and the reason when there is one."""
    return f"{individual.status}: {individual.reason}" if individual.reason else individual.status


def _show(individual: Individual) -> str:
    return f"{individual.metric:.6g}" if individual.metric is not None else "no metric"


def _judge(individual: Individual, best: Individual | None, direction: str) -> tuple[Individual | None, Decision]:
    """autoresearch's three verdicts on a result against the best so far: keep (the new best), discard, crash.
    Returns the best after the verdict."""
    if individual.status == "pruned":  # a loser stopped early: autoresearch would have discarded it at the end
        return best, Decision("discard", individual.id, _outcome(individual))
    if not individual.is_parent_eligible:
        return best, Decision("crash", individual.id, _outcome(individual))
    if individual.confirmed is False:
        return best, Decision("discard", individual.id, f"{_show(individual)} not confirmed on fresh seeds")
    if _is_new_best(individual, best, direction):
        detail = (
            f"first ({_show(individual)})"
            if best is None
            else f"replaced {best.id} ({_show(best)} -> {_show(individual)})"
        )
        return individual, Decision("keep", individual.id, detail)
    assert best is not None
    return best, Decision("discard", individual.id, f"{_show(individual)} not better than {best.id}")


class _BaselineFirst:
    """What every mode shares: the baseline's hand-out, the best so far, and the stop signals a failed baseline
    raises. Only a failed baseline stops a mode: once an eligible baseline was told there is always a parent."""

    def __init__(self, direction: str) -> None:
        self.direction = check_direction(direction)
        self._opening = _Opening()
        self._best: Individual | None = None

    def best(self) -> Individual | None:
        return self._best

    @property
    def failed_baseline(self) -> bool:
        return self._opening.failed

    @property
    def stuck_reason(self) -> str:
        return self._opening.failure() if self._opening.failed else ""

    @property
    def stuck(self) -> bool:
        return bool(self.stuck_reason)

    def tell(self, job: Job, individual: Individual | None) -> list[Decision]:
        """The ratchet's and best-of-n's verdict: keep (the new best), discard or crash."""
        self._opening.tell(job, individual)
        if individual is None:
            return []
        self._best, decision = _judge(individual, self._best, self.direction)
        return [decision]


def _is_new_best(individual: Individual, best: Individual | None, direction: str) -> bool:
    """Order-independent: a tie goes to the older individual, whichever was told first."""
    if not individual.is_parent_eligible or individual.confirmed is False:
        return False
    return best is None or rank_key(individual, direction) < rank_key(best, direction)


# ---------------------------------------------------------------------------------------------------- ratchet


class Ratchet(_BaselineFirst):
    """autoresearch's loop: one incumbent, one job at a time, a child replaces the incumbent only when strictly
    better. Decisions are autoresearch's statuses: keep, discard, crash."""

    name = "ratchet"

    def __init__(self, direction: str) -> None:
        super().__init__(direction)
        self._outstanding = False

    def ask(self, number: int) -> Job | None:
        """BASELINE first, then a MUTATION of the incumbent; None while a job is out or after a failed baseline."""
        if self._outstanding or self._opening.failed:
            return None
        job = self._opening.job()
        if job is None:
            if self._best is None:  # only while the baseline is out, which `_outstanding` already covers
                return None
            job = Job(MUTATION, (self._best,))
        self._outstanding = True
        return job

    def tell(self, job: Job, individual: Individual | None) -> list[Decision]:
        self._outstanding = False
        return super().tell(job, individual)


# ---------------------------------------------------------------------------------------------------- best-of-n


class BestOfN(_BaselineFirst):
    """Independent mutations of the baseline, any number at once: the honest reference every report includes, since
    it shows what the operators achieve without selection."""

    name = "best-of-n"

    def ask(self, number: int) -> Job | None:
        """BASELINE first; once it was told (and is eligible), every ask is a MUTATION of it."""
        job = self._opening.job()
        if job is not None:
            return job
        baseline = self._opening.record
        if baseline is None or self._opening.failed:
            return None
        return Job(MUTATION, (baseline,))


# ---------------------------------------------------------------------------------------------------- population


class Population(_BaselineFirst):
    """Steady-state, asynchronous evolution on islands: a free slot gets a child at once, a result enters its island
    at once, and the island is cut back to `size` by `survivors` (truncation, the best `elitism` always kept).

    Numbers decide the phase, so a rebuilt mode continues where the original was: number 0 (or the first ask) is the
    BASELINE; numbers 1..initial_mutants*islands are MUTATIONs of the baseline (handed out once the baseline was told
    eligible, all at once if slots allow) seeding island `number % islands` (the baseline itself lives on island 0);
    every later number starts at island `number % islands` (round-robin), moving on to the next island with an
    eligible member, and with probability `crossover_rate` (when that island has two eligible members) breeds a
    CROSSOVER of two distinct tournament winners, else a MUTATION of one. Children live on their first parent's
    island (`job.island`). Every `migration_every` finished individuals, ring migration copies each island's best
    `migrants` to the next island.

    Island membership is the best `size` of what was told there, so it does not depend on the order results
    arrived; migration does (it runs on the islands as they are at that moment). Rebuilding by telling results in
    id order is therefore exact unless results arrived out of id order with more than one island; telling them in
    the order they arrived is exact always."""

    name = "population"

    def __init__(self, settings: PopulationConfig, direction: str, seed: int = 0) -> None:
        super().__init__(direction)
        self.settings = settings
        self.seed = seed
        per_island = settings.initial_mutants if settings.initial_mutants is not None else settings.size - 1
        self.initial = per_island * settings.islands  # numbers 1..initial are the baseline's mutants
        self._islands: dict[int, list[Individual]] = {island: [] for island in range(settings.islands)}
        self._finished = 0  # individuals told, for the migration clock

    @property
    def islands(self) -> dict[int, list[Individual]]:
        """A copy of each island's members, best first."""
        return {island: list(members) for island, members in self._islands.items()}

    def ask(self, number: int) -> Job | None:
        return self._opening.job() or self._next(number)

    def _next(self, number: int) -> Job | None:
        baseline = self._opening.record
        if baseline is None or self._opening.failed:
            return None
        if number <= self.initial:
            return Job(MUTATION, (baseline,), number % self.settings.islands)
        rng = job_rng(self.seed, number)
        crossover = rng.random() < self.settings.crossover_rate  # drawn every time, so later draws never shift
        count = self.settings.islands
        island = next((i for i in ((number + k) % count for k in range(count)) if self._islands[i]), None)
        if island is None:  # cannot happen: the eligible baseline holds a place, and islands never empty
            return None
        members = self._islands[island]
        size = self.settings.tournament
        first = tournament(members, 1, size, rng, self.direction)[0]
        if crossover and len(members) >= 2:
            others = [member for member in members if member.id != first.id]
            second = tournament(others, 1, size, rng, self.direction)[0]
            return Job(CROSSOVER, (first, second), island)
        return Job(MUTATION, (first,), island)

    def tell(self, job: Job, individual: Individual | None) -> list[Decision]:
        self._opening.tell(job, individual)
        if individual is None:
            return []
        self._finished += 1
        decisions = [self._enter(individual, job.island)]
        if _is_new_best(individual, self._best, self.direction):
            self._best = individual
        if self.settings.islands > 1 and self._finished % self.settings.migration_every == 0:
            decisions += self._migrate()
        return decisions

    def _enter(self, individual: Individual, island: int) -> Decision:
        if not individual.is_parent_eligible:
            return Decision("reject", individual.id, _outcome(individual))
        if individual.confirmed is False:
            return Decision("reject", individual.id, f"{_show(individual)} not confirmed on fresh seeds")
        before = self._islands[island]
        kept = survivors([*before, individual], self.settings.size, self.settings.elitism, self.direction)
        self._islands[island] = kept
        kept_ids = {member.id for member in kept}
        if individual.id not in kept_ids:
            detail = f"{_show(individual)} not among the best {self.settings.size} of island {island}"
            return Decision("reject", individual.id, detail)
        dropped = [member.id for member in before if member.id not in kept_ids]
        detail = f"island {island}" + (f", dropped {', '.join(dropped)}" if dropped else "")
        return Decision("enter", individual.id, detail)

    def _migrate(self) -> list[Decision]:
        self._islands, moves = migrate(self._islands, self.settings.migrants, self.direction)
        for island, members in self._islands.items():  # keep each island best first, as `survivors` leaves it
            self._islands[island] = sorted(members, key=lambda member: rank_key(member, self.direction))
        return [
            Decision(
                "migrate",
                move.individual,
                f"island {move.source} -> {move.target}" + (f", replaced {move.replaced}" if move.replaced else ""),
            )
            for move in moves
        ]
