"""What one evaluation of a candidate produced: plain data, so it can cross process and machine boundaries."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from typing import Any


class Status(str, enum.Enum):
    """How a candidate's run ended; only `ok` carries a metric that selection may use."""

    OK = "ok"
    CRASH = "crash"  # non-zero exit, a signal, or over the memory limit
    TIMEOUT = "timeout"  # still running at the hard limit (budget + grace)
    INVALID = "invalid"  # no trustworthy metric: missing, NaN/inf, tampering, failed attestation
    PRUNED = "pruned"  # stopped early by the monitor


@dataclass(frozen=True)
class EvalResult:
    status: Status
    metric: float | None
    reason: str  # one line saying why the status is not ok ("" when ok)
    summary: dict[str, float | str]  # the summary block's `key: value` lines as printed
    curve: tuple[tuple[float, float], ...]  # (seconds on the budget clock, progress value)
    exit_code: int | None
    wall_seconds: float
    peak_rss_mb: float
    seed: int
    budget: float
    clock: str
    log_path: str
    log_tail: str  # the last lines of output: the error for a crash
    notes: tuple[str, ...] = ()  # warnings that did not change the status
    used_seconds: float | None = None  # budget seconds used by a run cut short (a crash); None: the whole budget
    info: dict[str, Any] = field(default_factory=dict)  # from the target's manifest, e.g. entropy_floor_bpb

    @property
    def used(self) -> float:
        """Budget seconds this evaluation is charged: a crash after 2 s used 2 s, not the budget."""
        return self.budget if self.used_seconds is None else self.used_seconds

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}  # shallow: asdict deep-copies
        data.update(
            status=self.status.value,
            summary=dict(self.summary),
            curve=[list(point) for point in self.curve],
            notes=list(self.notes),
            info=dict(self.info),
        )
        return data
