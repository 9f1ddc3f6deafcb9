"""The default target through `evo eval`: val_bpb per corpus, per budget, and for a tuned set of constants.

Shows that the target is a real training target: the synthetic corpus sits above its exact entropy floor, the curve
keeps improving from 30 to 60 to 120 s, and a tuned change to the constants beats the baseline by far more than the
seed-to-seed spread (so a search has real room to find).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.results import write_section

REPO = Path(__file__).resolve().parent.parent
# Found by hand (see the issue notes): the baseline's constants are deliberately untuned.
TUNED = {"DEPTH": "2", "OPTIMIZER": '"muon"', "BATCH_SIZE": "8", "WARMDOWN_FRAC": "0.3"}


def with_constants(source: str, constants: dict[str, str]) -> str:
    """`source` with each top-level `NAME = value` assignment set to the given value, keeping its comment."""
    for name, value in constants.items():
        source, count = re.subn(rf"^({name}\s*=\s*)[^#\n]*?(\s*(#.*)?)$", rf"\g<1>{value}\g<2>", source, flags=re.M)
        if count != 1:
            raise SystemExit(f"target/train.py: expected one top-level assignment to {name}, found {count}")
    return source


def fmt(value: float | None) -> str:
    """A metric to 4 decimals, a count as an integer, a missing value as a dash."""
    if value is None:
        return "-"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.4f}"


def evaluate(
    label: str, tmp: Path, budget: float, corpus: str, seed: int = 0, file: Path | None = None, device: str = "auto"
) -> dict:
    out = tmp / label
    command = [
        sys.executable,
        "-m",
        "evo",
        "eval",
        str(REPO / "target"),
        "--budget",
        f"{budget:g}",
        "--corpus",
        corpus,
        "--seed",
        str(seed),
        "--device",
        device,
        "--json",
        "--out",
        str(out),
    ]
    if file is not None:
        command += ["--file", str(file)]
    done = subprocess.run(command, capture_output=True, text=True)
    result = json.loads(done.stdout)
    print(
        f"{label}: {result['status']} val_bpb={result['metric']} steps={result['summary'].get('num_steps')} "
        f"wall={result['wall_seconds']:.1f}s {result['reason']}",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budgets", type=float, nargs="+", default=[30.0, 60.0, 120.0])
    args = parser.parse_args()
    source = (REPO / "target" / "train.py").read_text()
    rows, budget_rows = [], []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        tuned_file = tmp / "tuned_train.py"
        tuned_file.write_text(with_constants(source, TUNED))
        synthetic = evaluate("synthetic-60", tmp, 60, "synthetic")
        floor = synthetic["info"]["entropy_floor_bpb"]
        by_budget = {b: evaluate(f"pystdlib-{b:g}", tmp, b, "pystdlib") for b in args.budgets}
        reseeded = evaluate("pystdlib-60-seed1", tmp, 60, "pystdlib", seed=1)
        tuned = evaluate("pystdlib-60-tuned", tmp, 60, "pystdlib", file=tuned_file)
    for label, result in [
        ("synthetic, baseline", synthetic),
        ("pystdlib, baseline", by_budget.get(60.0)),
        ("pystdlib, baseline, seed 1", reseeded),
        ("pystdlib, tuned constants", tuned),
    ]:
        if result is not None:
            s = result["summary"]
            rows.append(
                f"| {label} | 60 | {result['status']} | {fmt(result['metric'])} | {fmt(s.get('num_steps'))} | "
                f"{s.get('num_params_M')} | {result['wall_seconds']:.1f} |"
            )
    for budget, result in by_budget.items():
        budget_rows.append(f"| {budget:g} | {fmt(result['metric'])} | {fmt(result['summary'].get('num_steps'))} |")
    base, seed1 = by_budget.get(60.0, {}).get("metric"), reseeded["metric"]
    spread = abs(base - seed1) if base is not None and seed1 is not None else float("nan")
    gain = base - tuned["metric"] if base is not None and tuned["metric"] is not None else float("nan")
    body = (
        "Default target (`target/`) through `evo eval`, 2 CPU threads, wall-clock budget, seed 0 unless stated.\n\n"
        f"Synthetic corpus entropy floor (exact entropy rate of the source): **{floor:.6f} bits per byte**.\n\n"
        "| corpus / candidate | budget (s) | status | val_bpb | steps | params (M) | wall (s) |\n"
        "|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
        "val_bpb against budget on `pystdlib` (the curve must keep improving):\n\n"
        "| budget (s) | val_bpb | steps |\n|---|---|---|\n" + "\n".join(budget_rows) + "\n\n"
        f"Tuned constants ({', '.join(f'{k}={v}' for k, v in TUNED.items())}) beat the baseline by **{gain:.4f}** "
        f"bpb at 60 s; the baseline's seed-to-seed difference (seed 0 vs 1) is {spread:.4f} bpb."
    )
    print(body)
    write_section(
        "target-budgets", "Default target: corpora, budgets, room to improve (`benchmarks/target_budgets.py`)", body
    )


if __name__ == "__main__":
    main()
