"""The executor contract (docs/architecture.md): the coordinator's only way to run work.

The coordinator hands an executor proposals (a function that makes a child: operators may call an LLM, so it runs off
the coordinator's thread) and evaluations (the candidate's files, its settings and its early-stop monitor as plain
data), waits for the next one to finish, can cancel what is in flight, asks how many slots there are and how many are
free, and reads the time through it. Only plain data crosses this boundary, so a backend may run an evaluation on
another machine, or on a simulated clock: the coordinator never calls `time` itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from evo.evaluation import EvalResult, EvalSettings, Monitor, TargetSpec


@dataclass(frozen=True)
class EvalRequest:
    """One evaluation, as data. `settings` carry the budget, seed and environment; the executor adds the placement
    (CPU threads, GPUs) of the slot it runs on. `workdir` receives the log; the workspace inside it is removed once
    the run ends."""

    target: TargetSpec
    code: Mapping[str, str] | None  # editable file -> text; None: the target as it is
    workdir: Path
    settings: EvalSettings
    monitor: Monitor | None = None


@dataclass(frozen=True)
class Finished:
    """A submitted piece of work that ended: its tag (the caller's), and its value (a proposal function's return
    value, or one `EvalResult` per request of an evaluation), or the exception it raised."""

    tag: Any
    value: Any = None
    error: BaseException | None = None

    def result(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


class Clock(Protocol):
    """The executor's time: wall time for real backends, virtual time for a simulated one."""

    def time(self) -> float:
        """Seconds since the epoch, for timestamps."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for elapsed times."""
        ...


class Executor(Protocol):
    clock: Clock

    def capacity(self) -> int:
        """Slots: evaluations that may run at once."""
        ...

    def free(self) -> int:
        """Slots not holding an evaluation now (proposals hold none)."""
        ...

    def propose(self, tag: Any, make: Callable[..., Any], *args: Any) -> None:
        """Run `make(*args)` off the caller's thread; its value comes back from `wait` under `tag`."""
        ...

    def evaluate(self, tag: Any, requests: Sequence[EvalRequest]) -> None:
        """Run `requests` one after another on one free slot (a confirmation pair is two); their results come back
        from `wait` under `tag` as a tuple. There must be a free slot."""
        ...

    def wait(self, timeout: float | None = None) -> list[Finished]:
        """Block until at least one submitted piece of work ended (or `timeout` seconds passed on the executor's
        clock) and return all that did; [] when none is pending or none ended in time."""
        ...

    def pending(self) -> int:
        """Submitted pieces of work not yet returned by `wait`."""
        ...

    def kill_marked(self, name: str, value: str) -> int:
        """Kill the processes carrying `name=value` in their environment wherever this executor runs candidates (a
        dead coordinator's candidates, found by its run's mark); how many there were."""
        ...

    def cancel(self) -> None:
        """Stop everything in flight now (candidates are killed); `wait` then returns what ended, failed or not."""
        ...

    def close(self) -> None:
        """Release the executor's workers (after `cancel`, or once nothing is pending)."""
        ...


def run_all(
    executor: Executor,
    requests: Sequence[EvalRequest],
    on_result: Callable[[int, EvalResult], None] = lambda index, result: None,
) -> list[EvalResult]:
    """Evaluate `requests` on all of the executor's slots at once, each on its own; `on_result` sees each result as
    it arrives (with its request's index); returns the results in request order."""
    results: dict[int, EvalResult] = {}
    queue = list(enumerate(requests))
    while queue or executor.pending():
        while queue and executor.free():
            index, request = queue.pop(0)
            executor.evaluate(index, [request])
        for finished in executor.wait():
            results[finished.tag] = finished.result()[0]
            on_result(finished.tag, results[finished.tag])
    return [results[index] for index in range(len(requests))]
