"""`evo bench`, `evo sweep` and `evo report`: searches compared at equal compute, and the reports."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evo.bench import runner as bench
from evo.bench.plan import load_bench, load_sweep
from evo.errors import EvoError
from evo.reporting.document import markdown_sections
from evo.reporting.run_data import load_run


def cmd_bench(args: argparse.Namespace) -> int:
    plan = load_bench(args.config) if args.command == "bench" else load_sweep(args.config)
    if args.jobs is not None and args.jobs < 1:
        raise EvoError(f"--jobs must be at least 1, got {args.jobs}")
    for line in plan.skipped:
        print(f"skipped setting {line}", file=sys.stderr)
    return run_bench(bench.create(plan), args.jobs)


def run_bench(root: Path, jobs: int | None) -> int:
    try:
        report = bench.run_plan(root, jobs, on_line=lambda line: print(line, file=sys.stderr, flush=True))
    except KeyboardInterrupt:
        print(f"evo: interrupted; the bench resumes where it stopped with: evo resume {root}", file=sys.stderr)
        return 130
    print(markdown_sections(report.read_text(), ["Ranking"]))
    print(f"\nreport: {report} (and report.html beside it)")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from evo.reporting.run_report import write_run_report

    root = Path(args.run_dir)
    if (root / bench.PLAN_FILE).is_file():
        path = bench.write_report(root, out=args.out)
    else:
        path = write_run_report(load_run(root), args.out or root / "report")
    print(f"report: {path} (and report.html beside it)")
    return 0
