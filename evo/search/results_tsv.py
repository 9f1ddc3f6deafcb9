"""autoresearch's `results.tsv` for ratchet runs: one row per decision, the same five columns, tab-separated.

It is derived from the ledger's keep/discard/crash events and rewritten whole (atomically) after each decision, so a
resumed run's file always agrees with its ledger.
"""

from __future__ import annotations

import os
from pathlib import Path

from population.ledger import Ledger

STATUSES = ("keep", "discard", "crash")


def write_results_tsv(path: Path, ledger: Ledger, metric: str) -> None:
    rows = [f"commit\t{metric}\tmemory_gb\tstatus\tdescription"]
    for event in ledger.events():
        if event.kind not in STATUSES:
            continue
        individual = ledger.get(event.data["individual"])
        value = individual.metric if event.kind != "crash" and individual.metric is not None else 0.0
        memory_mb = individual.summary.get("peak_memory_mb", individual.summary.get("peak_vram_mb", 0.0))
        memory_gb = memory_mb / 1024 if isinstance(memory_mb, float) else 0.0
        description = " ".join((individual.description or individual.operator).split())  # no tabs or newlines
        rows.append(f"{individual.commit[:7]}\t{value:.6f}\t{memory_gb:.1f}\t{event.kind}\t{description}")
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(rows) + "\n")
    os.replace(tmp, path)
