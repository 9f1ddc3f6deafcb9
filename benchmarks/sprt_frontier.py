"""What early termination can buy on the replay corpora: the trade-off between savings and false kills as the two
settings that spend them move (the margin, H0's "it would beat its reference by margin noise units", and alpha, the
threshold), over every corpus at once, against issue 20's goals (false kills of clear winners at most 5% on every
corpus; at least 60% of wide losers' compute saved and 40% of near-tie losers').

`python -m benchmarks.sprt_frontier [--curves FILE ...]` replays evo's test at its defaults with each (alpha, margin)
on the three curve files (20 s and 60 s smoothed training loss, 20 s raw loss), writes a table of every corpus per
setting with the goals each setting misses, and a figure: each setting's near-tie savings against its worst false-kill
rate. It answers whether one setting meets every goal, the question `benchmarks.sprt_replay`'s per-file tables leave to
the reader; with `--curves`, the same table for curve files of your own (printed only).
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import dataclass, replace
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from benchmarks.results import RESULTS, write_section
from benchmarks.sprt_corpus import CURVES, shown
from benchmarks.sprt_replay import DEFAULTS, SprtRule, judge_file, sprt_tally
from benchmarks.sprt_tally import Tally
from evo.config import NOISE_MARGIN
from evo.reporting.figures import save

FILES = {"20 s": "sprt_curves.json", "60 s": "sprt_curves_60s.json", "20 s raw": "sprt_curves_raw.json"}
MARGINS = (0.5, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)
ALPHAS = (0.05, 0.1)
FALSE_KILLS, WIDE, NEAR = 0.05, 0.60, 0.40  # issue 20's goals
FIGURE = RESULTS.parent / "figures" / "sprt-frontier.png"


@dataclass(frozen=True)
class Setting:
    alpha: float
    margin: float

    @property
    def default(self) -> bool:
        return (self.alpha, self.margin) == (DEFAULTS.alpha, NOISE_MARGIN)

    @property
    def label(self) -> str:
        return f"alpha {self.alpha:g}, margin {self.margin:g}{' (defaults)' if self.default else ''}"


def tallies(settings: list[Setting], files: dict[str, Path]) -> dict[Setting, dict[str, Tally]]:
    """Each setting's tally on each corpus of each file (keyed "20 s near-tie" and so on)."""
    out: dict[Setting, dict[str, Tally]] = {s: {} for s in settings}
    for label, path in files.items():
        for corpus, (judged, _, _) in judge_file(json.loads(path.read_text()), paired=False).items():
            for s in settings:
                rule = SprtRule("", replace(DEFAULTS, alpha=s.alpha, margin=s.margin))
                out[s][f"{label} {corpus}"] = sprt_tally(rule, judged)
    return out


def saved(tally: Tally) -> float:
    return tally.loser_compute_saved / tally.losers if tally.losers else float("nan")


def false_kills(tally: Tally) -> float:
    return tally.false_kills / tally.clear_winners if tally.clear_winners else 0.0


def missed(by_corpus: dict[str, Tally]) -> list[str]:
    """The goals a setting misses, each as "corpus: what" (point estimates, as the issue states its goals)."""
    misses = []
    for corpus, tally in by_corpus.items():
        if false_kills(tally) > FALSE_KILLS:
            misses.append(f"{corpus}: {tally.false_kills} of {tally.clear_winners} false kills")
        goal = WIDE if corpus.endswith("wide") else NEAR if corpus.endswith("near-tie") else None
        if goal is not None and saved(tally) < goal:
            misses.append(f"{corpus}: {saved(tally):.1%} saved")
    return misses


def render(results: dict[Setting, dict[str, Tally]], files: list[Path]) -> str:
    corpora = list(next(iter(results.values())))
    lines = [
        "Each cell: losers' compute saved / false kills of clear winners (winners by more than a noise unit), "
        "evo's test at its defaults with the setting's alpha and margin, replayed as `benchmarks.sprt_replay` "
        f"replays its defaults (curve files: {', '.join(f'`{shown(f)}`' for f in files)}). "
        f"Goals (issue 20): false kills at most {FALSE_KILLS:.0%} on every corpus, at least {WIDE:.0%} of the wide "
        f"losers' compute saved and {NEAR:.0%} of the near ties'. The slow corpora are held to the false-kill goal "
        "only, as the issue holds them." + _resolution(next((r for s, r in results.items() if s.default), None)),
        "",
        "| setting | " + " | ".join(corpora) + " | goals missed |",
        "|---|" + "---|" * (len(corpora) + 1),
    ]
    for setting, by_corpus in results.items():
        cells = [
            f"{saved(t):.0%} / {t.false_kills} of {t.clear_winners}" if t.losers else f"- / {t.false_kills}"
            for t in by_corpus.values()
        ]
        misses = missed(by_corpus)
        lines.append(f"| {setting.label} | " + " | ".join(cells) + f" | {'; '.join(misses) or '**none**'} |")
    meeting = [s.label for s, by_corpus in results.items() if not missed(by_corpus)]
    lines += [
        "",
        f"Settings that meet every goal: {', '.join(meeting) if meeting else '**none**'}. "
        f"![savings against false kills](figures/{FIGURE.name})",
    ]
    return "\n".join(lines)


def _resolution(defaults: dict[str, Tally] | None) -> str:
    """How far the corpora pin the cells down: what one false kill weighs, and how wide the defaults' savings
    intervals are (a bootstrap over each corpus's variants, as the replay sections give them)."""
    if defaults is None:
        return ""
    winners = sorted(t.clear_winners for t in defaults.values() if t.clear_winners)
    widths = sorted(high - low for low, high in (t.saved_interval() for t in defaults.values() if t.losers))
    kill = ""
    if winners:
        kill = f"on corpora of {winners[0]}-{winners[-1]} clear winners one false kill is "
        kill += f"{1 / winners[-1]:.1%}-{1 / winners[0]:.1%}, and "
    spread = f"the defaults' savings have 95% intervals {100 * widths[0]:.0f}-{100 * widths[-1]:.0f} points wide"
    return f" Point estimates: {kill}{spread} (a bootstrap over each corpus's variants)." if widths else ""


def figure(results: dict[Setting, dict[str, Tally]], path: Path) -> Path:
    """A panel per near-tie corpus: each setting's saving there against its worst false-kill rate over all the
    corpora, the goals' corner shaded."""
    first = next(iter(results))
    near = [c for c in results[first] if c.endswith("near-tie")]
    fig = Figure(figsize=(4 * len(near), 4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(near), sharey=True)
    for ax, corpus in zip(axes, near, strict=True):
        ax.fill_between([0, 100 * FALSE_KILLS], 100 * NEAR, 100, color="#2a9d3f", alpha=0.12, label="the goals")
        for alpha, marker, offset in zip(ALPHAS, "os", ((-14, 2), (5, -10)), strict=False):
            points = [(s, r) for s, r in results.items() if s.alpha == alpha]
            xs = [100 * max(map(false_kills, r.values())) for _, r in points]
            ys = [100 * saved(r[corpus]) for _, r in points]
            ax.plot(xs, ys, marker=marker, label=f"alpha {alpha:g}")
            for (s, _), x, y in zip(points, xs, ys, strict=True):
                ax.annotate(f"{s.margin:g}", (x, y), textcoords="offset points", xytext=offset, fontsize=7)
        ax.set_title(corpus, fontsize=9)
        ax.set_xlabel(f"worst false-kill rate, all {len(results[first])} corpora (%)", fontsize=8)
        ax.set_xlim(-1, None)
    axes[0].set_ylabel("near-tie losers' compute saved (%)", fontsize=8)
    axes[0].set_ylim(0, 80)
    axes[-1].legend(fontsize=7, loc="lower right")
    fig.suptitle("Early termination's settings (labels: the margin) against issue 20's goals", fontsize=10)
    return save(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--curves", type=Path, nargs="+", help="curve files of your own (`sprt_replay collect`): printed, not written"
    )
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md and the figure alone")
    args = parser.parse_args()
    for path in args.curves or []:
        if not path.is_file():
            parser.error(f"--curves: no such file: {path}")
    files = (
        {p.stem: p for p in args.curves}
        if args.curves
        else {label: CURVES.parent / name for label, name in FILES.items()}
    )
    results = tallies([Setting(a, m) for a, m in itertools.product(ALPHAS, MARGINS)], files)
    body = render(results, list(files.values()))
    print(body)
    if not (args.no_write or args.curves):
        figure(results, FIGURE)
        write_section("sprt_frontier", "Early termination: savings against false kills over every corpus", body)


if __name__ == "__main__":
    main()
