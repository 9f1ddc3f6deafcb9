"""The coordinator: one process owns the search state, git and the ledger; slots only propose and evaluate.

Flow per individual: the mode asks for a job -> a worker thread proposes a child (operators may call an LLM) -> the
coordinator commits it to the run's git store and records it in the ledger as `running` -> a worker evaluates it on a
free slot -> the coordinator records the result and tells the mode. Workers hand back plain data; every git and
ledger write happens on the coordinator's thread, so a `kill -9` at any moment leaves the ledger and the repository
consistent (a commit without a ledger row is dropped on resume; a `running` row is evaluated again).
"""

from __future__ import annotations

import math
import secrets
import shutil
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from evo.calibrate import cache_path, run_noise_model
from evo.config import RunConfig, StopConfig, dump_config, eval_settings, llm_config, load_config
from evo.errors import EvoError
from evo.evaluator import EvalSettings, evaluate
from evo.guards import Confirmation, monitor_for, needs_confirmation
from evo.mode import BASELINE, CROSSOVER, Decision, Job, Mode, job_rng
from evo.modes import make_mode
from evo.noise import NoiseModel
from evo.operator import Attempt, Context, Parent, Proposal
from evo.operator_setup import Operators, make_operators
from evo.proctree import kill_marked
from evo.result import EvalResult, Status
from evo.results_tsv import write_results_tsv
from evo.sprt import CurveTest
from evo.target import TargetSpec, load_target
from population.individual import Individual, format_id
from population.ledger import Ledger
from population.store import GitStore

RUN_MARK = "EVO_RUN"  # in every candidate's environment: finds a dead coordinator's candidates on resume
ATTEMPTS_IN_CONTEXT = 12
MAX_FAILED_PROPOSALS = 20  # in a row: the operator is broken (endpoint down, budget spent), stop instead of spinning


@dataclass(frozen=True)
class Progress:
    """What a live display shows; handed to the progress callback after every change."""

    finished: int
    running: int
    slots: int
    best: Individual | None
    baseline: Individual | None
    prompt_tokens: int
    completion_tokens: int
    cost: float
    elapsed: float
    last: Individual | None = None


@dataclass(frozen=True)
class Outcome:
    run_dir: Path
    stop_reason: str
    best: Individual | None
    baseline: Individual | None
    finished: int
    notice: str
    coordinator_seconds: float  # the coordinator's own work this session: git, ledger, selection, operators' setup


@dataclass
class Work:
    """What is in flight: the workers, each future's (kind, job, data) with kind propose, eval or confirm, and the
    free slots (an eval or a confirmation pair holds one; a proposal is counted against them)."""

    pool: ThreadPoolExecutor
    pending: dict[Future, tuple[str, Job, Any]] = field(default_factory=dict)
    free: list[int] = field(default_factory=list)

    def submit(self, task: tuple[str, Job, Any], fn: Callable[..., Any], *args: Any) -> None:
        self.pending[self.pool.submit(fn, *args)] = task


class RunPaths:
    """Where things live in `runs/<name>/`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = root / "config.yaml"
        self.ledger = root / "ledger.sqlite"
        self.git = root / "git"
        self.individuals = root / "individuals"
        self.results_tsv = root / "results.tsv"


def start(config: RunConfig) -> Path:
    """Create the run directory with its resolved config (the target's path made absolute). Running a config again
    makes a new run beside the old one (`runs/quickstart-2`, ...), never touching an existing run: `evo resume`
    continues one."""
    runs = Path(config.runs_dir)
    name = next(n for n in (config.name, *(f"{config.name}-{k}" for k in range(2, 10_000))) if not (runs / n).exists())
    config = replace(config, name=name, target=str(Path(config.target).resolve()))  # so it resumes from anywhere
    root = runs / name
    staging = root.with_name(f".{root.name}.{secrets.token_hex(4)}")  # renamed into place: a run exists whole or not
    staging.mkdir(parents=True)
    RunPaths(staging).config.write_text(dump_config(config))
    staging.rename(root)
    return root


class Coordinator:
    def __init__(
        self,
        root: Path,
        on_progress: Callable[[Progress], None] | None = None,
        on_notice: Callable[[str], None] | None = None,
        gpus: tuple[str, ...] | None = None,
    ) -> None:
        self.paths = RunPaths(root)
        self.config = session_config(self.paths, gpus)
        self.target = load_target(self.config.target)
        self.direction = self.target.metric.direction
        self.ledger = Ledger(self.paths.ledger)
        self.store = GitStore(self.paths.git, self.target.editable)
        self.operators: Operators = make_operators(llm_config(self.config, root), root)
        self.on_progress = on_progress or (lambda progress: None)
        self.on_notice = on_notice or (lambda line: None)
        self.noise: NoiseModel | None = None  # the calibrated noise model, when early stop or confirmation is on
        self.untold: set[str] = set()  # recovered individuals not yet told: nothing new is asked until they are
        check_locked_files(self.ledger, self.target)
        self.run_id = run_id_of(self.ledger)
        # The coordinator is the ledger's only writer, so it keeps every record in memory too: no rescans per event.
        self.individuals: dict[str, Individual] = {i.id: i for i in self.ledger.all()}
        self.busy_seconds = 0.0  # the coordinator's own bookkeeping time (everything but waiting on workers)
        self.started = time.monotonic()
        self.elapsed_before = float(self.ledger.get_meta("elapsed", 0.0))
        self.cost_before = float(self.ledger.get_meta("llm_cost", 0.0))  # earlier sessions' LLM spend
        self.failed_in_a_row = 0

    def _noise_model(self) -> NoiseModel:
        """The run's noise model: saved in the run, stored (calibration.file), cached, or measured now on the slots."""
        calibration = self.config.calibration
        slots = [self._settings(slot) for slot in range(self.config.slots.count)]
        stored = Path(calibration.file).expanduser() if calibration.file is not None else None
        cached = cache_path(self.target, slots[0], calibration.runs, calibration.probes)
        if not (self.paths.root / "noise.json").is_file() and stored is None and not cached.is_file():
            probes = f" and {calibration.probes} probes" if calibration.probes else ""
            self.on_notice(
                f"calibrating the noise model: the baseline{probes} on {calibration.runs} seeds "
                "(once for this setup: it is cached)"
            )
        model, source = run_noise_model(
            self.target, slots, calibration.runs, calibration.probes, stored, self.paths.root
        )
        self.ledger.event("noise_model", source=source, summary=model.summary())
        self.on_notice(f"noise model from {source}: {model.summary()}")
        return model

    # ---------------------------------------------------------------------------------------------------------------
    def run(self) -> Outcome:
        try:
            return self._run()
        finally:
            end_session(self.ledger, self.store, self._elapsed())

    def _run(self) -> Outcome:
        recover(self.ledger, self.store, self.run_id, self.individuals)
        if self.config.early_stop.enabled or self.config.confirm.enabled:
            self.noise = self._noise_model()
        mode = make_mode(self.config, self.direction)
        finished = [i for i in self.individuals.values() if i.is_finished]
        for individual in sorted(finished, key=lambda i: (i.finished or 0.0, int(i.id))):  # in the order they arrived
            self._decide(mode, self._job_of(individual), individual, replaying=True)
        slots = self.config.slots.count
        next_number = max((int(i) for i in self.individuals), default=-1) + 1
        with ThreadPoolExecutor(max_workers=2 * slots) as pool:
            work = Work(pool, free=list(range(slots)))
            pending = work.pending
            # Killed mid-evaluation: evaluate again, and ask nothing new until these are told (a ratchet has one
            # job out at a time, and the rebuilt mode never handed these out).
            for individual in [i for i in self.individuals.values() if not i.is_finished]:
                self.untold.add(individual.id)
                self._submit_eval(work, self._job_of(individual), individual, mode)
            stop = ""
            resumed = time.perf_counter()
            while True:
                while not self.untold:  # fill every free slot (a proposal holds one) until the mode waits or we stop
                    stop = self._stop_reason(mode, pending)  # not latched: a failed proposal frees its count
                    proposing = sum(kind == "propose" for kind, *_ in pending.values())
                    job = None if stop or len(work.free) <= proposing else mode.ask(next_number)
                    if job is None:
                        break
                    self._submit_propose(work, job, next_number)
                    next_number += 1
                if not pending:
                    break
                self.busy_seconds += time.perf_counter() - resumed
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                resumed = time.perf_counter()
                for future in done:
                    kind, job, data = pending.pop(future)
                    if kind == "propose":
                        self._proposed(work, mode, job, data, future.result())
                    elif kind == "eval":
                        individual, slot, watch = data
                        work.free.append(slot)
                        self._evaluated(work, mode, job, individual, future.result(), watch)
                    else:
                        confirmation, slot = data
                        work.free.append(slot)
                        self._confirm_pair(work, mode, confirmation, future.result())
                    self._report(mode, pending)
        return Outcome(
            self.paths.root,
            stop or "done",
            mode.best(),
            self._baseline(),
            self._finished_count(),
            self.operators.notice,
            self.busy_seconds,
        )

    # ---------------------------------------------------------------------------------------------------------------
    def _submit_propose(self, work: Work, job: Job, number: int) -> None:
        task = ("propose", job, number)
        if job.kind == BASELINE:
            code = {name: (self.target.root / name).read_text() for name in self.target.editable}
            work.submit(task, lambda: Proposal(code, "baseline", operator="baseline"))
            return
        parents = [Parent(p.id, self.store.code(p.commit), p.metric, p.status, p.description) for p in job.parents]
        operator = self.operators.crossover if job.kind == CROSSOVER else self.operators.mutation
        context = self._context(job, job_rng(self.config.seed, number).getrandbits(32))
        work.submit(task, operator.propose, parents, context)

    def _proposed(self, work: Work, mode: Mode, job: Job, number: int, proposal: Proposal) -> None:
        if not proposal.ok:
            self.failed_in_a_row += 1
            self.ledger.event(
                "proposal_failed",
                number=number,
                operator=proposal.operator,
                error=proposal.error,
                prompt_tokens=proposal.usage.prompt_tokens,
                cost=proposal.usage.cost,
            )
            mode.tell(job, None)
            return
        self.failed_in_a_row = 0
        assert proposal.code is not None
        ident = format_id(number)
        parents = tuple(p.id for p in job.parents)
        sha = self.store.commit(
            ident,
            proposal.code,
            [p.commit for p in job.parents],
            f"{ident}: {proposal.description}\n\n{proposal.rationale}".strip(),
        )
        now = time.time()
        individual = Individual(
            id=ident,
            parents=parents,
            operator=proposal.operator,
            model=proposal.model,
            commit=sha,
            description=proposal.description,
            rationale=proposal.rationale,
            status="running",
            island=job.island,
            prompt_tokens=proposal.usage.prompt_tokens,
            completion_tokens=proposal.usage.completion_tokens,
            cost=proposal.usage.cost,
            created=now,
            started=now,
        )
        self.ledger.add(individual)
        self.individuals[ident] = individual
        self._submit_eval(work, job, individual, mode)

    def _settings(self, slot: int, seed: int | None = None) -> EvalSettings:
        settings = candidate_settings(self.config, slot, self.run_id)
        return settings if seed is None else replace(settings, seed=seed)

    def _submit_eval(self, work: Work, job: Job, individual: Individual, mode: Mode) -> None:
        code = self.store.code(individual.commit)
        workdir = self.paths.individuals / individual.id
        if workdir.exists():  # a previous session died while evaluating it
            shutil.rmtree(workdir)
        watch = monitor_for(
            job, mode.best(), self.config.early_stop, self.noise, self.config.budget.seconds, self.direction
        )
        monitor = watch[0] if watch else None
        slot = work.free.pop(0)
        work.submit(
            ("eval", job, (individual, slot, watch)),
            evaluate,
            self.target,
            code,
            workdir,
            self._settings(slot),
            monitor,
        )

    def _evaluated(
        self,
        work: Work,
        mode: Mode,
        job: Job,
        individual: Individual,
        result: EvalResult,
        watch: tuple[CurveTest, Individual] | None,
    ) -> None:
        shutil.rmtree(self.paths.individuals / individual.id / "workspace", ignore_errors=True)
        finished = individual.with_result(result, finished=time.time())
        if result.status is Status.PRUNED and watch is not None:
            test, reference = watch
            finished, used, saved = charge_pruned(
                individual,
                result,
                finished.finished,
                f"stopped at {test.stopped_at or 0:.0%} of the budget: its curve is worse than {reference.id}'s"
                f" (SPRT log LR {test.llr:.1f})",
            )
            self.ledger.event(
                "pruned",
                individual=individual.id,
                reference=reference.id,
                fraction=test.stopped_at,
                llr=test.llr,
                luck=test.luck,
                used_seconds=used,
                saved_seconds=saved,
            )
        best = mode.best()
        if (
            self.noise is not None
            and best is not None
            and needs_confirmation(finished, best, self.config.confirm, self.direction)
        ):
            self.ledger.add_evaluation(individual.id, result, started=individual.started, finished=finished.finished)
            confirmation = Confirmation.start(
                job, finished, best, self.config.confirm, self.noise, self.direction, self.config.seed
            )
            self._submit_pair(work, confirmation)
            return
        self.ledger.finish(finished, result, started=individual.started)
        self._told(mode, job, finished)

    def _told(self, mode: Mode, job: Job, finished: Individual) -> None:
        self.individuals[finished.id] = finished
        self.untold.discard(finished.id)
        self._decide(mode, job, finished, replaying=False)
        self._learn()

    # ---------------------------------------------------------------------------------------------------------------
    def _submit_pair(self, work: Work, confirmation: Confirmation) -> None:
        """One confirmation pair: the incumbent, then the child, on the same fresh seed, in one slot."""
        slot = work.free.pop(0)
        seed = confirmation.next_seed()
        settings = self._settings(slot, seed)
        runs = []
        for individual in (confirmation.incumbent, confirmation.child):
            workdir = self.paths.individuals / confirmation.child.id / f"confirm-{seed}-{individual.id}"
            if workdir.exists():
                shutil.rmtree(workdir)
            runs.append((self.store.code(individual.commit), workdir))

        def pair() -> tuple[EvalResult, EvalResult]:
            results = tuple(evaluate(self.target, code, workdir, settings) for code, workdir in runs)
            for _, workdir in runs:
                shutil.rmtree(workdir / "workspace", ignore_errors=True)
            return results  # type: ignore[return-value]

        work.submit(("confirm", confirmation.job, (confirmation, slot)), pair)

    def _confirm_pair(
        self, work: Work, mode: Mode, confirmation: Confirmation, results: tuple[EvalResult, EvalResult]
    ) -> None:
        """Record a pair's two evaluations, feed the test, and tell the mode once it has decided."""
        now = time.time()
        incumbent = _reevaluated(self.individuals[confirmation.incumbent.id], results[0])
        self.ledger.finish(incumbent, results[0], finished=now)  # the record and its new evaluation, atomically
        self.individuals[incumbent.id] = incumbent
        self.ledger.add_evaluation(confirmation.child.id, results[1], finished=now)  # still running: no record yet
        confirmation.child = _reevaluated(confirmation.child, results[1])
        failed = [f"{r.status.value}: {r.reason}" for r in results if r.status is not Status.OK or r.metric is None]
        if failed:
            verdict: bool | None = False
            detail = f"a re-evaluation failed ({failed[0]})"
        else:
            assert results[0].metric is not None and results[1].metric is not None
            verdict = confirmation.test.add(results[0].metric, results[1].metric)
            detail = confirmation.test.summary()
        if verdict is None:
            self._submit_pair(work, confirmation)
            return
        final = replace(confirmation.child, confirmed=verdict, finished=now)
        self.ledger.event(
            "confirmed" if verdict else "not_confirmed",
            individual=final.id,
            incumbent=incumbent.id,
            detail=detail,
            gains=confirmation.test.gains,
        )
        self.ledger.update(final)
        self._told(mode, confirmation.job, final)

    def _decide(self, mode: Mode, job: Job, individual: Individual, replaying: bool) -> None:
        decisions: list[Decision] = mode.tell(job, individual)
        if not replaying:
            for decision in decisions:
                self.ledger.event(decision.kind, individual=decision.individual, detail=decision.detail)
        if mode.name == "ratchet":
            for decision in decisions:
                if decision.kind == "keep":
                    self.store.move_branch("ratchet", self.individuals[decision.individual].commit)
            if not replaying:
                write_results_tsv(self.paths.results_tsv, self.ledger, self.target.metric.name)

    def _learn(self) -> None:
        learnings = self.operators.learnings
        finished = self._finished_count()
        if learnings is None or not learnings.due(finished):
            return
        recent = self._attempts(learnings.every)
        usage, error = learnings.update(recent, self._context(Job(BASELINE), 0))
        self.ledger.event("learnings", calls=usage.calls, cost=usage.cost, error=error)

    # ---------------------------------------------------------------------------------------------------------------
    def _context(self, job: Job, seed: int) -> Context:
        ancestor = None
        if job.kind == CROSSOVER:
            common = self._common_ancestor(job.parents[0].id, job.parents[1].id)
            ancestor = self.store.code(self.individuals[common].commit) if common else None
        return Context(
            program=self.target.read_program(),
            editable=self.target.editable,
            locked=tuple(self.target.locked),
            metric=self.target.metric.name,
            direction=self.direction,
            attempts=tuple(self._attempts(ATTEMPTS_IN_CONTEXT)),
            learnings=self.operators.learnings.text if self.operators.learnings else "",
            ancestor=ancestor,
            seed=seed,
        )

    def _attempts(self, limit: int) -> list[Attempt]:
        """The `limit` most recent finished children as traces (only their logs are read), oldest first."""
        by_id = self.individuals
        children = [i for i in by_id.values() if i.is_finished and i.parents][-limit:]
        attempts = []
        for individual in children:
            parent = by_id.get(individual.parents[0])
            delta = None
            if individual.metric is not None and parent is not None and parent.metric is not None:
                delta = individual.metric - parent.metric
            tail = ""
            if individual.status == "crash":
                log = self.paths.individuals / individual.id / "log.txt"
                tail = log.read_text(errors="replace")[-2000:] if log.is_file() else individual.reason
            attempts.append(Attempt(individual.description, individual.status, individual.metric, delta, tail))
        return attempts

    def _common_ancestor(self, a: str, b: str) -> str | None:
        """The nearest individual both descend from (breadth-first over the ledger's parent links)."""
        by_id = self.individuals

        def lineage(start: str) -> list[str]:
            order, frontier, seen = [], [start], {start}
            while frontier:
                current = frontier.pop(0)
                order.append(current)
                for parent in by_id[current].parents if current in by_id else ():
                    if parent not in seen:
                        seen.add(parent)
                        frontier.append(parent)
            return order

        of_b = set(lineage(b))
        return next((ident for ident in lineage(a) if ident in of_b), None)

    def _job_of(self, individual: Individual) -> Job:
        parents = tuple(self.individuals[p] for p in individual.parents)
        kind = BASELINE if not parents else CROSSOVER if len(parents) == 2 else "mutation"
        return Job(kind, parents, individual.island)

    # ---------------------------------------------------------------------------------------------------------------
    def _finished_count(self) -> int:
        return sum(i.is_finished for i in self.individuals.values())

    def _baseline(self) -> Individual | None:
        return next((i for i in self.individuals.values() if not i.parents), None)

    def _elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.started

    def _stop_reason(self, mode: Mode, pending: dict) -> str:
        individuals = list(self.individuals.values())
        started = len(individuals) + sum(kind == "propose" for kind, *_ in pending.values())
        train_seconds = sum(i.budget_seconds for i in individuals)
        cost = self._llm_cost()  # every call counts: failed proposals and learnings too, not just the children
        if reached := limit_reached(self.config.stop, started, self._elapsed(), train_seconds, cost):
            return reached
        if self.failed_in_a_row >= MAX_FAILED_PROPOSALS:
            return f"{MAX_FAILED_PROPOSALS} proposals failed in a row (see the ledger's proposal_failed events)"
        if mode.stuck and not pending:
            return mode.stuck_reason
        return ""

    def _llm_cost(self) -> float:
        return self.cost_before + self.operators.spend.total.cost

    def _report(self, mode: Mode, pending: dict) -> None:
        if self.operators.spend.total.calls:
            self.ledger.set_meta("llm_cost", self._llm_cost())
        usage = self.operators.spend.total
        running = sum(kind in ("eval", "confirm") for kind, *_ in pending.values())
        finished = [i for i in self.individuals.values() if i.is_finished]
        last = max(finished, key=lambda i: i.finished or 0.0, default=None)
        self.on_progress(
            Progress(
                len(finished),
                running,
                self.config.slots.count,
                mode.best(),
                self._baseline(),
                usage.prompt_tokens,
                usage.completion_tokens,
                self._llm_cost(),
                self._elapsed(),
                last,
            )
        )


# ------------------------------------------------------------------------------------------------------------------
# The pieces of a run's bookkeeping that other searches over a run directory (evo.peer_tpe) share with the coordinator.


def session_config(paths: RunPaths, gpus: tuple[str, ...] | None = None) -> RunConfig:
    """The run's resolved config, with this session's GPUs (one per slot) in place of the recorded ones when given:
    a bench hands each search the GPU it claimed, and a resumed run may land on other devices."""
    if not paths.config.is_file():
        raise EvoError(f"{paths.root} is not a run directory (no config.yaml)")
    config = load_config(paths.config)
    if gpus is None:
        return config
    if len(gpus) != config.slots.count:
        raise EvoError(f"{paths.root}: {len(gpus)} GPU(s) given for {config.slots.count} slot(s)")
    return replace(config, slots=replace(config.slots, gpus=tuple(gpus)))


def end_session(ledger: Ledger, store: GitStore, elapsed: float) -> None:
    """However a session ends: record the run's elapsed time (a resume adds to it) and close its store and ledger."""
    ledger.set_meta("elapsed", elapsed)
    store.close()
    ledger.close()


def run_id_of(ledger: Ledger) -> str:
    """The run's id, made on first use: every candidate carries it (RUN_MARK), so a resume finds a dead session's."""
    run_id = ledger.get_meta("run_id") or secrets.token_hex(8)
    ledger.set_meta("run_id", run_id)
    return run_id


def check_locked_files(ledger: Ledger, target: TargetSpec) -> None:
    """Refuse to go on with a run whose target's locked files changed since it started: metrics would not compare."""
    recorded = ledger.get_meta("target_locked")
    if recorded is None:
        ledger.set_meta("target_locked", dict(target.locked))
    elif recorded != dict(target.locked):
        changed = sorted(set(recorded.items()) ^ set(target.locked.items()))
        raise EvoError(f"target {target.root}: locked file {changed[0][0]} changed since the run started")


def recover(ledger: Ledger, store: GitStore, run_id: str, known: Iterable[str]) -> None:
    """Clean up after a killed session: kill its candidates, and forget commits whose ledger row was never written
    (their tags go), so ids stay contiguous."""
    killed = kill_marked(RUN_MARK, run_id)
    if killed:
        ledger.event("resume", killed_strays=killed)
    for ident in set(store.tags()) - set(known):
        store.drop_tag(ident)


def candidate_settings(config: RunConfig, slot: int, run_id: str) -> EvalSettings:
    """The evaluator's settings for a candidate of run `run_id` on `slot`, marked so a resume can find it."""
    return replace(eval_settings(config, slot), marks={RUN_MARK: run_id})


def limit_reached(stop: StopConfig, started: int, elapsed: float, train_seconds: float, cost: float) -> str:
    """Which of the config's stop limits is reached (evaluations started, wall seconds, budget seconds, LLM cost),
    as the stop reason; "" while none is."""
    if stop.evaluations is not None and started >= stop.evaluations:
        return f"{stop.evaluations} evaluations"
    if stop.wall_seconds is not None and elapsed >= stop.wall_seconds:
        return f"{stop.wall_seconds:g} s of wall time"
    if stop.train_seconds is not None and train_seconds >= stop.train_seconds:
        return f"{stop.train_seconds:g} s of training"
    if stop.cost is not None and cost >= stop.cost:
        return f"LLM cost {cost:.4f} reached the cap {stop.cost:g}"
    return ""


def charge_pruned(
    individual: Individual, result: EvalResult, finished: float | None, reason: str
) -> tuple[Individual, float, float]:
    """`individual` after an evaluation stopped early: charged only the budget seconds up to where its curve stopped,
    the rest counted as saved, with `reason`; also returns (used, saved) for the `pruned` event."""
    used = result.curve[-1][0] if result.curve else 0.0
    saved = max(0.0, result.budget - used)
    charged = replace(
        individual.with_result(result, finished=finished),
        budget_seconds=individual.budget_seconds + used,
        saved_seconds=individual.saved_seconds + saved,
        reason=reason,
    )
    return charged, used, saved


def _reevaluated(individual: Individual, result: EvalResult) -> Individual:
    """`individual` after a re-evaluation on another seed: its seed and seconds add up, its metric stays."""
    return replace(
        individual,
        seeds=(*individual.seeds, result.seed),
        budget_seconds=individual.budget_seconds + result.budget,
        wall_seconds=individual.wall_seconds + result.wall_seconds,
    )


def improvement(best: Individual | None, baseline: Individual | None, direction: str) -> float | None:
    """How much better the best is than the baseline, positive when better, in metric units."""
    if best is None or baseline is None or baseline.metric is None or best.metric is None:
        return None
    gain = baseline.metric - best.metric if direction == "minimize" else best.metric - baseline.metric
    return gain if math.isfinite(gain) else None
