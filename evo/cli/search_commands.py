"""`evo run`, `evo resume`, `evo status`, `evo show` and `evo export`: a search and its run directory."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from evo.bench import runner as bench
from evo.cli.bench_commands import cmd_bench, cmd_report, run_bench
from evo.cli.progress import ProgressDisplay
from evo.config import load_config
from evo.errors import EvoError
from evo.evaluation.target import load_target
from evo.reporting.run_data import PEER_FILE, load_run
from evo.search import Coordinator, Outcome, RunPaths, improvement, start
from population.individual import Individual, rank_key
from population.ledger import Ledger
from population.store import GitStore


def cmd_run(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.overrides)
    root = start(config)
    print(
        f"evo run: {root} ({config.mode}, target {config.target}, {config.budget.seconds:g} s "
        f"{config.budget.clock}-clock budget, {config.slots.count} slot(s))",
        file=sys.stderr,
    )
    return _search(root)


def cmd_resume(args: argparse.Namespace) -> int:
    print(f"evo resume: {args.run_dir}", file=sys.stderr)
    root = Path(args.run_dir)
    if (root / bench.PLAN_FILE).is_file():
        return run_bench(root, None)
    if (root / PEER_FILE).is_file():
        from evo.bench.peer_tpe import run_tpe

        print(f"stopped: {run_tpe(root, on_line=print)}")
        return 0
    return _search(root)


def _search(root: Path) -> int:
    coordinator = Coordinator(root, on_notice=lambda line: print(line, file=sys.stderr))
    print(coordinator.operators.notice, file=sys.stderr)
    display = ProgressDisplay(metric=coordinator.target.metric.name)
    coordinator.on_progress = display
    try:
        outcome = coordinator.run()
    finally:
        display.close()
    print(_summary(outcome, coordinator.target.metric.name, coordinator.direction))
    from evo.reporting.run_report import write_run_report  # matplotlib: only once the search is done

    print(f"report: {write_run_report(load_run(root), root / 'report')} (and report.html beside it)")
    return 0


def _summary(outcome: Outcome, metric: str, direction: str) -> str:
    lines = [f"stopped: {outcome.stop_reason}; {outcome.finished} individuals evaluated"]
    if outcome.baseline is not None:
        lines.append(f"baseline {outcome.baseline.id}: {metric} {_value(outcome.baseline)}")
    if outcome.best is not None:
        gain = improvement(outcome.best, outcome.baseline, direction)
        lines.append(
            f"best     {outcome.best.id}: {metric} {_value(outcome.best)}  {outcome.best.description}"
            + (f"  ({gain:+.6f} vs baseline)" if gain is not None else "")
        )
        lines.append(f"export it: evo export {outcome.run_dir} {outcome.best.id} -o train.py")
    return "\n".join(lines)


def _value(individual: Individual) -> str:
    return f"{individual.metric:.6f}" if individual.metric is not None else "-"


def _open(run_dir: str) -> tuple[RunPaths, Ledger, str]:
    paths = RunPaths(Path(run_dir))
    if not paths.ledger.is_file():
        raise EvoError(f"{run_dir} is not a run directory (no ledger.sqlite)")
    config = load_config(paths.config)
    return paths, Ledger(paths.ledger), load_target(config.target).metric.direction


def cmd_status(args: argparse.Namespace) -> int:
    paths, ledger, direction = _open(args.run_dir)
    individuals = ledger.all()
    counts: dict[str, int] = {}
    for individual in individuals:
        counts[individual.status] = counts.get(individual.status, 0) + 1
    print(f"{paths.root}: {len(individuals)} individuals: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    used, saved = sum(i.budget_seconds for i in individuals), sum(i.saved_seconds for i in individuals)
    print(
        f"training: {used:,.0f} budget seconds used"
        + (f", {saved:,.0f} saved by early termination ({100 * saved / (used + saved):.0f}%)" if saved else "")
    )
    ranked = sorted((i for i in individuals if i.is_parent_eligible), key=lambda i: rank_key(i, direction))
    print("top:")
    for individual in ranked[: args.top]:
        print(f"  {individual.id}  {_value(individual)}  {individual.operator:<13} {individual.description[:80]}")
    if ranked:
        by_id = {i.id: i for i in individuals}
        chain, current = [], ranked[0]
        while current is not None:
            chain.append(f"{current.id} {_value(current)} {current.description[:50]}")
            current = by_id.get(current.parents[0]) if current.parents else None
        print("lineage of the best:")
        print("\n".join(f"  {'<- ' if n else ''}{entry}" for n, entry in enumerate(chain)))
    ledger.close()
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    paths, ledger, _ = _open(args.run_dir)
    try:
        individual = ledger.get(args.id)
    except KeyError:
        raise EvoError(f"{args.run_dir}: no individual {args.id!r}") from None
    config = load_config(paths.config)
    with GitStore(paths.git, load_target(config.target).editable) as store:
        print(
            f"{individual.id}  {individual.status}  {_value(individual)}"
            f"  parents {', '.join(individual.parents) or '-'}"
            f"  operator {individual.operator}" + (f"  model {individual.model}" if individual.model else "")
        )
        print(f"description: {individual.description}")
        if individual.rationale:
            print(f"rationale:   {individual.rationale}")
        if individual.reason:
            print(f"reason:      {individual.reason}")
        for parent in individual.parents:
            print(store.diff(individual.commit, ledger.get(parent).commit))
        print(
            f"curve ({len(individual.curve)} points): "
            + " ".join(f"{t:.0f}s:{v:.3f}" for t, v in individual.curve[:: max(1, len(individual.curve) // 12)])
        )
        log = paths.individuals / individual.id / "log.txt"
        if log.is_file():
            print("log tail:\n" + "\n".join("  " + line for line in log.read_text(errors="replace").splitlines()[-15:]))
    ledger.close()
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    paths, ledger, direction = _open(args.run_dir)
    individuals = ledger.all()
    if args.id:
        chosen = next((i for i in individuals if i.id == args.id), None)
        if chosen is None:
            raise EvoError(f"{args.run_dir}: no individual {args.id!r}")
    else:
        eligible = sorted((i for i in individuals if i.is_parent_eligible), key=lambda i: rank_key(i, direction))
        if not eligible:
            raise EvoError(f"{args.run_dir}: no individual has a metric yet")
        chosen = eligible[0]
    config = load_config(paths.config)
    editable = load_target(config.target).editable
    with GitStore(paths.git, editable) as store:
        code = store.code(chosen.commit)
    Path(args.output).write_text(code[editable[0]])
    print(
        json.dumps(
            {"id": chosen.id, "metric": chosen.metric, "description": chosen.description, "written": args.output}
        )
    )
    ledger.close()
    return 0


COMMANDS = {
    "run": cmd_run,
    "resume": cmd_resume,
    "status": cmd_status,
    "show": cmd_show,
    "export": cmd_export,
    "bench": cmd_bench,
    "sweep": cmd_bench,
    "report": cmd_report,
}
