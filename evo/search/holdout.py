"""The final check: the run's best and the baseline re-evaluated on fresh seeds, paired, once the search ends.

A run's best is the minimum over many noisy draws, so its observed metric flatters it (the winner's curse). Trained
again on seeds the search never used, beside the baseline on the same seeds, it shows what it is worth: the mean
paired gain with a 95% t-interval, set against the noise (the baseline's seed-to-seed sd). The baseline's runs on
those seeds come from the calibration when it ran them (same code and settings), so the check costs k evaluations of
the best. These evaluations are recorded in the ledger but charged to no stop limit: the search's budget is the
search's. The result is a `holdout` event; a resumed run that already has one for its best does not repeat it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass

from scipy.stats import t as student_t

from evo.evaluation import EvalResult, Status
from evo.execution import EvalRequest, Executor, run_all
from evo.search.session import RunSession
from evo.stopping import NoiseModel
from population.individual import Individual

WITHIN = "within the noise"
BEYOND = "beyond the noise"


def holdout_seeds(run_seed: int, count: int) -> tuple[int, ...]:
    """The first `count` of seeds 1, 2, 3, ... other than the run's own: the calibration's seeds, so its baseline
    runs serve again."""
    return tuple(seed for seed in range(1, count + 2) if seed != run_seed)[:count]


@dataclass(frozen=True)
class Holdout:
    """The check's numbers and its verdict, as the `holdout` ledger event stores them."""

    best: str
    baseline: str
    seeds: tuple[int, ...]
    best_values: tuple[float, ...]  # NaN where a run failed
    baseline_values: tuple[float, ...]
    gain: float  # mean paired gain, positive when the best is better
    low: float  # its 95% interval (NaN with fewer than two pairs)
    high: float
    noise_sd: float  # the baseline's seed-to-seed sd of the metric (NaN when unknown)
    noise_source: str  # where that sd comes from, in words
    verdict: str  # WITHIN or BEYOND
    sentence: str  # one line for the closing summary and the report

    @staticmethod
    def from_event(data: dict) -> Holdout:
        return Holdout(**{**data, "seeds": tuple(data["seeds"]), "best_values": tuple(data["best_values"]),
                          "baseline_values": tuple(data["baseline_values"])})  # fmt: skip


def final_check(
    session: RunSession,
    executor: Executor,
    best: Individual,
    baseline: Individual,
    noise: NoiseModel | None,
    on_notice: Callable[[str], None],
) -> Holdout:
    """The final check of `best`, or the one an earlier session of the run already made for it."""
    for event in reversed(session.ledger.events("holdout")):
        if event.data.get("best") == best.id:
            return Holdout.from_event(event.data)
    seeds = session.config.holdout.seeds
    on_notice(f"final check: {best.id} and the baseline on {seeds} fresh seeds the search never used")
    return run_holdout(session, executor, best, baseline, noise)


def run_holdout(
    session: RunSession, executor: Executor, best: Individual, baseline: Individual, noise: NoiseModel | None
) -> Holdout:
    """Evaluate `best` (and the baseline where the calibration has no run of it) on the held-out seeds, record the
    evaluations and the `holdout` event, and return the verdict."""
    seeds = holdout_seeds(session.config.seed, session.config.holdout.seeds)
    calibrated = noise is not None and session.config.calibration.file is None  # this run's setup, this baseline
    known = dict(zip(noise.seeds, noise.finals, strict=True)) if calibrated else {}  # type: ignore[union-attr]
    wanted = [(best, seed) for seed in seeds] + [(baseline, seed) for seed in seeds if seed not in known]
    folder = session.paths.individuals
    requests = [
        EvalRequest(
            session.target,
            session.store.code(individual.commit),
            folder / individual.id / f"holdout-{seed}",
            session.settings(seed),
        )
        for individual, seed in wanted
    ]
    results = run_all(executor, requests)
    finished = session.clock.time()
    values: dict[tuple[str, int], float] = {}
    for (individual, seed), result in zip(wanted, results, strict=True):
        session.ledger.add_evaluation(individual.id, result, finished=finished)
        values[individual.id, seed] = _value(result)
    best_values = tuple(values[best.id, s] for s in seeds)
    baseline_values = tuple(values.get((baseline.id, s), known.get(s, math.nan)) for s in seeds)
    check = judge(best, baseline, seeds, best_values, baseline_values, session.direction, noise)
    session.ledger.event("holdout", **asdict(check))
    return check


def _value(result: EvalResult) -> float:
    return result.metric if result.status is Status.OK and result.metric is not None else math.nan


def judge(
    best: Individual,
    baseline: Individual,
    seeds: tuple[int, ...],
    best_values: tuple[float, ...],
    baseline_values: tuple[float, ...],
    direction: str,
    noise: NoiseModel | None,
) -> Holdout:
    """The paired gain's mean and 95% t-interval; beyond the noise when the interval lies above zero."""
    sign = 1.0 if direction == "minimize" else -1.0
    gains = [sign * (b - v) for v, b in zip(best_values, baseline_values, strict=True) if math.isfinite(v + b)]
    gain = statistics.fmean(gains) if gains else math.nan
    low = high = math.nan
    if len(gains) >= 2:
        half = student_t.ppf(0.975, len(gains) - 1) * statistics.stdev(gains) / math.sqrt(len(gains))
        low, high = gain - half, gain + half
    if noise is not None:
        noise_sd, source = noise.final_sd, f"the baseline's seed sd over {noise.runs} calibration seeds"
    else:
        finite = [b for b in baseline_values if math.isfinite(b)]
        noise_sd = statistics.stdev(finite) if len(finite) >= 2 else math.nan
        source = f"the baseline's seed sd over these {len(finite)} seeds"
    verdict = BEYOND if math.isfinite(low) and low > 0 else WITHIN
    return Holdout(
        best.id, baseline.id, seeds, best_values, baseline_values, gain, low, high, noise_sd, source, verdict,
        _sentence(best.id, seeds, best_values, baseline_values, gain, low, high, noise_sd, source, verdict),
    )  # fmt: skip


def _sentence(
    best: str,
    seeds: tuple[int, ...],
    best_values: tuple[float, ...],
    baseline_values: tuple[float, ...],
    gain: float,
    low: float,
    high: float,
    noise_sd: float,
    source: str,
    verdict: str,
) -> str:
    interval = f" (95% CI {low:+.4g} to {high:+.4g})" if math.isfinite(low) else ""
    units = f" = {gain / noise_sd:.1f} noise units" if math.isfinite(gain) and noise_sd > 0 else ""
    noise = f"noise {noise_sd:.4g} ({source})" if math.isfinite(noise_sd) else "noise unknown"
    what = (
        f"{best} beats the baseline beyond the noise"
        if verdict == BEYOND
        else f"{best}'s gain is within the noise: not shown to beat the baseline"
    )
    return (
        f"held out on {len(seeds)} fresh seeds: {best} {_mean(best_values)} vs the baseline's "
        f"{_mean(baseline_values)}, gain {gain:+.4g}{interval}{units}; {noise}: {what}"
    )


def _mean(values: tuple[float, ...]) -> str:
    finite = [v for v in values if math.isfinite(v)]
    failed = len(values) - len(finite)
    text = f"{statistics.fmean(finite):.6g}" if finite else "no value"
    return text + (f" ({failed} failed)" if failed else "")
