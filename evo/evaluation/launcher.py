"""evo's launcher: runs a target's script (``python launcher.py train.py``) after taking control of what the target's
locked code fixes, so an unmodified checkout (karpathy/autoresearch) obeys evo without an edit to a locked file.

It runs inside the candidate's process, before the candidate's code, and imports nothing from evo (it must start
fast, and in whatever interpreter runs the candidate). ``EVO_LAUNCH`` (JSON, set by the evaluator) says what to do:

- ``budget``: ``"module.NAME"`` of a locked module's budget constant (``prepare.TIME_BUDGET``); it is set to
  ``EVO_TIME_BUDGET`` before the script runs, so ``from prepare import TIME_BUDGET`` reads evo's budget.
- ``seed``: every RNG (random, numpy, torch) is seeded from ``EVO_SEED``, and the script's own fixed seeds
  (``torch.manual_seed(42)``) become a mix of theirs and evo's: seed 0 keeps them as written, every other seed
  moves them, so calibration measures seed-to-seed noise and not only GPU nondeterminism.
- ``evaluate``: ``"module.function"`` of the locked evaluation (``prepare.evaluate_bpb``); its return value is
  written to the harness's private channel (``EVO_RESULT_FD``) as the attested metric, with an ``eval_start``
  record when it is called. A printed value that disagrees, or a run that never calls it, is invalid.

The channel guards against a candidate that prints what it likes, not against one that writes to inherited file
descriptors on purpose: the same process runs both (the sandbox and the budget's hard limit bound the rest).
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.machinery
import json
import os
import random
import runpy
import sys
from collections.abc import Callable
from typing import Any

MIX = 1_000_003  # a prime: seed s under evo seed k becomes s * MIX + k (distinct for distinct k, s unchanged at k=0)
SEED_SPACE = 2**32  # numpy's legacy seed must fit in 32 bits; torch's in 64


def mixed(seed: int, evo_seed: int) -> int:
    return seed if evo_seed == 0 else (int(seed) * MIX + evo_seed) % SEED_SPACE


def _report(record: dict[str, Any]) -> None:
    fd = os.environ.get("EVO_RESULT_FD")
    if fd:
        os.write(int(fd), (json.dumps(record) + "\n").encode())


def _attribute(path: str) -> tuple[Any, str]:
    module, _, name = path.rpartition(".")
    return importlib.import_module(module), name


def _set_budget(path: str, seconds: float) -> None:
    module, name = _attribute(path)
    current = getattr(module, name)
    whole = isinstance(current, int) and not isinstance(current, bool) and seconds == int(seconds)
    setattr(module, name, int(seconds) if whole else seconds)


def _offset(function: Callable[..., Any], evo_seed: int) -> Callable[..., Any]:
    @functools.wraps(function)
    def seeded(seed: Any = None, *args: Any, **kwargs: Any) -> Any:
        if isinstance(seed, int) and not isinstance(seed, bool):
            seed = mixed(seed, evo_seed)
        return function(seed, *args, **kwargs)

    return seeded


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs a hook on a module right after it is first imported, so the launcher never imports torch itself: the
    script imports it when it is ready (autoresearch sets PYTORCH_CUDA_ALLOC_CONF first)."""

    def __init__(self, hooks: dict[str, Callable[[Any], None]]) -> None:
        self.hooks = hooks

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name not in self.hooks:
            return None
        hook = self.hooks.pop(name)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            execute = spec.loader.exec_module

            def exec_module(module: Any) -> None:
                execute(module)
                hook(module)

            spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _take_seeds(evo_seed: int) -> None:
    """Seed every RNG from evo's seed, and make the script's own seed calls depend on it."""
    random.seed(evo_seed)
    random.seed = _offset(random.seed, evo_seed)  # type: ignore[method-assign]

    def numpy_random(module: Any) -> None:
        module.seed(evo_seed)
        module.seed = _offset(module.seed, evo_seed)

    def torch(module: Any) -> None:
        module.manual_seed(evo_seed)
        module.manual_seed = _offset(module.manual_seed, evo_seed)
        module.random.manual_seed = module.manual_seed
        module.cuda.manual_seed = _offset(module.cuda.manual_seed, evo_seed)
        module.cuda.manual_seed_all = _offset(module.cuda.manual_seed_all, evo_seed)

    sys.meta_path.insert(0, _AfterImport({"numpy.random": numpy_random, "torch": torch}))


def _attest(path: str, metric: str) -> None:
    module, name = _attribute(path)
    evaluate = getattr(module, name)

    @functools.wraps(evaluate)
    def attested(*args: Any, **kwargs: Any) -> Any:
        _report({"kind": "eval_start"})
        value = evaluate(*args, **kwargs)
        try:
            number: float | str = float(value)
        except (TypeError, ValueError):
            number = repr(value)[:100]
        _report({"kind": "eval", "metric": metric, "value": number})
        return value

    setattr(module, name, attested)


def main() -> None:
    spec = json.loads(os.environ.pop("EVO_LAUNCH", "{}"))
    script, *args = sys.argv[1:]
    sys.argv = [script, *args]
    sys.path[0] = os.path.dirname(os.path.abspath(script))  # as `python train.py` would: the script's folder first
    if spec.get("seed"):
        _take_seeds(int(os.environ.get("EVO_SEED", "0")))
    if spec.get("budget"):
        _set_budget(spec["budget"], float(os.environ["EVO_TIME_BUDGET"]))
    if spec.get("evaluate"):
        _attest(spec["evaluate"], spec.get("metric", "val_bpb"))
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
