"""The directory the dashboard serves: every path a request names is resolved inside it or refused, and the runs and
benches under it are found by what they hold (a run: ledger.sqlite and config.yaml; a bench or sweep: plan.json)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from evo.bench.runner import PLAN_FILE
from evo.errors import EvoError
from evo.search.session import LOCK_FILE, RunPaths

DEPTH = 6  # how deep under the root runs are looked for (a bench's runs sit at bench/runs/<arm>/<seed>)


class OutsideRoot(EvoError):
    """A requested path is not a run or bench under the served directory (`..`, an absolute path, a link out)."""


@dataclass(frozen=True)
class Entry:
    path: str  # relative to the root, with "/" separators: how URLs name it
    kind: str  # "run" or "bench"


class RunsDir:
    """The served directory. Read-only: nothing here writes under it."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise EvoError(f"{root}: no such directory to serve")
        self.root = root.resolve()

    def resolve(self, relative: str, kind: str) -> Path:
        """The run (`kind` "run") or bench ("bench") directory `relative` names; OutsideRoot if it leaves the root or
        is not one."""
        parts = Path(relative).parts
        if not relative or Path(relative).is_absolute() or ".." in parts or "\x00" in relative:
            raise OutsideRoot(f"{relative!r}: not a path inside the runs directory")
        path = (self.root / relative).resolve()  # links followed, then checked: a link out is refused too
        if not path.is_relative_to(self.root):
            raise OutsideRoot(f"{relative!r}: outside the runs directory")
        if kind_of(path) != kind:
            raise OutsideRoot(f"{relative!r}: not a {kind} directory")
        return path

    def entries(self) -> list[Entry]:
        """Every run and bench under the root, sorted by path; a bench's own runs are on its page."""
        found: list[Entry] = []
        for directory, names, _ in os.walk(self.root):
            here = Path(directory)
            depth = len(here.relative_to(self.root).parts)
            names[:] = sorted(n for n in names if not n.startswith(".") and n not in ("git", "individuals", "report"))
            kind = kind_of(here)
            if kind is not None and here != self.root:
                found.append(Entry(here.relative_to(self.root).as_posix(), kind))
            if kind is not None or depth >= DEPTH:
                names[:] = []
        return found


def kind_of(path: Path) -> str | None:
    if (path / PLAN_FILE).is_file():
        return "bench"
    if (path / "ledger.sqlite").is_file() and (path / "config.yaml").is_file():
        return "run"
    return None


def is_live(run: Path) -> bool | None:
    """Whether a coordinator holds the run's lock now (None: the lock names another host, which this one cannot
    see). Read only: taking the lock to test it could turn a resume away. On Linux the kernel's lock table says;
    elsewhere, whether the process the lock file names is alive."""
    lock = RunPaths(run).root / LOCK_FILE
    try:
        holder = lock.read_text(errors="replace").split()
        stat = lock.stat()
    except OSError:
        return False
    if len(holder) >= 5 and holder[:2] == ["coordinator", "pid"] and holder[4] != socket.gethostname():
        return None
    try:
        table = Path("/proc/locks").read_text()
    except OSError:
        return len(holder) >= 3 and holder[2].isdigit() and _alive(int(holder[2]))
    device = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    return any(" FLOCK " in line and f" {device} " in line for line in table.splitlines())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def signature(*paths: Path) -> str:
    """Changes whenever any of the files changes (size and modification time; a ledger's -wal file takes its
    writes): what caches and the pages' polling key on."""
    parts = []
    for path in paths:
        for name in (path, path.with_name(path.name + "-wal")):
            try:
                stat = name.stat()
                parts.append(f"{stat.st_mtime_ns}-{stat.st_size}")
            except OSError:
                parts.append("-")
    return "/".join(parts)
