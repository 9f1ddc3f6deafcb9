"""Duplicates on the surrogate with the offline operators: how many children the novelty gate keeps from evaluation,
and what it does to the search's result.

Each arm runs the population mode on the surrogate (simulated executor, 16 workers, 8 virtual hours of 300 s budgets,
memory off) on the same seeds: without the gate (every child evaluated; duplicates counted afterwards by their normal
form), with the exact gate (the default), and with near-duplicates refused too (numbers within 10%).
Per 100 proposals: duplicates evaluated (gate off) or refused (gate on). The result: the final pick's noise-free
regret (the surrogate's `expected` hook), median and 95% bootstrap interval, and a Mann-Whitney test against the
gate-off arm on the same seeds.

    python -m benchmarks.novelty                 # writes its section of benchmarks/RESULTS.md
    python -m benchmarks.novelty --seeds 2 --no-results
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from scipy.stats import mannwhitneyu

from benchmarks.results import write_section
from evo.config import load_config
from evo.evaluation import load_target
from evo.reporting.heldout import expected_values, optimum
from evo.reporting.run_data import final_best, load_run
from evo.search import Coordinator, start
from evo.search.novelty import Gate, normal_form
from population.ledger import Ledger
from population.store import GitStore

REPO = Path(__file__).resolve().parent.parent
ARMS = {
    "gate off": ["novelty.enabled=false"],
    "exact (default)": [],
    "near 10%": ["novelty.tolerance=0.1"],
}
BASE = [
    "mode=population",
    "executor.kind=simulated",
    "executor.proposal_seconds=20",
    "slots.count=16",
    "stop.wall_seconds=28800",
    "stop.evaluations=null",
    "memory.enabled=false",
]


def one_run(arm: list[str], seed: int, runs: Path) -> dict[str, float]:
    config = load_config(REPO / "configs" / "surrogate.yaml", [*BASE, *arm, f"seed={seed}", f"runs_dir={runs}"])
    root = start(config)
    Coordinator(root).run()
    with Ledger(root / "ledger.sqlite") as ledger:
        individuals, refused = ledger.all(), len(ledger.events("duplicate"))
        failed = len(ledger.events("proposal_failed"))
    evaluated = 0  # children whose code an earlier individual of the run already had
    gate = Gate()
    with GitStore(root / "git", ("train.py",)) as store:
        for individual in sorted(individuals, key=lambda i: (len(i.id), i.id)):
            form = normal_form(store.code(individual.commit))
            evaluated += individual.parents != () and gate.twin(form) is not None
            gate.add(form, individual.id)
    children = len(individuals) - 1
    run = load_run(root)
    target = load_target(config.target)
    pick = final_best(run)
    value = expected_values(root, config, target, [pick])[pick.id] if pick is not None else None
    best = optimum(config, target)
    return {
        "proposals": children + refused + failed,
        "children": children,
        "refused": refused,
        "evaluated_duplicates": evaluated,
        "regret": float("nan") if value is None or best is None else value - best,
    }


def interval(values: np.ndarray, rng: np.random.Generator) -> tuple[float, float, float]:
    boots = np.median(rng.choice(values, (2000, len(values))), axis=1)
    return float(np.median(values)), float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--no-results", action="store_true")
    args = parser.parse_args()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    results: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, arm in ARMS.items():
            results[name] = [one_run(arm, seed, Path(tmp) / name.replace(" ", "-")) for seed in seeds]
            print(name, [round(r["regret"], 5) for r in results[name]], flush=True)
    rng = np.random.default_rng(0)
    off = np.array([r["regret"] for r in results["gate off"]])
    rows = []
    for name, runs in results.items():
        proposals = sum(r["proposals"] for r in runs)
        refused, evaluated = sum(r["refused"] for r in runs), sum(r["evaluated_duplicates"] for r in runs)
        regrets = np.array([r["regret"] for r in runs])
        median, low, high = interval(regrets, rng)
        p = "-" if name == "gate off" else f"{mannwhitneyu(regrets, off).pvalue:.2f}"
        rows.append(
            f"| {name} | {proposals / len(runs):.0f} | {100 * evaluated / proposals:.1f} | "
            f"{100 * refused / proposals:.1f} | {median:.5f} [{low:.5f}, {high:.5f}] | {p} |"
        )
    body = (
        f"Surrogate, population mode, offline operators (param mutation, merge crossover), simulated executor with 16 "
        f"workers and a 20 s proposal time, 8 virtual hours of 300 s budgets per search, memory off; seeds "
        f"{seeds.start}-{seeds.stop - 1}. The searches run on a simulated clock, so what else runs on the machine "
        "changes no number here.\n\n"
        "| gate | proposals per search | duplicates evaluated per 100 proposals | duplicates refused per 100 proposals "
        "| final regret, median [95% CI] | p vs gate off (Mann-Whitney) |\n|---|---|---|---|---|---|\n"
        + "\n".join(rows)
    )
    print(body)
    if not args.no_results:
        write_section("novelty", "Duplicates and the novelty gate (`benchmarks/novelty.py`)", body)


if __name__ == "__main__":
    main()
