"""The Ray backend: each evaluation a Ray task on a cluster's workers, proposals on the coordinator's threads.

Nothing is shared but data: the target travels once as its files' bytes (`TargetFiles`, put in Ray's object store),
each task gets the candidate's files, settings and early-stop monitor, runs evo's own evaluator on its node (the
process group, the time and memory limits, the locked-file checks, the attested metric all hold there; the monitor
runs beside the candidate, so a stopped candidate frees its slot at once) and returns the results, the monitors as
they ended and the logs. A task whose worker or node dies is run again, at most `executor.retries` times, then
counts as a crash with the reason. Every candidate declares its resources (`executor.cpus`, `executor.gpus`); with
`slots.count: auto` the number at once follows the cluster's resources as nodes join and leave.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from evo.config import ExecutorConfig, SlotsConfig
from evo.errors import EvoError
from evo.evaluation import EvalResult, Status, TargetSpec, evaluate, load_target
from evo.evaluation.proctree import kill_marked
from evo.evaluation.target import target_files
from evo.execution.base import EvalRequest, Finished
from evo.execution.local import WallClock

try:
    import ray
except ImportError:  # an optional extra: only `executor.kind: ray` needs it
    ray = None  # type: ignore[assignment]

INSTALL = "executor.kind ray needs Ray: pip install 'evo-research[ray]' (or pip install ray)"
CAPACITY_SECONDS = 2.0  # how long a reading of the cluster's resources stands (slots.count: auto)


@dataclass(frozen=True)
class TargetFiles:
    """A target as data: its description and every file's bytes, so a worker without the coordinator's filesystem
    rebuilds it, checked against the locked files' hashes."""

    spec: TargetSpec
    files: dict[str, bytes]
    digest: str


def pack(target: TargetSpec) -> TargetFiles:
    files = {name: (target.root / name).read_bytes() for name in target_files(target.root)}
    digest = hashlib.sha256(repr(sorted((k, hashlib.sha256(v).hexdigest()) for k, v in files.items())).encode())
    return TargetFiles(target, files, digest.hexdigest()[:24])


def unpack(packed: TargetFiles) -> TargetSpec:
    """The target on this node, written once per node (renamed into place whole) and loaded; its locked files must
    hash as they did on the coordinator."""
    root = Path(tempfile.gettempdir()) / "evo-targets" / packed.digest
    if not root.is_dir():
        staging = root.with_name(f".{root.name}.{os.getpid()}")
        for name, data in packed.files.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_bytes(data)
        try:
            staging.rename(root)
        except OSError:  # another worker of this node got there first
            shutil.rmtree(staging, ignore_errors=True)
    target = load_target(root)
    if dict(target.locked) != dict(packed.spec.locked):
        raise EvoError(f"the target unpacked on {socket.gethostname()} does not match the coordinator's")
    return target


def run_requests(packed: TargetFiles, requests: Sequence[EvalRequest]) -> list[tuple[EvalResult, Any, str]]:
    """A task's body, on a worker: each request evaluated in a fresh folder there; (result, monitor, log text)."""
    target = unpack(packed)
    node = {"ray_node": ray.get_runtime_context().get_node_id(), "host": socket.gethostname()}
    out = []
    with tempfile.TemporaryDirectory(prefix="evo-task-") as tmp:
        for number, request in enumerate(requests):
            workdir = Path(tmp) / str(number)
            result = evaluate(target, request.code, workdir, request.settings, request.monitor)
            log = workdir / "log.txt"
            result = replace(result, info={**result.info, **node})
            out.append((result, request.monitor, log.read_text(errors="replace") if log.is_file() else ""))
    return out


def kill_marked_here(name: str, value: str) -> int:
    return kill_marked(name, value)


@dataclass
class _Task:
    tag: Any
    requests: Sequence[EvalRequest]  # as the caller gave them (the workdirs are the coordinator's)
    attempts: int  # runs so far, this one included
    ref: Any  # the task's ObjectRef


@dataclass
class RayExecutor:
    """Evaluations as Ray tasks on the cluster at `config.address`; see the module docstring."""

    config: ExecutorConfig
    slots: SlotsConfig
    clock: WallClock = field(default_factory=WallClock)

    def __post_init__(self) -> None:
        if ray is None:
            raise EvoError(INSTALL)
        self._joined = not ray.is_initialized()  # this executor joined the cluster, so it leaves it on close
        connect(self.config.address)
        self.cpus = self.config.cpus or float(self.slots.threads or 1)
        self.gpus = self.config.gpus if self.config.gpus is not None else float(self.slots.device == "cuda")
        self._remote = ray.remote(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=0)(run_requests)
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="evo-propose")
        self._proposals: dict[Future[Any], Any] = {}
        self._tasks: dict[Future[Any], _Task] = {}
        self._packed: dict[Path, Any] = {}  # target root -> its TargetFiles in the object store
        self._capacity = (0, -math.inf)  # (slots, when read)

    def capacity(self) -> int:
        if self.slots.count != "auto":
            return int(self.slots.count)
        count, read = self._capacity
        if time.monotonic() - read > CAPACITY_SECONDS:
            resources = ray.cluster_resources()
            fits = [resources.get("CPU", 0.0) / self.cpus]
            if self.gpus:
                fits.append(resources.get("GPU", 0.0) / self.gpus)
            count = max(1, math.floor(min(fits)))
            self._capacity = (count, time.monotonic())
        return count

    def free(self) -> int:
        return max(0, self.capacity() - len(self._tasks))

    def pending(self) -> int:
        return len(self._proposals) + len(self._tasks)

    def propose(self, tag: Any, make: Callable[..., Any], *args: Any) -> None:
        self._proposals[self._pool.submit(make, *args)] = tag

    def evaluate(self, tag: Any, requests: Sequence[EvalRequest]) -> None:
        self._submit(_Task(tag, requests, 0, None))

    def _submit(self, task: _Task) -> None:
        threads = max(1, math.floor(self.cpus))
        remote = [replace(r, settings=replace(r.settings, threads=threads, gpus=None)) for r in task.requests]
        task.ref = self._remote.remote(self._target(task.requests[0].target), remote)
        task.attempts += 1
        self._tasks[task.ref.future()] = task

    def _target(self, target: TargetSpec) -> Any:
        if target.root not in self._packed:
            self._packed[target.root] = ray.put(pack(target))
        return self._packed[target.root]

    def wait(self, timeout: float | None = None) -> list[Finished]:
        if not self.pending():
            return []
        done, _ = wait([*self._proposals, *self._tasks], timeout=timeout, return_when=FIRST_COMPLETED)
        finished = []
        for future in done:
            if future in self._proposals:
                tag = self._proposals.pop(future)
                error = future.exception()
                finished.append(Finished(tag, None if error else future.result(), error))
            else:
                finished.extend(self._ended(self._tasks.pop(future), future))
        return finished

    def _ended(self, task: _Task, future: Future[Any]) -> list[Finished]:
        error = future.exception()
        if error is None:
            results = self._returned(task.requests, future.result())
            if task.attempts > 1:
                note = f"run {task.attempts} times: its worker or node died before"
                results = [replace(r, notes=(*r.notes, note)) for r in results]
            return [Finished(task.tag, tuple(results))]
        if isinstance(error, ray.exceptions.RayTaskError):
            return [Finished(task.tag, None, error.as_instanceof_cause())]  # the evaluator's own error
        if task.attempts <= self.config.retries and not isinstance(error, ray.exceptions.TaskCancelledError):
            self._submit(task)  # its worker or node died (or Ray's memory monitor killed it): run it again
            return []
        reason = f"lost its worker {task.attempts} time(s): {type(error).__name__}: {str(error).splitlines()[0][:200]}"
        return [Finished(task.tag, tuple(_lost(r, reason) for r in task.requests))]

    def _returned(self, requests: Sequence[EvalRequest], out: list[tuple[EvalResult, Any, str]]) -> list[EvalResult]:
        """The worker's results as if run here: logs written to the requests' folders, monitors' ends copied back."""
        results = []
        for request, (result, monitor, log) in zip(requests, out, strict=True):
            request.workdir.mkdir(parents=True, exist_ok=True)
            (request.workdir / "log.txt").write_text(log)
            if request.monitor is not None and monitor is not None:
                vars(request.monitor).update(vars(monitor))
            results.append(replace(result, log_path=str(request.workdir / "log.txt")))
        return results

    def kill_marked(self, name: str, value: str) -> int:
        """Kill the processes carrying `name=value` on every node of the cluster (a dead coordinator's candidates)."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        sweep = ray.remote(num_cpus=0)(kill_marked_here)
        refs = [
            sweep.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)).remote(
                name, value
            )
            for node in ray.nodes()
            if node["Alive"]
        ]
        return sum(ray.get(refs))

    def cancel(self) -> None:
        for task in self._tasks.values():
            ray.cancel(task.ref)  # the task is interrupted: its evaluator kills the candidate's process tree
        for future in self._proposals:
            future.cancel()
        self._tasks.clear()

    def close(self) -> None:
        self._pool.shutdown(wait=not self._tasks, cancel_futures=True)
        if self._joined:
            ray.shutdown()


def _lost(request: EvalRequest, reason: str) -> EvalResult:
    budget = request.settings.budget
    return EvalResult(
        Status.CRASH, None, reason, {}, (), None, 0.0, 0.0, request.settings.seed, budget.seconds, budget.clock, "", ""
    )


def connect(address: str) -> None:
    """Join the cluster at `address` as its driver (once per process); a cluster that cannot be reached is a one-line
    error naming the address, found fast (Ray itself retries for minutes)."""
    if ray.is_initialized():
        return
    if address not in ("auto", "local") and not address.startswith("ray://"):
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host or "127.0.0.1", int(port)), timeout=3.0).close()
        except (OSError, ValueError) as exc:
            raise EvoError(f"executor.address {address!r}: no Ray cluster answers there ({exc})") from None
    try:
        ray.init(address=address, logging_level="ERROR", log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise EvoError(f"executor.address {address!r}: cannot join a Ray cluster there ({exc})") from None
