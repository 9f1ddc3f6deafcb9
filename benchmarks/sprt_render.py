"""The replay's report: per corpus, a table of every rule's savings and false kills, then the sensitivity tables
(closing trend; margin, drift and luck; delta and noise) with the corpora side by side (`benchmarks/sprt_replay.py`
computes them)."""

from __future__ import annotations

from statistics import NormalDist
from typing import Any

from benchmarks.sprt_tally import Tally
from evo.config import EarlyStopConfig


def render(report: dict[str, Any], data: dict[str, Any], orders: int, alpha: float, curves: str) -> str:
    meta = data["meta"]
    lines = [
        f"Curves: `{curves}` (from `python -m benchmarks.sprt_replay collect`), the default "
        f"target on its `{meta['corpus']}` corpus, {meta.get('progress', 'smoothed training loss')} as progress, "
        f"{meta['budget']:g} s budget ({meta['clock']} clock, {meta['device']}). Each candidate is judged against its "
        f"parent's run on the same seed; SPRT at alpha = {alpha} (one-sided), delta in noise units (the parent's "
        f"seed-to-seed sd of {meta['metric']}; false kills count winners by more than one unit), noise model "
        "fitted to the parent's other seeds. evo's margin and the parent's luck are in those units, turned into the "
        "curve's sds by the scale k (final metric per unit of the curve's end) measured on the corpus's other "
        "variants, as a run measures it on its finished candidates; its delta is in the curve's sds. With same-seed "
        "noise, the probes are the corpus's other variants on "
        "the other seeds. Optuna pruners see the parent's runs first, then the candidates in "
        f"{orders} random arrival orders (the same orders for every pruner; rates summed over them); warm-up 10% "
        "where a pruner has one.",
        "",
    ]
    for name, corpus in report.items():
        lines += [
            f"**{name}** corpus: {corpus['candidates']} candidate runs ({corpus['variants']} variants; "
            f"{corpus['failed']} failed runs excluded), {corpus['losers']} losers ({corpus['clear_losers']} by "
            f"more than delta = {corpus['delta']:.4f}), {corpus['clear_winners']} beat the parent by more than delta. "
            f"Stopping every loser by more than delta at its first point past the warm-up, and nothing else, would "
            f"save {corpus['bounds'][0]:.1%} of the losers' compute ({corpus['bounds'][1]:.1%} at its very first "
            "point, with no warm-up)." + _tie_note(corpus["tie_sd"]),
            "",
            "| rule | losers' compute saved | clear losers' (by > delta) | false kills (winners by > delta) "
            "| winners killed (any margin) | stopped | median stop (fraction) |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += ["| " + " | ".join(tally.row(rule)) + " |" for rule, tally in corpus["tallies"].items()]
        lines += ["", _intervals(next(iter(corpus["tallies"].values())), corpus["variants"]), ""]
    lines += _sensitivity(report, "trends", TREND_SENSITIVITY)
    lines += _sensitivity(report, "grid", SENSITIVITY) + _sensitivity(report, "deltas", DELTA_SENSITIVITY)
    return "\n".join(lines)


def _intervals(tally: Tally, variants: int) -> str:
    """The defaults' savings and false kills with 95% intervals: how far a corpus of this size pins them down."""
    if not tally.losers:
        return ""
    low, high = tally.saved_interval()
    line = (
        f"The defaults' losers' compute saved: {tally.loser_compute_saved / tally.losers:.1%} [{low:.1%}, {high:.1%}] "
        f"(95% percentile bootstrap over the {variants} variants, each resampled with its seeds)"
    )
    if not tally.clear_winners:
        return line + "."
    low, high = tally.false_kill_interval()
    return line + (
        f"; false kills {tally.false_kills} of {tally.clear_winners} [{low:.1%}, {high:.1%}] (95% exact binomial "
        "interval, seeds taken as independent)."
    )


def _tie_note(spread: float | None) -> str:
    if spread is None:
        return ""
    return (
        f" The final gain of a variant within 2 delta of the parent varies by {spread:.2f} delta from seed to seed, "
        f"so a variant that ties on average ends a clear winner on {NormalDist().cdf(-1 / spread):.0%} of seeds."
    )


TREND_SENSITIVITY = [
    "**Closing trend** (the defaults otherwise): both hypotheses let the gap close by b 2(f^-1/2 - 1), b >= 0 "
    "half-normal with scale trend (curve sds); measured: the trend's scale measured on the corpus's other "
    "variants' whole curves that beat the parent (as a run measures it on its finished winners), fixed: that "
    "scale whatever the target. Columns per corpus: losers' compute saved (clear losers' in brackets) / false kills "
    "/ winners killed (any margin).",
    "",
    "| trend |",
]
SENSITIVITY = [
    f"**Sensitivity** of evo's SPRT (delta {EarlyStopConfig().delta:g} curve sds, warm-up 0.1, two-seed noise, "
    "measured trend): margin m makes "
    "H0 'better than the parent by m' (noise units of the final metric); drift v lets the gap still move by a "
    "Brownian drift of variance v curve sds squared over a budget, zero at its end; luck: gaps net of the parent "
    "run's luck. Columns as above.",
    "",
    "| margin | drift | luck |",
]
DELTA_SENSITIVITY = [
    "**Delta (curve sds) and noise** (the defaults otherwise): same-seed noise is measured as calibration's probes "
    "would, the probes being the corpus's other variants on the other seeds. Columns as above.",
    "",
    "| delta | noise |",
]


def _sensitivity(report: dict[str, Any], grid: str, head: list[str]) -> list[str]:
    """One sensitivity table: a row per setting (its key's parts first), the corpora side by side."""
    first = next(iter(report.values()))[grid]
    columns = "".join(f" {name}: saved (clear) | {name}: false kills | {name}: winners killed |" for name in report)
    lines = [*head[:-1], head[-1] + columns, "|---" * (len(next(iter(first))) + 3 * len(report)) + "|"]
    for key in first:
        cells = [f"{part:g}" if isinstance(part, float) else part for part in key]
        for corpus in report.values():
            row = corpus[grid][key].row("")
            cells += [f"{row[1]} ({row[2]})", row[3], row[4]]
        lines.append(f"| {' | '.join(cells)} |")
    lines.append("")
    return lines
