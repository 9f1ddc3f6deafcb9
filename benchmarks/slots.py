"""Slot utilisation and the coordinator's own overhead: a population search with 2 slots on the surrogate target.

Utilisation is busy seconds (each candidate process's lifetime, as the supervisor measured it) over available seconds
(slots x the run's wall time). The coordinator's overhead is the time its thread spends on anything but waiting for
workers (git commits, ledger writes, selection, bookkeeping), per individual.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.results import write_section
from evo.config import load_config
from evo.search import Coordinator, start
from population.ledger import Ledger

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--evaluations", type=int, default=120)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=1.0, help="real seconds per surrogate run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(
            REPO / "configs" / "surrogate.yaml",
            [
                f"runs_dir={tmp}",
                f"target={REPO / 'benchmarks' / 'surrogate'}",
                f"slots.count={args.slots}",
                f"stop.evaluations={args.evaluations}",
                f"env={{EVO_SURROGATE_SECONDS: '{args.seconds}'}}",
            ],
        )
        root = start(config)
        began = time.monotonic()
        outcome = Coordinator(root).run()
        wall = time.monotonic() - began
        with Ledger(root / "ledger.sqlite") as ledger:
            individuals = ledger.all()
            busy = sum(e.wall_seconds or 0.0 for e in ledger.evaluations())
    baseline_wall = individuals[0].wall_seconds
    utilisation = busy / (args.slots * wall)
    # the baseline runs alone (its children need its result), so one slot idles for its duration
    steady = busy / (args.slots * wall - (args.slots - 1) * baseline_wall)
    per_individual_ms = 1000 * outcome.coordinator_seconds / len(individuals)
    body = (
        f"Population mode, surrogate target ({args.seconds:g} s real per run), {args.slots} slots, "
        f"{len(individuals)} individuals, offline operators.\n\n"
        f"| run wall (s) | busy (s) | utilisation | utilisation after the baseline | coordinator ms / individual |\n"
        f"|---|---|---|---|---|\n"
        f"| {wall:.1f} | {busy:.1f} | **{100 * utilisation:.1f}%** | {100 * steady:.1f}% "
        f"| **{per_individual_ms:.1f}** |\n\n"
        f"Target: at least 95% utilisation. Stop reason: {outcome.stop_reason}."
    )
    print(body)
    write_section("slots", "Slot utilisation and coordinator overhead (`benchmarks/slots.py`)", body)


if __name__ == "__main__":
    main()
