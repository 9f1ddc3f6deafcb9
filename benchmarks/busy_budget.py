"""Is the quickstart's budget fair on a busy machine? The baseline of `configs/quickstart.yaml` (its budget, clock,
corpus and thread count) trained on a quiet machine and beside one competing CPU-bound process, several times each,
with evo's candidate environment (OpenMP threads wait passively on the cpu clock) and with OpenMP's spin-waiting
forced back on (`OMP_WAIT_POLICY=ACTIVE`, what candidates got before).

Target: on the quickstart's clock, median steps beside a busy process within 15% of the quiet median.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.results import write_section
from evo.config import load_config
from evo.evaluation import EvalResult, available_cores, evaluate, load_target
from evo.execution import placement
from evo.search.session import candidate_settings

REPO = Path(__file__).resolve().parent.parent
SPIN = "while True: pass"  # one CPU-bound competitor: a core's worth of load, as another job on a shared machine


def train(busy: bool, env: dict[str, str], workdir: Path) -> tuple[EvalResult, float]:
    """The quickstart's baseline once, beside a spinning process when `busy`; (result, wall seconds)."""
    config = load_config(REPO / "configs" / "quickstart.yaml", [f"target={REPO / 'target'}"])
    settings = replace(candidate_settings(config, "busy-budget"), **placement(config.slots, 0, available_cores()))
    settings = replace(settings, env={**settings.env, **env})
    competitor = subprocess.Popen([sys.executable, "-c", SPIN]) if busy else None
    began = time.monotonic()
    try:
        return evaluate(load_target(config.target), None, workdir, settings), time.monotonic() - began
    finally:
        if competitor is not None:
            competitor.kill()
            competitor.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=4, help="runs per condition")
    args = parser.parse_args()
    config = load_config(REPO / "configs" / "quickstart.yaml")
    threads = placement(config.slots, 0, available_cores())["threads"]
    policies = {"evo's candidate environment": {}, "spin-waiting forced on (before)": {"OMP_WAIT_POLICY": "ACTIVE"}}
    rows, medians = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, env in policies.items():
            for busy in (False, True):
                runs = [train(busy, env, Path(tmp) / f"{len(rows)}-{k}") for k in range(args.repeats)]
                steps = [float(r.summary.get("num_steps", 0)) for r, _ in runs]
                metrics = [r.metric for r, _ in runs if r.metric is not None]
                medians[label, busy] = statistics.median(steps)
                rows.append(
                    f"| {label} | {'one competing process' if busy else 'quiet'} | "
                    f"{', '.join(f'{s:.0f}' for s in steps)} | **{statistics.median(steps):.0f}** | "
                    f"{statistics.median(metrics):.4f} | {statistics.median(w for _, w in runs):.1f} |"
                )
                print(rows[-1], flush=True)
    ratios = {label: medians[label, True] / medians[label, False] for label in policies}
    body = (
        f"Baseline of `configs/quickstart.yaml`: default target, `{config.env.get('EVO_CORPUS')}` corpus, "
        f"{config.budget.seconds:g} s {config.budget.clock}-clock budget, {threads} threads, seed {config.seed}; "
        f"{args.repeats} runs per condition; the competitor is one `python -c '{SPIN}'`. Nothing else ran.\n\n"
        "| candidate environment | machine | steps per run | median steps | median val_bpb | median wall (s) |\n"
        "|---|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n\n"
        + " ".join(
            f"{label}: busy/quiet median steps {ratio:.2f} ({abs(1 - ratio):.0%} apart)."
            for label, ratio in ratios.items()
        )
        + " Target: within 15%."
    )
    print(body)
    write_section("busy_budget", "A fair budget on a busy machine (`benchmarks/busy_budget.py`)", body)


if __name__ == "__main__":
    main()
