"""Calibration: train a target's baseline on several seeds and fit its noise model (`evo calibrate`, and a run with
early termination or confirmation on, before its search starts).

Models are cached under the evo cache (EVO_CACHE_DIR, default ~/.cache/evo) by everything that shapes the noise:
the target's locked files and baseline code, the budget and its clock, the locked settings, the device and the
seeds. A second run of the same setup reuses the model instead of training K baselines again.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from evo.errors import EvoError
from evo.evaluator import EvalSettings, evaluate, locked_settings
from evo.noise import NoiseModel, fit_noise, load_noise
from evo.result import EvalResult
from evo.target import TargetSpec


def calibration_seeds(runs: int) -> tuple[int, ...]:
    """Seeds 1..runs: fixed, so a cached model serves every run of the same setup."""
    return tuple(range(1, runs + 1))


def cache_path(target: TargetSpec, settings: EvalSettings, runs: int) -> Path:
    code = {name: (target.root / name).read_text() for name in target.editable}
    key = {
        "locked": dict(target.locked),
        "code": code,
        "command": list(target.command),
        "budget": settings.budget,
        "clock": settings.clock,
        "env": locked_settings(target, settings),
        "device": settings.device,
        "seeds": calibration_seeds(runs),
        "python": sys.version.split()[0],
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    root = Path(os.environ.get("EVO_CACHE_DIR") or Path.home() / ".cache" / "evo")
    return root / "noise" / f"{digest}.json"


def calibrate(
    target: TargetSpec,
    slots: Sequence[EvalSettings],
    runs: int,
    workdir: Path,
    on_run: Callable[[int, EvalResult], None] = lambda seed, result: None,
) -> NoiseModel:
    """Evaluate the baseline on `runs` seeds, one per slot at a time (`slots` holds each slot's settings), and fit
    the model. Any failed run is an error: a baseline that does not finish reliably cannot be calibrated."""
    seeds = calibration_seeds(runs)
    settings = slots[0]

    def run(k: int) -> EvalResult:
        slot = slots[k % len(slots)]
        seed = seeds[k]
        return evaluate(target, None, workdir / f"seed-{seed}", replace(slot, seed=seed))

    with ThreadPoolExecutor(len(slots)) as pool:
        results = []
        for seed, result in zip(seeds, pool.map(run, range(runs)), strict=True):
            on_run(seed, result)
            results.append(result)
    for seed, result in zip(seeds, results, strict=True):
        if result.status.value != "ok" or result.metric is None:
            raise EvoError(f"calibration: the baseline failed on seed {seed} ({result.status.value}: {result.reason})")
    return fit_noise(
        [result.curve for result in results],
        [result.metric for result in results if result.metric is not None],
        seeds,
        settings.budget,
        settings.clock,
        target.metric.name,
        target.metric.direction,
    )


def cached_or_calibrate(
    target: TargetSpec,
    slots: Sequence[EvalSettings],
    runs: int,
    workdir: Path,
    on_run: Callable[[int, EvalResult], None] = lambda seed, result: None,
) -> tuple[NoiseModel, Path, bool]:
    """The cached model for this setup, else a fresh calibration (then cached). Returns (model, cache file, reused)."""
    path = cache_path(target, slots[0], runs)
    if path.is_file():
        return load_noise(path), path, True
    model = calibrate(target, slots, runs, workdir, on_run)
    model.save(path)
    return model, path, False


def run_noise_model(
    target: TargetSpec, slots: Sequence[EvalSettings], runs: int, stored: Path | None, run_dir: Path
) -> tuple[NoiseModel, str]:
    """A run's noise model: the one it saved before (resume), a stored one (`calibration.file`), the cache's, or a
    fresh calibration, saved as `noise.json` in the run. Returns the model and where it came from, in words."""
    path = run_dir / "noise.json"
    if path.is_file():
        return load_noise(path), f"{path} (measured when the run started)"
    settings = slots[0]
    if stored is not None:
        if not stored.is_file():
            raise EvoError(f"key 'calibration.file': {str(stored)!r} not found")
        model, source = load_noise(stored), str(stored)
        if (model.budget, model.clock) != (settings.budget, settings.clock):
            raise EvoError(
                f"key 'calibration.file': {stored} was measured at {model.budget:g} s ({model.clock} clock), "
                f"this run's budget is {settings.budget:g} s ({settings.clock} clock)"
            )
    else:
        model, cached, reused = cached_or_calibrate(target, slots, runs, run_dir / "calibration")
        source = f"{cached} (cached)" if reused else f"{runs} baseline runs (now cached in {cached})"
    model.save(path)
    return model, source
