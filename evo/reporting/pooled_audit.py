"""Early termination's self-audit pooled over the runs beside one: a run audits a few decisions (3 or 4 in a search
of 50 budgets at the default share), too few to bound its false-stop rate tightly; the runs in the same folder (a
bench's searches, or one config run again) on the same target with the same budget and early_stop settings audit the
same rule, so their tallies (`evo.stopping.audit`) pool."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

from evo.config import RunConfig, load_config
from evo.errors import EvoError
from evo.stopping.audit import AuditTally, audit_from
from population.ledger import Ledger, LedgerError


def beside(root: Path) -> str | None:
    """The audit line of the run at `root` pooled with the runs beside it (its folder's other run directories) that
    ran the same target, env and budget with the same early_stop settings, against the run's own alpha; None until the
    run and at least one such other have watched or stopped a candidate. A run whose config or ledger cannot be read
    is passed over."""
    root = root.resolve()
    own = _settings(root)
    if own is None or not own.early_stop.enabled:
        return None
    mine, others, pooled, alpha = False, 0, AuditTally(), math.nan
    for other in sorted(root.parent.iterdir()):
        config = own if other == root else _settings(other)
        if config is None or _rule(config) != _rule(own):
            continue
        try:
            with Ledger(other / "ledger.sqlite", readonly=True) as ledger:
                measured = audit_from(ledger.events())
        except (LedgerError, sqlite3.Error):  # a run just starting, or a broken one
            continue
        if measured is None:
            continue
        pooled += measured[0]
        if other == root:
            mine, alpha = True, measured[1]
        else:
            others += 1
    if not mine or not others:
        return None
    runs = f"{others} run{'s' if others > 1 else ''}"
    return f"pooled with {runs} beside it (same target, budget and early_stop settings): " + pooled.line(alpha)


def _settings(root: Path) -> RunConfig | None:
    if not (root / "ledger.sqlite").is_file() or not (root / "config.yaml").is_file():
        return None
    try:
        return load_config(root / "config.yaml")
    except EvoError:
        return None


def _rule(config: RunConfig) -> tuple[object, ...]:
    """What the false-stop rate depends on: the target, its locked settings, the budget and the rule."""
    return config.target, dict(config.env), config.budget, config.early_stop
