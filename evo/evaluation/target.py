"""A target (the target contract, docs/architecture.md): a directory copied into each candidate's workspace, plus
its description in target.yaml.

Every key of target.yaml is optional, so an unmodified autoresearch checkout is a valid target as it is.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evo.errors import EvoError
from evo.evaluation.adopt import adopt
from evo.evaluation.parsing import DEFAULT_PROGRESS, compile_progress

SPEC_FILE = "target.yaml"
# What a target's own code may answer in-process (signatures in evo.evaluation.hooks): a candidate's noise-free expected
# metric, the best any candidate can expect, and a simulated run (targets whose training is simulated).
HOOKS = ("expected", "optimum", "simulate")
_IGNORED_DIRS = {".git", "__pycache__", ".venv", ".pytest_cache", ".ruff_cache"}


@dataclass(frozen=True)
class MetricSpec:
    name: str = "val_bpb"  # the summary key (and attested record) holding the metric
    direction: str = "minimize"  # or "maximize"
    attested: bool = False  # the value must come from the locked evaluation's private channel, never from stdout
    optimum: float | None = None  # the best value any candidate can expect, where known (reports show regret to it)


@dataclass(frozen=True)
class LaunchSpec:
    """What evo's launcher (evo/evaluation/launcher.py) controls in a target whose locked code fixes it."""

    budget: str | None = None  # "module.NAME" of a locked module's budget constant, set to each run's budget
    seed: bool = False  # seed every RNG from EVO_SEED and offset the script's own fixed seeds by it
    evaluate: str | None = None  # "module.function" of the locked evaluation: its return value is the attested metric


@dataclass(frozen=True)
class TargetSpec:
    root: Path
    editable: tuple[str, ...] = ("train.py",)  # the files an operator may change; every other file is locked
    command: tuple[str, ...] = ("python", "train.py")  # how a candidate runs inside its workspace
    prepare: tuple[str, ...] | None = None  # run once, trusted, before candidates; writes the manifest
    program: str = "program.md"  # research directions for the operator
    metric: MetricSpec = field(default_factory=MetricSpec)
    progress: str = DEFAULT_PROGRESS  # regex for progress lines (groups: value, and t or pct)
    env: Mapping[str, str] = field(default_factory=dict)  # locked settings passed to every run
    locked: Mapping[str, str] = field(default_factory=dict)  # locked file -> sha256, taken when the target loads
    hooks: Mapping[str, str] = field(default_factory=dict)  # HOOKS name -> "module:function" of a locked module
    launch: LaunchSpec | None = None  # evo's launcher takes control of what the locked code fixes (evo adopt)
    fixed_budget: float | None = None  # the target trains for its own budget, which evo cannot set
    seeded: bool = True  # EVO_SEED changes the run (false: re-runs differ only by nondeterminism)
    adopted: bool = False  # no target.yaml: evo adopted the directory in memory (`evo adopt` writes it down)
    network: bool = False  # candidates may reach the network (otherwise the sandbox cuts it, where there is one)
    writable: tuple[str, ...] = ()  # folders outside its workspace a candidate may write (e.g. a download cache)

    def read_program(self) -> str:
        path = self.root / self.program
        return path.read_text() if path.is_file() else ""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def target_files(root: Path) -> list[str]:
    """Every file of the target (relative POSIX paths), skipping caches and VCS folders."""
    files = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and not _IGNORED_DIRS.intersection(rel.parts[:-1]) and path.suffix != ".pyc":
            files.append(rel.as_posix())
    return files


def load_target(root: str | Path) -> TargetSpec:
    """Load and validate a target directory; raise EvoError naming the file and key on bad input."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise EvoError(f"target directory {str(root)!r} not found")
    spec_path = root / SPEC_FILE
    adopted = not spec_path.is_file()
    raw = _read_yaml(spec_path) if not adopted else adopt(root).spec  # in memory: what `evo adopt` would write
    where = f"{spec_path}"
    known = {"editable", "command", "prepare", "program", "metric", "progress", "env", "hooks", "launch"}
    known |= {"fixed_budget", "seeded", "network", "writable"}
    for key in raw:
        if key not in known:
            raise EvoError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(known))})")
    editable = tuple(_str_list(raw.get("editable", ["train.py"]), f"{where}: key 'editable'"))
    for name in editable:
        if not (root / name).is_file():
            raise EvoError(f"{where}: key 'editable' names {name!r}, which is not a file in {root}")
    command = _command(raw.get("command", "python train.py"), f"{where}: key 'command'")
    prepare = _command(raw["prepare"], f"{where}: key 'prepare'") if raw.get("prepare") is not None else None
    metric = _metric(raw.get("metric", {}), where)
    progress = raw.get("progress", DEFAULT_PROGRESS)
    try:
        compile_progress(progress)
    except (re.error, ValueError, TypeError) as exc:
        raise EvoError(f"{where}: key 'progress': {exc}") from None
    env = raw.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(k, str) for k in env):
        raise EvoError(f"{where}: key 'env' must be a mapping of variable names to values")
    locked = {name: sha256_file(root / name) for name in target_files(root) if name not in editable}
    hooks = _hooks(raw.get("hooks", {}), where, root, locked)
    launch = _launch(raw["launch"], where, command, locked) if raw.get("launch") is not None else None
    if metric.attested and prepare is None and (launch is None or launch.evaluate is None):
        raise EvoError(
            f"{where}: key 'metric.attested' needs a 'prepare' command that writes the manifest, or 'launch.evaluate'"
        )
    fixed = raw.get("fixed_budget")
    if fixed is not None and (isinstance(fixed, bool) or not isinstance(fixed, (int, float)) or fixed <= 0):
        raise EvoError(f"{where}: key 'fixed_budget' must be a positive number of seconds, got {fixed!r}")
    seeded = raw.get("seeded", True)
    if not isinstance(seeded, bool):
        raise EvoError(f"{where}: key 'seeded' must be true or false, got {seeded!r}")
    network = raw.get("network", False)
    if not isinstance(network, bool):
        raise EvoError(f"{where}: key 'network' must be true or false, got {network!r}")
    writable = tuple(_str_list(raw["writable"], f"{where}: key 'writable'")) if raw.get("writable") else ()
    return TargetSpec(
        root=root,
        editable=editable,
        command=command,
        prepare=prepare,
        program=_string(raw.get("program", "program.md"), f"{where}: key 'program'"),
        metric=metric,
        progress=progress,
        env={k: str(v) for k, v in env.items()},
        locked=locked,
        hooks=hooks,
        launch=launch,
        fixed_budget=None if fixed is None else float(fixed),
        seeded=seeded,
        adopted=adopted and bool(raw),
        network=network,
        writable=writable,
    )


def _hooks(value: Any, where: str, root: Path, locked: Mapping[str, str]) -> dict[str, str]:
    """`hooks`: HOOKS names to "module:function" of a locked module of the target (the target's own trusted code)."""
    if not isinstance(value, dict):
        raise EvoError(f"{where}: key 'hooks' must be a mapping of hook names to 'module:function', got {value!r}")
    for name, spec in value.items():
        if name not in HOOKS:
            raise EvoError(f"{where}: unknown key 'hooks.{name}' (known: {', '.join(HOOKS)})")
        module, _, function = str(spec).partition(":")
        if not (module.isidentifier() and function.isidentifier()):
            raise EvoError(f"{where}: key 'hooks.{name}' must be 'module:function', got {spec!r}")
        if f"{module}.py" not in locked:
            raise EvoError(f"{where}: key 'hooks.{name}' names {module}.py, which is not a locked file of {root}")
    return {str(k): str(v) for k, v in value.items()}


def _launch(value: Any, where: str, command: tuple[str, ...], locked: Mapping[str, str]) -> LaunchSpec:
    """`launch`: names of a locked module's budget constant and evaluation function, and whether to take the seeds."""
    if not isinstance(value, dict):
        raise EvoError(f"{where}: key 'launch' must be a mapping (budget, seed, evaluate), got {value!r}")
    for key in value:
        if key not in ("budget", "seed", "evaluate"):
            raise EvoError(f"{where}: unknown key 'launch.{key}' (known: budget, evaluate, seed)")
    if len(command) < 2 or command[0] != "python" or not command[1].endswith(".py"):
        raise EvoError(f"{where}: key 'launch' needs a command 'python SCRIPT.py ...', got {' '.join(command)!r}")
    for key in ("budget", "evaluate"):
        path = value.get(key)
        if path is None:
            continue
        module, _, name = str(path).rpartition(".")
        if not (name.isidentifier() and all(part.isidentifier() for part in module.split("."))):
            raise EvoError(f"{where}: key 'launch.{key}' must be 'module.NAME', got {path!r}")
        if f"{module.replace('.', '/')}.py" not in locked:
            raise EvoError(f"{where}: key 'launch.{key}' names {module}, which is not a locked module of the target")
    seed = value.get("seed", False)
    if not isinstance(seed, bool):
        raise EvoError(f"{where}: key 'launch.seed' must be true or false, got {seed!r}")
    return LaunchSpec(value.get("budget"), seed, value.get("evaluate"))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark else ""
        raise EvoError(f"{path}{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, dict):
        raise EvoError(f"{path}: expected a mapping of keys to values at the top level")
    return data


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise EvoError(f"{where} must be a non-empty string, got {value!r}")
    return value


def _str_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise EvoError(f"{where} must be a file name or a list of file names, got {value!r}")
    return value


def _command(value: Any, where: str) -> tuple[str, ...]:
    parts = shlex.split(value) if isinstance(value, str) else value
    return tuple(_str_list(parts, where))


def _metric(value: Any, where: str) -> MetricSpec:
    if not isinstance(value, dict):
        raise EvoError(f"{where}: key 'metric' must be a mapping (name, direction, attested, optimum), got {value!r}")
    for key in value:
        if key not in {"name", "direction", "attested", "optimum"}:
            raise EvoError(f"{where}: unknown key 'metric.{key}' (known: attested, direction, name, optimum)")
    direction = value.get("direction", "minimize")
    if direction not in ("minimize", "maximize"):
        raise EvoError(f"{where}: key 'metric.direction' must be 'minimize' or 'maximize', got {direction!r}")
    attested = value.get("attested", False)
    if not isinstance(attested, bool):
        raise EvoError(f"{where}: key 'metric.attested' must be true or false, got {attested!r}")
    optimum = value.get("optimum")
    if optimum is not None and (isinstance(optimum, bool) or not isinstance(optimum, (int, float))):
        raise EvoError(f"{where}: key 'metric.optimum' must be a number, got {optimum!r}")
    name = _string(value.get("name", "val_bpb"), f"{where}: key 'metric.name'")
    return MetricSpec(name, direction, attested, None if optimum is None else float(optimum))
