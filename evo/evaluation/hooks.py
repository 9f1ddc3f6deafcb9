"""Target hooks: questions a target's own (locked, trusted) code answers in-process, named in `target.yaml`.

- `expected(files, budget, env) -> float | None`: a candidate's noise-free expected metric (None: it would fail);
  held-out scoring and regret use it where a target has one.
- `optimum(budget, env) -> float`: the best expected metric any candidate can reach (for targets whose landscape
  depends on a locked setting, such as the ideas landscape's seed; else `metric.optimum` stands).
- `simulate(files, budget, seed, env) -> dict`: one simulated run without a process, for the simulated executor:
  `status` ("ok", "crash", "invalid"), `metric`, `curve` [(seconds, value)], `summary`, `reason`; the same draw as the
  target's own command gives for that seed.

`files` are the candidate's editable files as text: untrusted code, which a hook must read (e.g. `ast.literal_eval`
of its constants), never run. The module is loaded from the target directory under a name of its own, so two
targets' `prepare.py` do not clash.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from evo.errors import EvoError
from evo.evaluation.target import TargetSpec


def hook(target: TargetSpec, name: str) -> Callable[..., Any] | None:
    """The target's `name` hook, or None when it declares none."""
    spec = target.hooks.get(name)
    if spec is None:
        return None
    module, _, function = spec.partition(":")
    found = getattr(_module(str(target.root), module, target.locked[f"{module}.py"]), function, None)
    if not callable(found):
        raise EvoError(f"target {target.root}: hook {name!r} names {spec!r}, which is not a function")
    return found


@lru_cache(maxsize=32)
def _module(root: str, name: str, digest: str) -> Any:
    """The target's module `name` (its locked file, whose hash is `digest`), loaded once per content."""
    unique = f"evo_target_{name}_{hashlib.sha256((root + digest).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(unique, f"{root}/{name}.py")
    if spec is None or spec.loader is None:
        raise EvoError(f"target {root}: cannot load {name}.py for its hooks")
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module  # dataclasses and pickling look a module up by name
    spec.loader.exec_module(module)
    return module
