"""The local backend: evaluations as supervised subprocesses on this machine, one thread watching each, and
proposals on threads of their own; slots split the CPU cores between them, or take one GPU each."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any

from evo.config import SlotsConfig
from evo.evaluation import EvalResult, available_cores, evaluate
from evo.evaluation.proctree import kill_marked
from evo.execution.base import EvalRequest, Finished


class WallClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


def placement(slots: SlotsConfig, slot: int, cores: int) -> dict[str, Any]:
    """The EvalSettings fields that place a candidate on `slot`: its CPU threads and its GPU."""
    threads = slots.threads or max(1, cores // slots.count)
    return {"threads": threads, "gpus": slots.gpus[slot] if slots.gpus else None}


@dataclass
class LocalExecutor:
    """`slots.count` evaluations at once; each slot's candidates get `slots.threads` CPU threads (default: an even
    share of `cores`, this process's by default) and the slot's entry of `slots.gpus` as CUDA_VISIBLE_DEVICES."""

    slots: SlotsConfig
    cores: int = field(default_factory=available_cores)
    clock: WallClock = field(default_factory=WallClock)

    def __post_init__(self) -> None:
        self._free = list(range(self.slots.count))
        # A proposal holds no slot but the coordinator never has more out than free slots: 2x workers always suffice.
        self._pool = ThreadPoolExecutor(max_workers=2 * self.slots.count, thread_name_prefix="evo-slot")
        self._futures: dict[Future[Any], tuple[Any, int | None]] = {}
        self._cancelled = threading.Event()

    def capacity(self) -> int:
        return self.slots.count

    def free(self) -> int:
        return len(self._free)

    def pending(self) -> int:
        return len(self._futures)

    def propose(self, tag: Any, make: Callable[..., Any], *args: Any) -> None:
        self._futures[self._pool.submit(make, *args)] = (tag, None)

    def evaluate(self, tag: Any, requests: Sequence[EvalRequest]) -> None:
        if not self._free:
            raise RuntimeError("no free slot: ask free() before evaluate()")
        slot = min(self._free)  # the lowest: a search that runs one at a time keeps to slot 0
        self._free.remove(slot)
        placed = [replace(r, settings=replace(r.settings, **self.placement(slot))) for r in requests]
        self._futures[self._pool.submit(self._run, placed)] = (tag, slot)

    def placement(self, slot: int) -> dict[str, Any]:
        return placement(self.slots, slot, self.cores)

    def wait(self, timeout: float | None = None) -> list[Finished]:
        if not self._futures:
            return []
        done, _ = wait(self._futures, timeout=timeout, return_when=FIRST_COMPLETED)
        finished = []
        for future in done:
            tag, slot = self._futures.pop(future)
            if slot is not None:
                self._free.append(slot)
            error = future.exception()
            finished.append(Finished(tag, None if error else future.result(), error))
        return finished

    def kill_marked(self, name: str, value: str) -> int:
        return kill_marked(name, value)

    def cancel(self) -> None:
        self._cancelled.set()
        for future in self._futures:
            future.cancel()  # not started yet: never will be

    def close(self) -> None:
        """Wait for evaluations (quick after `cancel`: their candidates are killed), and for proposals unless
        cancelled: an LLM call cannot be interrupted, and a cancelled search does not need its answer."""
        wait([future for future, (_, slot) in self._futures.items() if slot is not None])
        self._pool.shutdown(wait=not self._cancelled.is_set(), cancel_futures=True)

    def _run(self, requests: Sequence[EvalRequest]) -> tuple[EvalResult, ...]:
        results = []
        for request in requests:
            if request.workdir.exists():  # left by a session that died while evaluating it
                shutil.rmtree(request.workdir)
            result = evaluate(
                request.target, request.code, request.workdir, request.settings, request.monitor, self._cancelled
            )
            shutil.rmtree(request.workdir / "workspace", ignore_errors=True)  # the log stays
            results.append(result)
        return tuple(results)
