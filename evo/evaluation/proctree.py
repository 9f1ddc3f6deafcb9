"""Finding and killing every process a candidate started, through psutil, so that it works on Linux and macOS alike.

A candidate's children are found three ways, because each alone can be escaped: its process group, its descendants
by parent id, and an environment cookie that every descendant inherits (the way Jenkins finds stray build processes),
which also finds a grandchild that called setsid() and was orphaned. Zombies count as gone; processes we may not read
(another user's) are skipped. macOS shows another process's environment only when its executable is not restricted
(hardened, entitled or Apple's own), so there a daemon running such an executable escapes the cookie.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psutil

COOKIE_VAR = "EVO_CANDIDATE_COOKIE"
_GONE = (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int
    pgrp: int
    rss_bytes: int
    cpu_seconds: float


def _scan(attrs: list[str]) -> Iterator[tuple[psutil.Process, dict[str, Any]]]:
    """Every process with `attrs` read in one go (None where access is denied), less those that die meanwhile.

    The dict is built here rather than by process_iter(attrs=...), which leaves it on Process objects it shares with
    every caller: a scan from another candidate's thread could replace it before it is read."""
    for proc in psutil.process_iter():
        try:
            info = proc.as_dict(attrs, ad_value=None)
        except psutil.NoSuchProcess:
            continue
        yield proc, info


def _live(proc: psutil.Process) -> bool:
    try:
        return proc.status() not in _GONE
    except psutil.Error:
        return False


def _group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _family(pid: int) -> list[psutil.Process]:
    """`pid` and its descendants if it is alive, found in one reading of every process's parent (one call on macOS)."""
    try:
        top = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return []
    if not _live(top):
        return []
    try:
        return [top, *top.children(recursive=True)]
    except psutil.AccessDenied:  # another user's process is unreadable (Linux with /proc mounted hidepid=1)
        return _family_slowly(top)
    except psutil.NoSuchProcess:
        return []


def _family_slowly(top: psutil.Process) -> list[psutil.Process]:
    """`_family`, asking each process for its parent and skipping those that will not say."""
    children: dict[int, list[psutil.Process]] = {}
    for proc, info in _scan(["ppid"]):
        if info["ppid"] is not None:
            children.setdefault(info["ppid"], []).append(proc)
    family = {top.pid: top}
    todo = [top.pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child.pid not in family:
                family[child.pid] = child
                todo.append(child.pid)
    return list(family.values())


def _measure(proc: psutil.Process) -> ProcInfo | None:
    """`proc`'s parent, group, resident memory and CPU time (0 where they may not be read), or None if it is gone."""
    try:
        info = proc.as_dict(["ppid", "status", "memory_info", "cpu_times"], ad_value=None)
    except psutil.NoSuchProcess:
        return None
    group = _group(proc.pid)
    if info["status"] in _GONE or info["ppid"] is None or group is None:
        return None
    memory, cpu = info["memory_info"], info["cpu_times"]
    return ProcInfo(proc.pid, info["ppid"], group, memory.rss if memory else 0, cpu.user + cpu.system if cpu else 0.0)


def process_tree(root: int) -> list[ProcInfo]:
    """The live processes in `root`'s process group or descended from it."""
    group = {pid for pid in psutil.pids() if _group(pid) == root}
    members: dict[int, psutil.Process] = {}
    for top in [root, *sorted(group - {root})]:  # most of the group is in root's family: one pass, usually
        if top not in members:
            members.update((proc.pid, proc) for proc in _family(top))
    return [info for proc in members.values() if (info := _measure(proc)) is not None]


def descendant(pid: int, generations: int) -> int | None:
    """`pid`'s eldest live descendant `generations` down (`pid` itself at 0), or None where there is none yet."""
    for _ in range(generations):
        try:
            children = psutil.Process(pid).children()
            if not children:
                return None
            pid = min(children, key=lambda child: (child.create_time(), child.pid)).pid
        except psutil.Error:
            return None
    return pid


def cpu_seconds(pid: int) -> float | None:
    """`pid`'s own CPU seconds (user and system, all threads), or None if it is gone, a zombie or unreadable."""
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            if proc.status() in _GONE:
                return None
            cpu = proc.cpu_times()
    except psutil.Error:
        return None
    return cpu.user + cpu.system


def with_env(name: str, value: str) -> set[int]:
    """Live processes whose environment holds `name=value` (readable ones: this user's)."""
    return {
        proc.pid
        for proc, info in _scan(["environ"])
        if info["environ"] is not None and info["environ"].get(name) == value and _live(proc)
    }


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
        return survivors(root, cookie)

    return _kill_until_gone(find, patience)


def kill_marked(name: str, value: str) -> int:
    """SIGKILL every process carrying `name=value` in its environment (a dead coordinator's candidates), waiting
    until they are gone since callers reuse their folders next; return how many there were."""
    found = with_env(name, value) - {os.getpid()}
    if found:
        _kill_until_gone(lambda: with_env(name, value), 3.0)
    return len(found)
