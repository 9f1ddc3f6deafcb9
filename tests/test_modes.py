"""The search modes driven by a tiny synchronous simulator: fake evaluations whose outcome is a function of the
individual's number, results told in any order, and rebuilds from the told records alone (the resume property)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pytest

from evo.config import PopulationConfig, RunConfig
from evo.modes import AsyncRatchet, BatchedRatchet, BestOfN, Population, Ratchet, make_mode
from evo.modes.base import BASELINE, CROSSOVER, MUTATION, Decision, Job, Mode
from population.individual import Individual, format_id

TEMPLATE = Individual("0000", status="ok")
Outcome = Callable[[int, Job], tuple[str, float | None]]


def noisy(number: int, job: Job) -> tuple[str, float | None]:
    """A slowly improving metric with noise; every fifth individual fails in one of three ways."""
    failures = ("crash", "pruned", "invalid", "timeout")
    if number and number % 5 == 0:
        return failures[(number // 5) % len(failures)], -100.0  # a seductive metric that must never count
    return "ok", 3.0 - 0.002 * number + random.Random(number).uniform(0.0, 0.3)


def evaluate(number: int, job: Job, outcome: Outcome) -> Individual:
    """What the coordinator would record: the job's parents and island, the outcome's status and metric."""
    status, metric = outcome(number, job)
    return replace(
        TEMPLATE,
        id=format_id(number),
        parents=tuple(parent.id for parent in job.parents),
        operator=job.kind,
        status=status,
        metric=metric,
        island=job.island,
        reason="" if status == "ok" else f"fake {status}",
    )


@dataclass
class Run:
    """What a simulated run saw: every job handed out and every tell with its decisions, in order."""

    jobs: dict[int, Job] = field(default_factory=dict)
    told: list[Individual] = field(default_factory=list)
    decisions: list[list[Decision]] = field(default_factory=list)
    max_outstanding: int = 0
    next_number: int = 0


def drive(mode: Mode, count: int, outcome: Outcome = noisy, slots: int = 1, order: str = "fifo") -> Run:
    """Fill up to `slots` slots by asking (None: wait for a result), finish one job (oldest first, newest first or
    at random), tell it, repeat until `count` individuals were told or the mode has nothing to hand out."""
    run, pending, shuffle = Run(), [], random.Random(7)
    while len(run.told) < count:
        while len(pending) < slots and run.next_number < count:
            job = mode.ask(run.next_number)
            if job is None:
                break
            run.jobs[run.next_number] = job
            pending.append(run.next_number)
            run.next_number += 1
        run.max_outstanding = max(run.max_outstanding, len(pending))
        if not pending:
            break
        index = {"fifo": 0, "lifo": -1}.get(order)
        number = pending.pop(shuffle.randrange(len(pending)) if index is None else index)
        individual = evaluate(number, run.jobs[number], outcome)
        run.decisions.append(mode.tell(run.jobs[number], individual))
        run.told.append(individual)
    return run


def job_of(individual: Individual) -> Job:
    """The job as a resume rebuilds it from the ledger's record alone (its parents' records are not needed)."""
    kind = {0: BASELINE, 1: MUTATION}.get(len(individual.parents), CROSSOVER)
    return Job(kind, (), individual.island)


def rebuild(make: Callable[[], Mode], told: list[Individual]) -> Mode:
    mode = make()
    for individual in sorted(told, key=lambda ind: (len(ind.id), ind.id)):
        mode.tell(job_of(individual), individual)
    return mode


def shape(job: Job | None) -> tuple[str, tuple[str, ...], int] | None:
    return None if job is None else (job.kind, tuple(parent.id for parent in job.parents), job.island)


def kinds(run: Run) -> list[str]:
    return [decision.kind for decisions in run.decisions for decision in decisions]


def population(**knobs: object) -> PopulationConfig:
    return replace(PopulationConfig(), **knobs)


# ---------------------------------------------------------------------------------------------------- ratchet


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_ratchet_keeps_only_strict_improvements(direction: str) -> None:
    metrics = [5.0, 6.0, 4.0, 4.0, 3.0, None, 3.5, 2.0]  # None: a crash
    if direction == "maximize":
        metrics = [None if m is None else -m for m in metrics]

    def outcome(number: int, job: Job) -> tuple[str, float | None]:
        return ("crash", None) if metrics[number] is None else ("ok", metrics[number])

    mode = Ratchet(direction)
    run = drive(mode, len(metrics), outcome)
    assert kinds(run) == ["keep", "discard", "keep", "discard", "keep", "crash", "discard", "keep"]
    assert run.decisions[2][0].detail.startswith("replaced 0000")
    assert [shape(run.jobs[n])[1] for n in range(len(metrics))] == [
        (),
        ("0000",),
        ("0000",),
        ("0002",),
        ("0002",),  # a tie is not an improvement
        ("0004",),
        ("0004",),
        ("0004",),
    ]
    assert mode.best() is run.told[-1]


def test_ratchet_is_strictly_sequential() -> None:
    mode = Ratchet("minimize")
    baseline = mode.ask(0)
    assert shape(baseline) == (BASELINE, (), 0)
    assert mode.ask(1) is None and mode.ask(1) is None  # one job at a time, even before the baseline's result
    mode.tell(baseline, evaluate(0, baseline, noisy))
    child = mode.ask(1)
    assert shape(child) == (MUTATION, ("0000",), 0)
    assert mode.ask(2) is None
    assert mode.tell(child, None) == []  # no proposal: the slot is free again, nothing decided
    assert shape(mode.ask(2)) == (MUTATION, ("0000",), 0)
    assert drive(Ratchet("minimize"), 30, slots=4).max_outstanding == 1


def test_ratchet_with_a_failed_baseline_stops_asking() -> None:
    mode = Ratchet("minimize")
    run = drive(mode, 10, lambda number, job: ("crash", None), slots=3)
    assert len(run.told) == 1 and kinds(run) == ["crash"]
    assert mode.failed_baseline and mode.stuck and "0000 failed (crash: fake crash)" in mode.stuck_reason
    assert all(mode.ask(n) is None for n in range(1, 5))
    assert mode.best() is None


def test_ratchet_hands_the_baseline_out_again_after_a_lost_proposal() -> None:
    mode = Ratchet("minimize")
    assert mode.tell(mode.ask(0), None) == []
    assert not mode.stuck and shape(mode.ask(1)) == (BASELINE, (), 0)


# ---------------------------------------------------------------------------------------------------- population


def test_population_waits_for_the_baseline_then_fills_slots_at_once() -> None:
    mode = Population(population(size=4), "minimize", seed=1)
    baseline = mode.ask(0)
    assert shape(baseline) == (BASELINE, (), 0)
    assert mode.ask(1) is None and not mode.stuck  # waiting, not stuck: the baseline is out
    mode.tell(baseline, evaluate(0, baseline, noisy))
    jobs = [mode.ask(n) for n in range(1, 4)]  # initial_mutants defaults to size - 1
    assert [shape(job) for job in jobs] == [(MUTATION, ("0000",), 0)] * 3
    assert all(job.parents[0] is mode.best() for job in jobs if job)
    run = drive(Population(population(size=4), "minimize", seed=1), 40, slots=4, order="random")
    assert run.max_outstanding == 4


def test_population_breeds_only_eligible_parents() -> None:
    mode = Population(population(size=5, crossover_rate=0.5), "minimize", seed=3)
    run = drive(mode, 200, slots=4, order="random")
    eligible = {ind.id for ind in run.told if ind.is_parent_eligible}
    failed = {ind.id for ind in run.told if not ind.is_parent_eligible}
    assert len(failed) >= 30 and {ind.status for ind in run.told} >= {"crash", "pruned", "invalid", "timeout"}
    parents = {parent.id for job in run.jobs.values() for parent in job.parents}
    assert parents <= eligible and not parents & failed
    assert all(job.parents[0].id != job.parents[1].id for job in run.jobs.values() if job.kind == CROSSOVER)
    members = [member for island in mode.islands.values() for member in island]
    assert all(member.is_parent_eligible for member in members)
    assert {d.kind for ds in run.decisions for d in ds if d.individual in failed} == {"reject"}


@pytest.mark.parametrize("rate", [0.0, 0.3, 1.0])
def test_population_crossover_happens_at_about_the_configured_rate(rate: float) -> None:
    mode = Population(population(size=6, crossover_rate=rate), "minimize", seed=5)
    drive(mode, 7)  # baseline and initial mutants: a full island
    jobs = [mode.ask(n) for n in range(100, 2100)]  # asks only: the island stays as it is
    share = sum(job is not None and job.kind == CROSSOVER for job in jobs) / len(jobs)
    assert share == pytest.approx(rate, abs=0.04)


def test_population_tournament_prefers_the_better_parents() -> None:
    mode = Population(population(size=6, tournament=3), "minimize", seed=2)
    run = drive(mode, 7, lambda number, job: ("ok", float(number)))
    counts = {ind.id: 0 for ind in run.told}
    for n in range(100, 1100):
        job = mode.ask(n)
        assert job is not None
        counts[job.parents[0].id] += 1
    assert counts["0000"] > counts["0003"] > counts["0005"]  # lower is better; "0006" was cut (size 6)
    assert counts["0006"] == 0


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_population_survivors_keep_the_size_and_the_best(direction: str) -> None:
    settings = population(size=4, elitism=1, crossover_rate=0.4)
    mode = Population(settings, direction, seed=4)
    run, pending, number = Run(), [], 0
    for _ in range(150):  # drive by hand to check the invariants after every tell
        while len(pending) < 3 and (job := mode.ask(number)) is not None:
            pending.append((number, job))
            number += 1
        finished, job = pending.pop(random.Random(number).randrange(len(pending)))
        individual = evaluate(finished, job, noisy)
        run.decisions.append(mode.tell(job, individual))
        run.told.append(individual)
        members = mode.islands[0]
        assert len(members) <= settings.size
        best = mode.best()
        assert best is not None and best.id in {member.id for member in members}  # elitism never drops the best
    assert len(mode.islands[0]) == settings.size
    assert {"enter", "reject"} <= set(kinds(run))
    assert any("dropped" in d.detail for ds in run.decisions for d in ds if d.kind == "enter")
    ok = [ind for ind in run.told if ind.is_parent_eligible]
    expected = sorted(ok, key=lambda ind: ind.metric if direction == "minimize" else -ind.metric)[: settings.size]
    assert {m.id for m in mode.islands[0]} == {ind.id for ind in expected}


def test_population_islands_and_migration() -> None:
    settings = population(size=4, initial_mutants=2, islands=3, migration_every=10, migrants=1)
    mode = Population(settings, "minimize", seed=6)
    run = drive(mode, 60, slots=3, order="random")
    for number in range(1, 7):  # initial mutants of the baseline seed island number % islands
        assert shape(run.jobs[number]) == (MUTATION, ("0000",), number % 3)
    for number, job in run.jobs.items():  # then children live on their first parent's island
        if number > 6:
            assert job.island == job.parents[0].island
    steady = [job.island for number, job in run.jobs.items() if number > 6]
    assert set(steady) == {0, 1, 2}
    migrations = [(len(run.told[: i + 1]), ds) for i, ds in enumerate(run.decisions) if ds[-1].kind == "migrate"]
    assert [told for told, _ in migrations] == [10, 20, 30, 40, 50, 60]
    for _, decisions in migrations:
        moves = [d for d in decisions if d.kind == "migrate"]
        assert moves and all(" -> " in d.detail for d in moves)
    last = [d for d in run.decisions[-1] if d.kind == "migrate"]
    for decision in last:  # the migrant now lives on its target island too
        target = int(decision.detail.split(" -> ")[1].split(",")[0])
        assert decision.individual in {member.id for member in mode.islands[target]}
    assert all(len(members) <= settings.size for members in mode.islands.values())


def test_population_with_a_failed_baseline_is_stuck() -> None:
    mode = Population(population(), "minimize")
    run = drive(mode, 10, lambda number, job: ("timeout", None), slots=4)
    assert len(run.told) == 1 and kinds(run) == ["reject"]
    assert mode.stuck and mode.failed_baseline and "timeout" in mode.stuck_reason and mode.ask(5) is None


def test_population_is_never_stuck_once_the_baseline_was_good() -> None:
    failing = {0: ("ok", 1.0)}
    mode = Population(population(size=3), "minimize")
    run = drive(mode, 40, lambda number, job: failing.get(number, ("crash", None)), slots=4)
    assert len(run.told) == 40 and not mode.stuck and not mode.failed_baseline
    assert {job.parents[0].id for n, job in run.jobs.items() if n} == {"0000"}


# ---------------------------------------------------------------------------------------------------- best-of-n


def test_best_of_n_only_mutates_the_baseline() -> None:
    mode = BestOfN("maximize")
    assert shape(mode.ask(0)) == (BASELINE, (), 0) and mode.ask(1) is None
    mode = BestOfN("maximize")
    run = drive(mode, 50, slots=5, order="random")
    assert run.max_outstanding == 5
    assert all(shape(run.jobs[n]) == (MUTATION, ("0000",), 0) for n in range(1, 50))
    ok = [ind for ind in run.told if ind.is_parent_eligible]
    assert mode.best() == max(ok, key=lambda ind: ind.metric)
    assert set(kinds(run)) == {"keep", "discard", "crash"}


def test_best_of_n_with_a_failed_baseline_is_stuck() -> None:
    mode = BestOfN("minimize")
    drive(mode, 5, lambda number, job: ("invalid", float("nan")), slots=2)
    assert mode.stuck and mode.failed_baseline and mode.ask(1) is None and mode.best() is None


# ---------------------------------------------------------------------------------------------------- ratchets on N


@pytest.mark.parametrize("order", ["fifo", "random"])
def test_batched_ratchet_decides_whole_rounds_of_children_of_the_incumbent(order: str) -> None:
    mode = BatchedRatchet("minimize", 4)
    run = drive(mode, 41, slots=8, order=order)
    assert run.max_outstanding <= 5  # a round of 4 (and the baseline beside the first)
    incumbent = "0000"
    for first in range(1, 41, 4):  # round k: numbers 4k+1 .. 4k+4, every one a child of the incumbent before it
        round_ = [run.told[[i.id for i in run.told].index(format_id(n))] for n in range(first, first + 4)]
        assert {run.jobs[n].parents[0].id for n in range(first, first + 4)} == {incumbent}
        eligible = [i for i in round_ if i.is_parent_eligible]
        best = min(eligible, key=lambda i: i.metric or 0.0, default=None)
        previous = next(i for i in run.told if i.id == incumbent)
        if (
            best is not None
            and best.metric is not None
            and previous.metric is not None
            and best.metric < previous.metric
        ):
            incumbent = best.id
    assert mode.best() is not None and mode.best().id == incumbent  # type: ignore[union-attr]
    assert kinds(run).count("keep") == len({d.individual for ds in run.decisions for d in ds if d.kind == "keep"})


def test_batched_ratchet_hands_out_nothing_of_the_next_round_until_this_one_is_back() -> None:
    mode = BatchedRatchet("minimize", 3)
    baseline_job = mode.ask(0)
    assert baseline_job is not None
    mode.tell(baseline_job, replace(TEMPLATE, metric=3.0))
    jobs = [mode.ask(n) for n in (1, 2, 3)]
    assert all(job is not None for job in jobs) and mode.ask(4) is None
    assert mode.tell(Job(MUTATION, number=2), None) == []  # a failed proposal counts as back, decides nothing yet
    assert mode.tell(jobs[0], replace(TEMPLATE, id="0001", parents=("0000",), metric=2.9)) == []
    assert mode.ask(4) is None
    decisions = mode.tell(jobs[2], replace(TEMPLATE, id="0003", parents=("0000",), metric=2.5))
    assert [(d.kind, d.individual) for d in decisions] == [("keep", "0003"), ("discard", "0001")]
    next_job = mode.ask(4)
    assert next_job is not None and next_job.parents[0].id == "0003"


def test_batched_ratchet_decides_a_partial_round_when_the_run_closes() -> None:
    mode = BatchedRatchet("minimize", 8)
    baseline_job = mode.ask(0)
    assert baseline_job is not None
    mode.tell(baseline_job, replace(TEMPLATE, metric=3.0))
    job = mode.ask(1)
    assert job is not None and mode.tell(job, replace(TEMPLATE, id="0001", parents=("0000",), metric=2.0)) == []
    assert mode.best() is not None and mode.best().id == "0000"  # type: ignore[union-attr]
    assert [d.kind for d in mode.close()] == ["keep"] and mode.best().id == "0001"  # type: ignore[union-attr]


def test_async_ratchet_mutates_the_incumbent_of_the_moment_and_keeps_any_child_that_beats_it() -> None:
    mode = AsyncRatchet("minimize")
    run = drive(mode, 60, slots=4, order="random")
    assert run.max_outstanding == 4
    best_when_asked: dict[str, str] = {}
    for number, job in run.jobs.items():
        if job.kind == MUTATION:
            best_when_asked[format_id(number)] = job.parents[0].id
    assert len(set(best_when_asked.values())) > 1  # the parent follows the incumbent
    best = None
    for individual, decisions in zip(run.told, run.decisions, strict=True):  # a keep exactly when it beats the best
        beats = individual.is_parent_eligible and (best is None or (individual.metric or 0.0) < best.metric)
        assert ([d.kind for d in decisions] == ["keep"]) == beats
        best = individual if beats else best
    assert mode.best() == best


# ---------------------------------------------------------------------------------------------------- every mode

MAKERS: dict[str, Callable[[], Mode]] = {
    "ratchet": lambda: Ratchet("minimize"),
    "batched-ratchet": lambda: BatchedRatchet("minimize", 4),
    "async-ratchet": lambda: AsyncRatchet("minimize"),
    "best-of-n": lambda: BestOfN("minimize"),
    "population": lambda: Population(population(size=5, crossover_rate=0.5), "minimize", seed=9),
    "islands": lambda: Population(
        population(size=4, initial_mutants=2, islands=3, migration_every=7, crossover_rate=0.5), "minimize", seed=9
    ),
}


@pytest.mark.parametrize(
    ("name", "slots", "order"),
    [
        ("ratchet", 1, "fifo"),
        ("best-of-n", 4, "random"),
        ("batched-ratchet", 4, "random"),
        ("batched-ratchet", 3, "lifo"),  # fewer slots than a round: the round still waits for all of it
        ("async-ratchet", 4, "random"),
        ("population", 4, "random"),  # results out of id order: one island's membership does not depend on it
        ("population", 4, "lifo"),
        ("islands", 1, "fifo"),  # migration runs when it runs: exact when results came in id order
    ],
)
def test_rebuilding_from_the_told_individuals_gives_the_same_next_jobs(name: str, slots: int, order: str) -> None:
    for count in (1, 5, 23, 60):
        original = MAKERS[name]()
        run = drive(original, count, slots=slots, order=order)
        rebuilt = rebuild(MAKERS[name], run.told)
        assert rebuilt.best() == original.best()
        ahead = [run.next_number, *range(run.next_number + 1000, run.next_number + 1020)]  # asks that change nothing
        if name == "ratchet":  # one job at a time: compare the single next job
            ahead = ahead[:1]
        assert [rebuilt.ask(n) for n in ahead] == [original.ask(n) for n in ahead]


def test_same_seed_same_search_other_seed_other_search() -> None:
    def jobs(seed: int) -> list[tuple[str, tuple[str, ...], int] | None]:
        mode = Population(population(size=5, crossover_rate=0.5, islands=2), "minimize", seed=seed)
        return [shape(job) for job in drive(mode, 80, slots=3, order="random").jobs.values()]

    assert jobs(1) == jobs(1)
    assert jobs(1) != jobs(2)


def test_make_mode_builds_the_configured_mode() -> None:
    modes = (
        ("ratchet", Ratchet), ("batched-ratchet", BatchedRatchet), ("async-ratchet", AsyncRatchet),
        ("population", Population), ("best-of-n", BestOfN),
    )  # fmt: skip
    for name, cls in modes:
        mode = make_mode(replace(RunConfig(), mode=name, seed=3), "maximize", workers=6)
        assert isinstance(mode, cls) and mode.name == name and mode.direction == "maximize"
    assert make_mode(replace(RunConfig(), mode="batched-ratchet"), "minimize", workers=6).batch == 6  # type: ignore[attr-defined]
    built = make_mode(replace(RunConfig(), population=population(size=3, islands=2), seed=3), "minimize")
    assert isinstance(built, Population) and built.seed == 3 and built.initial == 4
    with pytest.raises(ValueError, match="direction"):
        make_mode(RunConfig(), "sideways")


def test_rebuilding_islands_in_arrival_order_is_exact_even_out_of_id_order() -> None:
    """Migration runs on the islands as they were when the clock struck, so with several islands and results out of
    id order only the arrival order replays it exactly (the docstring's caveat, pinned down)."""
    for count in (23, 60):
        original = MAKERS["islands"]()
        run = drive(original, count, slots=4, order="random")
        rebuilt = MAKERS["islands"]()
        for individual in run.told:
            rebuilt.tell(job_of(individual), individual)
        ahead = range(run.next_number + 1000, run.next_number + 1020)
        assert [rebuilt.ask(n) for n in ahead] == [original.ask(n) for n in ahead]
        assert rebuilt.islands == original.islands


@pytest.mark.parametrize("make", [lambda: Population(population(size=4), "minimize"), lambda: BestOfN("minimize")])
def test_mutants_of_the_committed_baseline_run_while_it_trains(make: Callable[[], Mode]) -> None:
    mode = make()
    baseline_job = mode.ask(0)
    assert baseline_job is not None and baseline_job.kind == BASELINE
    assert mode.ask(1) is None  # nothing to breed from before the baseline exists
    baseline = replace(TEMPLATE, id="0000", status="running", metric=None)
    mode.committed(baseline_job, baseline)
    mutants = [mode.ask(number) for number in (1, 2, 3)]
    assert all(job is not None and shape(job)[:2] == (MUTATION, ("0000",)) for job in mutants)
    if isinstance(mode, Population):  # past the initial mutants, selection waits for results
        assert mode.ask(4) is None
    mode.tell(baseline_job, replace(baseline, status="crash", reason="boom"))
    assert mode.ask(5) is None and mode.stuck  # a failed baseline stops the speculation too


def test_the_ratchet_does_not_run_ahead_of_its_baseline() -> None:
    mode = Ratchet("minimize")
    baseline_job = mode.ask(0)
    assert baseline_job is not None
    mode.committed(baseline_job, replace(TEMPLATE, status="running", metric=None))
    assert mode.ask(1) is None
