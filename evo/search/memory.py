"""Memory across runs: what earlier searches on the same target tried, so a new one does not repeat them.

One folder per target under `<runs_dir>/memory/` (or `memory.path`), keyed by the target's locked files and locked
settings: a target whose data, evaluation or corpus changed starts a new memory. It holds `attempts.jsonl`, one line
per finished child of any run (its run, id, parent, operator, description, status, reason, metric, change against its
parent, and the normal form the novelty gate compares), appended under a lock as children finish, and
`learnings.md`, the latest notes any run wrote. A new run reads both: its operator sees the earlier attempts and
starts from the notes, its novelty gate refuses a child an earlier run already evaluated. Lines are never rewritten;
a run that is resumed may write a line twice, and reading keeps the first.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evo.config import RunConfig
from evo.evaluation import EvalSettings, TargetSpec
from evo.evaluation.settings import locked_settings
from population.individual import Individual

ATTEMPTS = "attempts.jsonl"
LEARNINGS = "learnings.md"


@dataclass(frozen=True)
class Memory:
    folder: Path
    run: str  # this run's directory (absolute): its own lines are not "earlier"

    def earlier(self) -> list[dict[str, Any]]:
        """The other runs' attempts, oldest first, each once."""
        seen: set[tuple[str, str]] = set()
        found = []
        for record in self._records():
            key = (record.get("run", ""), record.get("id", ""))
            if record.get("run") != self.run and key not in seen:
                seen.add(key)
                found.append(record)
        return found

    def record(self, individual: Individual, parent: Individual | None, form: Mapping[str, Any]) -> None:
        """Append one finished child (one `write` of one line, under an exclusive lock: runs may share the file)."""
        delta = None
        if parent is not None and individual.metric is not None and parent.metric is not None:
            delta = individual.metric - parent.metric
        line = {
            "run": self.run,
            "name": Path(self.run).name,
            "id": individual.id,
            "parent": individual.parents[0] if individual.parents else None,
            "operator": individual.operator,
            "model": individual.model,
            "description": individual.description,
            "status": individual.status,
            "reason": individual.reason,
            "metric": individual.metric,
            "delta": delta,
            "form": form,
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / ATTEMPTS).open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(json.dumps(line) + "\n")

    def learnings(self) -> str:
        path = self.folder / LEARNINGS
        return path.read_text(errors="replace") if path.is_file() else ""

    def keep_learnings(self, text: str) -> None:
        """The latest notes of any run on the target, replaced atomically."""
        if not text.strip():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{LEARNINGS}.{os.getpid()}.tmp"
        tmp.write_text(text)
        os.replace(tmp, self.folder / LEARNINGS)

    def _records(self) -> Iterator[dict[str, Any]]:
        path = self.folder / ATTEMPTS
        if not path.is_file():
            return
        with path.open(errors="replace") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:  # a line cut by a kill: the rest are whole
                    continue
                if isinstance(record, dict):
                    yield record


def memory_for(config: RunConfig, target: TargetSpec, run_dir: Path) -> Memory | None:
    """The run's memory, or None when `memory.enabled` is off."""
    if not config.memory.enabled:
        return None
    root = Path(config.memory.path).expanduser() if config.memory.path else Path(config.runs_dir) / "memory"
    return Memory(root.resolve() / target_key(target, config.env), str(run_dir.resolve()))


def target_key(target: TargetSpec, env: Mapping[str, str]) -> str:
    """The target's identity for memory: its locked files' digests and its locked settings."""
    settings = locked_settings(target, EvalSettings(env=env))
    source = json.dumps({"locked": dict(target.locked), "settings": settings}, sort_keys=True)
    return f"{target.root.name}-{hashlib.sha256(source.encode()).hexdigest()[:12]}"
