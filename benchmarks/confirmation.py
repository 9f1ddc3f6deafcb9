"""Does the ratchet keep luck? A seed-only change (the same code on another seed, autoresearch's "random seed
42 -> 137") proposed to the baseline of the surrogate target, in seeded trials, with confirmation on and off.

Each trial is a ratchet run of two individuals: the baseline, then one child that changes only a `SEED` constant
(a copy of the surrogate target whose train.py adds it to EVO_SEED). Without confirmation the ratchet keeps the
child whenever its seed happened to score lower; with it, the child must beat the baseline on fresh paired seeds.

    python -m benchmarks.confirmation [--trials 20]
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from benchmarks.results import write_section
from evo.config import load_config
from evo.operators.base import Context, Parent, Proposal
from evo.search import Coordinator, start
from population.ledger import Ledger

REPO = Path(__file__).resolve().parent.parent
SURROGATE = REPO / "benchmarks" / "surrogate"
SEED_LINE = "SEED = 0  # added to EVO_SEED: a seed-only change moves this and nothing else\n"


def seeded_surrogate(root: Path) -> Path:
    """A copy of the surrogate target whose train.py has a SEED constant that shifts the simulation's seed."""
    target = root / "seeded-surrogate"
    if not target.exists():
        shutil.copytree(SURROGATE, target)
        train = target / "train.py"
        text = train.read_text()
        text = text.replace("# ---- knobs ---", SEED_LINE + "# ---- knobs ---", 1)
        text = text.replace(
            "run = simulate(constants)", 'run = simulate(constants, seed=int(os.environ.get("EVO_SEED", 0)) + SEED)'
        )
        train.write_text(text.replace("import math\n", "import math\nimport os\n", 1))
    return target


class SeedChange:
    """An operator that proposes only a new SEED: the same code, another draw of the noise."""

    def propose(self, parents: list[Parent], context: Context) -> Proposal:
        seed = random.Random(context.seed).randrange(1, 10_000)
        code = {"train.py": parents[0].code["train.py"].replace("SEED = 0 ", f"SEED = {seed} ", 1)}
        return Proposal(code, f"random seed 0 -> {seed}", operator="seed-change")


def trial(seed: int, confirm: bool, root: Path) -> bool:
    """One ratchet run on `seed`: True when the seed-only child was kept as the new incumbent."""
    overrides = [
        f"runs_dir={root / 'runs'}",
        f"target={seeded_surrogate(root)}",
        f"name=seed-{seed}-{'on' if confirm else 'off'}",
        "mode=ratchet",
        f"seed={seed}",
        "env={EVO_SURROGATE_SECONDS: '0.05'}",
        "slots.count=1",
        "stop.evaluations=2",
        f"confirm.enabled={str(confirm).lower()}",
        "calibration.runs=4",
        "memory.enabled=false",  # independent trials
    ]
    run = start(load_config(REPO / "configs" / "surrogate.yaml", overrides))
    coordinator = Coordinator(run)
    coordinator.operators = replace(coordinator.operators, mutation=SeedChange())
    coordinator.run()
    with Ledger(run / "ledger.sqlite") as ledger:
        return any(event.data["individual"] == "0001" for event in ledger.events("keep"))


def trials(count: int, confirm: bool, root: Path, workers: int = 2) -> list[bool]:
    seeded_surrogate(root)  # before the threads, which would race to create it
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda seed: trial(seed, confirm, root), range(count)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        off = trials(args.trials, False, Path(tmp))
        on = trials(args.trials, True, Path(tmp))
    body = "\n".join(
        [
            f"Surrogate target, ratchet mode, {args.trials} seeded trials (run seeds 0..{args.trials - 1}); the only "
            "child changes a SEED constant. Confirmation: alpha 0.05, beta 0.2, delta 1 noise unit, at most 8 pairs.",
            "",
            "| confirmation | seed-only changes kept as improvements |",
            "|---|---|",
            f"| off (autoresearch's ratchet) | {sum(off)} of {args.trials} ({100 * sum(off) / args.trials:.0f}%) |",
            f"| on | {sum(on)} of {args.trials} ({100 * sum(on) / args.trials:.0f}%) |",
        ]
    )
    print(body)
    write_section("confirmation", "Confirmation: seed-only changes kept by the ratchet", body)


if __name__ == "__main__":
    main()
