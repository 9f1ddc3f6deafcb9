"""Early-termination rules replayed offline on real learning curves of the default target.

`python -m benchmarks.sprt_replay collect` trains two corpora of variants of target/train.py, several seeds each, and
writes their curves to benchmarks/data/sprt_curves.json (the same format takes curves from a GPU machine):
- wide: variants of the untuned baseline that differ in size and learning rate, as early in a search;
- near-tie: small perturbations of one good parent, as late in a search, where curves cross and noise decides.

`python -m benchmarks.sprt_replay` replays every stopping rule on both corpora: evo's SPRT at its defaults, its
ablations and a sensitivity grid, and Optuna's MedianPruner, PercentilePruner, SuccessiveHalvingPruner, HyperbandPruner
and WilcoxonPruner through ask-and-tell in the same arrival orders. Each candidate is judged against its parent run on
the same seed (evo runs every candidate of a search on the run's seed); the SPRT's noise model is fitted to the parent's
other seeds, the parent run's luck is measured against them as a search's calibration would measure the baseline's, and
the closing trend and the scale k (final metric per unit of the curve's end) are measured on the other variants as a run
measures them on its finished candidates (`sprt_corpus.measured`). It reports, per rule: the share of losing candidates'
compute saved (losers: the finished run is worse than the parent's), false kills (stopped, though the finished run would
have beaten the parent by more than delta), kills of any eventual winner, and the decisions made; and writes them to
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.results import write_section
from benchmarks.sprt_corpus import (
    CORPORA,
    CURVES,
    Candidate,
    collect,
    first_look_bound,
    load_corpus,
    measured,
    noise_without,
    paired_without,
    parent_luck,
    shown,
)
from benchmarks.sprt_optuna import optuna_tallies
from benchmarks.sprt_render import render
from benchmarks.sprt_tally import Tally, Verdict
from evo.config import NOISE_MARGIN, EarlyStopConfig
from evo.evaluation import Action
from evo.stopping import CurveTest, NoiseModel

FEW_SEEDS = 3  # the smallest calibration evo takes
DRIFTS = (0.0, 0.25, 0.5, 1.0)  # the drift variances the sensitivity table tries
MARGINS = (0.0, 0.5, 1.0, 1.5, 2.0)  # and the margins
TREND_SETTINGS: dict[str, dict[str, Any]] = {  # and the closing trends
    "none": {"trend": 0.0},
    "measured": {},
    **{f"fixed {t:g}": {"trend": t} for t in (1.0, 2.0, 4.0)},
}
DEFAULTS = EarlyStopConfig()  # evo's early_stop defaults, the rule the replay leads with
DEFAULT_NAME = (
    f"delta {DEFAULTS.delta:g}, margin {NOISE_MARGIN:g}, drift {DEFAULTS.drift:g}, warm-up {DEFAULTS.warmup:g}, "
    "net of the reference's luck, closing trend measured"
)
ORDER = ["wide", "near-tie", "slow"]  # the corpora in the order the report shows them


@dataclass(frozen=True)
class SprtRule:
    """evo's test with `config`'s settings (as `early_stop` in a run config sets them), and two replay-only knobs."""

    name: str
    config: EarlyStopConfig
    independent: bool = False  # ablation: pretend the curve's points are independent
    paired: bool = False  # use the same-seed noise measured by probes
    seeds: int = 0  # fit the noise model to this many of the parent's other seeds (0: all of them)

    def with_settings(self, **changes: Any) -> SprtRule:
        return replace(self, config=replace(self.config, **changes))

    def test(
        self, candidate: Candidate, noise: NoiseModel, budget: float, measured: tuple[float, float | None] = (0, None)
    ) -> CurveTest:
        """The test this rule runs on `candidate`; `measured`: the closing trend and the scale k measured on the
        corpus's other variants (the trend taken when `config.trend` is null), as a run measures them on its
        finished candidates."""
        if self.independent:
            noise = replace(noise, persistent=0.0, phi=0.0)
        luck = candidate.luck if self.config.luck else 0.0
        trend = measured[0] if self.config.trend is None else self.config.trend
        return CurveTest(candidate.reference["curve"], noise, self.config, budget, luck, trend, scale=measured[1])

    def judge(
        self, candidate: Candidate, noise: NoiseModel, budget: float, measured: tuple[float, float | None] = (0, None)
    ) -> Verdict:
        return replay_test(self.test(candidate, noise, budget, measured), candidate)


def replay_test(test: CurveTest, candidate: Candidate) -> Verdict:
    """Feed `candidate`'s curve to `test` until it stops."""
    for t, value in candidate.curve:
        if test.update(t, value) is Action.STOP:
            return Verdict(test.stopped_at)
    return Verdict(None)


@dataclass(frozen=True)
class Judged:
    """What the SPRT rules need of one corpus: its candidates, each seed's noise models (from all the parent's other
    seeds, from three of them, and same-seed from probes) and each candidate's measured closing trend and scale."""

    candidates: list[Candidate]
    models: dict[int, NoiseModel]
    few: dict[int, NoiseModel]  # fitted to FEW_SEEDS of the parent's other seeds
    paired: dict[tuple[str, int], NoiseModel]
    measured: dict[tuple[str, int], tuple[float, float]]
    budget: float
    delta: float


def sprt_tally(rule: SprtRule, judged: Judged) -> Tally:
    """One SPRT rule over a corpus: each candidate with the noise model for its seed (same-seed when asked)."""
    tally = Tally()
    for c in judged.candidates:
        if rule.paired:
            model = judged.paired[c.variant, c.seed]
        elif rule.seeds:
            model = judged.few[c.seed]
            c = replace(c, luck=parent_luck(c, model, judged.budget))
        else:
            model = judged.models[c.seed]
        tally.add(c, rule.judge(c, model, judged.budget, judged.measured[c.variant, c.seed]), judged.delta)
    return tally


def seed_spread(candidates: list[Candidate], unit: float) -> float | None:
    """How much the final gain over the parent of a variant within 2 `unit`s of it on average varies with the seed
    (pooled sd, in `unit`s): how far a tie can end from level, which no early look can foresee. None: no such
    variant."""
    gains: dict[str, list[float]] = {}
    for c in candidates:
        gains.setdefault(c.variant, []).append((c.reference["metric"] - c.metric) / unit)
    close = [np.var(g, ddof=1) for g in gains.values() if len(g) > 1 and abs(np.mean(g)) <= 2]
    return float(np.sqrt(np.mean(close))) if close else None


def corpora(data: dict[str, Any]) -> list[str]:
    return sorted({run["corpus"] for run in data["runs"]}, key=ORDER.index)


def judge_file(data: dict[str, Any], paired: bool) -> dict[str, tuple[Judged, dict[int, dict[str, Any]], int]]:
    """Each corpus of `data` ready for `sprt_tally` (same-seed models only when `paired`: they take most of the
    time), with its parent runs by seed and how many candidate runs failed."""
    budget = float(data["meta"]["budget"])
    loaded = {}
    for name in corpora(data):
        candidates, parents, failed = load_corpus(data, name)
        models = {seed: noise_without(parents, seed, budget) for seed in parents}
        candidates = [replace(c, luck=parent_luck(c, models[c.seed], budget)) for c in candidates]
        loaded[name] = (candidates, parents, failed, models)
    measures = measured({n: (c, m) for n, (c, _, _, m) in loaded.items()}, budget, DEFAULTS.warmup)
    judged = {}
    for name, (candidates, parents, failed, models) in loaded.items():
        same_seed = [(c, paired_without(models[c.seed], parents, candidates, c)) for c in candidates if paired]
        corpus = Judged(
            candidates=candidates,
            models=models,
            few={seed: noise_without(parents, seed, budget, FEW_SEEDS) for seed in parents},
            paired={(c.variant, c.seed): model for c, model in same_seed},
            measured=measures[name],
            budget=budget,
            delta=float(np.mean([model.final_sd for model in models.values()])),  # false kills: wins by a noise unit
        )
        judged[name] = (corpus, parents, failed)
    return judged


def quick(data: dict[str, Any], alpha: float) -> str:
    """The defaults and their row on 3 calibration seeds, a line per corpus, in seconds: for trying a change to the
    test before the whole replay."""
    rules = {"defaults": SprtRule("", replace(DEFAULTS, alpha=alpha))}
    rules[f"{FEW_SEEDS} seeds"] = replace(rules["defaults"], seeds=FEW_SEEDS)
    lines = []
    for name, (judged, _, _) in judge_file(data, paired=False).items():
        tallies = {label: sprt_tally(rule, judged) for label, rule in rules.items()}
        cells = [
            f"{k}: saved {t.row(k)[1]}, false kills {t.false_kills} of {t.clear_winners}" for k, t in tallies.items()
        ]
        lines.append(f"{name}: " + "; ".join(cells))
    return "\n".join(lines)


def replay(data: dict[str, Any], orders: int, alpha: float) -> dict[str, Any]:
    budget = float(data["meta"]["budget"])
    tuned = SprtRule("", replace(DEFAULTS, alpha=alpha))
    rules = [
        replace(tuned, name=f"evo SPRT (defaults: {DEFAULT_NAME})"),
        replace(tuned, name=f"evo SPRT, defaults on the noise of {FEW_SEEDS} calibration seeds", seeds=FEW_SEEDS),
        replace(tuned, name="evo SPRT, defaults without the closing trend").with_settings(trend=0.0),
        replace(tuned, name="evo SPRT, defaults with a fixed closing trend of 2 (not measured)").with_settings(
            trend=2.0
        ),
        replace(tuned, name="evo SPRT, defaults without the reference's luck").with_settings(luck=False),
        replace(tuned, name="evo SPRT, defaults without drift").with_settings(drift=0.0),
        replace(tuned, name="evo SPRT, margin 0 (H0: no worse than the reference)").with_settings(margin=0.0),
        replace(tuned, name="evo SPRT, margin 3 (H0: it would beat the parent by 3 noise units)").with_settings(
            margin=3.0
        ),
        replace(tuned, name="evo SPRT, same-seed noise (probes)", paired=True),
        replace(tuned, name="evo SPRT, catch-up 0.2").with_settings(catch_up=0.2),
        replace(tuned, name="evo SPRT, points taken as independent (ablation)", independent=True),
        replace(tuned, name="evo SPRT before the luck (delta 2, warm-up 0.1, no margin, no drift)").with_settings(
            delta=2.0, margin=0.0, drift=0.0, luck=False
        ),
    ]
    report: dict[str, Any] = {}
    for name, (judged, parents, failed) in judge_file(data, paired=True).items():
        candidates, delta = judged.candidates, judged.delta
        tallies = {rule.name: sprt_tally(rule, judged) for rule in rules}
        grid = {
            (m, v, luck): sprt_tally(tuned.with_settings(margin=m, drift=v, luck=luck == "yes"), judged)
            for luck, m, v in itertools.product(("yes", "no"), MARGINS, DRIFTS)
        }
        deltas = {
            (d, noise): sprt_tally(replace(tuned.with_settings(delta=d), paired=noise == "same-seed"), judged)
            for d, noise in itertools.product((1.0, 2.0, 3.0, 4.0), ("two-seed", "same-seed"))
        }
        trends = {
            (label,): sprt_tally(tuned.with_settings(**settings), judged) for label, settings in TREND_SETTINGS.items()
        }
        tallies.update(optuna_tallies(candidates, parents, budget, delta, orders))
        gains = [c.reference["metric"] - c.metric for c in candidates]
        report[name] = {
            "candidates": len(candidates),
            "failed": failed,
            "variants": len({c.variant for c in candidates}),
            "delta": delta,
            "losers": sum(g < 0 for g in gains),
            "clear_losers": sum(g < -delta for g in gains),
            "clear_winners": sum(g > delta for g in gains),
            "bounds": [first_look_bound(candidates, delta, budget, warmup) for warmup in (DEFAULTS.warmup, 0.0)],
            "tie_sd": seed_spread(candidates, delta),
            "tallies": tallies,
            "grid": grid,
            "trends": trends,
            "deltas": deltas,
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    grab = sub.add_parser("collect", help="train the corpora and write their curves")
    grab.add_argument("--budget", type=float, default=20.0, help="CPU seconds per run")
    grab.add_argument("--seeds", type=int, default=3, help="seeds per variant")
    grab.add_argument("--parent-seeds", type=int, default=6, help="seeds of each corpus's parent")
    grab.add_argument("--corpus", default="pystdlib")
    grab.add_argument("--workers", type=int, default=2, help="runs at the same time")
    grab.add_argument("--out", type=Path, default=CURVES)
    grab.add_argument("--corpora", nargs="+", choices=list(CORPORA), default=list(CORPORA), help="which to train")
    grab.add_argument("--raw", action="store_true", help="progress values: the unsmoothed loss of each step")
    parser.add_argument("--curves", type=Path, default=CURVES, help="the corpora to replay")
    parser.add_argument("--orders", type=int, default=10, help="arrival orders for the Optuna pruners")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    parser.add_argument("--quick", action="store_true", help="the defaults and their 3-seed row only, printed")
    args = parser.parse_args()
    if args.command == "collect":
        collect(args.budget, args.seeds, args.parent_seeds, args.corpus, args.workers, args.out, args.corpora, args.raw)
        return
    data = json.loads(args.curves.read_text())
    if args.quick:
        print(quick(data, args.alpha))
        return
    body = render(replay(data, args.orders, args.alpha), data, args.orders, args.alpha, str(shown(args.curves)))
    print(body)
    if not args.no_write:
        own = args.curves.resolve() == CURVES
        key = "sprt_replay" if own else f"sprt_replay_{args.curves.stem}"
        title = "Early termination replayed on real curves: evo's SPRT vs Optuna's pruners"
        kind = "raw-loss " if data["meta"].get("progress", "").startswith("raw") else ""
        write_section(key, title + ("" if own else f" ({data['meta']['budget']:g} s {kind}curves)"), body)


if __name__ == "__main__":
    main()
