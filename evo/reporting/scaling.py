"""A scaling study's report: modes run at several worker counts for the same wall-clock time, scored by the held-out
(noise-free) value of what each search would hand over at every moment, against the sequential ratchet.

Every search is read through its pick history (`RunData.picks`: the mode's own `best()` after each result, so a
batched ratchet is not credited with a child it had not yet kept), and each pick's value comes from the target's
`expected` hook, so a lucky evaluation never counts. Three questions, each with intervals and tests:

- regret against hours, per worker count: how far from the optimum each mode's pick is as the night goes on;
- speed-up: the wall-clock time a mode needs to reach the value the sequential ratchet (autoresearch as published,
  one worker busy) ends at, taken as the median of its runs' final values, divided into the study's length (the
  time the ratchet needs, by that definition); a run that never gets there counts as never (infinite time);
- final regret: each mode against the population at the same worker count (Mann-Whitney U, Holm-adjusted over the
  whole study, bootstrap intervals of the median difference, Cliff's delta).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure as MplFigure

from evo.config import RunConfig, load_config
from evo.evaluation.target import load_target
from evo.reporting.document import Block, Figure, Heading, Paragraph, Table
from evo.reporting.figures import save
from evo.reporting.heldout import expected_values
from evo.reporting.run_data import RunData
from evo.reporting.stats import Comparison, compare, holm, median_interval

ANCHOR = "ratchet"  # the sequential ratchet, at one worker: what every speed-up is measured against
FOCUS = "population"  # the mode every other is tested against, at the same worker count
ALPHA = 0.05
GRID = 97  # points of the regret-against-time curves
CHILDREN_UP_TO = 16  # population arms up to this many workers have every child scored (crossover against mutation)
SEQUENTIAL_NOTE = "9x at 16 GPUs: the best-known autoresearch scale-out"
_COLOURS = {"ratchet": "black", "batched-ratchet": "tab:orange", "async-ratchet": "tab:green",
            "population": "tab:blue", "best-of-n": "tab:gray"}  # fmt: skip


@dataclass(frozen=True)
class Search:
    """One search of the study, reduced to what the report needs."""

    mode: str
    workers: int
    seed_run: str
    picks: tuple[tuple[float, float], ...]  # (seconds since the start, the pick's regret) at every change of pick
    children: tuple[tuple[int, bool], ...] = ()  # (parents, beat them all on expected value) per child that ran

    def regret_at(self, seconds: float) -> float:
        """The regret of the pick at `seconds` (infinite before the first pick)."""
        value = math.inf
        for at, regret in self.picks:
            if at > seconds:
                break
            value = regret
        return value

    def reached(self, regret: float) -> float:
        """The first time the pick's regret is at most `regret` (infinite if never)."""
        return next((at for at, value in self.picks if value <= regret), math.inf)


def read_search(run: RunData, workers: int, with_children: bool = False, config: RunConfig | None = None) -> Search:
    """A run's pick history as regrets to the target's optimum (its expected-value hook scores every pick); `config`
    is the run's, when the caller has read it already."""
    if run.optimum is None:
        raise ValueError(f"{run.root}: the target declares no optimum, so regret is unknown")
    config = config or load_config(run.root / "config.yaml")
    target = load_target(config.target)
    by_id = {i.id: i for i in run.individuals}
    wanted = {pick for _, pick in run.picks}
    if with_children:
        wanted |= {i.id for i in run.individuals if i.parents}
        wanted |= {p for i in run.individuals for p in i.parents}
    values = expected_values(run.root, config, target, [by_id[i] for i in sorted(wanted) if i in by_id])
    sign = 1.0 if run.direction == "minimize" else -1.0

    def regret(individual_id: str) -> float:
        value = values.get(individual_id)
        return math.inf if value is None else sign * (value - run.optimum)  # type: ignore[operator]

    picks = tuple((at, regret(pick)) for at, pick in run.picks)
    children = tuple(
        (len(i.parents), regret(i.id) < min(regret(p) for p in i.parents))
        for i in run.individuals
        if with_children and i.parents and i.is_finished
    )
    return Search(run.mode, workers, run.name, picks, children)


@dataclass(frozen=True)
class Study:
    """Every search, by arm (`mode@N`), with the study's length in seconds."""

    name: str
    seconds: float
    arms: Mapping[str, Sequence[Search]]

    def arm(self, mode: str, workers: int) -> Sequence[Search]:
        return self.arms.get(f"{mode}@{workers}", ())

    @property
    def workers(self) -> list[int]:
        return sorted({s.workers for runs in self.arms.values() for s in runs})

    @property
    def modes(self) -> list[str]:
        found = {s.mode for runs in self.arms.values() for s in runs}
        return [m for m in _COLOURS if m in found] + sorted(found - set(_COLOURS))

    def finals(self, mode: str, workers: int) -> list[float]:
        return [s.regret_at(self.seconds) for s in self.arm(mode, workers)]

    @property
    def target(self) -> float:
        """The sequential ratchet's median final regret: the value every speed-up is measured to."""
        finals = self.finals(ANCHOR, 1)
        if not finals:
            raise ValueError(f"{self.name}: the study has no {ANCHOR}@1 arm to measure speed-ups against")
        return float(np.median(finals))


def study_of(name: str, arms: Mapping[str, Sequence[RunData]]) -> Study | None:
    """The runs of a bench read as a scaling study, or None when they are not one: every run stops at the same
    wall-clock time, the target knows its optimum, the arms span several worker counts, and one is the sequential
    ratchet at one worker. Arms are named `mode@N` from each run's config, whatever the bench called them."""
    every = [run for runs in arms.values() for run in runs]
    if not every or not all((run.root / "config.yaml").is_file() for run in every):
        return None
    configs = {run.root: load_config(run.root / "config.yaml") for run in every}
    limits = {config.stop.wall_seconds for config in configs.values()}
    if len(limits) != 1 or None in limits or any(run.optimum is None for run in every):
        return None
    found: dict[str, list[Search]] = {}
    for runs in arms.values():
        for run in runs:
            count = configs[run.root].slots.count
            workers = count if isinstance(count, int) else 1
            detail = run.mode == FOCUS and workers <= CHILDREN_UP_TO  # how crossover fares: every child scored
            found.setdefault(f"{run.mode}@{workers}", []).append(read_search(run, workers, detail, configs[run.root]))
    study = Study(name, float(limits.pop()), found)  # type: ignore[arg-type]
    return study if len(study.workers) > 1 and study.arm(ANCHOR, 1) else None


@dataclass(frozen=True)
class SpeedUp:
    arm: str
    median_hours: float  # median time to reach the target (infinite when most runs never do)
    reached: int
    runs: int
    value: float  # study length / median time
    low: float
    high: float


def speed_up(study: Study, mode: str, workers: int, resamples: int = 10_000, seed: int = 0) -> SpeedUp | None:
    """Time to reach the sequential ratchet's median final value, and the speed-up it means, with a bootstrap
    interval over the arm's runs (the target value is held fixed)."""
    runs = study.arm(mode, workers)
    if not runs:
        return None
    target = study.target
    times = np.array([s.reached(target) for s in runs])
    rng = np.random.default_rng(seed)
    with np.errstate(divide="ignore"):
        boot = study.seconds / np.median(rng.choice(times, (resamples, len(times))), axis=1)
        median = float(np.median(times))
        low, high = np.quantile(boot, [0.025, 0.975])
        value = study.seconds / median if median > 0 else math.inf
    return SpeedUp(f"{mode}@{workers}", median / 3600, int(np.isfinite(times).sum()), len(times), value, low, high)


@dataclass(frozen=True)
class PeerTest:
    workers: int
    comparison: Comparison  # the population (A) against a peer (B) on final regret
    p_holm: float

    @property
    def verdict(self) -> str:
        c = self.comparison
        if self.p_holm >= ALPHA:
            return "no significant difference"
        return f"{c.a if c.advantage > 0 else c.b} better"


def peer_tests(study: Study) -> list[PeerTest]:
    """The population against every other mode at its worker count, and against the sequential ratchet, Holm-adjusted
    over the whole study."""
    found: list[tuple[int, Comparison]] = []
    for workers in study.workers:
        ours = study.finals(FOCUS, workers)
        peers = [(m, workers) for m in study.modes if m != FOCUS] + ([(ANCHOR, 1)] if workers > 1 else [])
        for mode, n in peers:
            theirs = study.finals(mode, n)
            if len(ours) >= 2 and len(theirs) >= 2 and all(map(math.isfinite, [*ours, *theirs])):
                found.append((workers, compare(ours, theirs, (f"{FOCUS}@{workers}", f"{mode}@{n}"))))
    adjusted = holm([c.p_value for _, c in found])
    return [PeerTest(w, c, p) for (w, c), p in zip(found, adjusted, strict=True)]


def regret_figure(study: Study, path: Path) -> Path:
    """Median regret of the pick against hours, one panel per worker count, the sequential ratchet in every panel."""
    counts = study.workers
    figure = MplFigure(figsize=(3.2 * len(counts) + 1, 3.6), layout="constrained")
    axes = figure.subplots(1, len(counts), sharey=True, squeeze=False)[0]
    grid = np.linspace(0.0, study.seconds, GRID)
    floor = 1e-5
    for ax, workers in zip(axes, counts, strict=True):
        arms = [(ANCHOR, 1)] + [(m, workers) for m in study.modes if (m, workers) != (ANCHOR, 1)]
        for mode, n in arms:
            runs = study.arm(mode, n)
            if not runs:
                continue
            curves = np.array([[s.regret_at(t) for t in grid] for s in runs])
            median = np.maximum(np.median(curves, axis=0), floor)
            style = {"linestyle": "--", "linewidth": 1.2} if n != workers else {"linewidth": 1.6}
            label = f"{mode} (N={n})" if n != workers else mode
            ax.plot(grid / 3600, median, color=_COLOURS.get(mode, "tab:purple"), label=label, **style)
        ax.set_yscale("log")
        ax.set_title(f"N = {workers} worker{'s' * (workers > 1)}", fontsize=10)
        ax.set_xlabel("wall-clock hours")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel(f"median held-out regret (floor {floor:g})")
    return save(figure, path)


def speed_up_figure(study: Study, path: Path) -> Path:
    """Speed-up to the sequential ratchet's final value against worker count, per mode, with the linear limit."""
    figure = MplFigure(figsize=(6, 4.2), layout="constrained")
    ax = figure.subplots()
    counts = study.workers
    ax.plot(counts, counts, color="black", linestyle=":", linewidth=1, label="linear (the limit)")
    ax.plot([16], [9], marker="*", color="black", linestyle="none", markersize=10, label=SEQUENTIAL_NOTE)
    for mode in study.modes:
        points = [(n, speed_up(study, mode, n)) for n in counts]
        shown = [(n, s) for n, s in points if s is not None and math.isfinite(s.value) and s.value > 0]
        if not shown:
            continue
        xs = [n for n, _ in shown]
        ys = np.array([s.value for _, s in shown])
        lows = np.array([s.low if math.isfinite(s.low) else s.value for _, s in shown])
        highs = np.array([s.high if math.isfinite(s.high) else s.value for _, s in shown])
        errors = [np.maximum(ys - lows, 0), np.maximum(highs - ys, 0)]
        colour = _COLOURS.get(mode, "tab:purple")
        ax.errorbar(xs, ys, yerr=errors, color=colour, marker="o", capsize=3, label=mode)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("workers N")
    ax.set_ylabel("speed-up to the sequential ratchet's value")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save(figure, path)


def _hours(value: float) -> str:
    return "never" if not math.isfinite(value) else f"{value:.2f} h"


def _times(value: float) -> str:
    return "below 1x (not reached)" if not math.isfinite(value) or value == 0 else f"{value:.1f}x"


def _regret_cell(values: Sequence[float]) -> str:
    if not values:
        return ""
    if not all(map(math.isfinite, values)):
        return "no pick"
    low, high = median_interval(values)
    return f"{np.median(values):.5f} [{low:.5f}, {high:.5f}]"


def blocks(study: Study, out: Path, title: str) -> list[Block]:
    """The study's section: findings, figures and tables (figures written into `out`)."""
    counts, modes = study.workers, study.modes
    found = peer_tests(study)
    speeds = {(m, n): speed_up(study, m, n) for m in modes for n in counts}
    hours = study.seconds / 3600
    method = (
        f"Every search ran for {hours:g} wall-clock hours at its worker count N. A search's score at any moment is "
        "the regret of its pick then (what it would hand over if stopped: its mode's best, so a batched ratchet is "
        "not credited before it decides a round), scored on the target's noise-free expected value, so a lucky "
        "evaluation never counts. Speed-up: the study's length divided by the median time an arm needs to reach the "
        "sequential ratchet's median final regret (autoresearch as published: one worker); the linear limit is N. "
        "Intervals are 95% percentile bootstraps over seeds; tests are two-sided Mann-Whitney U on final regret, "
        "Holm-adjusted over all of the study's tests."
    )
    result: list[Block] = [Heading(title, 2), Paragraph(method), Paragraph(_findings(study, found, speeds))]
    result.append(
        Figure(
            regret_figure(study, out / f"{study.name}-regret.png"),
            f"Median held-out regret of each search's pick against wall-clock hours, by worker count "
            f"({len(study.arm(ANCHOR, 1))} searches per arm); the sequential ratchet (N=1, dashed) in every panel.",
        )
    )
    result.append(
        Figure(
            speed_up_figure(study, out / f"{study.name}-speedup.png"),
            "Speed-up to the sequential ratchet's median final value (study length / median time to reach it; "
            "95% bootstrap intervals over seeds); modes that never reach it on most seeds are not drawn.",
        )
    )
    result.append(Heading(f"Final held-out regret at {hours:g} h (median [95% bootstrap interval])", 3))
    rows = [
        (str(n), *(_regret_cell(study.finals(m, n)) for m in modes))
        for n in counts
        if any(study.arm(m, n) for m in modes)
    ]
    result.append(Table(("N", *modes), tuple(rows)))
    result.append(Heading(f"Speed-up to the sequential ratchet's final value (regret {study.target:.5f})", 3))
    speed_rows = [
        (s.arm, _hours(s.median_hours), f"{s.reached}/{s.runs}", _times(s.value), f"{_times(s.low)} - {_times(s.high)}")
        if (m, n) != (ANCHOR, 1)
        else (s.arm, _hours(s.median_hours), f"{s.reached}/{s.runs}", "1x (the reference)", "")
        for n in counts
        for m in modes
        if (s := speeds[(m, n)]) is not None
    ]
    result.append(
        Table(("arm", "median time to reach", "runs reaching", "speed-up", "95% interval"), tuple(speed_rows))
    )
    result.append(Heading(f"{FOCUS} against each peer at the same N (Mann-Whitney U, Holm over {len(found)} tests)", 3))
    test_rows = [
        (
            t.comparison.a,
            t.comparison.b,
            f"{t.comparison.median_a:.5f}",
            f"{t.comparison.median_b:.5f}",
            f"{t.comparison.advantage:+.5f} [{t.comparison.low:+.5f}, {t.comparison.high:+.5f}]",
            f"{t.comparison.p_value:.3g}",
            f"{t.p_holm:.3g}",
            f"{t.comparison.cliffs_delta:+.2f}",
            t.verdict,
        )
        for t in found
    ]
    headers = ("A", "B", "median A", "median B", "A's advantage [95% CI]", "p", "p (Holm)", "Cliff's delta", "verdict")
    result.append(Table(headers, tuple(test_rows)))
    crossing = _crossover_rows(study)
    if crossing:
        result.append(Heading("Does crossover combine gains? (children scored on expected value)", 3))
        result.append(Table(("arm", "operator", "children", "beat every parent", "share"), tuple(crossing)))
    return result


def _crossover_rows(study: Study) -> list[tuple[str, ...]]:
    rows = []
    for name, runs in study.arms.items():
        children = [c for s in runs for c in s.children]
        for parents, label in ((1, "mutation"), (2, "crossover")):
            outcomes = [won for count, won in children if count == parents]
            if outcomes:
                rows.append(
                    (name, label, str(len(outcomes)), str(sum(outcomes)), f"{sum(outcomes) / len(outcomes):.1%}")
                )
    return rows


def _findings(study: Study, found: Sequence[PeerTest], speeds: Mapping[tuple[str, int], SpeedUp | None]) -> str:
    """The study's findings in words: who has the lowest median regret at each N, what is significant, speed-ups."""
    lines = []
    for n in study.workers:
        present = [(float(np.median(study.finals(m, n))), m) for m in study.modes if study.arm(m, n)]
        if not present:
            continue
        best_value, best = min(present)
        wins = [t for t in found if t.workers == n and t.p_holm < ALPHA]
        said = "; ".join(f"{t.comparison.a} vs {t.comparison.b}: {t.verdict} (Holm p {t.p_holm:.2g})" for t in wins)
        speed = speeds.get((FOCUS, n))
        fastest = max(
            (
                (s.value, m)
                for m in study.modes
                if (s := speeds.get((m, n))) is not None and (m, n) != (ANCHOR, 1) and 0 < s.value < math.inf
            ),
            default=None,
        )
        lines.append(
            f"N={n}: lowest median regret {best} ({best_value:.5f})"
            + (f"; fastest to the sequential ratchet's value {fastest[1]} ({_times(fastest[0])})" if fastest else "")
            + (f"; {FOCUS} speed-up {_times(speed.value)}" if speed and n > 1 else "")
            + (f"; significant: {said}" if said else "; no difference involving the population is significant")
            + "."
        )
    return " ".join(lines)
