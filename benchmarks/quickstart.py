"""The README's main job, timed as a user runs it: `evo run configs/quickstart.yaml` on the default GPT target with no
LLM endpoint (offline operators). The run measures its own noise (the baseline on 3 seeds) and ends with a paired
check of its best on fresh seeds; this records its closing lines beside the wall time.

Targets: under 10 minutes on 2 cores; the closing lines say whether the best beats the baseline beyond the noise.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.results import write_section
from evo.config import load_config
from population.ledger import Ledger

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    with tempfile.TemporaryDirectory() as tmp:
        env["EVO_CACHE_DIR"] = str(Path(tmp) / "cache")  # a first run: the calibration is measured, not cached
        began = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "evo", "run", str(REPO / "configs" / "quickstart.yaml"), f"runs_dir={tmp}"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        wall = time.monotonic() - began
        if done.returncode != 0:
            sys.exit(f"evo run failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
        notice = next(line for line in done.stderr.splitlines() if "LLM" in line)
        noise = next((line for line in done.stderr.splitlines() if line.startswith("noise model from")), "")
        config = load_config(Path(tmp) / "quickstart" / "config.yaml")
        with Ledger(Path(tmp) / "quickstart" / "ledger.sqlite") as ledger:
            individuals = ledger.all()
    counts: dict[str, int] = {}
    for individual in individuals:
        counts[individual.status] = counts.get(individual.status, 0) + 1
    closing = "\n".join(f"    {line}" for line in done.stdout.splitlines() if not line.startswith("report:"))
    body = (
        f"`evo run configs/quickstart.yaml` (population mode, default target, pystdlib, {config.budget.seconds:g} s "
        f"{config.budget.clock}-clock budget, {config.stop.evaluations} evaluations, calibration on "
        f"{config.calibration.runs} seeds, final check on {config.holdout.seeds} fresh seeds, no LLM endpoint, "
        "nothing cached). Nothing else ran.\n\n"
        f"Operators: {notice}\n\n{noise.split(': ', 1)[-1] and 'Noise: ' + noise.split(': ', 2)[-1]}\n\n"
        f"| wall (min) | individuals | statuses |\n|---|---|---|\n"
        f"| **{wall / 60:.1f}** | {len(individuals)} | {', '.join(f'{n} {s}' for s, n in sorted(counts.items()))} |\n\n"
        f"Its closing lines:\n\n{closing}\n\nTargets: under 10 minutes; the closing lines state the noise and whether "
        "the gain is beyond it."
    )
    print(body)
    write_section("quickstart", "The README's main job (`benchmarks/quickstart.py`)", body)


if __name__ == "__main__":
    main()
