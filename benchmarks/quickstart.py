"""The README's main job, timed as a user runs it: `evo run configs/quickstart.yaml` on the default GPT target with no
LLM endpoint (offline operators). Then the baseline is evaluated again with other seeds under the same settings, so
the best individual's gain can be set against the baseline's seed-to-seed spread.

Targets: under 10 minutes on 2 cores; the best beats the baseline by more than the spread.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.results import write_section
from evo.config import load_config
from evo.evaluation import available_cores, evaluate
from evo.evaluation.target import load_target
from evo.execution import placement
from evo.search.session import candidate_settings
from population.ledger import Ledger

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3, help="extra baseline seeds for the spread")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    with tempfile.TemporaryDirectory() as tmp:
        began = time.monotonic()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "evo",
                "run",
                str(REPO / "configs" / "quickstart.yaml"),
                f"runs_dir={tmp}",
                f"target={REPO / 'target'}",
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.monotonic() - began
        if done.returncode != 0:
            sys.exit(f"evo run failed:\n{done.stderr[-3000:]}")
        notice = next(line for line in done.stderr.splitlines() if "LLM" in line)
        config = load_config(Path(tmp) / "quickstart" / "config.yaml")
        with Ledger(Path(tmp) / "quickstart" / "ledger.sqlite") as ledger:
            individuals = ledger.all()
        baseline = individuals[0]
        best = min((i for i in individuals if i.is_parent_eligible), key=lambda i: i.metric)
        target = load_target(REPO / "target")
        settings = replace(candidate_settings(config, "quickstart"), **placement(config.slots, 0, available_cores()))
        spread_values = [baseline.metric]
        for seed in range(1, args.seeds + 1):
            result = evaluate(target, None, Path(tmp) / f"seed{seed}", replace(settings, seed=config.seed + seed))
            spread_values.append(result.metric)
    spread = max(spread_values) - min(spread_values)
    gain = baseline.metric - best.metric
    counts: dict[str, int] = {}
    for individual in individuals:
        counts[individual.status] = counts.get(individual.status, 0) + 1
    body = (
        f"`evo run configs/quickstart.yaml` (population mode, default target, pystdlib, {config.budget.seconds:g} s "
        f"{config.budget.clock}-clock budget, {config.stop.evaluations} evaluations, no LLM endpoint).\n\n"
        f"Operators: {notice}\n\n"
        f"| wall (min) | individuals | statuses | baseline val_bpb | best val_bpb | gain | baseline seed spread "
        f"({len(spread_values)} seeds) |\n|---|---|---|---|---|---|---|\n"
        f"| **{wall / 60:.1f}** | {len(individuals)} | {', '.join(f'{n} {s}' for s, n in sorted(counts.items()))} | "
        f"{baseline.metric:.4f} | {best.metric:.4f} | **{gain:.4f}** | **{spread:.4f}** "
        f"(sd {statistics.stdev(spread_values):.4f}) |\n\n"
        f"Best: {best.id}, {best.description}. Targets: under 10 minutes; gain larger than the spread."
    )
    print(body)
    write_section("quickstart", "The README's main job (`benchmarks/quickstart.py`)", body)


if __name__ == "__main__":
    main()
