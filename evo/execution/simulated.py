"""The simulated backend: candidates of a simulated target run at once, in-process, on a virtual clock.

For targets whose training is itself simulated (the surrogate, the ideas landscape), starting a process per candidate
would dominate a study of search strategies at 64 or 256 workers. Here an evaluation calls the target's `simulate`
hook (the same draw its command prints for that seed), feeds the curve to the early-stop monitor point by point as
the evaluator would, and "finishes" at virtual time start + the budget seconds it used (a stopped candidate at its
stop point); a proposal runs at once and finishes after a simulated answer time (lognormal around
`executor.proposal_seconds`). The real coordinator, modes, early stop and confirmation run unchanged on this clock
(cf. Syne Tune's simulator backend): a search with hundreds of workers and thousands of candidates takes minutes.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from evo.config import ExecutorConfig, SlotsConfig
from evo.errors import EvoError
from evo.evaluation import Action, EvalResult, Status
from evo.evaluation.hooks import hook
from evo.execution.base import EvalRequest, Finished

STARTUP = 0.01  # of the budget: what a run that crashes before its first progress line costs
EPOCH = 1.8e9  # virtual timestamps start here (a date in 2027), so records still sort and read as times


@dataclass
class VirtualClock:
    now: float = 0.0  # virtual seconds since the run's start

    def time(self) -> float:
        return EPOCH + self.now

    def monotonic(self) -> float:
        return self.now


@dataclass(order=True)
class _Event:
    at: float
    order: int
    finished: Finished = field(compare=False)
    slot: bool = field(compare=False)  # an evaluation: it frees a slot


@dataclass
class SimulatedExecutor:
    slots: SlotsConfig
    config: ExecutorConfig
    seed: int = 0
    clock: VirtualClock = field(default_factory=VirtualClock)

    def __post_init__(self) -> None:
        if self.slots.count == "auto":
            raise EvoError("executor.kind simulated needs a number of slots (slots.count), not auto")
        self._events: list[_Event] = []
        self._order = itertools.count()
        self._running = 0
        self._rng = random.Random(f"{self.seed}:latency")

    def capacity(self) -> int:
        return int(self.slots.count)

    def free(self) -> int:
        return self.capacity() - self._running

    def pending(self) -> int:
        return len(self._events)

    def propose(self, tag: Any, make: Callable[..., Any], *args: Any) -> None:
        try:
            finished = Finished(tag, make(*args))
        except Exception as exc:  # as a worker thread would hand it back
            finished = Finished(tag, None, exc)
        self._push(self._latency(), finished, slot=False)

    def _latency(self) -> float:
        median = self.config.proposal_seconds
        return median * math.exp(self._rng.gauss(0.0, self.config.proposal_spread)) if median > 0 else 0.0

    def evaluate(self, tag: Any, requests: Sequence[EvalRequest]) -> None:
        if not self.free():
            raise RuntimeError("no free slot: ask free() before evaluate()")
        results = tuple(simulate(request) for request in requests)
        self._running += 1
        self._push(sum(result.wall_seconds for result in results), Finished(tag, results), slot=True)

    def _push(self, delay: float, finished: Finished, slot: bool) -> None:
        heapq.heappush(self._events, _Event(self.clock.now + delay, next(self._order), finished, slot))

    def wait(self, timeout: float | None = None) -> list[Finished]:
        """Advance the clock to the next event (or by `timeout`, if that comes first) and return what ended then."""
        if not self._events:
            return []
        first = self._events[0].at
        if timeout is not None and first > self.clock.now + timeout:
            self.clock.now += timeout
            return []
        self.clock.now = max(self.clock.now, first)
        done = []
        while self._events and self._events[0].at <= self.clock.now:
            event = heapq.heappop(self._events)
            self._running -= event.slot
            done.append(event.finished)
        return done

    def kill_marked(self, name: str, value: str) -> int:
        return 0  # nothing runs outside this process

    def cancel(self) -> None:
        self._events.clear()
        self._running = 0

    def close(self) -> None:
        pass


def simulate(request: EvalRequest) -> EvalResult:
    """One evaluation through the target's `simulate` hook, watched by its monitor as the evaluator would watch the
    process's progress lines; wall seconds are the budget seconds it used."""
    target, settings = request.target, request.settings
    run = hook(target, "simulate")
    if run is None:
        raise EvoError(f"executor.kind simulated needs a target with a 'simulate' hook; {target.root} has none")
    files = dict(request.code) if request.code is not None else {}
    for name in target.editable:
        files.setdefault(name, (target.root / name).read_text())
    budget = settings.budget.seconds
    out = run(files, budget, settings.seed, {**target.env, **settings.env})
    curve, status, reason, metric = [], Status(out["status"]), out.get("reason", ""), out.get("metric")
    for t, value in out["curve"]:
        curve.append((float(t), float(value)))
        if request.monitor is not None and request.monitor.update(t, value) is Action.STOP:
            status, reason, metric = Status.PRUNED, "stopped early by the monitor", None
            break
    # a stopped or crashed run ends where its curve ends (a crash before any progress costs a start-up's worth)
    used = budget if status is Status.OK else curve[-1][0] if curve else STARTUP * budget
    summary = dict(out.get("summary", {})) if status is Status.OK else {}
    return EvalResult(
        status, metric if status is Status.OK else None, reason, summary, tuple(curve), 0 if status is Status.OK else 1,
        used, 0.0, settings.seed, budget, settings.budget.clock, "", reason,
    )  # fmt: skip
