"""A benchmark's report: arms of seeded runs at equal compute, ranked with bootstrap intervals, compared pairwise
(Mann-Whitney U, Holm-adjusted, Cliff's delta), with best-so-far bands, distributions, compute saved, statuses,
operator outcomes and tokens; as report.md and report.html with the same blocks."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evo.errors import EvoError
from evo.reporting import figures, scaling
from evo.reporting.document import Block, Figure, Heading, Paragraph, Table, write_document
from evo.reporting.facts import (
    OFFLINE,
    OUTCOME_HEADERS,
    final_value,
    num,
    operator_outcomes,
    outcome_rows,
    run_figures,
    seconds,
    share,
    slug,
    status_counts,
    tokens,
)
from evo.reporting.run_data import RunData, best_so_far, training_seconds
from evo.reporting.stats import Comparison, compare, holm, median_interval
from evo.stopping.audit import AuditTally, audit_from
from population.individual import FINISHED

ALPHA = 0.05  # family-wise error rate of the pairwise verdicts (Holm-adjusted)


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


@dataclass(frozen=True)
class Arm:
    """One arm's runs and their final results, one per run that has one (what the ranking and the tests compare)."""

    name: str
    runs: tuple[RunData, ...]
    finals: tuple[float, ...]  # each run's score: its pick's held-out value, or its best observed one (see `scores`)
    observed: tuple[float, ...] = ()  # each run's best observed value

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
    every = [run for runs in arms.values() for run in runs if final_value(run) is not None]
    by_heldout = bool(every) and all(run.heldout is not None for run in every)
    summaries = [Arm(name, tuple(runs), _finals(runs, by_heldout), _finals(runs, False)) for name, runs in arms.items()]
    sign = 1.0 if direction == "minimize" else -1.0
    ranked = sorted(summaries, key=lambda a: (not a.finals, sign * a.median if a.finals else 0.0))
    blocks: list[Block] = [Paragraph(note) for note in notes]
    blocks.append(
        Paragraph(
            f"Target metric {metric} ({'lower' if direction == 'minimize' else 'higher'} is better), "
            f"{seconds(first.budget)} budget seconds per candidate"
            + (f", known optimum {num(optimum)}" if optimum is not None else "")
            + ". Compute is counted in budget seconds (training seconds on the budget clock, re-evaluations included, "
            "a pruned candidate only up to where it stopped)."
            + (
                f" Each run is scored by its final pick's held-out value ({first.heldout_source}), which rankings and "
                "tests use; its best observed value, the minimum of many noisy draws, is shown beside it, and the gap "
                "between them is the winner's curse."
                if by_heldout
                else " Runs are scored by their best observed value (no held-out value: the target has no `expected` "
                "hook and the runs had no final check, holdout.seeds), which flatters arms that evaluate more."
            )
        )
    )
    pairs = pairwise({a.name: a.finals for a in ranked}, direction) if len(ranked) >= 2 else []
    score = "held-out" if by_heldout else "final"
    blocks += [Heading("Ranking"), _ranking_table(ranked, optimum, direction, by_heldout)]
    blocks += _findings(ranked, pairs, score)
    if any(arm.finals for arm in ranked):
        blocks += _curve_section(ranked, out, metric, direction, optimum)
        blocks += _distribution_section(ranked, out, metric, score)
    else:
        blocks.append(Paragraph("No run has an individual with a metric yet: the figures come later."))
    blocks += _pairwise_section(pairs)
    study = scaling.study_of("scaling", arms)  # names its figures
    if study is not None:
        blocks += scaling.blocks(study, out, "Scaling with workers")
    blocks += [Heading("Compute saved by early termination"), _saved_table(ranked)]
    blocks += [Heading("Statuses"), _status_table(ranked)]
    blocks += [Heading("Operators and models")]
    rows = [row for arm in ranked for row in outcome_rows((arm.name,), operator_outcomes(arm.runs))]
    blocks.append(Table(("arm", *OUTCOME_HEADERS), tuple(rows)) if rows else Paragraph("No children were evaluated."))
    blocks += [Heading("LLM tokens and cost"), _token_table(ranked)]
    blocks.append(Heading("One run of each arm"))
    taken: set[str] = set()
    for arm in ranked:
        blocks.append(Heading(arm.name, 3))
        if not arm.runs:
            blocks.append(Paragraph(f"{arm.name}: no run has started yet."))
            continue
        blocks += run_figures(arm.runs[0], f"{arm.name}, run {arm.runs[0].name}", out, slug(arm.name, taken))
    return write_document(blocks, title, out)


def _finals(runs: Sequence[RunData], heldout: bool) -> tuple[float, ...]:
    values = (run.heldout if heldout else final_value(run) for run in runs)
    return tuple(v for v in values if v is not None)


def _ranking_table(ranked: Sequence[Arm], optimum: float | None, direction: str, heldout: bool) -> Table:
    score = "held-out" if heldout else "final"
    headers = [
        "rank",
        "arm",
        "seeds",
        f"median {score} (95% CI)",
        *(["median regret (95% CI)"] if optimum is not None else []),
        *(["median observed best", "winner's curse"] if heldout else []),
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
                *(_curse_cells(arm, direction) if heldout else ()),
                num(float(np.median([len(run.finished) for run in arm.runs])), 4) if arm.runs else "-",
                seconds(float(np.median([u for u, _ in used_saved]))) if arm.runs else "-",
                share(saved, used + saved),
            )
        )
    return Table(tuple(headers), tuple(rows))


def _median_cells(arm: Arm, optimum: float | None, direction: str) -> tuple[str, ...]:
    """The median final value with its bootstrap interval, and the same as regret when the optimum is known."""
    if not arm.finals:
        return ("-",) if optimum is None else ("-", "-")
    low, high = median_interval(arm.finals)
    final = f"{num(arm.median)} [{num(low)}, {num(high)}]"
    if optimum is None:
        return (final,)
    gaps = sorted(v - optimum if direction == "minimize" else optimum - v for v in (arm.median, low, high))
    return final, f"{num(gaps[1], 4)} [{num(gaps[0], 4)}, {num(gaps[2], 4)}]"


def _curse_cells(arm: Arm, direction: str) -> tuple[str, str]:
    """The median best observed value, and how much it flattered the pick: the median of observed minus held-out,
    positive when the observed value looked better than the pick is."""
    if not arm.observed:
        return "-", "-"
    sign = 1.0 if direction == "minimize" else -1.0
    pairs = [(run.heldout, final_value(run)) for run in arm.runs if run.heldout is not None]
    curse = [sign * (h - o) for h, o in pairs if o is not None]
    return num(float(np.median(arm.observed))), num(float(np.median(curse)), 3) if curse else "-"


def _curve_section(ranked: Sequence[Arm], out: Path, metric: str, direction: str, optimum: float | None) -> list[Block]:
    curves = {arm.name: [[(s, v) for s, v, _ in best_so_far(run)] for run in arm.runs] for arm in ranked}
    path = figures.best_so_far_figure(curves, metric, direction, optimum, out / "best_so_far.png")
    at = min(run[-1][0] for runs in curves.values() for run in runs if run)
    reached = []
    for name, runs in curves.items():
        values = [float(figures.step_on_grid(run, np.array([at]))[0]) for run in runs if run]
        values = [v for v in values if math.isfinite(v)]
        if values:
            reached.append(f"{name} {num(float(np.median(values)))}")
    caption = (
        f"Best {metric} so far against budget seconds spent: per arm, the median across seeds (line) and the 25-75% "
        f"range across seeds (band); a run's best holds after its last evaluation. At {seconds(at)} budget seconds "
        f"(where the shortest run ended) the median best was: {', '.join(reached)}."
    )
    if optimum is not None:
        caption += f" Right: the regret to the known optimum {num(optimum)} on a log scale."
    return [Heading("Best so far against compute"), Figure(path, caption)]


def _distribution_section(ranked: Sequence[Arm], out: Path, metric: str, score: str) -> list[Block]:
    path = figures.distribution_figure({a.name: a.finals for a in ranked}, metric, out / "final_distribution.png")
    caption = f"The {score} {metric} of each seed (points) per arm, box: quartiles, whiskers to 1.5 IQR."
    scored = [a for a in ranked if a.finals]
    if len(scored) >= 2:
        caption += (
            f" Best median {scored[0].name} {num(scored[0].median)} (n={len(scored[0].finals)}), "
            f"worst {scored[-1].name} {num(scored[-1].median)} (n={len(scored[-1].finals)})."
        )
    return [Heading("Final results"), Figure(path, caption)]


def _findings(ranked: Sequence[Arm], pairs: Sequence[Pair], score: str) -> list[Block]:
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
    text = f"{top} has the best median {score} result ({num(ranked[0].median)})."
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
                num(c.advantage, 4),
                f"[{num(c.low, 4)}, {num(c.high, 4)}]",
                num(c.p_value, 3),
                num(pair.p_holm, 3),
                f"{c.cliffs_delta:+.2f}",
                c.effect,
                pair.verdict,
            )
        )
    called = sum(" better than " in p.verdict for p in pairs)
    return [
        Heading("Pairwise comparisons"),
        Paragraph(
            "For each pair (A, B): how much better A's median result (the score the ranking uses) is than B's "
            "(positive: A better) with a "
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
    """Compute used and saved per arm, and the self-audit pooled over the arm's runs (one rule by construction):
    what an arm's savings cost in stopped winners, measured, next to the rate the rule states."""
    rows = []
    for arm in ranked:
        used = sum(training_seconds(run)[0] for run in arm.runs)
        saved = sum(training_seconds(run)[1] for run in arm.runs)
        pruned = sum(run.counts().get("pruned", 0) for run in arm.runs)
        rows.append((arm.name, seconds(used), seconds(saved), share(saved, used + saved), str(pruned), *_audit(arm)))
    headers = ("budget s used (all seeds)", "budget s saved", "share saved", "pruned")
    audit = ("decisions to stop (audited)", "measured false-stop rate (95%)", "stated")
    return Table(("arm", *headers, *audit), tuple(rows))


def _audit(arm: Arm) -> tuple[str, str, str]:
    """The arm's self-audit cells: decisions to stop and how many were audited, the false-stop rate they measure
    with its exact interval, and the rule's stated rate (alpha); dashes where early termination was off."""
    measured = [m for m in (audit_from(run.events) for run in arm.runs) if m is not None]
    if not measured:
        return "-", "-", "-"
    tally = sum((m.tally for m in measured), AuditTally())
    rate = tally.false_stop_rate()
    shown = "-" if rate is None else f"{rate.estimate:.0%} [{rate.low:.0%}, {rate.high:.0%}]"
    if rate is None and measured[-1].share == 0:
        shown = "self-audit off"
    alpha = measured[-1].alpha
    return f"{tally.decisions} ({tally.audits})", shown, f"{alpha:.0%}" if math.isfinite(alpha) else "-"


def _status_table(ranked: Sequence[Arm]) -> Table:
    rows = [(arm.name, *(str(n) for n in status_counts(arm.runs).values())) for arm in ranked]
    return Table(("arm", *FINISHED), tuple(rows))


def _token_table(ranked: Sequence[Arm]) -> Table:
    rows = []
    for arm in ranked:
        prompt, completion, cost = tokens(arm.runs)
        note = OFFLINE if prompt == completion == 0 else ""
        rows.append((arm.name, f"{prompt:,}", f"{completion:,}", f"{cost:.4g}", note))
    return Table(("arm", "prompt tokens", "completion tokens", "cost", ""), tuple(rows))
