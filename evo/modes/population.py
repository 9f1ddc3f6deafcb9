"""The population mode: steady-state, asynchronous evolution on islands with tournament selection."""

from __future__ import annotations

from evo.config import PopulationConfig
from evo.modes.base import CROSSOVER, MUTATION, Decision, Job, job_rng
from evo.modes.shared import BaselineFirst, is_new_best, outcome, show
from population.individual import Individual, rank_key
from population.selection import migrate, survivors, tournament


class Population(BaselineFirst):
    """Steady-state, asynchronous evolution on islands: a free slot gets a child at once, a result enters its island
    at once, and the island is cut back to `size` by `survivors` (truncation, the best `elitism` always kept).

    Numbers decide the phase, so a rebuilt mode continues where the original was: number 0 (or the first ask) is the
    BASELINE; numbers 1..initial_mutants*islands are MUTATIONs of the baseline (handed out once the baseline was
    committed, while it still runs, all at once if slots allow: they need its code, not its result) seeding island
    `number % islands` (the baseline itself lives on island 0); every later number (once the baseline was told)
    starts at island `number % islands` (round-robin), moving on to the next island with an eligible member, and
    with probability `crossover_rate` (when that island has two eligible members) breeds a CROSSOVER of two distinct
    tournament winners, else a MUTATION of one. Children live on their first parent's
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
        baseline = self._opening.parent()
        if baseline is None:
            return None
        if number <= self.initial:
            return Job(MUTATION, (baseline,), number % self.settings.islands)
        if self._opening.record is None:  # selection needs results: wait for the baseline's
            return None
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
        if is_new_best(individual, self._best, self.direction):
            self._best = individual
        if self.settings.islands > 1 and self._finished % self.settings.migration_every == 0:
            decisions += self._migrate()
        return decisions

    def _enter(self, individual: Individual, island: int) -> Decision:
        if not individual.is_parent_eligible:
            return Decision("reject", individual.id, outcome(individual))
        if individual.confirmed is False:
            return Decision("reject", individual.id, f"{show(individual)} not confirmed on fresh seeds")
        before = self._islands[island]
        kept = survivors([*before, individual], self.settings.size, self.settings.elitism, self.direction)
        self._islands[island] = kept
        kept_ids = {member.id for member in kept}
        if individual.id not in kept_ids:
            detail = f"{show(individual)} not among the best {self.settings.size} of island {island}"
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
