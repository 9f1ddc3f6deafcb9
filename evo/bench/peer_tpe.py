"""A peer search for the benchmark reports: Optuna's TPE sampler with its pruner, on evo's own run directories.

Reports put evo's population search beside the standard hyperparameter search a practitioner would reach for, at
equal compute. So the peer searches what evo's offline `param` operator mutates (every mutable top-level constant of
the editable files, within the same domains: `tpe_space`), through Optuna's ask-and-tell interface, and writes its
run directory exactly as the coordinator does (one git commit per trial, its parent the baseline; an `Individual`
per trial in the ledger; pruned trials charged only the budget seconds they used), so `load_run`, `evo status`,
`evo show` and `evo export` read it unchanged, and its `mode` is `PEER_NAME` (from `peer.json`).

The peer uses one slot (slot 0 of the config): trials run one after another, the way the bench gives each search
one slot. Individual 0000 is the baseline, evaluated as the target ships it and added to the study as a finished
trial, so TPE starts from it. Each trial reports its learning curve to the pruner on a fixed grid of budget fractions
(the noise model's GRID: every trial reports the same steps, which the median pruner needs, whatever its progress
lines' timing). Unlike `param`, which changes one or two constants, a trial sets every constant: that is TPE's way.

A `kill -9` at any moment loses nothing, since the ledger is the only state: a new session kills the dead one's
candidates, drops commits that never reached the ledger, rebuilds the study from the finished individuals (their
parameters read back from their code, their curves on the grid, so sampler and pruner see them), evaluates again
the one left `running` (its parameters enqueued, so its trial is the same), and goes on. A resumed session's sampler
is seeded from the run's seed and the trials so far: the run's seed again would repeat the random start.

`peer.json` keys (all but `name` optional):
- `pruner`: `median` (Optuna's MedianPruner, the default) or `none`.
- `startup_trials`: trials completed (`ok`), the baseline included, before the pruner may stop one (default 5).
- `warmup`: fraction of the budget before the pruner looks at a curve (default 0.1).
- `tpe_startup_trials`: random trials before TPE models the results (default 10, Optuna's).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from evo.bench.tpe_space import Knob, child, distribution, params_of, search_space
from evo.errors import EvoError
from evo.evaluation import Action, EvalResult, Status
from evo.execution import LocalExecutor, run_all
from evo.modes import job_rng
from evo.reporting.run_data import PEER_FILE
from evo.search.session import RunPaths, RunSession, charge_pruned, running, session_config
from evo.stopping import GRID
from population.individual import Individual

try:
    import optuna
except ImportError:  # an optional dependency: only run_tpe needs it
    optuna = None  # type: ignore[assignment]

PEER_NAME = "optuna-tpe"
PRUNERS = ("median", "none")


@dataclass(frozen=True)
class PeerSettings:
    """`peer.json`: which pruner, and when it and the sampler start to act (see the module docstring)."""

    pruner: str = "median"  # one of PRUNERS
    startup_trials: int = 5  # trials completed, the baseline included, before the pruner may stop one
    warmup: float = 0.1  # fraction of the budget before the pruner looks at a curve
    tpe_startup_trials: int = 10  # random trials before TPE models the results (Optuna's default)


def read_peer(path: Path) -> PeerSettings:
    """Read and check `peer.json`; a bad key or value is a one-line EvoError naming the file and the key."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise EvoError(f"{path}: cannot read it as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise EvoError(f"{path}: expected a JSON object of settings")
    known = [f.name for f in fields(PeerSettings)]
    for key in data:
        if key != "name" and key not in known:
            raise EvoError(f"{path}: unknown key {key!r} (known: name, {', '.join(known)})")
    if data.get("name") != PEER_NAME:
        raise EvoError(f"{path}: key 'name' must be {PEER_NAME!r}, got {data.get('name')!r}")
    settings = PeerSettings(**{k: v for k, v in data.items() if k != "name"})
    rules = {
        "pruner": (settings.pruner in PRUNERS, f"one of {', '.join(PRUNERS)}"),
        "startup_trials": (_is_int(settings.startup_trials) and settings.startup_trials >= 0, "an integer >= 0"),
        "warmup": (_is_number(settings.warmup) and 0 <= settings.warmup < 1, "a number in [0, 1)"),
        "tpe_startup_trials": (
            _is_int(settings.tpe_startup_trials) and settings.tpe_startup_trials >= 1,
            "an integer >= 1",
        ),
    }
    for key, (ok, wanted) in rules.items():
        if not ok:
            raise EvoError(f"{path}: key {key!r} must be {wanted}, got {getattr(settings, key)!r}")
    return settings


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# ---------------------------------------------------------------------------------------------------- the pruner


class GridReport:
    """Turns a curve's points into (step, value) reports at the grid of budget fractions k / GRID, so every trial
    reports the same steps, live and when rebuilt: a step is reported once a point at or after it arrives, its value
    interpolated from the points either side (the first point's value before it), as `evo.stopping.resample` reads
    a curve; so a sparse curve is compared at the right fractions, not at its next point's."""

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self.step = 0  # the last step reported
        self.last: tuple[float, float] | None = None  # the previous point

    def feed(self, t: float, value: float) -> list[tuple[int, float]]:
        reached = min(GRID, math.floor(GRID * t / self.budget + 1e-9))
        reports = [(step, self._at(step * self.budget / GRID, t, value)) for step in range(self.step + 1, reached + 1)]
        self.step = max(self.step, reached)
        self.last = (t, value)
        return reports

    def _at(self, x: float, t: float, value: float) -> float:
        if self.last is None or t <= self.last[0]:
            return value
        t0, v0 = self.last
        return v0 + (value - v0) * min(1.0, max(0.0, (x - t0) / (t - t0)))

    @staticmethod
    def of_curve(curve: Sequence[tuple[float, float]], budget: float) -> dict[int, float]:
        report = GridReport(budget)
        return {step: value for t, v in curve for step, value in report.feed(t, v)}


@dataclass
class PrunerMonitor:
    """The evaluator's monitor (`evo.evaluation.Monitor`) for one trial: reports its curve and asks the pruner,
    except at the budget's end, where stopping would save nothing and lose the final metric."""

    trial: Any  # an optuna.trial.Trial
    grid: GridReport
    stopped_at: float | None = None  # the fraction of the budget where the pruner stopped it

    def update(self, t: float, value: float) -> Action:
        for step, reported in self.grid.feed(t, value):
            self.trial.report(reported, step)
            if t < self.grid.budget and self.trial.should_prune():
                self.stopped_at = t / self.grid.budget  # where the candidate is (its report may cover earlier steps)
                return Action.STOP
        return Action.CONTINUE


# ---------------------------------------------------------------------------------------------------- the search


def _state(individual: Individual) -> Any:
    """A finished individual's Optuna trial state: only an `ok` run with a finite metric completes."""
    if individual.is_parent_eligible:
        return optuna.trial.TrialState.COMPLETE
    return optuna.trial.TrialState.PRUNED if individual.status == Status.PRUNED.value else optuna.trial.TrialState.FAIL


def run_tpe(root: Path, on_line: Callable[[str], None] | None = None, gpus: tuple[str, ...] | None = None) -> str:
    """Run (or resume) the TPE peer search in run directory `root` until a stop limit; return the stop reason.
    `gpus`: this session's CUDA_VISIBLE_DEVICES for its one slot, in place of the config's."""
    if optuna is None:
        raise EvoError("the optuna-tpe peer needs optuna: pip install -e '.[bench]'")
    settings = read_peer(Path(root) / PEER_FILE)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return TpeSearch(Path(root), settings, on_line or (lambda line: None), gpus).run()


class TpeSearch:
    """One session of the peer on a run directory; see the module docstring."""

    def __init__(
        self, root: Path, settings: PeerSettings, on_line: Callable[[str], None], gpus: tuple[str, ...] | None
    ) -> None:
        paths = RunPaths(root)
        config = session_config(paths, gpus)
        stop = config.stop
        if stop.evaluations is None and stop.wall_seconds is None and stop.train_seconds is None:
            raise EvoError(
                f"{paths.config}: the {PEER_NAME} peer has no LLM cost to cap: it needs stop.evaluations, "
                "stop.train_seconds or stop.wall_seconds"
            )
        self.settings = settings
        self.on_line = on_line
        self.executor = LocalExecutor(config.slots)  # trials run one at a time, on slot 0
        self.session = RunSession.open(paths, config, self.executor.clock)
        self.config, self.individuals = config, self.session.individuals

    def run(self) -> str:
        with running(self.session, self.executor):
            return self._run()

    def _run(self) -> str:
        session = self.session
        session.recover(self.executor)
        baseline = next((i for i in self.individuals.values() if not i.parents), None)
        if baseline is None:
            baseline = self._commit(session.baseline_code(), (), "baseline", "baseline")
        code = session.store.code(baseline.commit)
        knobs = search_space(code, session.target.editable)
        if not knobs:
            raise EvoError(f"target {session.target.root}: the {PEER_NAME} peer found no mutable constants to search")
        space = {knob.param: distribution(knob.domain) for knob in knobs}
        if not baseline.is_finished:
            baseline = self._evaluate(baseline, None)
        trials = [i for i in self.individuals.values() if i.parents]
        study = optuna.create_study(
            direction=session.direction,
            sampler=optuna.samplers.TPESampler(
                n_startup_trials=self.settings.tpe_startup_trials, seed=self._sampler_seed(len(trials))
            ),
            pruner=self._pruner(),
        )
        for individual in [baseline, *(i for i in trials if i.is_finished)]:
            study.add_trial(self._frozen(individual, knobs, space))
        for individual in [i for i in trials if not i.is_finished]:  # killed mid-evaluation: evaluate it again
            study.enqueue_trial(params_of(session.store.code(individual.commit), knobs))
            self._trial(study, space, individual)
        while not (reason := session.limit_reached(len(self.individuals), 0.0)):
            trial = study.ask(space)
            new, description = child(code, knobs, trial.params)
            individual = self._commit(new, (baseline,), PEER_NAME, description)
            self._trial(study, space, individual, trial)
        return reason

    def _sampler_seed(self, trials: int) -> int:
        """The config's seed, so a search replays; a resumed session draws afresh (`trials` earlier trials), or it
        would repeat the first session's random start."""
        return self.config.seed if trials == 0 else job_rng(self.config.seed, trials).getrandbits(32)

    def _pruner(self) -> Any:
        if self.settings.pruner == "none":
            return optuna.pruners.NopPruner()
        return optuna.pruners.MedianPruner(
            n_startup_trials=self.settings.startup_trials, n_warmup_steps=round(self.settings.warmup * GRID)
        )

    def _frozen(self, individual: Individual, knobs: Sequence[Knob], space: Mapping[str, Any]) -> Any:
        """A finished individual as a finished Optuna trial: its parameters from its code, its curve on the grid."""
        params = params_of(self.session.store.code(individual.commit), knobs)
        steps = GridReport.of_curve(individual.curve, self.config.budget.seconds)
        state, value = _state(individual), individual.metric
        if state is optuna.trial.TrialState.PRUNED:
            last = steps[max(steps)] if steps else math.nan
            value = last if math.isfinite(last) else None  # as study.tell records a pruned trial
        elif state is optuna.trial.TrialState.FAIL:
            value = None
        return optuna.trial.create_trial(
            state=state,
            value=value,
            params=params,
            distributions={name: space[name] for name in params},
            intermediate_values=steps,
        )

    def _trial(self, study: Any, space: Mapping[str, Any], individual: Individual, trial: Any = None) -> None:
        """Evaluate `individual` as an Optuna trial (asked now if not given), watched by the pruner; tell the result."""
        trial = trial if trial is not None else study.ask(space)
        monitor = PrunerMonitor(trial, GridReport(self.config.budget.seconds))
        finished = self._evaluate(individual, monitor)
        state = _state(finished)
        study.tell(trial, finished.metric if state is optuna.trial.TrialState.COMPLETE else None, state=state)

    # ------------------------------------------------------------------------------------------------ the run dir
    def _commit(
        self, code: Mapping[str, str], parents: tuple[Individual, ...], operator: str, description: str
    ) -> Individual:
        number = self.session.next_number()
        return self.session.commit(number, code, parents, operator=operator, description=description)

    def _evaluate(self, individual: Individual, monitor: PrunerMonitor | None) -> Individual:
        """Evaluate `individual` on slot 0 and record the result (a pruned run charged up to where it stopped)."""
        session = self.session
        (result,) = run_all(self.executor, [session.request(individual, monitor)])  # type: ignore[arg-type]
        now = session.clock.time()
        finished = individual.with_result(result, finished=now)
        if result.status is Status.PRUNED and monitor is not None:
            finished = self._pruned(individual, result, now, monitor.stopped_at or 0.0)
        session.ledger.finish(finished, result, started=individual.started)
        session.ledger.set_meta("elapsed", session.elapsed())
        session.record(finished)
        metric = "-" if finished.metric is None else f"{finished.metric:.6f}"
        name = session.target.metric.name
        self.on_line(f"{finished.id} {finished.status:<7} {name} {metric}  {finished.description}")
        return finished

    def _pruned(self, individual: Individual, result: EvalResult, now: float, fraction: float) -> Individual:
        pruner = f"Optuna's {self.settings.pruner} pruner"
        reason = f"stopped at {fraction:.0%} of the budget by {pruner}: its curve is worse than earlier trials'"
        finished, used, saved = charge_pruned(individual, result, now, reason)
        self.session.ledger.event(
            "pruned",
            individual=individual.id,
            pruner=self.settings.pruner,
            fraction=fraction,
            used_seconds=used,
            saved_seconds=saved,
        )
        return finished
