"""Early termination audited in live searches: every pruned candidate re-run to the end.

The replay (benchmarks/sprt_replay.py) judges stopping rules on collected curves; this checks what the rule did inside
real searches. `python -m benchmarks.prune_audit DIR [DIR ...]` takes run directories or bench directories (every run
of the bench, grouped by arm), re-trains each pruned candidate's code for the full budget on the run's seed and
settings, and counts, per arm: the losers' compute saved (losers: finished worse than their reference), false kills
(stopped, or audited: the test decided to stop it but the run's self-audit let it run on; though the finished run
beats its reference by more than one noise unit, the run's noise model's final sd) among all candidates that would
have won by that much, what they changed, and next to it what the runs' self-audits measured. The reference of a pruned
candidate is the one its `pruned` event names; a finished candidate is held against its better parent (what
`early_stop.reference: parent` compares with). Writes `benchmarks/RESULTS.md` section `prune_audit_<name>`.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from benchmarks.results import write_section
from evo.bench.runner import PLAN_FILE, load_plan, run_dirs
from evo.config import load_config
from evo.evaluation import available_cores, evaluate
from evo.evaluation.result import EvalResult
from evo.evaluation.target import load_target
from evo.execution import placement
from evo.reporting.run_data import load_run
from evo.search.session import candidate_settings
from evo.stopping.audit import AuditTally, audit_from
from evo.stopping.noise import load_noise
from population.individual import Individual, rank_key
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
    self_audit: AuditTally = field(default_factory=AuditTally)  # what the runs measured of themselves, pooled

    def row(self, arm: str) -> str:
        def pct(part: float, whole: int) -> str:
            return f"{100 * part / whole:.1f}%" if whole else "-"

        shown = "; ".join(self.false_kills[:4]) + (" ..." if len(self.false_kills) > 4 else "")
        rate = self.self_audit.false_stop_rate()
        measured = "-" if rate is None else f"{rate.estimate:.1%} [{rate.low:.1%}, {rate.high:.1%}]"
        return (
            f"| {arm} | {self.runs} | {self.candidates} | {pct(self.loser_saved, self.losers)} | "
            f"{len(self.false_kills)} of {self.winners} ({pct(len(self.false_kills), self.winners)}) | "
            f"{measured} ({self.self_audit.audits} audited of {self.self_audit.decisions}) | {shown} |"
        )


def audit_run(root: Path, audit: Audit) -> None:
    """Add one run's candidates to `audit`, re-training its pruned ones (none without a noise model: the run had
    no early termination, and there is no noise unit to count winners in)."""
    if not (root / "noise.json").is_file():
        return
    run = load_run(root)
    unit = load_noise(root / "noise.json").final_sd
    sign = 1.0 if run.direction == "minimize" else -1.0
    individuals = {i.id: i for i in run.individuals}
    references = {e.data["individual"]: e.data["reference"] for e in run.events if e.kind == "pruned"}
    audited = {e.data["individual"] for e in run.events if e.kind == "watched" and e.data.get("audited") is not None}
    measured = audit_from(run.events)
    if measured is not None:
        audit.self_audit = pooled(audit.self_audit, measured[0])
    children = [i for i in run.individuals if i.parents and i.status in ("ok", "pruned")]
    with tempfile.TemporaryDirectory() as tmp:
        finals = dict(retrain(root, [i for i in children if i.status == "pruned"], Path(tmp)))
    audit.runs += 1
    for individual in children:
        if individual.status == "pruned":
            reference = individuals[references[individual.id]]
            metric, saved = finals[individual.id].metric, individual.saved_seconds / run.budget
        else:
            reference = min((individuals[p] for p in individual.parents), key=lambda p: rank_key(p, run.direction))
            metric, saved = individual.metric, 0.0
        if metric is None or reference.metric is None:
            continue
        gain = sign * (reference.metric - metric) / unit
        audit.candidates += 1
        if gain < 0:
            audit.losers += 1
            audit.loser_saved += saved
        if gain > 1:
            audit.winners += 1
            if individual.status == "pruned" or individual.id in audited:
                audit.false_kills.append(f"{root.name}/{individual.id}: {individual.description} (+{gain:.1f})")
    print(f"{root.name}: {audit.candidates} candidates so far, {len(audit.false_kills)} false kills", flush=True)


def pooled(a: AuditTally, b: AuditTally) -> AuditTally:
    return AuditTally(a.stops + b.stops, a.audits + b.audits, a.audit_wins + b.audit_wins, a.wins + b.wins)


def retrain(root: Path, individuals: list[Individual], workdir: Path) -> Iterator[tuple[str, EvalResult]]:
    """Each individual's code trained for the full budget with the settings its run gave it (same seed, clock,
    env), as (id, result)."""
    config = load_config(root / "config.yaml", [])
    target = load_target(Path(config.target))
    settings = replace(candidate_settings(config, "prune-audit"), **placement(config.slots, 0, available_cores()))
    with GitStore(root / "git", target.editable) as store:
        codes = [(i.id, store.code(i.commit)) for i in individuals]
    for ident, code in codes:
        yield ident, evaluate(target, code, workdir / ident, settings)


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
        "budget on its run's seed; false kills: the rule decided to stop it (pruned, or audited: let run to the end "
        "by the run's self-audit), though it would have beaten its reference by more than one noise unit (the run's "
        "noise model's final sd). Self-audit: the false-stop rate the runs measured of themselves (pooled, 95% "
        "interval).",
        "",
        "| arm | runs | candidates | losers' compute saved | false kills (of all that would have won) "
        "| self-audit | which |",
        "|---|---:|---:|---:|---|---|---|",
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
