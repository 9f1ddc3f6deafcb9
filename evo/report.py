"""The reports: one run's (`evo report RUN_DIR`, live or finished) and a benchmark's (arms of seeded runs at equal
compute), built as document blocks so report.md and report.html carry the same tables, figures and captions.

Everything is read from `evo.run_data` (the ledger) and compared with `evo.stats`; compute is budget seconds.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evo import figures
from evo.document import Block, Figure, Heading, Paragraph, Table, write_document
from evo.errors import EvoError
from evo.run_data import RunData, best_so_far, counts_as_best, final_best, running_best, training_seconds
from evo.stats import Comparison, compare, holm, median_interval
from population.individual import FINISHED, Individual, rank_key

ALPHA = 0.05  # family-wise error rate of the pairwise verdicts (Holm-adjusted)
TOP = 10  # individuals listed in a run report
OFFLINE = "offline operators: no LLM calls"


# ------------------------------------------------------------------------------------------------ statistics


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    comparison: Comparison | None  # None when either arm has fewer than two results
    p_holm: float  # the U test's p-value adjusted across all pairs of the report (Holm)
    verdict: str


def pairwise(
    finals: Mapping[str, Sequence[float]], direction: str, alpha: float = ALPHA, resamples: int = 10_000
) -> list[Pair]:
    """Every pair of arms compared on their final values (one per seed), in the order the arms are given; the
    verdict uses the Holm-adjusted p-value, so the chance of any false "better" in the table stays at alpha."""
    pairs = list(itertools.combinations(finals, 2))
    comparisons = [
        compare(finals[a], finals[b], (a, b), direction, resamples=resamples, seed=k)
        if len(finals[a]) >= 2 and len(finals[b]) >= 2
        else None
        for k, (a, b) in enumerate(pairs)
    ]
    tested = [c for c in comparisons if c is not None]
    adjusted = iter(holm([c.p_value for c in tested]))
    rows = []
    for (a, b), comparison in zip(pairs, comparisons, strict=True):
        p_holm = next(adjusted) if comparison is not None else math.nan
        rows.append(Pair(a, b, comparison, p_holm, _verdict(comparison, p_holm, alpha)))
    return rows


def _verdict(comparison: Comparison | None, p_holm: float, alpha: float) -> str:
    if comparison is None:
        return "too few runs to compare"
    if p_holm >= alpha or comparison.cliffs_delta == 0:
        return "no significant difference"
    winner, loser = (comparison.a, comparison.b) if comparison.cliffs_delta > 0 else (comparison.b, comparison.a)
    return f"{winner} better than {loser}"


# ------------------------------------------------------------------------------------------------ per-run facts


def final_value(run: RunData) -> float | None:
    best = final_best(run)
    return None if best is None else best.metric


def regret_of(run: RunData, value: float) -> float | None:
    if run.optimum is None:
        return None
    return value - run.optimum if run.direction == "minimize" else run.optimum - value


@dataclass
class Outcomes:
    """What one operator's (or model's) children did."""

    children: int = 0
    ok: int = 0
    beat_parent: int = 0
    new_best: int = 0


def child_outcomes(run: RunData) -> Iterator[tuple[Individual, bool, bool]]:
    """Each finished child in finish order, whether it beat its better parent, and whether it set a new running best."""
    by_id = {i.id: i for i in run.individuals}
    for individual, _, _, new_best in running_best(run):
        if not individual.parents:
            continue
        value = individual.metric
        parents = [by_id[p] for p in individual.parents if p in by_id and by_id[p].is_parent_eligible]
        beat = (
            counts_as_best(individual) and bool(parents) and all(run.better(value, p.metric) for p in parents)  # type: ignore[arg-type]
        )
        yield individual, beat, new_best


def operator_outcomes(runs: Sequence[RunData]) -> dict[str, Outcomes]:
    """Outcomes by "operator X" and, where an LLM proposed the child, "model Y", summed over runs."""
    table: dict[str, Outcomes] = {}
    for run in runs:
        for child, beat, new_best in child_outcomes(run):
            keys = [f"operator {child.operator}"] + ([f"model {child.model}"] if child.model else [])
            for key in keys:
                row = table.setdefault(key, Outcomes())
                row.children += 1
                row.ok += child.status == "ok"
                row.beat_parent += beat
                row.new_best += new_best
    return dict(sorted(table.items()))


def _tokens(runs: Sequence[RunData]) -> tuple[int, int, float]:
    everyone = [i for run in runs for i in run.individuals]
    return (
        sum(i.prompt_tokens for i in everyone),
        sum(i.completion_tokens for i in everyone),
        sum(i.cost for i in everyone),
    )


def _status_counts(runs: Sequence[RunData]) -> dict[str, int]:
    counts = dict.fromkeys(FINISHED, 0)
    for run in runs:
        for status, n in run.counts().items():
            counts[status] += n
    return counts


# ------------------------------------------------------------------------------------------------ formatting


def _num(value: float | None, digits: int = 6) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


def _seconds(value: float) -> str:
    return f"{value:,.0f}"


def _share(part: float, whole: float) -> str:
    return "-" if whole <= 0 else f"{100 * part / whole:.0f}%"


def _slug(name: str, taken: set[str]) -> str:
    """A file-name-safe, unique stem for an arm name such as "size=4 tournament=2"."""
    stem = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower() or "arm"
    slug, k = stem, 2
    while slug in taken:
        slug, k = f"{stem}-{k}", k + 1
    taken.add(slug)
    return slug


def _outcome_rows(prefix: tuple[str, ...], outcomes: Mapping[str, Outcomes]) -> list[tuple[str, ...]]:
    return [
        (
            *prefix,
            key,
            str(o.children),
            _share(o.ok, o.children),
            _share(o.beat_parent, o.children),
            _share(o.new_best, o.children),
        )
        for key, o in outcomes.items()
    ]


_OUTCOME_HEADERS = ("operator / model", "children", "ok", "better than parent", "new running best")


def _token_text(prompt: int, completion: int, cost: float) -> str:
    if prompt == completion == 0:
        return OFFLINE
    return f"{prompt:,} prompt + {completion:,} completion tokens, cost {cost:.4g}"


# ------------------------------------------------------------------------------------------------ shared sections


def _run_figures(run: RunData, label: str, out: Path, stem: str) -> list[Block]:
    """A run's progress plot and its best individual's lineage tree, with captions in numbers."""
    finished, best = run.finished, final_best(run)
    if best is None:
        return [Paragraph(f"{label}: no individual has finished with a metric yet, so there is nothing to plot.")]
    points = best_so_far(run)
    records = len({p[2] for p in points})
    failed = sum(i.status in ("crash", "timeout", "invalid") for i in finished)
    pruned = sum(i.status == "pruned" for i in finished)
    first = next(i for i in finished if counts_as_best(i))
    progress = figures.progress_figure(run, out / f"progress_{stem}.png")
    generation = figures.ancestry(run, best.id)
    crossovers = sum(len(i.parents) > 1 for i in run.individuals if i.id in generation)
    lineage = figures.lineage_figure(run, best.id, out / f"lineage_{stem}.png")
    return [
        Figure(
            progress,
            f"Progress of {label}: {len(finished)} evaluations in finish order; {records} set a new running best "
            f"(green, labelled), taking {run.metric} from {_num(first.metric)} ({first.id}) to {_num(best.metric)} "
            f"({best.id}); {pruned} pruned and {failed} failed (marked at the {figures.worse_side(run.direction)}).",
        ),
        Figure(
            lineage,
            f"Lineage of the best individual of {label}, {best.id} ({_num(best.metric)}): {len(generation)} "
            f"individuals over {max(generation.values()) + 1} generations back to the baseline, "
            f"{crossovers} of them crossovers.",
        ),
    ]


# ------------------------------------------------------------------------------------------------ run report


def write_run_report(run: RunData, out: Path) -> Path:
    """Write out/report.md, out/report.html and their PNG figures for one run (live or finished); return report.md."""
    out.mkdir(parents=True, exist_ok=True)
    blocks: list[Block] = [Heading("Summary"), _run_summary(run)]
    points, best = best_so_far(run), final_best(run)
    live = [i for i in run.individuals if not i.is_finished]
    if live:
        blocks.append(
            Paragraph(f"The run is live: {len(live)} individuals are running or pending; this is a snapshot.")
        )
    if best is None:
        blocks.append(Paragraph("No individual has finished with a metric yet: the figures and tables come later."))
    else:
        blocks += [Heading("Best so far against compute")]
        path = figures.best_so_far_figure(
            {run.mode: [[(s, v) for s, v, _ in points]]},
            run.metric,
            run.direction,
            run.optimum,
            out / "best_so_far.png",
        )
        caption = (
            f"Best {run.metric} so far against budget seconds spent: {_num(points[0][1])} after "
            f"{_seconds(points[0][0])} s, {_num(points[-1][1])} after {_seconds(points[-1][0])} s."
        )
        if run.optimum is not None:
            caption += f" Right: the regret to the known optimum {_num(run.optimum)} on a log scale."
        blocks += [Figure(path, caption), Heading("Progress and lineage"), *_run_figures(run, run.name, out, "run")]
        blocks += [Heading("Operators and models")]
        outcomes = operator_outcomes([run])
        blocks.append(
            Table(_OUTCOME_HEADERS, tuple(_outcome_rows((), outcomes))) if outcomes else Paragraph("No children yet.")
        )
        blocks += [Heading(f"Top {TOP} individuals"), _top_table(run)]
    return write_document(blocks, f"evo run report: {run.name}", out)


def _run_summary(run: RunData) -> Table:
    counts = run.counts()
    waiting = {s: sum(i.status == s for i in run.individuals) for s in ("running", "pending")}
    statuses = ", ".join(f"{n} {s}" for s, n in {**counts, **waiting}.items() if n) or "none yet"
    used, saved = training_seconds(run)
    rows = [
        ("mode", run.mode),
        ("metric", f"{run.metric} ({'lower' if run.direction == 'minimize' else 'higher'} is better)"),
        ("budget per candidate", f"{_seconds(run.budget)} s"),
        ("individuals", statuses),
    ]
    baseline, best = run.baseline, final_best(run)
    if best is not None:
        rows.append(("best", f"{_num(best.metric)} ({best.id}: {best.description})"))
        if baseline is not None and counts_as_best(baseline):
            gain = (baseline.metric - best.metric) * (1 if run.direction == "minimize" else -1)  # type: ignore[operator]
            relative = f" ({100 * gain / abs(baseline.metric):.2f}%)" if baseline.metric else ""  # type: ignore[arg-type]
            rows.append(
                ("baseline -> best", f"{_num(baseline.metric)} -> {_num(best.metric)}: gain {_num(gain, 4)}{relative}")
            )
        gap = regret_of(run, float(best.metric))  # type: ignore[arg-type]
        if gap is not None:
            rows.append(("regret", f"{_num(gap, 4)} to the known optimum {_num(run.optimum)}"))
    else:
        rows.append(("best", "no individual has finished with a metric yet"))
    pruned = counts.get("pruned", 0)
    rows.append(
        ("budget seconds", f"{_seconds(used)} used, {_seconds(saved)} saved by early termination ({pruned} pruned)")
    )
    rows.append(("LLM", _token_text(*_tokens([run]))))
    return Table(("", "value"), tuple(rows))


def _top_table(run: RunData) -> Table:
    ranked = sorted((i for i in run.individuals if counts_as_best(i)), key=lambda i: rank_key(i, run.direction))
    has_regret = run.optimum is not None
    headers = ("rank", "id", run.metric, *(("regret",) if has_regret else ()), "operator", "parents", "description")
    rows = [
        (
            str(k),
            i.id,
            _num(i.metric),
            *((_num(regret_of(run, float(i.metric)), 4),) if has_regret else ()),  # type: ignore[arg-type]
            i.operator + (f" ({i.model})" if i.model else ""),
            " ".join(i.parents) or "-",
            i.description,
        )
        for k, i in enumerate(ranked[:TOP], start=1)
    ]
    return Table(headers, tuple(rows))


# ------------------------------------------------------------------------------------------------ bench report


@dataclass(frozen=True)
class Arm:
    """One arm's runs and their final results, one per run that has one (what the ranking and the tests compare)."""

    name: str
    runs: tuple[RunData, ...]
    finals: tuple[float, ...]  # each run's final best (runs without one are left out)

    @property
    def median(self) -> float:
        return float(np.median(self.finals)) if self.finals else math.nan


def write_bench_report(arms: Mapping[str, Sequence[RunData]], out: Path, title: str, notes: Sequence[str] = ()) -> Path:
    """Write out/report.md, out/report.html and their PNG figures comparing arms of seeded runs; return report.md.
    Arms may be mid-run or not started yet (a bench's report is rewritten as it goes); they show what they have."""
    first = next((run for runs in arms.values() for run in runs), None)
    if first is None:
        raise EvoError(f"{title}: no run has started yet, so there is nothing to report")
    if len({(r.metric, r.direction) for runs in arms.values() for r in runs}) > 1:
        raise EvoError(f"{title}: the arms' runs measure different metrics or directions; they cannot be compared")
    out.mkdir(parents=True, exist_ok=True)
    metric, direction, optimum = first.metric, first.direction, first.optimum
    summaries = [Arm(name, tuple(runs), _finals(runs)) for name, runs in arms.items()]
    sign = 1.0 if direction == "minimize" else -1.0
    ranked = sorted(summaries, key=lambda a: (not a.finals, sign * a.median if a.finals else 0.0))
    blocks: list[Block] = [Paragraph(note) for note in notes]
    blocks.append(
        Paragraph(
            f"Target metric {metric} ({'lower' if direction == 'minimize' else 'higher'} is better), "
            f"{_seconds(first.budget)} budget seconds per candidate"
            + (f", known optimum {_num(optimum)}" if optimum is not None else "")
            + ". Compute is counted in budget seconds (training seconds on the budget clock, re-evaluations included, "
            "a pruned candidate only up to where it stopped)."
        )
    )
    pairs = pairwise({a.name: a.finals for a in ranked}, direction) if len(ranked) >= 2 else []
    blocks += [Heading("Ranking"), _ranking_table(ranked, optimum, direction), *_findings(ranked, pairs)]
    if any(arm.finals for arm in ranked):
        blocks += _curve_section(ranked, out, metric, direction, optimum)
        blocks += _distribution_section(ranked, out, metric)
    else:
        blocks.append(Paragraph("No run has an individual with a metric yet: the figures come later."))
    blocks += _pairwise_section(pairs)
    blocks += [Heading("Compute saved by early termination"), _saved_table(ranked)]
    blocks += [Heading("Statuses"), _status_table(ranked)]
    blocks += [Heading("Operators and models")]
    rows = [row for arm in ranked for row in _outcome_rows((arm.name,), operator_outcomes(arm.runs))]
    blocks.append(Table(("arm", *_OUTCOME_HEADERS), tuple(rows)) if rows else Paragraph("No children were evaluated."))
    blocks += [Heading("LLM tokens and cost"), _token_table(ranked)]
    blocks.append(Heading("One run of each arm"))
    taken: set[str] = set()
    for arm in ranked:
        blocks.append(Heading(arm.name, 3))
        if not arm.runs:
            blocks.append(Paragraph(f"{arm.name}: no run has started yet."))
            continue
        blocks += _run_figures(arm.runs[0], f"{arm.name}, run {arm.runs[0].name}", out, _slug(arm.name, taken))
    return write_document(blocks, title, out)


def _finals(runs: Sequence[RunData]) -> tuple[float, ...]:
    return tuple(v for v in (final_value(run) for run in runs) if v is not None)


def _ranking_table(ranked: Sequence[Arm], optimum: float | None, direction: str) -> Table:
    headers = [
        "rank",
        "arm",
        "seeds",
        "median final (95% CI)",
        *(["median regret (95% CI)"] if optimum is not None else []),
        "evaluations/run",
        "budget s/run",
        "saved by early termination",
    ]
    rows = []
    for k, arm in enumerate(ranked, start=1):
        seeds = str(len(arm.runs)) + (
            f" ({len(arm.runs) - len(arm.finals)} without a result)" if len(arm.finals) < len(arm.runs) else ""
        )
        used_saved = [training_seconds(run) for run in arm.runs]
        used, saved = sum(u for u, _ in used_saved), sum(s for _, s in used_saved)
        rows.append(
            (
                str(k),
                arm.name,
                seeds,
                *_median_cells(arm, optimum, direction),
                _num(float(np.median([len(run.finished) for run in arm.runs])), 4) if arm.runs else "-",
                _seconds(float(np.median([u for u, _ in used_saved]))) if arm.runs else "-",
                _share(saved, used + saved),
            )
        )
    return Table(tuple(headers), tuple(rows))


def _median_cells(arm: Arm, optimum: float | None, direction: str) -> tuple[str, ...]:
    """The median final value with its bootstrap interval, and the same as regret when the optimum is known."""
    if not arm.finals:
        return ("-",) if optimum is None else ("-", "-")
    low, high = median_interval(arm.finals)
    final = f"{_num(arm.median)} [{_num(low)}, {_num(high)}]"
    if optimum is None:
        return (final,)
    gaps = sorted(v - optimum if direction == "minimize" else optimum - v for v in (arm.median, low, high))
    return final, f"{_num(gaps[1], 4)} [{_num(gaps[0], 4)}, {_num(gaps[2], 4)}]"


def _curve_section(ranked: Sequence[Arm], out: Path, metric: str, direction: str, optimum: float | None) -> list[Block]:
    curves = {arm.name: [[(s, v) for s, v, _ in best_so_far(run)] for run in arm.runs] for arm in ranked}
    path = figures.best_so_far_figure(curves, metric, direction, optimum, out / "best_so_far.png")
    at = min(run[-1][0] for runs in curves.values() for run in runs if run)
    reached = []
    for name, runs in curves.items():
        values = [float(figures.step_on_grid(run, np.array([at]))[0]) for run in runs if run]
        values = [v for v in values if math.isfinite(v)]
        if values:
            reached.append(f"{name} {_num(float(np.median(values)))}")
    caption = (
        f"Best {metric} so far against budget seconds spent: per arm, the median across seeds (line) and the 25-75% "
        f"range across seeds (band); a run's best holds after its last evaluation. At {_seconds(at)} budget seconds "
        f"(where the shortest run ended) the median best was: {', '.join(reached)}."
    )
    if optimum is not None:
        caption += f" Right: the regret to the known optimum {_num(optimum)} on a log scale."
    return [Heading("Best so far against compute"), Figure(path, caption)]


def _distribution_section(ranked: Sequence[Arm], out: Path, metric: str) -> list[Block]:
    path = figures.distribution_figure({a.name: a.finals for a in ranked}, metric, out / "final_distribution.png")
    caption = f"Final best {metric} of each seed (points) per arm, box: quartiles, whiskers to 1.5 IQR."
    scored = [a for a in ranked if a.finals]
    if len(scored) >= 2:
        caption += (
            f" Best median {scored[0].name} {_num(scored[0].median)} (n={len(scored[0].finals)}), "
            f"worst {scored[-1].name} {_num(scored[-1].median)} (n={len(scored[-1].finals)})."
        )
    return [Heading("Final results"), Figure(path, caption)]


def _findings(ranked: Sequence[Arm], pairs: Sequence[Pair]) -> list[Block]:
    """The ranking in words: does the first arm beat each other arm, by the pairwise verdicts? Said plainly either
    way, since a lead without significance is the common case at a few seeds."""
    if not pairs or not ranked[0].finals:
        return []
    top = ranked[0].name
    beaten, tied = [], []
    for pair in pairs:
        if top not in (pair.a, pair.b) or pair.comparison is None:
            continue
        other = pair.b if pair.a == top else pair.a
        (beaten if pair.verdict == f"{top} better than {other}" else tied).append(f"{other} (Holm p {pair.p_holm:.2g})")
    text = f"{top} has the best median final result ({_num(ranked[0].median)})."
    if beaten:
        text += f" It is significantly better than {_listed(beaten)}."
    if tied:
        text += f" It is not significantly better than {_listed(tied)}: that lead may be noise at this many seeds."
    return [Paragraph(text)]


def _listed(items: Sequence[str], most: int = 4) -> str:
    """A list for a sentence; a sweep's dozens of settings are cut to the first few."""
    return ", ".join(items) if len(items) <= most else f"{', '.join(items[:most])} and {len(items) - most} more"


def _pairwise_section(pairs: Sequence[Pair]) -> list[Block]:
    if not pairs:
        return []
    rows = []
    for pair in pairs:
        c = pair.comparison
        if c is None:
            rows.append((pair.a, pair.b, "-", "-", "-", "-", "-", "-", pair.verdict))
            continue
        rows.append(
            (
                pair.a,
                pair.b,
                _num(c.advantage, 4),
                f"[{_num(c.low, 4)}, {_num(c.high, 4)}]",
                _num(c.p_value, 3),
                _num(pair.p_holm, 3),
                f"{c.cliffs_delta:+.2f}",
                c.effect,
                pair.verdict,
            )
        )
    called = sum(" better than " in p.verdict for p in pairs)
    return [
        Heading("Pairwise comparisons"),
        Paragraph(
            "For each pair (A, B): how much better A's median final result is than B's (positive: A better) with a "
            "95% percentile bootstrap interval, the two-sided Mann-Whitney U p-value and the same adjusted by Holm "
            f"across all {len(pairs)} pairs, and Cliff's delta (P(A beats B) - P(B beats A)) with its conventional "
            f"label. A verdict needs the Holm-adjusted p below {ALPHA}; {called} of {len(pairs)} pairs differ."
        ),
        Table(
            ("A", "B", "A's median advantage", "95% CI", "U p", "Holm p", "Cliff's delta", "effect", "verdict"),
            tuple(rows),
        ),
    ]


def _saved_table(ranked: Sequence[Arm]) -> Table:
    rows = []
    for arm in ranked:
        used = sum(training_seconds(run)[0] for run in arm.runs)
        saved = sum(training_seconds(run)[1] for run in arm.runs)
        pruned = sum(run.counts().get("pruned", 0) for run in arm.runs)
        rows.append((arm.name, _seconds(used), _seconds(saved), _share(saved, used + saved), str(pruned)))
    return Table(("arm", "budget s used (all seeds)", "budget s saved", "share saved", "pruned"), tuple(rows))


def _status_table(ranked: Sequence[Arm]) -> Table:
    rows = [(arm.name, *(str(n) for n in _status_counts(arm.runs).values())) for arm in ranked]
    return Table(("arm", *FINISHED), tuple(rows))


def _token_table(ranked: Sequence[Arm]) -> Table:
    rows = []
    for arm in ranked:
        prompt, completion, cost = _tokens(arm.runs)
        note = OFFLINE if prompt == completion == 0 else ""
        rows.append((arm.name, f"{prompt:,}", f"{completion:,}", f"{cost:.4g}", note))
    return Table(("arm", "prompt tokens", "completion tokens", "cost", ""), tuple(rows))
