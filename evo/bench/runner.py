"""`evo bench` and `evo sweep`: many independent searches (arms x seeds) run in parallel with joblib, then one report.

The bench directory `runs/<name>/` holds `plan.json` (the resolved plan), one ordinary run directory per search under
`runs/` (`<arm>-seed<k>`, resumable and readable by `evo status`/`evo report` like any run) and `report/`. Every run
directory is made before the first search starts, so a killed bench is continued by `evo resume <bench dir>`: each
search resumes from its own ledger (a finished one stops at once, its limit reached) and the report is rewritten.

Arms differ only in their overrides; seed k of every arm trains its candidates on EVO_SEED k, so arms meet the same
noise (common random numbers) and the comparison is paired by construction, though the statistics do not rely on it.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from joblib import Parallel, delayed

from evo.bench.plan import ArmPlan, Plan
from evo.config import RunConfig, load_config
from evo.errors import EvoError
from evo.evaluation import available_cores
from evo.evaluation.proctree import kill_marked
from evo.reporting.run_data import PEER_FILE, final_best, load_run
from evo.search import Coordinator, start

PLAN_FILE = "plan.json"
BENCH_MARK = "EVO_BENCH"  # in every search worker's environment, so a resume can kill a killed bench's orphaned workers


@dataclass(frozen=True)
class Finished:
    """What a worker hands back for one search: plain data, for the progress line."""

    run: str
    stop_reason: str
    evaluated: int
    best: float | None
    seconds: float


def create(plan: Plan) -> Path:
    """A new bench directory holding the plan (`runs/<name>`, or `<name>-2`... beside an existing one)."""
    runs = Path(plan.runs_dir)
    name = next(n for n in (plan.name, *(f"{plan.name}-{k}" for k in range(2, 10_000))) if not (runs / n).exists())
    root = runs / name
    staging = root.with_name(f".{root.name}.{secrets.token_hex(4)}")  # renamed into place: whole or not at all
    staging.mkdir(parents=True)
    (staging / PLAN_FILE).write_text(json.dumps(plan.to_json(), indent=1))
    staging.rename(root)
    return root


def _make_runs(root: Path, plan: Plan) -> None:
    """Every search's run directory that does not exist yet (all of them, before the first search starts)."""
    for arm, dirs in zip(plan.arms, run_dirs(root, plan).values(), strict=True):
        for seed, run_dir in zip(plan.seed_list, dirs, strict=True):
            if not run_dir.exists():
                overrides = (*arm.overrides, f"seed={seed}", f"name={run_dir.name}")
                # independent replicates: no search reads what another one tried (memory is for a user's next run)
                start(load_config(plan.base, (*overrides, f"runs_dir={root / 'runs'}", "memory.enabled=false")))
            if arm.peer is not None and not (run_dir / PEER_FILE).is_file():
                (run_dir / PEER_FILE).write_text(json.dumps(arm.peer, indent=1))


def run_name(arm: ArmPlan, seed: int) -> str:
    return f"{re.sub(r'[^A-Za-z0-9_.+-]+', '_', arm.name).strip('_')}-seed{seed}"


def load_plan(root: Path) -> Plan:
    path = root / PLAN_FILE
    if not path.is_file():
        raise EvoError(f"{root} is not a bench or sweep directory (no {PLAN_FILE})")
    return Plan.from_json(json.loads(path.read_text()))


def run_dirs(root: Path, plan: Plan) -> dict[str, list[Path]]:
    """Each arm's run directories, seed order."""
    return {arm.name: [root / "runs" / run_name(arm, seed) for seed in plan.seed_list] for arm in plan.arms}


def run_plan(root: Path, jobs: int | None = None, on_line: Callable[[str], None] = print) -> Path:
    """Run (or continue) every search of the bench at `root`, `jobs` at a time, then write the report."""
    plan = load_plan(root)
    mark = str(root.resolve())
    orphans = kill_marked(BENCH_MARK, mark)  # a killed bench's workers go on: two coordinators must never share a run
    if orphans:
        on_line(f"killed {orphans} search process(es) left running by the previous session")
    os.environ[BENCH_MARK] = mark  # the workers joblib starts now inherit it
    _make_runs(root, plan)
    arms = run_dirs(root, plan)
    order = [dirs[k] for k in range(plan.seeds) for dirs in arms.values()]  # seed-major: a partial bench is fair
    if jobs is None:
        jobs = plan.jobs or len(plan.gpus) or max(1, available_cores() // _slots(load_config(order[0] / "config.yaml")))
    if plan.gpus and jobs > len(plan.gpus):
        raise EvoError(f"{jobs} searches at once need {jobs} GPUs, but the plan lists {len(plan.gpus)}")
    on_line(f"{plan.kind} {root}: {len(plan.arms)} arms x {plan.seeds} seeds = {len(order)} searches, {jobs} at a time")
    started = time.monotonic()
    searches = Parallel(n_jobs=jobs, return_as="generator_unordered")(
        delayed(_search)(d, root, jobs, plan.gpus) for d in order
    )
    for done, finished in enumerate(searches, 1):
        best = f"best {finished.best:.6f}" if finished.best is not None else "no eligible individual"
        on_line(
            f"[{done}/{len(order)}] {finished.run}: {best} after {finished.evaluated} evaluations "
            f"({finished.stop_reason}; {finished.seconds:.0f} s)   [{time.monotonic() - started:.0f} s]"
        )
    return write_report(root, plan)


def write_report(root: Path, plan: Plan | None = None, out: Path | None = None, readonly: bool = False) -> Path:
    """The bench report (in `out`, default root/report) from whatever the run directories hold now, done or not;
    `readonly`: read the ledgers as a reader beside live searches (the dashboard)."""
    from evo.reporting.bench_report import write_bench_report  # matplotlib: imported only when a report is written

    plan = plan or load_plan(root)
    arms = {
        name: [load_run(d, readonly) for d in dirs if (d / "ledger.sqlite").is_file()]
        for name, dirs in run_dirs(root, plan).items()
    }
    base = load_config(plan.base, plan.arms[0].overrides)
    notes = [
        f"Each arm ran {plan.seeds} independent searches (run seeds {plan.seed_list[0]}..{plan.seed_list[-1]}; seed k "
        "of every arm trains "
        f"its candidates on the same EVO_SEED) from `{Path(plan.base).name}` on target `{Path(base.target).name}`, "
        f"with these overrides shared by every arm: {', '.join(f'`{o}`' for o in _shared(plan)) or 'none'}. "
        "Arms that stop losers early get more candidates for the same spend; a noise calibration (early "
        "termination's baseline runs, cached across searches) is not counted.",
    ]
    notes.extend(f"Skipped setting {line}" for line in plan.skipped)
    return write_bench_report(arms, out or root / "report", f"evo {plan.kind}: {plan.name}", notes)


@contextmanager
def _claimed_share(bench_root: Path, shares: int) -> Iterator[int]:
    """A share number in [0, shares) that no other search of the bench holds (an exclusive lock, released when its
    holder ends, even by SIGKILL). Workers never outnumber shares, so one is free but for a moment while a finished
    search lets go of its own."""
    while True:
        for k in range(shares):
            with open(bench_root / f".share-{k}.lock", "w") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                yield k
                return
        time.sleep(0.2)


@contextmanager
def _pinned(cores: list[int]) -> Iterator[None]:
    """Run on `cores` only (candidates inherit it, and their thread count follows it), then as before: searches
    running side by side then never share a core, so CPU budgets and timings stay steady."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _slots(config: RunConfig) -> int:
    """Cores a search of the bench takes here: its slots, or one when its candidates run elsewhere (a Ray cluster)
    or on a virtual clock (the simulated executor)."""
    count = config.slots.count
    return count if isinstance(count, int) and config.executor.kind == "local" else 1


def _share_of(cores: list[int], share: int, shares: int) -> list[int]:
    """The `share`-th of `shares` near-equal slices of `cores` (all of them when there are fewer cores than shares)."""
    if len(cores) < shares:
        return cores
    size, extra = divmod(len(cores), shares)
    begin = share * size + min(share, extra)
    return cores[begin : begin + size + (share < extra)]


def _shared(plan: Plan) -> list[str]:
    """The overrides every arm has (the plan's shared ones come first in each arm's list)."""
    first = plan.arms[0].overrides
    return [o for n, o in enumerate(first) if all(len(a.overrides) > n and a.overrides[n] == o for a in plan.arms)]


def _search(root: Path, bench_root: Path, shares: int, gpus: tuple[str, ...]) -> Finished:
    """One search, in a worker process: evo's coordinator, or the peer named in peer.json, on its share of the
    cores (and its GPU, if the plan lists them), claimed for as long as it runs."""
    started = time.monotonic()
    with (
        _claimed_share(bench_root, shares) as share,
        _pinned(_share_of(sorted(os.sched_getaffinity(0)), share, shares)),
    ):
        session_gpus = (gpus[share],) if gpus else None
        if (root / PEER_FILE).is_file():
            from evo.bench.peer_tpe import run_tpe

            reason = run_tpe(root, gpus=session_gpus)
        else:
            reason = Coordinator(root, gpus=session_gpus).run().stop_reason
    run = load_run(root)
    best = final_best(run)
    evaluated = sum(1 for i in run.individuals if i.is_finished)
    return Finished(root.name, reason, evaluated, best.metric if best else None, time.monotonic() - started)
