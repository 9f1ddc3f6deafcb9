"""Early termination replayed over the candidates of live searches: a rule's savings and false kills in seconds.

A live bench (`evo bench`, then `benchmarks.prune_audit`) is the honest measure of early termination in a search,
but it takes minutes per setting, and the sequential replay (`benchmarks.sprt_replay`) sees collected corpora, not a
search's mix of parents, children and crossovers. This takes the candidates a live search made, in the order it
made them, each with its whole curve (a pruned one re-trained to its end once, as the audit does, kept in its run
directory) and replays the run's early termination (`EarlyTermination`: the monitor, the closing trend and the scale
k measured from the candidates finished so far, the audit's draws, the loosening) with the settings given, counting
what `benchmarks.prune_audit` counts. What it cannot show is the search's feedback: a candidate stopped here that the
run finished was a parent there, and compute saved here bought no further candidates. So it ranks settings; a live
bench measures the one chosen. At the runs' own settings it decides as they did when each ran one candidate at a
time (`slots.count: 1`, as the sprt benches do); with more slots a run's monitor saw fewer candidates finished.

`python -m benchmarks.live_replay DIR [DIR ...] [--arm NAME]` replays the grid SETTINGS and writes it to
benchmarks/RESULTS.md; with `--set early_stop.KEY=VALUE` (repeatable) it prints that setting's row per arm only.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

from benchmarks.prune_audit import Audit, by_arm, searched
from benchmarks.results import write_section
from evo.config import load_config
from evo.evaluation import Action
from evo.search.termination import EarlyTermination
from evo.stopping.audit import audit_from
from population.individual import rank_key
from population.ledger import Ledger


def replay_run(root: Path, overrides: list[str], audit: Audit) -> None:
    """Add the run at `root`'s candidates to `audit`, as its early termination with `overrides` would have judged
    them (none without a noise model: the run had no early termination)."""
    loaded = searched(root)
    if loaded is None:
        return
    run, noise, config = loaded.run, loaded.noise, load_config(root / "config.yaml", overrides)
    individuals = {i.id: i for i in run.individuals}
    with tempfile.TemporaryDirectory() as tmp, Ledger(Path(tmp) / "ledger.sqlite") as ledger:
        termination = EarlyTermination(config, noise, ledger, run.direction, lambda _: None)
        finished = [i for i in run.individuals if not i.parents and i.status == "ok"]  # the incumbent's pool
        others = set(individuals) - {c.id for c in loaded.children}  # baselines and failed children: as they ran
        audit.spent += sum(individuals[i].budget_seconds for i in others) / run.budget
        for child in loaded.children:
            if child.status == "pruned":
                final = loaded.finals[child.id]
                child = replace(child, status="ok", metric=final.metric, curve=final.curve)
            parents = [individuals[p] for p in child.parents]
            best = min(finished, key=lambda i: rank_key(i, run.direction)) if finished else None
            watch = termination.monitor(int(child.id), parents, best)
            if watch is None or child.metric is None or watch[1].metric is None:
                audit.spent += child.budget_seconds / run.budget
                finished += [child] if child.metric is not None else []
                continue  # as the audit: no gain to count
            test, reference = watch
            stop = next((t for t, value in child.curve if test.update(t, value) is Action.STOP), None)
            audit.spent += 1 if stop is None else stop / run.budget
            gain = loaded.sign * (reference.metric - child.metric) / noise.final_sd
            saved = 0.0 if stop is None else 1 - stop / run.budget
            audit.count(root.name, f"{child.id}: {child.description}", gain, saved, test.stopped)
            if stop is None:
                termination.finished(child, watch)
                finished.append(child)
            else:
                termination.stopped(child, watch, stop, run.budget - stop)
        measured = audit_from(ledger.events())
    audit.runs += 1
    if measured is not None:
        audit.self_audit += measured[0]


SETTINGS: dict[str, list[str]] = {  # the grid a bench is replayed on: what each knob costs or buys in a search
    "each run's own settings": [],
    "no audit": ["early_stop.audit=0"],
    "audit 5%": ["early_stop.audit=0.05"],
    "audit 20%": ["early_stop.audit=0.2"],
    **{f"margin {m:g}": [f"early_stop.margin={m}"] for m in (1.0, 2.0, 3.0)},
    **{f"delta {d:g}": [f"early_stop.delta={d}"] for d in (2.0, 4.0)},
    **{f"warm-up {w:g}": [f"early_stop.warmup={w}"] for w in (0.05, 0.2)},
    "no closing trend": ["early_stop.trend=0"],
    "without the reference's luck": ["early_stop.luck=false"],
}


HEADER = "| settings | arm | runs | candidates | losers' compute saved [95% interval over runs] | false kills "
HEADER += "(of all that would have won) [95% exact interval] "
HEADER += "| self-audit | which |\n|---|---|---:|---:|---:|---|---|---|"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", type=Path, nargs="+", help="run or bench directories")
    parser.add_argument("--arm", action="append", help="only this arm of a bench (repeatable; default: every arm)")
    parser.add_argument(
        "--set", dest="overrides", action="append", help="replay these settings only (e.g. early_stop.audit=0), printed"
    )
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    grid = {" ".join(args.overrides): args.overrides} if args.overrides else SETTINGS
    rows = []
    for name, overrides in grid.items():
        replayed = by_arm(args.dirs, lambda root, audit, o=overrides: replay_run(root, o, audit), args.arm)
        for arm, audit in replayed.items():
            rows.append(f"| {name} |{audit.row(arm)[1:]}")
            print(rows[-1], flush=True)
    if args.overrides or args.no_write:
        return
    arms = f" (arms {', '.join(args.arm)})" if args.arm else ""
    body = "\n".join(
        [
            f"Directories: {', '.join(f'`{d}`' for d in args.dirs)}{arms}. "
            "Each run's candidates replayed in the order the run made them, each with its whole curve (a pruned one "
            "re-trained to its end), through the run's early termination with the settings named; counted as "
            "`benchmarks.prune_audit` counts. The search's feedback is not replayed: compute saved buys no further "
            "candidates here, and a candidate stopped here stays a parent of the candidates the run made after it.",
            "",
            HEADER,
            *rows,
        ]
    )
    name = "_".join(d.resolve().name for d in args.dirs)
    write_section(f"live_replay_{name}", f"Early termination's settings replayed over live searches: {name}", body)


if __name__ == "__main__":
    main()
