"""The scaling study: every search mode at 1, 4, 16 and 64 workers for the same wall-clock time on the simulated clock,
scored by the held-out value of each search's pick (evo.reporting.scaling says how), on the surrogate and on several
landscapes of the ideas target. Writes one HTML report per landscape into its bench directory and one section of
benchmarks/RESULTS.md with the figures (benchmarks/figures/).

    python -m benchmarks.scaling                                # surrogate + ideas landscapes 1 and 2 (~50 min here)
    python -m benchmarks.scaling --landscapes 10 11 --seeds 4 --no-results --runs-dir /tmp/tune \
        --set population.size=64                                # a tuning run
    python -m benchmarks.scaling --analyse-only                 # re-read finished bench directories

Each landscape is an ordinary `evo bench` directory (runs/bench-scaling-...): `evo resume` continues a killed one, and
this script resumes it too. Defaults are chosen on landscapes 10 and up; the published figures use 1 and 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import time
from pathlib import Path

from benchmarks.results import RESULTS, write_section
from evo.bench import runner as bench
from evo.bench.plan import Plan, load_bench
from evo.evaluation import available_cores
from evo.reporting.document import Block, Paragraph, to_markdown, write_document
from evo.reporting.run_data import load_run
from evo.reporting.scaling import Study, blocks, study_of

REPO = Path(__file__).resolve().parent.parent
IDEAS = REPO / "configs" / "bench-scaling-ideas.yaml"
SURROGATE = REPO / "configs" / "bench-scaling-surrogate.yaml"
FIGURES = RESULTS.parent / "figures"
TIMING = "timing.json"


def plans(
    landscapes: list[int], surrogate: bool, seeds: int | None, first_seed: int | None, extra: list[str]
) -> list[Plan]:
    """The study's benches: the surrogate's as written, the ideas one once per landscape; `extra` overrides go to
    every arm."""
    found = [_with(load_bench(SURROGATE), extra)] if surrogate else []
    ideas = load_bench(IDEAS)
    for landscape in landscapes:
        plan = _with(ideas, [f'env.EVO_LANDSCAPE_SEED="{landscape}"', *extra])
        found.append(dataclasses.replace(plan, name=f"{ideas.name}-l{landscape}"))
    changes = {"seeds": seeds} if seeds is not None else {}
    changes |= {"first_seed": first_seed} if first_seed is not None else {}
    return [dataclasses.replace(plan, **changes) for plan in found]


def _with(plan: Plan, extra: list[str]) -> Plan:
    return dataclasses.replace(
        plan, arms=tuple(dataclasses.replace(a, overrides=(*a.overrides, *extra)) for a in plan.arms)
    )


def run(plan: Plan) -> Path:
    """Run (or continue) one bench; its directory is reused when it holds this very plan."""
    root = Path(plan.runs_dir) / plan.name
    if not (root / "plan.json").is_file() or bench.load_plan(root) != plan:
        root = bench.create(plan)
    started = time.monotonic()
    bench.run_plan(root)
    if not (root / TIMING).is_file():
        (root / TIMING).write_text(json.dumps({"seconds": time.monotonic() - started}))
    return root


def study(root: Path) -> Study:
    """A finished (or partial) bench directory read as a scaling study."""
    plan = bench.load_plan(root)
    arms = {
        name: [load_run(d) for d in dirs if (d / "ledger.sqlite").is_file()]
        for name, dirs in bench.run_dirs(root, plan).items()
    }
    found = study_of(plan.name, arms)
    if found is None:
        raise SystemExit(f"{root}: not a scaling study (one stop.wall_seconds, several worker counts, ratchet@1)")
    return found


def report(roots: list[Path], results: bool, note: str = "") -> None:
    """An HTML report per bench directory; with `results`, the RESULTS.md section (opening with `note`: what else
    ran, how the run was split) and its figures."""
    sections: list[Block] = [Paragraph(note)] if note else []
    for root in roots:
        out = root / "report" / "scaling"
        found = study(root)
        timing = root / TIMING
        minutes = json.loads(timing.read_text())["seconds"] / 60 if timing.is_file() else None
        plan = bench.load_plan(root)
        setting = (
            f"`{Path(plan.source).relative_to(REPO)}` with "
            f"{', '.join(f'`{o}`' for o in plan.arms[0].overrides if 'LANDSCAPE' in o) or 'its own landscape'}: "
            f"{len(plan.arms)} arms x {plan.seeds} seeds (run seeds {plan.seed_list[0]}..{plan.seed_list[-1]}), "
            + (f"{minutes:.1f} min of wall time on {available_cores()} cores." if minutes else "")
        )
        section = blocks(found, out, f"Scaling: {plan.name}")
        section.insert(1, Paragraph(setting))
        write_document(section, f"evo scaling study: {plan.name}", out)
        print(f"wrote {out / 'report.html'}")
        sections += section
        if results:
            FIGURES.mkdir(exist_ok=True)
            for png in out.glob("*.png"):
                shutil.copy(png, FIGURES / png.name)
    if results:
        moved = [dataclasses.replace(b, path=FIGURES / b.path.name) if hasattr(b, "path") else b for b in sections]
        body = to_markdown(moved, "", RESULTS.parent).split("\n", 1)[1].replace("\n## ", "\n### ")
        write_section("scaling", "Scaling: modes at 1-64 workers, equal wall-clock time, held-out values", body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--landscapes", type=int, nargs="*", default=[1, 2], help="ideas landscape seeds")
    parser.add_argument("--no-surrogate", action="store_true", help="leave the surrogate out")
    parser.add_argument("--seeds", type=int, help="searches per arm (default: the bench file's)")
    parser.add_argument("--first-seed", type=int, help="the first run seed (default: the bench file's)")
    parser.add_argument("--set", nargs="*", default=[], help="key=value overrides for every arm (tuning)")
    parser.add_argument("--runs-dir", help="where bench directories go (default: the bench file's)")
    parser.add_argument("--no-results", action="store_true", help="write the HTML reports only, not RESULTS.md")
    parser.add_argument("--analyse-only", action="store_true", help="read the bench directories, run nothing")
    parser.add_argument("--note", default="", help="a paragraph opening the RESULTS section (what else was running)")
    args = parser.parse_args()
    found = plans(args.landscapes, not args.no_surrogate, args.seeds, args.first_seed, args.set)
    if args.runs_dir:
        found = [dataclasses.replace(plan, runs_dir=args.runs_dir) for plan in found]
    roots = [Path(p.runs_dir) / p.name if args.analyse_only else run(p) for p in found]
    report(roots, not args.no_results, args.note)


if __name__ == "__main__":
    main()
