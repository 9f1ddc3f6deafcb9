"""Calibration: train a target's baseline on several seeds, on all of an executor's slots at once, and fit its noise
model (`evo calibrate`, and a run with early termination or confirmation on, before its search starts). With
probes, children of the baseline made by the offline mutation operator train on the same seeds too, to measure the
noise of same-seed comparisons.

Models are cached under the evo cache (EVO_CACHE_DIR, default ~/.cache/evo) by everything that shapes the noise:
the target's locked files and baseline code, the budget and its clock, the locked settings, the device, the seeds
and the fit's version. A second run of the same setup reuses the model instead of training K baselines again.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from evo.config import CalibrationConfig
from evo.errors import EvoError, RunFailed
from evo.evaluation import EvalResult, EvalSettings, TargetSpec, locked_settings
from evo.execution import EvalRequest, Executor, run_all
from evo.operators import Context, ParamMutation, Parent
from evo.stopping.noise import FIT_VERSION, NoiseModel, fit_noise, fit_paired, load_noise


def calibration_seeds(runs: int) -> tuple[int, ...]:
    """Seeds 1..runs: fixed, so a cached model serves every run of the same setup."""
    return tuple(range(1, runs + 1))


def cache_path(target: TargetSpec, settings: EvalSettings, runs: int, probes: int = 0) -> Path:
    code = {name: (target.root / name).read_text() for name in target.editable}
    key = {
        "locked": dict(target.locked),
        "code": code,
        "command": list(target.command),
        "budget": settings.budget.seconds,
        "clock": settings.budget.clock,
        "env": locked_settings(target, settings),
        "device": settings.device,
        "seeds": calibration_seeds(runs),
        "probes": probes,
        "python": sys.version.split()[0],
        "fit": FIT_VERSION,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    root = Path(os.environ.get("EVO_CACHE_DIR") or Path.home() / ".cache" / "evo")
    return root / "noise" / f"{digest}.json"


def probe_codes(target: TargetSpec, count: int) -> list[tuple[str, dict[str, str]]]:
    """`count` distinct children of the baseline from the offline mutation operator: (description, code)."""
    baseline = {name: (target.root / name).read_text() for name in target.editable}
    context = Context(program="", editable=target.editable, locked=tuple(target.locked))
    probes: dict[str, dict[str, str]] = {}
    for seed in range(20 * count):
        if len(probes) == count:
            break
        proposal = ParamMutation().propose([Parent("baseline", baseline, None, "ok")], replace(context, seed=seed))
        if proposal.code is None:
            raise EvoError(f"calibration.probes: {proposal.error}: probes need constants the offline operator changes")
        if proposal.code != baseline:
            probes.setdefault(proposal.description, dict(proposal.code))
    return list(probes.items())


def calibrate(
    target: TargetSpec,
    settings: EvalSettings,
    executor: Executor,
    runs: int,
    workdir: Path,
    on_run: Callable[[str, int, EvalResult], None] = lambda name, seed, result: None,
    probes: int = 0,
) -> NoiseModel:
    """Evaluate the baseline (and `probes` children of it) on `runs` seeds, on all of the executor's slots at once,
    and fit the model. A failed baseline run is an error: a baseline that does not finish reliably cannot be
    calibrated; a failed probe run is left out."""
    seeds = calibration_seeds(runs)
    codes: list[tuple[str, dict[str, str] | None]] = [("baseline", None), *probe_codes(target, probes)]
    jobs = [(k, name, code, seed) for k, (name, code) in enumerate(codes) for seed in seeds]
    requests = [
        EvalRequest(target, code, workdir / f"{k}-seed-{seed}", replace(settings, seed=seed))
        for k, _, code, seed in jobs
    ]
    results: dict[str, dict[int, EvalResult]] = {}

    def record(index: int, result: EvalResult) -> None:
        _, name, _, seed = jobs[index]
        on_run(name, seed, result)
        results.setdefault(name, {})[seed] = result

    run_all(executor, requests, record)
    for seed, result in sorted(results["baseline"].items()):
        if result.status.value != "ok" or result.metric is None:
            message = f"calibration: the baseline failed on seed {seed} ({result.status.value}: {result.reason})"
            raise RunFailed(message, result.log_tail)
    baseline = results.pop("baseline")
    model = fit_noise(
        [baseline[s].curve for s in seeds],
        [baseline[s].metric for s in seeds if baseline[s].metric is not None],
        seeds,
        settings.budget.seconds,
        settings.budget.clock,
        target.metric.name,
        target.metric.direction,
    )
    if not probes:
        return model
    finished = {
        name: {s: (r.curve, r.metric) for s, r in by_seed.items() if r.status.value == "ok" and r.metric is not None}
        for name, by_seed in results.items()
    }
    return fit_paired(model, {s: (r.curve, r.metric) for s, r in baseline.items() if r.metric is not None}, finished)


def cached_or_calibrate(
    target: TargetSpec,
    settings: EvalSettings,
    executor: Executor,
    runs: int,
    probes: int,
    workdir: Path,
    on_run: Callable[[str, int, EvalResult], None] = lambda name, seed, result: None,
    force: bool = False,
) -> tuple[NoiseModel, Path, bool]:
    """The cached model for this setup (unless `force`), else a fresh calibration, then cached. Returns (model,
    cache file, reused)."""
    path = cache_path(target, settings, runs, probes)
    if path.is_file() and not force:
        return load_noise(path), path, True
    model = calibrate(target, settings, executor, runs, workdir, on_run, probes)
    model.save(path)
    return model, path, False


def run_noise_model(
    target: TargetSpec,
    settings: EvalSettings,
    executor: Executor,
    calibration: CalibrationConfig,
    run_dir: Path,
    on_notice: Callable[[str], None] = lambda line: None,
) -> tuple[NoiseModel, str]:
    """A run's noise model: the one it saved before (resume), a stored one (`calibration.file`), the cache's, or a
    fresh calibration (announced through `on_notice`: it takes a while), saved as `noise.json` in the run. Returns
    the model and where it came from, in words."""
    path = run_dir / "noise.json"
    if path.is_file():
        return load_noise(path), f"{path} (measured when the run started)"
    budget = settings.budget
    if calibration.file is not None:
        stored = Path(calibration.file).expanduser()
        if not stored.is_file():
            raise EvoError(f"key 'calibration.file': {str(stored)!r} not found")
        model, source = load_noise(stored), str(stored)
        if (model.budget, model.clock) != (budget.seconds, budget.clock):
            raise EvoError(
                f"key 'calibration.file': {stored} was measured at {model.budget:g} s ({model.clock} clock), "
                f"this run's budget is {budget.seconds:g} s ({budget.clock} clock)"
            )
    else:
        runs, probes = calibration.runs, calibration.probes
        if not cache_path(target, settings, runs, probes).is_file():
            with_probes = f" and {probes} probes" if probes else ""
            on_notice(
                f"calibrating the noise model: the baseline{with_probes} on {runs} seeds (once for this setup: cached)"
            )
        model, cached, reused = cached_or_calibrate(target, settings, executor, runs, probes, run_dir / "calibration")
        source = f"{cached} (cached)" if reused else f"{runs} seeds, {probes} probes (now cached in {cached})"
    model.save(path)
    return model, source
