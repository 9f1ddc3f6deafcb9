"""evo's default target on a GPU at autoresearch's 300 s budget, for a session lent a GPU (the `device` tool).

Each call runs the candidates named by `--runs` (baseline on a seed, or the tuned constants of
benchmarks/target_budgets.py) through `evo eval --device cuda`, one at a time, and appends each result to
benchmarks/data/gpu_target.json, so a short device lease can run one candidate per call; `--write` turns what the
file holds into the "Default target on a GPU" section of RESULTS.md. `--smoke` checks the script here on a CPU with a
few-second budget and writes nothing.

    python -m benchmarks.gpu_target --runs baseline:0            # on the GPU machine, ~6 min per 300 s candidate
    python -m benchmarks.gpu_target --runs tuned:0 baseline:1
    python -m benchmarks.gpu_target --write
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path

from benchmarks.results import write_section
from benchmarks.target_budgets import REPO, TUNED, evaluate, fmt, with_constants

DATA = Path(__file__).resolve().parent / "data" / "gpu_target.json"


def device_name() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"no GPU ({platform.processor() or 'cpu'})"


def run(names: list[str], budget: float, corpus: str, device: str) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        tuned = tmp / "tuned_train.py"
        tuned.write_text(with_constants((REPO / "target" / "train.py").read_text(), TUNED))
        for name in names:
            kind, _, seed = name.partition(":")
            if kind not in ("baseline", "tuned"):
                raise SystemExit(f"--runs: {name!r} is not baseline:SEED or tuned:SEED")
            file = tuned if kind == "tuned" else None
            result = evaluate(name, tmp, budget, corpus, int(seed or 0), file, device)
            rows.append({"run": name, "budget": budget, "corpus": corpus, "device": device_name(), **result})
    return rows


def write(rows: list[dict]) -> None:
    if not rows:
        raise SystemExit(f"{DATA}: no results yet (run with --runs on the GPU machine first)")
    lines = [
        f"| {r['run']} | {r['device']} | {r['budget']:g} | {r['status']} | {fmt(r['metric'])} | "
        f"{fmt(r['summary'].get('num_steps'))} | {r['wall_seconds']:.0f} |"
        for r in rows
    ]
    body = (
        "The default target (`target/`, corpus as listed) through `evo eval --device cuda` at autoresearch's 300 s "
        "wall-clock budget, one candidate at a time on one GPU, nothing else running on it.\n\n"
        "| run | device | budget (s) | status | val_bpb | steps | wall (s) |\n|---|---|---|---|---|---|---|\n"
        + "\n".join(lines)
    )
    print(body)
    write_section("gpu-target", "Default target on a GPU (`benchmarks/gpu_target.py`)", body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="*", default=[], help="baseline:SEED or tuned:SEED, run in order")
    parser.add_argument("--budget", type=float, default=300.0)
    parser.add_argument("--corpus", default="pystdlib")
    parser.add_argument("--write", action="store_true", help="write RESULTS.md's section from the saved results")
    parser.add_argument("--smoke", action="store_true", help="a CPU check with a 3 s budget; saves nothing")
    args = parser.parse_args()
    if args.smoke:
        for row in run(args.runs or ["baseline:0"], 3.0, args.corpus, "cpu"):
            assert row["status"] == "ok", row["reason"]
        return
    rows = json.loads(DATA.read_text()) if DATA.is_file() else []
    if args.runs:
        rows += run(args.runs, args.budget, args.corpus, "cuda")
        DATA.parent.mkdir(parents=True, exist_ok=True)
        DATA.write_text(json.dumps(rows, indent=1))
    if args.write:
        write(rows)


if __name__ == "__main__":
    main()
