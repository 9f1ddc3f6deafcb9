"""Finding and killing every process a candidate started, through /proc (Linux).

A candidate's children are found three ways, because each alone can be escaped: its process group, its descendants
by parent id, and an environment cookie that every descendant inherits (the way Jenkins finds stray build processes),
which also finds a grandchild that called setsid() and was orphaned.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
COOKIE_VAR = "EVO_CANDIDATE_COOKIE"
_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int
    pgrp: int
    rss_bytes: int
    cpu_seconds: float


def _stat(pid: int) -> ProcInfo | None:
    """One process's /proc/PID/stat, or None if it is gone or a zombie."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
    if fields[0] in ("Z", "X"):
        return None
    cpu = (int(fields[11]) + int(fields[12])) / _TICK
    return ProcInfo(pid, int(fields[1]), int(fields[2]), int(fields[21]) * _PAGE, cpu)


def _pids() -> list[int]:
    try:
        return [int(name) for name in os.listdir(PROC) if name.isdigit()]
    except OSError:
        return []


def process_tree(root: int) -> list[ProcInfo]:
    """The live processes in `root`'s process group or descended from it."""
    procs = [info for pid in _pids() if (info := _stat(pid)) is not None]
    members = {p.pid for p in procs if p.pgrp == root or p.pid == root}
    grew = True
    while grew:
        found = {p.pid for p in procs if p.ppid in members} - members
        members |= found
        grew = bool(found)
    return [p for p in procs if p.pid in members]


def cpu_seconds(pid: int) -> float | None:
    info = _stat(pid)
    return info.cpu_seconds if info else None


def with_env(name: str, value: str) -> set[int]:
    """Live processes whose environment holds `name=value` (readable ones: this user's)."""
    entry = f"{name}={value}".encode()
    found = set()
    for pid in _pids():
        try:
            environ = (PROC / str(pid) / "environ").read_bytes()
        except OSError:
            continue
        if entry in environ.split(b"\0") and _stat(pid) is not None:
            found.add(pid)
    return found


def survivors(root: int, cookie: str) -> set[int]:
    """Live processes that belong to the candidate started as `root` with `cookie`, never this process itself."""
    return ({p.pid for p in process_tree(root)} | with_env(COOKIE_VAR, cookie)) - {os.getpid()}


def _kill_until_gone(find: Callable[[], set[int]], patience: float) -> set[int]:
    """SIGKILL what `find` returns until it returns nothing; return what still stood after `patience` seconds."""
    deadline = time.monotonic() + patience
    while True:
        left = find() - {os.getpid()}
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.02)


def kill_everything(root: int, cookie: str, patience: float = 3.0) -> set[int]:
    """SIGKILL the candidate's whole tree until nothing is left; return what still stood after `patience` seconds."""

    def find() -> set[int]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(root, signal.SIGKILL)
        return survivors(root, cookie) if PROC.is_dir() else set()

    return _kill_until_gone(find, patience)


def kill_marked(name: str, value: str) -> int:
    """SIGKILL every process carrying `name=value` in its environment (a dead coordinator's candidates), waiting
    until they are gone since callers reuse their folders next; return how many there were."""
    found = with_env(name, value) - {os.getpid()}
    if found:
        _kill_until_gone(lambda: with_env(name, value), 3.0)
    return len(found)
