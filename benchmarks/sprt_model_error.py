"""The early-termination test's error under its own noise model, and what the threshold that spends all of it does.

The test stops once its log likelihood ratio reaches log(1 / alpha): by Ville's inequality a martingale under H0 ever
reaches that with chance at most alpha, however often and however long it is watched. A run is watched at a few
dozen points and then ends, so under the model the real chance is lower. This measures how much lower: for each
candidate of the replay corpora (`benchmarks.sprt_replay`), PATHS gap paths drawn under H0 at the candidate's own
progress points (the covariance the test takes, and a closing trend drawn from the test's half-normal prior), the
test's log ratio after each point, the share of paths that reach the threshold, and the exact threshold (the
(1 - alpha) quantile of the paths' maxima). Then it replays each corpus with every candidate's exact threshold: what
the slack of Ville's bound costs in savings, and which winners it protects. The exact threshold needs the points a run
will report before it starts, which a replay knows and a live run does not: it is the most that slack can buy.

`python -m benchmarks.sprt_model_error` writes benchmarks/RESULTS.md section `sprt_model_error`.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from benchmarks.results import write_section
from benchmarks.sprt_corpus import CURVES, REPO, Candidate
from benchmarks.sprt_replay import DEFAULTS, Judged, SprtRule, judge_file, replay_test
from benchmarks.sprt_tally import Tally, Verdict
from evo.stopping import CurveTest
from evo.stopping.curve_test import trend_shape

PATHS = 4000  # H0 paths per candidate: the threshold's quantile to about +-0.35 points of alpha
FILES = (CURVES, CURVES.with_name("sprt_curves_60s.json"), CURVES.with_name("sprt_curves_raw.json"))


def looks(rule: SprtRule, candidate: Candidate, judged: Judged) -> np.ndarray:
    """The budget fractions at which the test takes `candidate`'s curve (past the warm-up, within the reference)."""
    probe = rule.test(
        candidate, judged.models[candidate.seed], judged.budget, judged.measured[candidate.variant, candidate.seed]
    )
    probe.threshold = math.inf
    replay_test(probe, candidate)
    return np.asarray(probe.fractions)


def maxima(test: CurveTest, fractions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The largest log ratio the test reaches on each of PATHS gap paths drawn under H0 at `fractions`."""
    sd = test.noise.sd_at(fractions)
    noise = rng.standard_normal((PATHS, len(fractions))) @ np.linalg.cholesky(test.covariance(fractions)).T
    closing = np.abs(rng.standard_normal(PATHS))[:, None] * test.trend * (trend_shape(fractions) * sd)
    gaps = noise + closing
    return np.max([test.log_ratios(fractions[:k], gaps[:, :k]) for k in range(1, len(fractions) + 1)], axis=0)


def corpus_rows(label: str, name: str, judged: Judged, alpha: float, seed: int) -> list[str]:
    rule = SprtRule("", DEFAULTS)
    errors, thresholds = [], []
    defaults, exact = Tally(), Tally()
    for i, c in enumerate(judged.candidates):
        measured = judged.measured[c.variant, c.seed]
        test = rule.test(c, judged.models[c.seed], judged.budget, measured)
        defaults.add(c, replay_test(test, c), judged.delta)
        fractions = looks(rule, c, judged)
        if not len(fractions):  # its curve ends before the warm-up: nothing the test could stop
            exact.add(c, Verdict(None), judged.delta)
            continue
        peaks = maxima(test, fractions, np.random.default_rng([seed, i]))
        errors.append(float(np.mean(peaks >= test.threshold)))
        thresholds.append(float(np.quantile(peaks, 1 - alpha)))
        tight = rule.test(c, judged.models[c.seed], judged.budget, measured)
        tight.threshold = thresholds[-1]
        exact.add(c, replay_test(tight, c), judged.delta)

    def cells(t: Tally) -> str:
        return f"{t.row('')[1]}, {t.false_kills} of {t.clear_winners}"

    spread = f"{np.mean(errors):.1%} [{min(errors):.1%}, {max(errors):.1%}]"
    bounds = f"{np.median(thresholds):.2f} [{min(thresholds):.2f}, {max(thresholds):.2f}]"
    return [label, name, str(len(judged.candidates)), spread, bounds, cells(defaults), cells(exact)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--curves", type=Path, nargs="+", default=list(FILES), help="the corpora files to replay")
    parser.add_argument("--alpha", type=float, default=DEFAULTS.alpha)
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    rows = []
    for path in args.curves:
        data = json.loads(path.read_text())
        label = f"{data['meta']['budget']:g} s" + (" raw" if data["meta"].get("progress", "").startswith("raw") else "")
        for name, (judged, _, _) in judge_file(data, paired=False).items():
            rows.append(corpus_rows(label, name, judged, args.alpha, seed=len(rows)))
    head = [
        "curves",
        "corpus",
        "candidates",
        f"chance of a stop under H0 at log(1/{args.alpha:g}) = {math.log(1 / args.alpha):.2f}: mean [range]",
        f"exact threshold for {args.alpha:g}: median [range]",
        "defaults: losers' compute saved, false kills",
        "exact threshold: saved, false kills",
    ]
    table = "\n".join("| " + " | ".join(r) + " |" for r in [head, ["---"] * len(head), *rows])
    files = ", ".join(f"`{p.resolve().relative_to(REPO)}`" for p in args.curves)
    body = (
        f"Corpora: {files}; {PATHS} H0 paths per candidate at its own progress points, the defaults' settings "
        f"(closing trend and scale k measured as the replay measures them), alpha {args.alpha:g}. False kills: stopped "
        f"winners by more than one noise unit.\n\n{table}\n"
    )
    print(body)
    if not args.no_write:
        write_section("sprt_model_error", "Early termination: the test's error under its own model", body)


if __name__ == "__main__":
    main()
