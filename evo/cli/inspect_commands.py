"""`evo status`, `evo show` and `evo export`: reading a run directory (or a bench's) without changing it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from evo.bench.runner import PLAN_FILE, load_plan, run_dirs
from evo.cli.progress import printable
from evo.config import load_config
from evo.errors import EvoError
from evo.evaluation import load_target
from evo.reporting.pooled_audit import beside, pooled
from evo.reporting.run_data import final_best, load_run
from evo.search import RunPaths
from evo.stopping.audit import audit_line
from population.individual import Individual, format_id, rank_key
from population.ledger import Ledger
from population.store import GitStore


def value(individual: Individual) -> str:
    return f"{individual.metric:.6f}" if individual.metric is not None else "-"


def _open(run_dir: str) -> tuple[RunPaths, Ledger, str]:
    paths = RunPaths(Path(run_dir))
    if not paths.ledger.is_file():
        raise EvoError(f"{run_dir} is not a run directory (no ledger.sqlite)")
    config = load_config(paths.config)
    return paths, Ledger(paths.ledger), load_target(config.target).metric.direction


def cmd_status(args: argparse.Namespace) -> int:
    if (Path(args.run_dir) / PLAN_FILE).is_file():
        return _bench_status(Path(args.run_dir))
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
    audit = audit_line(ledger.events(), used / load_config(paths.config).budget.seconds)
    if audit is not None:
        print(f"early termination: {audit}")
    pooled = beside(paths.root)
    if pooled is not None:
        print(f"early termination, {pooled}")
    ranked = sorted((i for i in individuals if i.is_parent_eligible), key=lambda i: rank_key(i, direction))
    print("top:")
    for individual in ranked[: args.top]:
        print(f"  {individual.id}  {value(individual)}  {individual.operator:<13} {individual.description[:80]}")
    if ranked:
        by_id = {i.id: i for i in individuals}
        chain, current = [], ranked[0]
        while current is not None:
            chain.append(f"{current.id} {value(current)} {current.description[:50]}")
            current = by_id.get(current.parents[0]) if current.parents else None
        print("lineage of the best:")
        print("\n".join(f"  {'<- ' if n else ''}{entry}" for n, entry in enumerate(chain)))
    duplicates = ledger.events("duplicate")
    known = int(ledger.get_meta("memory_attempts", 0))
    print(f"novelty: {len(duplicates)} duplicate children not evaluated; {known} attempts of earlier runs known")
    skipped = ledger.events("proposal_failed")
    if skipped:
        print(f"skipped ids ({len(skipped)}: the proposal gave no child, so no individual has the id):")
        for event in skipped[-args.top :]:
            print(f"  {format_id(event.data['number'])}  {printable(str(event.data.get('error', '')), 100)}")
    for event in ledger.events("holdout")[-1:]:
        print(event.data["sentence"])
    ledger.close()
    return 0


def _bench_status(root: Path) -> int:
    """A bench or sweep directory: each search's progress, arm by arm."""
    plan = load_plan(root)
    print(f"{root}: {plan.kind} of {len(plan.arms)} arms x {plan.seeds} seeds")
    for arm, dirs in run_dirs(root, plan).items():
        print(f"{arm}:")
        for run_dir in dirs:
            if not (run_dir / "ledger.sqlite").is_file():
                print(f"  {run_dir.name}: not started")
                continue
            run = load_run(run_dir)
            best = final_best(run)
            counts = ", ".join(f"{n} {s}" for s, n in sorted(run.counts().items())) or "nothing finished"
            shown = f"best {best.metric:.6f} ({best.id})" if best is not None else "no eligible individual"
            print(f"  {run_dir.name}: {len(run.individuals)} individuals ({counts}); {shown}")
        audit = pooled(dirs)
        if audit is not None:
            print(f"  early termination, {audit}")
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
            f"{individual.id}  {individual.status}  {value(individual)}"
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
