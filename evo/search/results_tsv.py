"""autoresearch's `results.tsv` for ratchet runs: one row per decision, the same five columns, tab-separated.

It is written whole from the ledger's keep/discard/crash events when a session starts (atomically, so a killed
session's file is made right again), then a row is appended per decision: rewriting it whole after each one cost a
long run time quadratic in its length.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from evo.modes import RATCHETS, Decision, Mode
from evo.search.session import RunSession
from population.individual import Individual
from population.ledger import Ledger

STATUSES = ("keep", "discard", "crash")


class ResultsTsv:
    def __init__(self, path: Path, ledger: Ledger, individuals: Mapping[str, Individual], metric: str) -> None:
        self.path = path
        rows = [f"commit\t{metric}\tmemory_gb\tstatus\tdescription"]
        rows += [_row(e.kind, individuals[e.data["individual"]]) for e in ledger.events() if e.kind in STATUSES]
        tmp = path.with_suffix(".tmp")
        tmp.write_text("\n".join(rows) + "\n")
        os.replace(tmp, path)

    def add(self, decision: Decision, individual: Individual) -> None:
        if decision.kind in STATUSES:
            with self.path.open("a") as handle:
                handle.write(_row(decision.kind, individual) + "\n")


def _row(kind: str, individual: Individual) -> str:
    value = individual.metric if kind != "crash" and individual.metric is not None else 0.0
    memory_mb = individual.summary.get("peak_memory_mb", individual.summary.get("peak_vram_mb", 0.0))
    memory_gb = memory_mb / 1024 if isinstance(memory_mb, float) else 0.0
    description = " ".join((individual.description or individual.operator).split())  # no tabs or newlines
    return f"{individual.commit[:7]}\t{value:.6f}\t{memory_gb:.1f}\t{kind}\t{description}"


class DecisionLog:
    """Where a mode's decisions go: a ledger event each, and for the ratchets the `ratchet` branch at the incumbent
    and `results.tsv` (written whole, from the ledger, at a session's first decision)."""

    def __init__(self, session: RunSession) -> None:
        self.session = session
        self.tsv: ResultsTsv | None = None

    def log(self, mode: Mode, decisions: list[Decision], replaying: bool) -> None:
        session = self.session
        if not replaying:
            for decision in decisions:
                session.ledger.event(decision.kind, individual=decision.individual, detail=decision.detail)
        if mode.name not in RATCHETS:
            return
        for decision in decisions:
            if decision.kind == "keep":
                session.store.move_branch("ratchet", session.individuals[decision.individual].commit)
            if replaying:
                continue
            if self.tsv is None:
                metric = session.target.metric.name
                self.tsv = ResultsTsv(session.paths.results_tsv, session.ledger, session.individuals, metric)
            else:
                self.tsv.add(decision, session.individuals[decision.individual])
