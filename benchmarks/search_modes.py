"""Search strategies compared at equal compute: runs `evo bench`/`evo sweep` files and copies the report's ranking and
pairwise tables into benchmarks/RESULTS.md with the wall time the whole bench took.

    python -m benchmarks.search_modes                                  # configs/bench-surrogate.yaml
    python -m benchmarks.search_modes configs/bench-peer-surrogate.yaml configs/sweep-surrogate.yaml
    python -m benchmarks.search_modes --dir runs/bench-surrogate      # rewrite a section from a finished bench

The tables are the report's own (report.md), so RESULTS.md and the report cannot disagree.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

from benchmarks.results import write_section
from evo.bench import runner as bench
from evo.bench.plan import load_bench, load_sweep
from evo.evaluation import available_cores
from evo.reporting.document import markdown_sections

REPO = Path(__file__).resolve().parent.parent
TIMING = "timing.json"  # the wall time of the first, uninterrupted session, kept so --dir can quote it
SECTIONS = {"bench": ("Ranking", "Pairwise comparisons"), "sweep": ("Ranking",)}  # a sweep's pairs: too many


def section(root: Path) -> None:
    plan = bench.load_plan(root)
    timed = root / TIMING
    seconds = json.loads(timed.read_text())["seconds"] if timed.is_file() else None
    report = bench.write_report(root, plan)
    timing = (
        f"Wall time of the whole {plan.kind}: {seconds / 60:.1f} min ({available_cores()} cores, "
        f"{plan.jobs or 'auto'} searches at once).  \n"
        if seconds is not None
        else ""
    )
    body = (
        f"`evo {plan.kind} {Path(plan.source).relative_to(REPO) if Path(plan.source).is_absolute() else plan.source}`"
        f": {len(plan.arms)} arms x {plan.seeds} seeds.  \n{timing}"
        f"Full report (not committed): `{report.relative_to(REPO) if report.is_absolute() else report}`.\n\n"
        + re.sub(r"(?m)^## ", "### ", markdown_sections(report.read_text(), SECTIONS[plan.kind]))
    )
    title = f"Search strategies at equal compute: {plan.name}"
    write_section(f"search_modes_{plan.name}", title, body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="*", default=["configs/bench-surrogate.yaml"], help="bench or sweep files")
    parser.add_argument("--dir", type=Path, help="a finished bench or sweep directory: rewrite its section only")
    args = parser.parse_args()
    if args.dir is not None:
        section(args.dir.resolve())
        return
    for config in args.configs:
        text = Path(config).read_text()
        plan = load_sweep(config) if re.search(r"(?m)^space:", text) else load_bench(config)
        root = bench.create(plan).resolve()
        started = time.monotonic()
        bench.run_plan(root)
        (root / TIMING).write_text(json.dumps({"seconds": time.monotonic() - started}))
        section(root)


if __name__ == "__main__":
    main()
