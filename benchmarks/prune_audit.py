"""Early termination audited in live searches: every pruned candidate re-run to the end.

The replay (benchmarks/sprt_replay.py) judges stopping rules on collected curves; this checks what the rule did inside
real searches. `python -m benchmarks.prune_audit DIR [DIR ...]` takes run directories or bench directories (every run
of the bench, grouped by arm), re-trains each pruned candidate's code for the full budget on the run's seed and
settings, and counts, per arm: the losers' compute saved (losers: finished worse than their reference), false kills
(stopped, though the finished run beats its reference by more than one noise unit, the run's noise model's final
sd) among all candidates that would have won by that much, and what they changed. The reference of a pruned
candidate is the one its `pruned` event names; a finished candidate is held against its better parent (what
`early_stop.reference: parent` compares with). Writes `benchmarks/RESULTS.md` section `prune_audit_<name>`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.results import write_section
from evo.bench import PLAN_FILE, load_plan, run_dirs
from evo.config import eval_settings, load_config
from evo.evaluator import evaluate
from evo.result import EvalResult
from evo.target import load_target
from population.individual import Individual
from population.ledger import Ledger
from population.store import GitStore


@dataclass
class Audit:
    """One arm's candidates, each with its gain over its reference in noise units (positive: better)."""

    runs: int = 0
    candidates: int = 0
    losers: int = 0
    loser_saved: float = 0.0  # in whole budgets
    winners: int = 0  # beat the reference by more than one noise unit
    false_kills: list[str] = field(default_factory=list)  # "run/id: what it changed (+gain)"

    def row(self, arm: str) -> str:
        def pct(part: float, whole: int) -> str:
            return f"{100 * part / whole:.1f}%" if whole else "-"

        shown = "; ".join(self.false_kills[:4]) + (" ..." if len(self.false_kills) > 4 else "")
        return (
            f"| {arm} | {self.runs} | {self.candidates} | {pct(self.loser_saved, self.losers)} | "
            f"{len(self.false_kills)} of {self.winners} ({pct(len(self.false_kills), self.winners)}) | {shown} |"
        )


def audit_run(root: Path, audit: Audit) -> None:
    """Add one run's candidates to `audit`, re-training its pruned ones (none without a noise model: the run had
    no early termination, and there is no noise unit to count winners in)."""
    if not (root / "noise.json").is_file():
        return
    config = load_config(root / "config.yaml", [])
    target = load_target(Path(config.target))
    unit = float(json.loads((root / "noise.json").read_text())["final_sd"])
    sign = 1.0 if target.metric.direction == "minimize" else -1.0
    audit.runs += 1
    with Ledger(root / "ledger.sqlite") as ledger:
        individuals = {i.id: i for i in ledger.all()}
        references = {e.data["individual"]: e.data["reference"] for e in ledger.events("pruned")}
        with tempfile.TemporaryDirectory() as tmp:
            for individual in individuals.values():
                if not individual.parents or individual.status not in ("ok", "pruned"):
                    continue
                if individual.status == "pruned":
                    reference = individuals[references[individual.id]]
                    metric = retrain(root, individual, Path(tmp)).metric
                    saved = individual.saved_seconds / config.budget.seconds
                else:
                    reference = _better_parent(individual, individuals, sign)
                    metric, saved = individual.metric, 0.0
                if metric is None or reference is None or reference.metric is None:
                    continue
                gain = sign * (reference.metric - metric) / unit
                audit.candidates += 1
                if gain < 0:
                    audit.losers += 1
                    audit.loser_saved += saved
                if gain > 1:
                    audit.winners += 1
                    if individual.status == "pruned":
                        audit.false_kills.append(f"{root.name}/{individual.id}: {individual.description} (+{gain:.1f})")
    print(f"{root.name}: {audit.candidates} candidates so far, {len(audit.false_kills)} false kills", flush=True)


def retrain(root: Path, individual: Individual, workdir: Path) -> EvalResult:
    """`individual`'s code trained for the full budget with the settings its run gave it (same seed, clock, env)."""
    config = load_config(root / "config.yaml", [])
    target = load_target(Path(config.target))
    with GitStore(root / "git", target.editable) as store:
        code = store.code(individual.commit)
    return evaluate(target, code, workdir / individual.id, eval_settings(config, 0))


def _better_parent(individual: Individual, individuals: dict[str, Individual], sign: float) -> Individual | None:
    scored = [(sign * m, individuals[p]) for p in individual.parents if (m := individuals[p].metric) is not None]
    return min(scored, key=lambda pair: pair[0])[1] if scored else None


def arms_of(directory: Path) -> dict[str, list[Path]]:
    """A bench directory's runs by arm, or a run directory as its own arm."""
    if (directory / PLAN_FILE).is_file():
        return run_dirs(directory, load_plan(directory))
    return {directory.name: [directory]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", type=Path, nargs="+", help="run or bench directories")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    audits: dict[str, Audit] = {}
    for directory in args.dirs:
        for arm, roots in arms_of(directory).items():
            for root in roots:
                audit_run(root, audits.setdefault(arm, Audit()))
    audits = {arm: audit for arm, audit in audits.items() if audit.runs}
    lines = [
        f"Directories: {', '.join(f'`{d}`' for d in args.dirs)}. Every pruned candidate re-trained for its full "
        "budget on its run's seed; false kills: stopped, though it would have beaten its reference by more than one "
        "noise unit (the run's noise model's final sd).",
        "",
        "| arm | runs | candidates | losers' compute saved | false kills (of all that would have won) | which |",
        "|---|---:|---:|---:|---|---|",
        *(audit.row(arm) for arm, audit in audits.items()),
        "",
    ]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        name = "_".join(d.resolve().name for d in args.dirs)
        write_section(f"prune_audit_{name}", f"Early termination audited in live searches: {name}", body)


if __name__ == "__main__":
    main()
