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
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy.stats import binomtest

from benchmarks.results import write_section
from evo.bench.runner import PLAN_FILE, load_plan, run_dirs
from evo.config import load_config
from evo.evaluation import available_cores, evaluate
from evo.evaluation.result import EvalResult
from evo.evaluation.target import load_target
from evo.execution import placement
from evo.reporting.run_data import RunData, load_run
from evo.search.session import candidate_settings
from evo.stopping.audit import LEVEL, AuditTally, audit_from
from evo.stopping.noise import NoiseModel, load_noise
from population.individual import Individual, rank_key
from population.store import GitStore

RETRAINED = "retrained.json"  # in a run directory: its pruned candidates re-trained to the end
BOOTSTRAP = 2000  # resamples of the runs for the savings' interval (at the self-audit's LEVEL)


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
    per_run: dict[str, list[float]] = field(default_factory=dict)  # run: [losers, their compute saved]
    spent: float = 0.0  # the runs' training, in whole budgets

    def count(self, run: str, label: str, gain: float, saved: float, decided: bool) -> None:
        """One candidate of `run`: its `gain` over its reference (noise units), the compute its stop `saved`
        (budgets) and whether the rule `decided` to stop it (stopped, or audited); `label` names it among the false
        kills."""
        self.candidates += 1
        if gain < 0:
            self.losers += 1
            self.loser_saved += saved
            tally = self.per_run.setdefault(run, [0, 0.0])
            tally[0] += 1
            tally[1] += saved
        if gain > 1:
            self.winners += 1
            if decided:
                self.false_kills.append(f"{run}/{label} (+{gain:.1f})")

    def saved_interval(self) -> tuple[float, float]:
        """The losers' compute saved: a LEVEL percentile bootstrap interval over the runs (the unit a search's
        choices make dependent)."""
        tallies = np.array(list(self.per_run.values()))
        picks = np.random.default_rng(0).integers(0, len(tallies), (BOOTSTRAP, len(tallies)))
        shares = tallies[picks, 1].sum(axis=1) / tallies[picks, 0].sum(axis=1)
        low, high = np.quantile(shares, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
        return float(low), float(high)

    def row(self, arm: str) -> str:
        kills = len(self.false_kills)
        saved = "-"
        if self.losers:
            low, high = self.saved_interval()
            saved = f"{self.loser_saved / self.losers:.1%} [{low:.1%}, {high:.1%}]"
        killed = "-"
        if self.winners:
            interval = binomtest(kills, self.winners).proportion_ci(LEVEL, method="exact")
            killed = f"{kills / self.winners:.1%} [{interval.low:.1%}, {interval.high:.1%}]"
        shown = "; ".join(self.false_kills[:4]) + (" ..." if kills > 4 else "")
        rate = self.self_audit.false_stop_rate()
        measured = "-" if rate is None else f"{rate.estimate:.1%} [{rate.low:.1%}, {rate.high:.1%}]"
        return (
            f"| {arm} | {self.runs} | {self.candidates} | {saved} | {kills} of {self.winners} ({killed}) | "
            f"{measured} ({self.self_audit.audits} audited of {self.self_audit.decisions}{self._audit_cost()}) | "
            f"{shown} |"
        )

    def _audit_cost(self) -> str:
        spent = self.self_audit.audit_budgets
        return f"; {spent / self.spent:.1%} of the training" if spent and self.spent else ""


@dataclass(frozen=True)
class Searched:
    """A run with early termination, ready to audit or replay: its children that finished or were pruned (in the
    order the run made them) and the pruned ones re-trained to the end."""

    run: RunData
    noise: NoiseModel
    children: list[Individual]
    finals: dict[str, Retrained]

    @property
    def sign(self) -> float:
        """+1 when the metric is minimized: gains are the reference's metric less the candidate's, times this."""
        return 1.0 if self.run.direction == "minimize" else -1.0


def searched(root: Path) -> Searched | None:
    """The run at `root`, re-training its pruned candidates once (`retrained`); None without a noise model: the run
    had no early termination, and there is no noise unit to count winners in."""
    if not (root / "noise.json").is_file():
        return None
    run = load_run(root)
    children = [i for i in run.individuals if i.parents and i.status in ("ok", "pruned")]
    finals = retrained(root, [i for i in children if i.status == "pruned"])
    return Searched(run, load_noise(root / "noise.json"), children, finals)


def audit_run(root: Path, audit: Audit) -> None:
    """Add one run's candidates to `audit`, re-training its pruned ones (none without a noise model)."""
    loaded = searched(root)
    if loaded is None:
        return
    run, unit, sign, finals = loaded.run, loaded.noise.final_sd, loaded.sign, loaded.finals
    individuals = {i.id: i for i in run.individuals}
    references = {e.data["individual"]: e.data["reference"] for e in run.events if e.kind == "pruned"}
    audited = {e.data["individual"] for e in run.events if e.kind == "watched" and e.data.get("audited") is not None}
    audit.spent += sum(i.budget_seconds for i in run.individuals) / run.budget
    measured = audit_from(run.events)
    if measured is not None:
        audit.self_audit += measured[0]
    audit.runs += 1
    for individual in loaded.children:
        if individual.status == "pruned":
            reference = individuals[references[individual.id]]
            metric, saved = finals[individual.id].metric, individual.saved_seconds / run.budget
        else:
            reference = min((individuals[p] for p in individual.parents), key=lambda p: rank_key(p, run.direction))
            metric, saved = individual.metric, 0.0
        if metric is None or reference.metric is None:
            continue
        gain = sign * (reference.metric - metric) / unit
        decided = individual.status == "pruned" or individual.id in audited
        audit.count(root.name, f"{individual.id}: {individual.description}", gain, saved, decided)
    print(f"{root.name}: {audit.candidates} candidates so far, {len(audit.false_kills)} false kills", flush=True)


@dataclass(frozen=True)
class Retrained:
    """A pruned candidate's run to the end of its budget."""

    metric: float | None
    curve: tuple[tuple[float, float], ...]


def retrained(root: Path, individuals: list[Individual]) -> dict[str, Retrained]:
    """Each of `individuals` (pruned candidates of the run at `root`) re-trained to its end, by id; kept in the run
    directory (RETRAINED), so the audit and the live replay (`benchmarks.live_replay`) train each one once."""
    path = root / RETRAINED
    kept = json.loads(path.read_text()) if path.is_file() else {}
    missing = [i for i in individuals if i.id not in kept]
    if missing:
        with tempfile.TemporaryDirectory() as tmp:
            for ident, result in retrain(root, missing, Path(tmp)):
                kept[ident] = {"metric": result.metric, "curve": result.curve}
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(kept))
        os.replace(partial, path)  # a kill leaves the old file or the new one, never half of one
    return {
        i.id: Retrained(kept[i.id]["metric"], tuple((float(t), float(v)) for t, v in kept[i.id]["curve"]))
        for i in individuals
    }


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


def by_arm(
    directories: list[Path], add: Callable[[Path, Audit], None], arms: list[str] | None = None
) -> dict[str, Audit]:
    """Every run of `directories` (a bench's: only `arms`' when given) added by `add` to its arm's tally."""
    audits: dict[str, Audit] = {}
    for directory in directories:
        for arm, roots in arms_of(directory).items():
            for root in roots if arms is None or arm in arms else ():
                add(root, audits.setdefault(arm, Audit()))
    return {arm: audit for arm, audit in audits.items() if audit.runs}


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
    audits = by_arm(args.dirs, audit_run)
    lines = [
        f"Directories: {', '.join(f'`{d}`' for d in args.dirs)}. Every pruned candidate re-trained for its full "
        "budget on its run's seed; false kills: the rule decided to stop it (pruned, or audited: let run to the end "
        "by the run's self-audit), though it would have beaten its reference by more than one noise unit (the run's "
        "noise model's final sd). Self-audit: the false-stop rate the runs measured of themselves (pooled, 95% "
        "interval).",
        "",
        "| arm | runs | candidates | losers' compute saved [95% interval over runs] | false kills (of all that would "
        "have won) [95% exact interval] "
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
