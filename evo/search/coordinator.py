"""The coordinator: one process owns the search state, git and the ledger; an executor only proposes and evaluates.

Flow per individual: the mode asks for a job -> the executor runs the operator's proposal off this thread (it may
call an LLM) -> the coordinator commits the child to the run's git store and records it in the ledger as `running`
-> the executor evaluates it on a free slot -> the coordinator records the result and tells the mode. The executor
hands back plain data; every git and ledger write happens on the coordinator's thread, so a `kill -9` at any moment
leaves the ledger and the repository consistent (a commit without a ledger row is dropped on resume; a `running` row
is evaluated again).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from evo.evaluation import EvalResult, Status
from evo.execution import EvalRequest, Executor, make_executor
from evo.modes import BASELINE, CROSSOVER, Job, Mode, job_rng, make_mode
from evo.modes.replay import job_of, replay
from evo.operators import Parent, Proposal, Usage
from evo.operators.factory import Operators, make_operators
from evo.search.context import attempts, operator_context
from evo.search.holdout import final_check
from evo.search.lookahead import Lookahead
from evo.search.novelty import Novelty, duplicate_of, remember
from evo.search.outcome import Outcome, Progress, change_note, record_spend, skipped_line, spent_before
from evo.search.results_tsv import DecisionLog
from evo.search.session import RunPaths, RunSession, reevaluated, running, session_config
from evo.search.termination import EarlyTermination, Watch
from evo.stopping import Confirmation, NoiseModel, needs_confirmation
from evo.stopping.calibration import run_noise_model
from population.individual import Individual, format_id
from population.ledger import Ledger

MAX_FAILED_PROPOSALS = 20  # in a row: the operator is broken (endpoint down, budget spent), stop instead of spinning
RECHECK = 0.05  # seconds: the shortest wait before looking again at what will end soon
PROPOSE, EVALUATE, CONFIRM, LEARN = "propose", "evaluate", "confirm", "learn"  # the kinds of work in flight


class Coordinator:
    def __init__(
        self,
        root: Path,
        on_progress: Callable[[Progress], None] | None = None,
        on_notice: Callable[[str], None] | None = None,
        gpus: tuple[str, ...] | None = None,
        executor: Executor | None = None,
    ) -> None:
        paths = RunPaths(root)
        config = session_config(paths, gpus)
        self.executor = executor or make_executor(config)
        self.session = RunSession.open(paths, config, self.executor.clock)
        self.config, self.target, self.direction = config, self.session.target, self.session.direction
        self.individuals = self.session.individuals
        self.operators: Operators = make_operators(config.llm, root)
        self.novelty = Novelty.open(self.session)  # the gate, and what earlier runs on the target tried
        remember(self.novelty, self.session, self.operators.learnings.path)
        self.on_progress = on_progress or (lambda progress: None)
        self.on_notice = on_notice or (lambda line: None)
        self.noise: NoiseModel | None = None  # the calibrated noise model, when early stop or confirmation is on
        self.untold: set[str] = set()  # recovered individuals not yet told: nothing new is asked until they are
        self.inflight: dict[int, tuple[str, Job, Any]] = {}  # tag -> (kind, job, what the kind needs afterwards)
        self.counts: Counter[str] = Counter()  # work in flight by kind
        self.ready: list[tuple[Job, int, Proposal]] = []  # children proposed, waiting for a free slot
        simulated_answers = config.executor.kind == "simulated" and config.executor.proposal_seconds > 0
        self.lookahead = Lookahead(0 if self.operators.instant and not simulated_answers else config.slots.ahead)
        self.tags = 0
        self.busy_seconds = 0.0  # the coordinator's own bookkeeping time (everything but waiting on the executor)
        self.cost_before, self.cached_before = spent_before(self.ledger)  # earlier sessions' LLM spend
        self.failed_in_a_row = 0
        self.failed_proposals = 0
        self.fatal = ""  # an operator failure no retry can fix (endpoint, key, model, spend cap): stop now
        self.explained: set[str] = set()  # failure kinds already explained to the user this session
        self.note = ""
        self.decisions = DecisionLog(self.session)

    @property
    def ledger(self) -> Ledger:
        return self.session.ledger

    def run(self) -> Outcome:
        with running(self.session, self.executor):
            return self._run()

    def _run(self) -> Outcome:
        self.session.recover(self.executor)
        if self.config.early_stop.enabled or self.config.confirm.enabled or self.config.calibration.enabled:
            self.noise = self._noise_model()
        self.termination = EarlyTermination(self.config, self.noise, self.ledger, self.direction, self.on_notice)
        mode = make_mode(self.config, self.direction, self._workers())
        number = self.session.next_number()
        for _, decisions in replay(mode, self.individuals, number):
            self.decisions.log(mode, decisions, replaying=True)
        # Killed mid-evaluation: evaluate again, and ask nothing new until these are told (a ratchet has one job out
        # at a time, and the rebuilt mode never handed these out).
        for individual in [i for i in self.individuals.values() if not i.is_finished]:
            self.untold.add(individual.id)
            self._submit_eval(job_of(individual, self.individuals), individual, mode)
        stop = ""
        resumed = time.perf_counter()
        while True:
            self._start_ready(mode)
            while not self.untold:  # fill every free slot (and `ahead` more) until the mode waits or we stop
                stop = self._stop_reason(mode)  # not latched: a failed proposal frees its count
                ahead = self.lookahead.depth(self.session.clock.monotonic())

                room = self.executor.free() + ahead > self.counts[PROPOSE] + len(self.ready)
                job = mode.ask(number) if room and not stop else None
                if job is None:
                    break
                job = replace(job, number=number)
                self._submit_propose(job, number)
                number += 1
            if not self.inflight:
                if stop:  # decide what a mode held back for results that will not come now
                    self.decisions.log(mode, mode.close(), replaying=False)
                break
            self.busy_seconds += time.perf_counter() - resumed
            look = self.lookahead.next_look(self.session.clock.monotonic())
            done = self.executor.wait(None if look is None else max(look, RECHECK))
            resumed = time.perf_counter()
            for finished_work in done:
                kind, job, data = self.inflight.pop(finished_work.tag)
                self.counts[kind] -= 1
                value = finished_work.result()
                if kind == PROPOSE:
                    self.lookahead.proposed(finished_work.tag, self.session.clock.monotonic())
                    self._proposed(mode, job, data, value)
                elif kind == EVALUATE:
                    self.lookahead.evaluated(finished_work.tag, self.session.clock.monotonic())
                    self._evaluated(mode, job, *data, value[0])
                elif kind == LEARN:
                    self._learned(*value)
                else:
                    self._confirm_pair(mode, data, value)
                self._report(mode)
        failure = self._failure(mode, stop)
        best, baseline = mode.best(), self._baseline()
        holdout = None
        if not failure and self.config.holdout.seeds and best and baseline and best.id != baseline.id:
            holdout = final_check(self.session, self.executor, best, baseline, self.noise, self.on_notice)
        ran = (self.session.finished, self.operators.notice, self.busy_seconds)
        return Outcome(self.session.paths.root, stop or "done", best, baseline, *ran, failure, holdout)

    def _failure(self, mode: Mode, stop: str) -> str:
        """Why the run could not do its work, or "": a failed baseline, or an operator that cannot propose."""
        return stop if mode.stuck or self.fatal or self.failed_in_a_row >= MAX_FAILED_PROPOSALS else ""

    def _noise_model(self) -> NoiseModel:
        """The run's noise model: saved in the run, stored (calibration.file), cached, or measured now on the slots."""
        where = (self.session.settings(), self.executor, self.config.calibration, self.session.paths.root)
        model, source = run_noise_model(self.target, *where, self.on_notice)
        self.ledger.event("noise_model", source=source, summary=model.summary())
        only = "" if self.target.seeded else " (this target ignores EVO_SEED: it is nondeterminism only)"
        self.on_notice(f"noise model from {source}: {model.summary()}{only}")
        return model

    # ---------------------------------------------------------------------------------------------------------------
    def _submit(self, kind: str, job: Job, data: Any) -> int:
        self.tags += 1
        self.inflight[self.tags] = (kind, job, data)
        self.counts[kind] += 1
        return self.tags

    def _submit_propose(self, job: Job, number: int, retry: int = 0, twin: str = "") -> None:
        tag = self._submit(PROPOSE, job, (number, retry))
        self.lookahead.proposing(tag, self.session.clock.monotonic())
        if job.kind == BASELINE:
            code = self.session.baseline_code()
            self.executor.propose(tag, lambda: Proposal(code, "baseline", operator="baseline"))
            return
        store = self.session.store
        parents = [Parent(p.id, store.code(p.commit), p.metric, p.status, p.description) for p in job.parents]
        operator = self.operators.crossover if job.kind == CROSSOVER else self.operators.mutation
        learnings = self.operators.learnings.text
        seed = job_rng(self.config.seed, number).getrandbits(32) + retry  # a retry draws anew
        context = operator_context(self.session, job, seed, learnings, self.novelty, twin, self.noise)
        self.executor.propose(tag, operator.propose, parents, context)

    def _proposed(self, mode: Mode, job: Job, data: tuple[int, int], proposal: Proposal) -> None:
        (number, retry), twin = data, None
        if proposal.ok:
            assert proposal.code is not None
            form, twin = self.novelty.check(proposal.code)
            twin = twin if job.kind != BASELINE else None  # the baseline runs whatever ran before
        if twin is not None:
            self.ledger.event("duplicate", number=number, twin=twin, operator=proposal.operator, retry=retry)
            if retry < self.config.novelty.retries:
                self._submit_propose(job, number, retry + 1, twin)
                return
            proposal = duplicate_of(proposal, twin, retry)
        if not proposal.ok:
            self._proposal_failed(number, proposal)
            mode.tell(job, None)
            return
        self.failed_in_a_row = 0
        self.novelty.admit(form, format_id(number))
        self.ready.append((job, number, proposal))

    def _start_ready(self, mode: Mode) -> None:
        """Commit the children waiting for a slot and start their evaluations, while slots are free (the ready
        ones are evaluated even once the run stops: they are paid for, and there are at most `ahead` of them)."""
        while self.ready and self.executor.free():
            job, number, proposal = self.ready.pop(0)
            if mode.stuck:  # the baseline failed meanwhile: the run ends, and nothing is started after
                self.ledger.event("proposal_dropped", number=number, reason=mode.stuck_reason)
                continue
            self._start(mode, job, number, proposal)

    def _start(self, mode: Mode, job: Job, number: int, proposal: Proposal) -> None:
        assert proposal.code is not None
        individual = self.session.commit(
            number,
            proposal.code,
            job.parents,
            operator=proposal.operator,
            model=proposal.model,
            description=proposal.description,
            rationale=proposal.rationale,
            island=job.island,
            prompt_tokens=proposal.usage.prompt_tokens,
            completion_tokens=proposal.usage.completion_tokens,
            cost=proposal.usage.cost,
        )
        mode.committed(job, individual)
        self._submit_eval(job, individual, mode)

    def _proposal_failed(self, number: int, proposal: Proposal) -> None:
        """Record it (its id is skipped), say so, explain the first failure of each kind, and stop on a fatal one."""
        self.failed_in_a_row += 1
        self.failed_proposals += 1
        self.ledger.event(
            "proposal_failed",
            number=number,
            operator=proposal.operator,
            model=proposal.model,
            failure=proposal.failure,
            error=proposal.error,
            prompt_tokens=proposal.usage.prompt_tokens,
            cost=proposal.usage.cost,
        )
        self.on_notice(skipped_line(format_id(number), proposal, explain=proposal.failure not in self.explained))
        self.explained.add(proposal.failure)
        if proposal.fatal and not self.fatal:
            self.fatal = f"the operator cannot work ({proposal.failure}): {proposal.error}"

    def _submit_eval(self, job: Job, individual: Individual, mode: Mode) -> None:
        watch = self.termination.monitor(int(individual.id), job.parents, mode.best())
        tag = self._submit(EVALUATE, job, (individual, watch))
        self.lookahead.evaluating(tag, self.session.clock.monotonic())
        self.executor.evaluate(tag, [self.session.request(individual, watch[0] if watch else None)])

    def _evaluated(
        self,
        mode: Mode,
        job: Job,
        individual: Individual,
        watch: Watch | None,
        result: EvalResult,
    ) -> None:
        finished = individual.with_result(result, finished=self.session.clock.time())
        if result.status is Status.PRUNED and watch is not None:
            finished = self.termination.pruned(individual, result, finished.finished, watch)
        elif result.status is Status.OK and watch is not None:
            self.termination.finished(finished, watch)
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
            self._submit_pair(confirmation)
            return
        self.ledger.finish(finished, result, started=individual.started)
        self._told(mode, job, finished)

    def _told(self, mode: Mode, job: Job, finished: Individual) -> None:
        self.note = change_note(finished, self.individuals, self.direction, self.noise)
        self.session.record(finished)
        self.novelty.finished(finished, self.individuals)
        self.untold.discard(finished.id)
        self.decisions.log(mode, mode.tell(job, finished), replaying=False)
        self._learn()

    # ---------------------------------------------------------------------------------------------------------------
    def _submit_pair(self, confirmation: Confirmation) -> None:
        """One confirmation pair: the incumbent, then the child, on the same fresh seed, in one slot."""
        seed = confirmation.next_seed()
        settings = self.session.settings(seed)
        folder = self.session.paths.individuals / confirmation.child.id
        requests = [
            EvalRequest(self.target, self.session.store.code(i.commit), folder / f"confirm-{seed}-{i.id}", settings)
            for i in (confirmation.incumbent, confirmation.child)
        ]
        self.executor.evaluate(self._submit(CONFIRM, confirmation.job, confirmation), requests)  # type: ignore[arg-type]

    def _confirm_pair(self, mode: Mode, confirmation: Confirmation, results: tuple[EvalResult, EvalResult]) -> None:
        """Record a pair's two evaluations, feed the test, and tell the mode once it has decided."""
        now = self.session.clock.time()
        incumbent = reevaluated(self.individuals[confirmation.incumbent.id], results[0])
        self.ledger.finish(incumbent, results[0], finished=now)  # the record and its new evaluation, atomically
        self.session.record(incumbent)
        self.ledger.add_evaluation(confirmation.child.id, results[1], finished=now)  # still running: no record yet
        confirmation.child = reevaluated(confirmation.child, results[1])
        failed = [f"{r.status.value}: {r.reason}" for r in results if r.status is not Status.OK or r.metric is None]
        if failed:
            verdict: bool | None = False
            detail = f"a re-evaluation failed ({failed[0]})"
        else:
            assert results[0].metric is not None and results[1].metric is not None
            verdict = confirmation.test.add(results[0].metric, results[1].metric)
            detail = confirmation.test.summary()
        if verdict is None:
            self._submit_pair(confirmation)
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
        self._told(mode, confirmation.job, final)  # type: ignore[arg-type]

    def _learn(self) -> None:
        """Every `every` results, the notes are rewritten off this thread (an LLM call must not hold up the slots)."""
        learnings = self.operators.learnings
        if not learnings.due(self.session.finished) or self.counts[LEARN]:
            return
        context = operator_context(self.session, Job(BASELINE), 0, learnings.text)
        tag = self._submit(LEARN, Job(BASELINE), None)
        self.executor.propose(tag, learnings.update, attempts(self.session, learnings.every), context)

    def _learned(self, usage: Usage, error: str) -> None:
        if usage.calls or error:  # the event accounts for LLM calls: the offline notes' free rewrites make none
            self.ledger.event("learnings", calls=usage.calls, cost=usage.cost, error=error)
        if self.novelty.memory is not None and not error:
            self.novelty.memory.keep_learnings(self.operators.learnings.text)

    # ---------------------------------------------------------------------------------------------------------------
    def _workers(self) -> int:
        """The slots the mode plans for (the batched ratchet's round), fixed at the start for every resume."""
        workers = int(self.ledger.get_meta("workers", 0)) or self.executor.capacity()
        self.ledger.set_meta("workers", workers)
        return workers

    def _baseline(self) -> Individual | None:
        return next((i for i in self.individuals.values() if not i.parents), None)

    def _stop_reason(self, mode: Mode) -> str:
        started = len(self.individuals) + self.counts[PROPOSE] + len(self.ready)  # the LLM cost counts every call
        if self.fatal:
            return self.fatal
        if reached := self.session.limit_reached(started, self._llm_cost()):
            return reached
        if self.failed_in_a_row >= MAX_FAILED_PROPOSALS:
            return f"{MAX_FAILED_PROPOSALS} proposals failed in a row (see the ledger's proposal_failed events)"
        if mode.stuck and not self.inflight:
            return mode.stuck_reason
        return ""

    def _llm_cost(self) -> float:
        return self.cost_before + self.operators.spend.total.cost

    def _report(self, mode: Mode) -> None:
        if self.operators.spend.total.calls:
            record_spend(self.ledger, self._llm_cost(), self.cached_before + self.operators.spend.total.cached_tokens)
        running, usage = self.counts[EVALUATE] + self.counts[CONFIRM], self.operators.spend.total
        tokens = (usage.prompt_tokens, usage.completion_tokens, self._llm_cost())
        slots = (self.session.finished, running, self.executor.capacity())
        best = (mode.best(), self._baseline())
        self.on_progress(
            Progress(
                *slots, *best, *tokens, self.session.elapsed(), self.session.last, self.note, self.failed_proposals
            )
        )
