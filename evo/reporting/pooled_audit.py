"""Early termination's self-audit pooled over runs of the same rule: a run audits a few decisions (3 or 4 in a
search of 50 budgets at the default share), too few to bound its false-stop rate tightly; the runs in the same folder
(a bench's searches, or one config run again) on the same target with the same budget and early_stop settings audit
the same rule, so their tallies (`evo.stopping.audit`) pool. The same target is the same target path and the same
locked files (their digests, which every run's ledger records when it starts): a path as written names different
targets from different working directories, and the locked files hold the evaluation the rule's errors are
measured by."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from evo.config import RunConfig, load_config
from evo.errors import EvoError
from evo.stopping.audit import AuditTally, audit_from
from population.ledger import Ledger, LedgerError


@dataclass(frozen=True)
class _Audited:
    """One run's rule (its config's part and its target's locked files) and what its self-audit measured."""

    settings: tuple[object, ...]
    locked: object
    tally: AuditTally
    alpha: float
    share: float | None  # early_stop.audit, as its ledger recorded it


def beside(root: Path) -> str | None:
    """The audit line of the run at `root` pooled with the runs beside it (its folder's other run directories) that
    ran the same rule, against the run's own alpha; None until the run and at least one such other have watched or
    stopped a candidate. A run whose config or ledger cannot be read is passed over."""
    root = root.resolve()
    own = _audited(root)
    if own is None:
        return None
    siblings = sorted(p for p in root.parent.iterdir() if p != root)
    audited = (_audited(sibling, own.settings) for sibling in siblings)
    others = [a for a in audited if a is not None and a.locked == own.locked]
    if not others:
        return None
    tally = sum((a.tally for a in others), own.tally)
    runs = f"{len(others)} run{'s' if len(others) > 1 else ''}"
    line = tally.line(own.alpha, share=own.share)
    return f"pooled with {runs} beside it (same target, budget and early_stop settings): " + line


def pooled(roots: Iterable[Path]) -> str | None:
    """The audit line pooled over `roots` (a bench arm's searches: one rule by construction), against the alpha of
    the last of them; None unless at least two have watched or stopped a candidate."""
    audited = [a for a in map(_audited, roots) if a is not None]
    if len(audited) < 2:
        return None
    tally = sum((a.tally for a in audited), AuditTally())
    return f"pooled over {len(audited)} searches: " + tally.line(audited[-1].alpha, share=audited[-1].share)


def _audited(root: Path, like: tuple[object, ...] | None = None) -> _Audited | None:
    """The run at `root` with its audit tally; None when it has none, or when its config's part of the rule is not
    `like` (then its ledger is not read)."""
    config = _settings(root)
    if config is None or not config.early_stop.enabled or (like is not None and _rule(config) != like):
        return None
    try:
        with Ledger(root / "ledger.sqlite", readonly=True) as ledger:
            measured = audit_from(ledger.events())
            locked = ledger.get_meta("target_locked")
    except (LedgerError, sqlite3.Error):  # a run just starting, or a broken one
        return None
    if measured is None:
        return None
    return _Audited(_rule(config), locked, *measured)


def _settings(root: Path) -> RunConfig | None:
    if not (root / "ledger.sqlite").is_file() or not (root / "config.yaml").is_file():
        return None
    try:
        return load_config(root / "config.yaml")
    except EvoError:
        return None


def _rule(config: RunConfig) -> tuple[object, ...]:
    """What the false-stop rate depends on, as the config says it: the target, its locked settings, the budget and
    the rule (with the target's locked files, which the ledger records)."""
    return str(config.target), dict(config.env), config.budget, config.early_stop
