"""Runs one untrusted command in its own process group under hard limits, and leaves nothing of it behind.

One loop multiplexes the candidate's output, its private result channel, its exit (a pidfd where the kernel has
them) and the limit checks, so the coordinator needs no thread per candidate and a hung candidate is always killable.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evo.errors import EvoError
from evo.evaluation.logcap import CappedLog
from evo.evaluation.parsing import LineSplitter
from evo.evaluation.proctree import COOKIE_VAR, cpu_seconds, descendant, kill_everything, process_tree
from evo.evaluation.sandbox import GENERATIONS

RESULT_FD_VAR = "EVO_RESULT_FD"
MAX_CHANNEL_BYTES = 256 * 1024


@dataclass(frozen=True)
class Limits:
    wall_seconds: float  # hard limit: killed at this age, whatever it is doing
    memory_mb: float | None = None  # resident memory of the whole process tree
    poll_seconds: float = 0.1  # how often memory and the clock are checked
    term_grace: float = 1.0  # between SIGTERM and SIGKILL when the harness stops a run


@dataclass(frozen=True)
class Record:
    """One JSON object the locked code wrote to the result channel, stamped on arrival by the harness."""

    wall: float  # seconds since spawn
    cpu: float  # the main process's CPU seconds at that moment
    data: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    exit_code: int | None
    killed_for: str | None  # "timeout", "memory", "stop" (asked by on_line), "cancelled" (by the caller), or None
    wall_seconds: float
    peak_rss_mb: float
    records: tuple[Record, ...]
    channel_errors: int  # malformed or excess lines on the result channel
    survivors: tuple[int, ...]  # pids that would not die (should always be empty)


def run_supervised(
    command: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    limits: Limits,
    log: CappedLog,
    on_line: Callable[[str], bool],
    cancel: threading.Event | None = None,
    sandbox: Sequence[str] = (),
) -> Outcome:
    """Run `command` (under `sandbox`, a prefix from evo.evaluation.sandbox); `on_line` sees each output line and
    returns True to stop the run; setting `cancel` stops it within a poll interval whatever it prints."""
    read_fd, write_fd = os.pipe()
    cookie = secrets.token_hex(8)
    full_env = {**env, RESULT_FD_VAR: str(write_fd), COOKIE_VAR: cookie}
    argv = [*sandbox, *command]
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(write_fd,),
            start_new_session=True,
        )
    except OSError as exc:
        os.close(read_fd)
        raise EvoError(f"cannot start {argv[0]!r} in {cwd}: {exc.strerror}") from None
    finally:
        os.close(write_fd)
    run = _Run(proc, start, read_fd, log, on_line, GENERATIONS if sandbox else 0)
    try:
        killed_for = run.watch(limits, cancel)
    except BaseException:  # the harness itself is stopping (Ctrl-C, an error): take the candidate down with it
        kill_everything(proc.pid, cookie)
        proc.wait()
        run.close()
        raise
    if killed_for and proc.poll() is None:
        _terminate(proc, limits.term_grace)
    left = kill_everything(proc.pid, cookie)
    proc.wait()
    run.drain()
    run.close()
    return Outcome(
        exit_code=_exit_code(proc.returncode, bool(sandbox)),
        killed_for=killed_for,
        wall_seconds=time.monotonic() - start,
        peak_rss_mb=run.peak_rss / 2**20,
        records=tuple(run.records),
        channel_errors=run.channel_errors,
        survivors=tuple(sorted(left)),
    )


def _exit_code(code: int, sandboxed: bool) -> int:
    """The candidate's exit code. bwrap reports a candidate killed by signal N as exit 128 + N, as shells do: read it
    back as the signal (a candidate that exits with 128 + N itself reads as killed by N)."""
    return 128 - code if sandboxed and code > 128 and code - 128 in signal.valid_signals() else code


def _terminate(proc: subprocess.Popen[bytes], grace: float) -> None:
    """Ask the whole group to stop (so a candidate may flush), then leave the rest to SIGKILL."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except (ProcessLookupError, PermissionError, subprocess.TimeoutExpired):
        pass


class _Run:
    """The state of one supervised run's event loop."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        start: float,
        read_fd: int,
        log: CappedLog,
        on_line: Callable[[str], bool],
        generations: int,
    ) -> None:
        self.proc, self.start, self.log, self.on_line = proc, start, log, on_line
        self._generations = generations  # between the process started and the candidate's main process (a sandbox)
        self._main: int | None = None
        self.records: list[Record] = []
        self.channel_errors = 0
        self.peak_rss = 0
        self._channel_bytes = 0
        self._stop = False
        self._out, self._chan = LineSplitter(), LineSplitter()
        self._last_cpu = 0.0
        self._sel = selectors.DefaultSelector()
        assert proc.stdout is not None
        self._fds = {proc.stdout.fileno(): "out", read_fd: "channel"}
        for fd, name in self._fds.items():
            os.set_blocking(fd, False)
            self._sel.register(fd, selectors.EVENT_READ, name)
        self._pidfd: int | None = None
        if hasattr(os, "pidfd_open"):
            try:
                self._pidfd = os.pidfd_open(proc.pid)
                self._sel.register(self._pidfd, selectors.EVENT_READ, "exit")
            except OSError:
                self._pidfd = None

    def watch(self, limits: Limits, cancel: threading.Event | None) -> str | None:
        deadline = self.start + limits.wall_seconds
        next_sample = self.start
        while self.proc.poll() is None:
            now = time.monotonic()
            if now >= deadline:
                return "timeout"
            if cancel is not None and cancel.is_set():
                return "cancelled"
            if now >= next_sample:
                rss = sum(p.rss_bytes for p in process_tree(self.proc.pid))
                self.peak_rss = max(self.peak_rss, rss)
                if limits.memory_mb is not None and rss > limits.memory_mb * 2**20:
                    return "memory"
                self._main_cpu()
                next_sample = now + limits.poll_seconds
            for key, _ in self._sel.select(timeout=max(0.0, min(deadline, next_sample) - now)):
                if key.data != "exit":
                    self._read(key.fd, key.data)
            if self._stop:
                return "stop"
        return None

    def drain(self, patience: float = 2.0) -> None:
        """Read what the dead candidate left in the pipes (every writer is gone, so EOF comes at once)."""
        deadline = time.monotonic() + patience
        while any(name != "exit" for name in self._registered()) and time.monotonic() < deadline:
            for key, _ in self._sel.select(timeout=0.1):
                if key.data != "exit":
                    self._read(key.fd, key.data)
        for line in self._out.close():
            self.on_line(line)
        for line in self._chan.close():
            self._record(line)

    def close(self) -> None:
        self._sel.close()
        assert self.proc.stdout is not None
        # The stdout file object owns its descriptor: closing the number behind its back would let the object's
        # finaliser close it again later, when another thread's candidate may have been given the same number.
        self.proc.stdout.close()
        for fd in [*(fd for fd, name in self._fds.items() if name != "out"), self._pidfd]:
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.log.close()

    def _registered(self) -> list[str]:
        return [key.data for key in self._sel.get_map().values()]

    def _read(self, fd: int, name: str) -> None:
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        if not data:
            self._sel.unregister(fd)
            return
        if name == "out":
            self.log.write(data)
            for line in self._out.feed(data):
                self._stop = self.on_line(line) or self._stop
        else:
            self._channel_bytes += len(data)
            if self._channel_bytes > MAX_CHANNEL_BYTES:
                self.channel_errors += 1
                return
            for line in self._chan.feed(data):
                self._record(line)

    def _record(self, line: str) -> None:
        if not line.strip():
            return
        try:
            data = json.loads(line)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            self.channel_errors += 1
            return
        self.records.append(Record(time.monotonic() - self.start, self._main_cpu(), data))

    def _main_cpu(self) -> float:
        """The candidate's main process's CPU seconds now, or at the last reading once it is gone. Read at every
        sample too: in a sandbox the main process is reaped as it exits, and a record read after that (a loaded
        machine) was timed at 0 CPU seconds, which let a run over its cpu-clock budget pass."""
        if self._main is None:
            self._main = descendant(self.proc.pid, self._generations)
        cpu = cpu_seconds(self._main) if self._main is not None else None
        self._last_cpu = cpu if cpu is not None else self._last_cpu
        return self._last_cpu
