"""The reports' PNG figures, drawn with matplotlib's object API on the Agg canvas (no pyplot, no display, no global
state), each from plain data or one run, written atomically."""

from __future__ import annotations

import math
import textwrap
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.path import Path as MplPath
from matplotlib.text import Annotation
from matplotlib.transforms import Bbox

from evo.reporting.document import write_atomic
from evo.reporting.run_data import RunData, counts_as_best, running_best
from population.individual import Individual

_GREEN, _GREY, _RED, _ORANGE = "#2a9d3f", "#9a9a9a", "#c0392b", "#e08a1e"
_LABEL = "#1d6b2b"  # a new best's label: a darker green, readable on white
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")
GRID_POINTS = 400


def short(text: str, width: int = 40) -> str:
    """A description cut to fit a label."""
    return textwrap.shorten(" ".join(text.split()), width=width, placeholder="...") or "-"


def save(figure: Figure, path: Path) -> Path:
    return write_atomic(path, lambda temp: figure.savefig(temp, format="png", dpi=110, bbox_inches="tight"))


def step_on_grid(points: Sequence[tuple[float, float]], grid: np.ndarray) -> np.ndarray:
    """A run's best-so-far (a step function of budget seconds spent) read at each grid point: NaN before its first
    point, and its last value held after its end (a finished run's answer stands)."""
    if not points:
        return np.full(len(grid), np.nan)
    spent = np.array([p[0] for p in points])
    values = np.array([p[1] for p in points])
    index = np.searchsorted(spent, grid, side="right") - 1
    return np.where(index >= 0, values[np.clip(index, 0, None)], np.nan)


def regret(values: np.ndarray, optimum: float, direction: str) -> np.ndarray:
    """How far from the known optimum, positive when worse (floored so a log axis can show a run that reached it)."""
    gap = values - optimum if direction == "minimize" else optimum - values
    return np.maximum(gap, 1e-9)


def best_so_far_figure(
    curves: Mapping[str, Sequence[Sequence[tuple[float, float]]]],
    metric: str,
    direction: str,
    optimum: float | None,
    path: Path,
) -> Path:
    """Per arm, the median across its runs of best-so-far against budget seconds (line) and the 25-75% range across
    runs (band); with a known optimum, a second panel shows the regret on a log axis."""
    ends = [run[-1][0] for runs in curves.values() for run in runs if run]
    grid = np.linspace(0.0, max(ends, default=1.0), GRID_POINTS)
    figure = Figure(figsize=(11 if optimum is not None else 7, 4.2), layout="constrained")
    axes = figure.subplots(1, 2 if optimum is not None else 1, squeeze=False)[0]
    for k, (arm, runs) in enumerate(curves.items()):
        arm_end = max((run[-1][0] for run in runs if run), default=0.0)
        stack = np.array([step_on_grid(run, grid) for run in runs if run])
        if not len(stack):
            continue
        keep = (grid <= arm_end) & ~np.isnan(stack).all(axis=0)
        panels = [stack] if optimum is None else [stack, regret(stack, optimum, direction)]
        for ax, values in zip(axes, panels, strict=True):
            with warnings.catch_warnings():  # an all-NaN column (before every run's first point) is expected
                warnings.simplefilter("ignore", RuntimeWarning)
                median = np.nanmedian(values, axis=0)
                low, high = np.nanpercentile(values, [25, 75], axis=0)
            colour = _COLOURS[k % len(_COLOURS)]
            ax.plot(grid[keep], median[keep], color=colour, label=f"{arm} (n={len(stack)})", drawstyle="steps-post")
            ax.fill_between(grid[keep], low[keep], high[keep], color=colour, alpha=0.18, step="post", linewidth=0)
    axes[0].set_ylabel(f"best {metric} so far")
    axes[0].set_title(f"best {metric} ({'lower' if direction == 'minimize' else 'higher'} is better)", fontsize=10)
    if optimum is not None:
        axes[0].axhline(optimum, color="black", linestyle=":", linewidth=1, label=f"optimum {optimum:g}")
        axes[1].set_yscale("log")
        axes[1].set_ylabel("regret (distance to the optimum)")
        axes[1].set_title("regret, log scale", fontsize=10)
    for ax in axes:
        ax.set_xlabel("budget seconds spent (compute)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return save(figure, path)


def distribution_figure(finals: Mapping[str, Sequence[float]], metric: str, path: Path) -> Path:
    """Final best metric per arm: a box over the seeds and every seed as a point."""
    figure = Figure(figsize=(max(5.0, 1.3 * len(finals) + 2), 4.2))
    ax = figure.subplots()
    names = list(finals)
    ax.boxplot([list(finals[n]) or [math.nan] for n in names], widths=0.5, showfliers=False)
    rng = np.random.default_rng(0)
    for k, name in enumerate(names, start=1):
        values = np.asarray(finals[name], dtype=float)
        ax.scatter(k + rng.uniform(-0.12, 0.12, len(values)), values, color=_COLOURS[(k - 1) % len(_COLOURS)], zorder=3)
    ax.set_xticks(
        range(1, len(names) + 1),
        names,
        rotation=20 if len(names) > 4 else 0,
        ha="right" if len(names) > 4 else "center",
    )
    ax.set_ylabel(f"final best {metric}")
    ax.grid(axis="y", alpha=0.3)
    return save(figure, path)


def worse_side(direction: str) -> str:
    """Where the progress plot puts failures and results off the scale: the worse end of the metric axis."""
    return "top" if direction == "minimize" else "bottom"


def progress_figure(run: RunData, path: Path) -> Path:
    """autoresearch's progress plot: every finished evaluation in finish order; a new running best is green and
    labelled, others grey; failures and results off the scale sit at the worse edge, marked. The legend sits below
    the axes and the labels inside them, so neither hides a point nor is cut off."""
    finished = run.finished
    eligible = [i for i in finished if counts_as_best(i)]
    figure = Figure(figsize=(max(7.0, min(16.0, 0.12 * len(finished) + 6)), 4.6), layout="constrained")
    FigureCanvasAgg(figure)  # the renderer that measures the labels
    ax = figure.subplots()
    ax.set_xlabel("evaluation (in finish order)")
    ax.set_ylabel(run.metric)
    ax.grid(alpha=0.3)
    if not eligible:
        return save(figure, path)
    sign = 1.0 if run.direction == "minimize" else -1.0
    lim_best, lim_worse = _metric_limits(run, eligible)
    edge = lim_worse - sign * 0.06 * abs(lim_worse - lim_best)  # where failures and off-scale results are drawn
    markers, bests, step = _draw_evaluations(ax, run, lim_worse, edge)
    lines = [step]
    if run.optimum is not None:
        lines.append(ax.axhline(run.optimum, color="black", linestyle=":", linewidth=1))
    ax.set_ylim(sorted((lim_best, lim_worse)))
    ax.set_xlim(0.3, len(finished) + 0.7)
    _progress_legend(figure, worse_side(run.direction))
    _label_new_bests(figure, ax, bests, _room(figure, ax, markers, lines), better_down=sign > 0)
    return save(figure, path)


def _metric_limits(run: RunData, eligible: Sequence[Individual]) -> tuple[float, float]:
    """The metric axis's better and worse limits: from a quarter of the gain past the best (room for the labels
    there) to a little past the first result, and the known optimum's line when it does not squash the plot."""
    sign = 1.0 if run.direction == "minimize" else -1.0
    best_value = sign * min(sign * float(i.metric) for i in eligible)  # type: ignore[arg-type]
    first = float(eligible[0].metric)  # type: ignore[arg-type]
    span = max(abs(first - best_value), 1e-6 * max(1.0, abs(first)))
    lim_best = best_value - sign * 0.25 * span
    if run.optimum is not None and sign * (run.optimum - lim_best) < 0 and abs(run.optimum - best_value) < 2 * span:
        lim_best = run.optimum - sign * 0.1 * span
    return lim_best, first + sign * 1.2 * span


def _draw_evaluations(
    ax: Axes, run: RunData, lim_worse: float, edge: float
) -> tuple[list[tuple[float, float]], list[tuple[float, float, str]], Line2D]:
    """Every finished evaluation and the running best's step line; returns where the markers are, each new best's
    point and label, and the line."""
    sign = 1.0 if run.direction == "minimize" else -1.0
    markers, bests, steps = [], [], []
    for n, (individual, running, _, new_best) in enumerate(running_best(run), start=1):
        value = edge
        if counts_as_best(individual):
            off_scale = not new_best and sign * (float(individual.metric) - lim_worse) > 0  # type: ignore[arg-type]
            value = edge if off_scale else float(individual.metric)  # type: ignore[arg-type]
            if new_best:
                ax.scatter(n, value, color=_GREEN, s=36, zorder=4)
                bests.append((n, value, short(individual.description, 32)))
            else:
                ax.scatter(
                    n, value, color=_GREY, marker=("^" if sign > 0 else "v") if off_scale else "o", s=22, zorder=3
                )
        else:
            pruned = individual.status == "pruned"
            ax.scatter(n, edge, color=_ORANGE if pruned else _RED, marker="v" if pruned else "x", s=24, zorder=3)
        markers.append((n, value))
        steps.append(running)
    x, y = np.arange(1.0, len(steps) + 1), np.array(steps)
    x, y = x[~np.isnan(y)], y[~np.isnan(y)]  # NaN until the first eligible result
    across_then_down = np.repeat(x, 2)[1:], np.repeat(y, 2)[:-1]  # a step function, as where="post" draws it
    (line,) = ax.plot(*across_then_down, color=_GREEN, linewidth=1.2, alpha=0.8)
    return markers, bests, line


def _progress_legend(figure: Figure, side: str) -> None:
    handles = [
        Line2D([], [], color=_GREEN, marker="o", linestyle="", label="new running best"),
        Line2D(
            [], [], color=_GREY, marker="o", linestyle="", label=f"evaluated (triangle: off the scale, at the {side})"
        ),
        Line2D([], [], color=_ORANGE, marker="v", linestyle="", label=f"pruned (at the {side})"),
        Line2D([], [], color=_RED, marker="x", linestyle="", label=f"crash / timeout / invalid (at the {side})"),
    ]
    figure.legend(handles=handles, fontsize=7, loc="outside lower center", ncols=4, frameon=False)


_GAP, _STEP = 4.0, 9.0  # points: a label's distance from its point, and each step further away
_OUTSIDE = 1000  # clashes counted for a label that does not fit inside the axes


def _label_spots(better_down: bool) -> list[tuple[float, float, str, str]]:
    """Where a new best's label may go, in order of preference, as its offset from the point in points and its
    alignment: on the better side first, left of the point (the running best keeps that area free of points), then
    right of it or centred, stepping further away; then the worse side."""
    spots = []
    for down in (better_down, not better_down):
        va = "top" if down else "bottom"
        for level in range(5):
            dy = (_GAP + level * _STEP) * (-1 if down else 1)
            spots += [(-_GAP, dy, "right", va), (_GAP, dy, "left", va), (0.0, dy, "center", va)]
    return spots


@dataclass
class _Room:
    """What a label must keep clear of, in display coordinates of the laid-out figure: it must stay inside the axes
    and off the markers, the lines (the running best's, the optimum's, earlier labels' leaders) and earlier labels;
    its own leader line must not cross an earlier label."""

    frame: Bbox
    points: np.ndarray
    radius: float  # a marker's
    lines: list[MplPath]
    labels: list[Bbox]

    def clashes(self, box: Bbox, leader: MplPath | None) -> int:
        frame = self.frame
        inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
        covered = sum(box.padded(self.radius).contains(x, y) for x, y in self.points)
        crossed = sum(line.intersects_bbox(box, filled=False) for line in self.lines)
        overlaps = sum(box.overlaps(label) for label in self.labels)
        led = 0 if leader is None else sum(leader.intersects_bbox(label, filled=False) for label in self.labels)
        return (not inside) * _OUTSIDE + 10 * overlaps + 3 * covered + 2 * led + crossed  # worst first

    def take(self, box: Bbox, leader: MplPath | None) -> None:
        self.labels.append(box)
        self.lines += [leader] if leader is not None else []


def _room(figure: Figure, ax: Axes, markers: Sequence[tuple[float, float]], lines: Sequence[Line2D]) -> _Room:
    figure.draw_without_rendering()  # lays the figure out: the labels are kept out of the layout, so it holds
    return _Room(
        frame=ax.get_window_extent(figure.canvas.get_renderer()),
        points=ax.transData.transform(markers),
        radius=3.0 * figure.dpi / 72,
        lines=[line.get_transform().transform_path(line.get_path()) for line in lines],
        labels=[],
    )


def _label_new_bests(
    figure: Figure, ax: Axes, bests: Sequence[tuple[float, float, str]], room: _Room, better_down: bool
) -> None:
    """Label each new best at the first spot that clashes with nothing (measured, not guessed); failing that, at
    the spot with the fewest clashes, clipped to the axes if even that one does not fit inside them."""
    renderer = figure.canvas.get_renderer()
    for x, y, text in bests:
        anchor = ax.transData.transform((x, y))
        tried: dict[tuple[float, float, str, str], tuple[int, Bbox, MplPath | None]] = {}
        for spot in _label_spots(better_down):
            note = _label(ax, x, y, text, spot, leader=False)
            box = note.get_window_extent(renderer)
            note.remove()
            leader = _leader(anchor, box, spot)
            tried[spot] = (room.clashes(box, leader), box, leader)
            if not tried[spot][0]:
                break
        spot = min(tried, key=lambda s: tried[s][0])  # the first of the fewest: dicts keep their order
        clashes, box, leader = tried[spot]
        _label(ax, x, y, text, spot, leader=leader is not None).set_clip_on(clashes >= _OUTSIDE)
        room.take(box, leader)


def _leader(anchor: np.ndarray, box: Bbox, spot: tuple[float, float, str, str]) -> MplPath | None:
    """The line from a point to its label's nearest corner, for a label that sits away from its point."""
    _, dy, ha, va = spot
    if abs(dy) <= _GAP:
        return None
    x = {"right": box.x1, "left": box.x0, "center": (box.x0 + box.x1) / 2}[ha]
    return MplPath([anchor, (x, box.y1 if va == "top" else box.y0)])


def _label(ax: Axes, x: float, y: float, text: str, spot: tuple[float, float, str, str], leader: bool) -> Annotation:
    """One label at one spot, with a thin leader line to its point when it sits away from it."""
    dx, dy, ha, va = spot
    corner = ({"right": 1.0, "left": 0.0, "center": 0.5}[ha], 1.0 if va == "top" else 0.0)
    line = {"arrowstyle": "-", "color": _LABEL, "linewidth": 0.5, "shrinkA": 0, "shrinkB": 3, "relpos": corner}
    note = ax.annotate(
        text,
        (x, y),
        xytext=(dx, dy),
        textcoords="offset points",
        ha=ha,
        va=va,
        fontsize=7,
        color=_LABEL,
        arrowprops=line if leader else None,
    )
    note.set_in_layout(False)  # inside the axes by construction: the layout must not move for them
    return note


def ancestry(run: RunData, individual_id: str) -> dict[str, int]:
    """The individual and all its ancestors (both parents of a crossover), each with its generation: the longest
    path from a root. Iterative, so a ratchet's chain of thousands of kept children needs no deep recursion."""
    by_id = {i.id: i for i in run.individuals}
    ancestors, stack = set(), [individual_id]
    while stack:
        node = stack.pop()
        if node in by_id and node not in ancestors:
            ancestors.add(node)
            stack.extend(by_id[node].parents)
    generation: dict[str, int] = {}
    for individual in run.individuals:  # id order: a parent always comes before its children
        if individual.id in ancestors:
            parents = (generation[p] for p in individual.parents if p in generation)
            generation[individual.id] = 1 + max(parents, default=-1)
    return generation


def lineage_figure(run: RunData, individual_id: str, path: Path) -> Path:
    """The ancestry DAG of one individual back to the baseline, one row per generation, nodes labelled with id,
    metric and a short description."""
    generation = ancestry(run, individual_id)
    by_id = {i.id: i for i in run.individuals}
    rows: dict[int, list[str]] = {}
    for node in sorted(generation, key=lambda n: (len(n), n)):
        rows.setdefault(generation[node], []).append(node)
    width = max(len(r) for r in rows.values())
    figure = Figure(figsize=(max(5.0, 3.0 * width), 1.0 * len(rows) + 0.6))
    ax = figure.subplots()
    ax.set_axis_off()
    place = {node: (k - (len(row) - 1) / 2, -g) for g, row in rows.items() for k, node in enumerate(row)}
    for node, (x, y) in place.items():
        for parent in by_id[node].parents:
            if parent in place:
                px, py = place[parent]
                arrow = {"arrowstyle": "->", "color": "#777"}
                ax.annotate("", (x, y + 0.25), (px, py - 0.25), arrowprops=arrow, zorder=1)
    for node, (x, y) in place.items():
        individual = by_id[node]
        value = f"{individual.metric:.4f}" if counts_as_best(individual) else individual.status
        label = f"{node}  {value}\n" + textwrap.fill(short(individual.description, 60), 32)
        colour = "#d8f0dc" if node == individual_id else "#eef2f7"
        box = {"boxstyle": "round,pad=0.35", "facecolor": colour, "edgecolor": "#888"}
        ax.text(x, y, label, ha="center", va="center", fontsize=7.5, bbox=box, zorder=3)
    ax.set_xlim(-width / 2 - 0.1, width / 2 + 0.1)
    ax.set_ylim(-len(rows) + 0.5, 0.5)
    return save(figure, path)
