"""A run directory and one session of a search on it: what the coordinator and the peer searches (evo.bench) share.

`runs/<name>/` holds the resolved config, the git store, the ledger and each individual's log. A session opens it,
cleans up after a killed one (`recover`), commits candidates (git first, then the ledger row `running`, so a kill in
between leaves only an orphan commit, which the next session drops), and on closing records the run's elapsed time.
"""

from __future__ import annotations

import fcntl
import math
import os
import secrets
import socket
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from evo.config import RunConfig, StopConfig, dump_config, load_config
from evo.errors import EvoError
from evo.evaluation import EvalResult, EvalSettings, TargetSpec, load_target
from evo.evaluation.control import run_budget
from evo.execution import Clock, EvalRequest, Executor
from evo.stopping import CurveTest
from population.individual import Individual, format_id
from population.ledger import Ledger
from population.store import GitStore

LOCK_FILE = ".lock"  # in the run directory: held by the live coordinator
RUN_MARK = "EVO_RUN"  # in every candidate's environment: finds a dead coordinator's candidates on resume


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
    seconds = run_budget(load_target(config.target), config.budget.seconds)
    config = replace(config, budget=replace(config.budget, seconds=seconds))
    root = runs / name
    staging = root.with_name(f".{root.name}.{secrets.token_hex(4)}")  # renamed into place: a run exists whole or not
    staging.mkdir(parents=True)
    RunPaths(staging).config.write_text(dump_config(config))
    staging.rename(root)
    return root


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


@dataclass
class RunSession:
    """One session on a run directory: its config, target, ledger and store, the records in memory (the session is
    the ledger's only writer, so it never rescans), and the run's elapsed time on the executor's clock."""

    paths: RunPaths
    config: RunConfig
    target: TargetSpec
    ledger: Ledger
    store: GitStore
    run_id: str
    individuals: dict[str, Individual]
    clock: Clock
    started: float  # on the clock, when this session opened
    elapsed_before: float  # the run's elapsed seconds in earlier sessions
    lock: int  # the descriptor holding the run's lock (`lock_run`) while the session lives
    train_seconds: float = 0.0  # budget seconds spent by all individuals (kept as records change: no rescans)
    finished: int = 0  # individuals finished
    last: Individual | None = None  # the one that finished last

    def __post_init__(self) -> None:
        records, self.individuals = self.individuals, {}
        for individual in sorted(records.values(), key=lambda i: (i.finished or 0.0, int(i.id))):
            self.record(individual)

    def record(self, individual: Individual) -> None:
        """Keep `individual` (new, or a newer version of one) and the run's tallies."""
        before = self.individuals.get(individual.id)
        if before is not None:
            self.train_seconds -= before.budget_seconds
            self.finished -= before.is_finished
        self.individuals[individual.id] = individual
        self.train_seconds += individual.budget_seconds
        self.finished += individual.is_finished
        if individual.is_finished and (
            self.last is None or (individual.finished or 0.0) >= (self.last.finished or 0.0)
        ):
            self.last = individual

    @classmethod
    def open(cls, paths: RunPaths, config: RunConfig, clock: Clock) -> RunSession:
        lock = lock_run(paths)
        try:
            return cls._open(paths, config, clock, lock)
        except BaseException:
            os.close(lock)
            raise

    @classmethod
    def _open(cls, paths: RunPaths, config: RunConfig, clock: Clock, lock: int) -> RunSession:
        target = load_target(config.target)
        ledger = Ledger(paths.ledger)
        store = GitStore(paths.git, target.editable)
        check_locked_files(ledger, target)
        run_id = ledger.get_meta("run_id") or secrets.token_hex(8)
        ledger.set_meta("run_id", run_id)
        if ledger.get_meta("started") is None:  # the run's time zero, on its clock (virtual for a simulated one)
            ledger.set_meta("started", clock.time())
        individuals = {i.id: i for i in ledger.all()}
        elapsed = float(ledger.get_meta("elapsed", 0.0))
        return cls(paths, config, target, ledger, store, run_id, individuals, clock, clock.monotonic(), elapsed, lock)

    @property
    def direction(self) -> str:
        return self.target.metric.direction

    def elapsed(self) -> float:
        return self.elapsed_before + self.clock.monotonic() - self.started

    def close(self) -> None:
        """However a session ends: record the run's elapsed time (a resume adds to it), close store and ledger."""
        self.ledger.set_meta("elapsed", self.elapsed())
        self.store.close()
        self.ledger.close()
        os.close(self.lock)

    def recover(self, executor: Executor) -> None:
        """Clean up after a killed session: kill its candidates wherever they run, and forget commits whose ledger
        row was never written (their tags go), so ids stay contiguous."""
        killed = executor.kill_marked(RUN_MARK, self.run_id)
        if killed:
            self.ledger.event("resume", killed_strays=killed)
        for ident in set(self.store.tags()) - set(self.individuals):
            self.store.drop_tag(ident)

    def next_number(self) -> int:
        return max((int(i) for i in self.individuals), default=-1) + 1

    def baseline_code(self) -> dict[str, str]:
        return {name: (self.target.root / name).read_text() for name in self.target.editable}

    def commit(
        self, number: int, code: Mapping[str, str], parents: tuple[Individual, ...], **record: object
    ) -> Individual:
        """Commit a candidate to git, then record it `running` in the ledger; `record` fills the other fields
        (operator, description, rationale, tokens, island...)."""
        ident = format_id(number)
        description = str(record.get("description", ""))
        message = f"{ident}: {description}\n\n{record.get('rationale', '')}".strip()
        sha = self.store.commit(ident, code, [p.commit for p in parents], message)
        now = self.clock.time()
        individual = Individual(
            id=ident,
            parents=tuple(p.id for p in parents),
            commit=sha,
            status="running",
            created=now,
            started=now,
            **record,  # type: ignore[arg-type]
        )
        self.ledger.add(individual)
        self.record(individual)
        return individual

    def settings(self, seed: int | None = None) -> EvalSettings:
        """A candidate's settings (the run's seed unless given), marked so a resume can find it."""
        return candidate_settings(self.config, self.run_id, seed)

    def request(self, individual: Individual, monitor: CurveTest | None = None) -> EvalRequest:
        """The evaluation of `individual` on the run's seed, its log in `individuals/<id>/`."""
        code = self.store.code(individual.commit)
        return EvalRequest(self.target, code, self.paths.individuals / individual.id, self.settings(), monitor)

    def limit_reached(self, started: int, cost: float) -> str:
        """The config's stop limit that is reached (`started`: individuals started, `cost`: LLM spend), or ""."""
        return limit_reached(self.config.stop, started, self.elapsed(), self.train_seconds, cost)


@contextmanager
def running(session: RunSession, executor: Executor) -> Iterator[None]:
    """A session's work on an executor. However it ends the executor is released and the session closed; on an
    error or Ctrl-C the candidates in flight are killed first (a resume evaluates them again)."""
    try:
        yield
    except BaseException:
        executor.cancel()
        raise
    finally:
        executor.close()
        session.close()


def lock_run(paths: RunPaths) -> int:
    """Hold the run's lock for this process (an open descriptor; released when it closes or the process dies, even
    by SIGKILL). The coordinator is the only writer of git, the ledger and the run directory: a second one on a live
    run is refused with a line naming the live one."""
    fd = os.open(paths.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 512).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise EvoError(f"{paths.root} is live: {holder} holds it; a second coordinator is refused") from None
    os.ftruncate(fd, 0)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    os.write(fd, f"coordinator pid {os.getpid()} on {socket.gethostname()} since {started}".encode())
    return fd


def candidate_settings(config: RunConfig, run_id: str, seed: int | None = None) -> EvalSettings:
    """The one place a candidate's settings are made from a run config (the executor adds the slot's threads and
    GPU): the budget as configured, the run's seed unless given, and the run's mark for a resume to find it by."""
    return EvalSettings(
        budget=config.budget,
        seed=config.seed if seed is None else seed,
        device=config.slots.device,
        sandbox=config.executor.sandbox,
        env=dict(config.env),
        marks={RUN_MARK: run_id},
    )


def check_locked_files(ledger: Ledger, target: TargetSpec) -> None:
    """Refuse to go on with a run whose target's locked files changed since it started: metrics would not compare."""
    recorded = ledger.get_meta("target_locked")
    if recorded is None:
        ledger.set_meta("target_locked", dict(target.locked))
    elif recorded != dict(target.locked):
        changed = sorted(set(recorded.items()) ^ set(target.locked.items()))
        raise EvoError(f"target {target.root}: locked file {changed[0][0]} changed since the run started")


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


def reevaluated(individual: Individual, result: EvalResult) -> Individual:
    """`individual` after a re-evaluation on another seed: its seed and seconds add up, its metric stays."""
    return replace(
        individual,
        seeds=(*individual.seeds, result.seed),
        budget_seconds=individual.budget_seconds + result.used,
        wall_seconds=individual.wall_seconds + result.wall_seconds,
    )


def improvement(best: Individual | None, baseline: Individual | None, direction: str) -> float | None:
    """How much better the best is than the baseline, positive when better, in metric units."""
    if best is None or baseline is None or baseline.metric is None or best.metric is None:
        return None
    gain = baseline.metric - best.metric if direction == "minimize" else best.metric - baseline.metric
    return gain if math.isfinite(gain) else None
