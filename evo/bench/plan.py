"""What `evo bench` and `evo sweep` read, resolved into one plan: arms (a mode, a variant, a peer, or one setting of
a sweep), each run on the same seeds from the same base run config with the same shared overrides (where the compute
budget is set, so every arm spends the same), and checked whole before any search starts.

A bench names its arms; a sweep names a space over the search's own hyperparameters (population size, tournament
size, crossover rate, islands, early-termination alpha and delta, ... any run-config key) and expands it into arms,
on a grid or by random draws. A setting the run config refuses (say a tournament larger than the population) is
skipped with its reason, so one bad corner does not stop a grid.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from evo.config import knob, load_config, load_file
from evo.errors import EvoError
from evo.evaluation.target import load_target

PEERS = ("optuna-tpe",)


@dataclass(frozen=True)
class Arm:
    """One arm of a bench: an evo search (overrides of the base config) or a peer search."""

    name: str = knob(dataclasses.MISSING, "the arm's name in the report, e.g. population or population+sprt")
    overrides: tuple[str, ...] = knob((), "key=value overrides of the base run config, e.g. [mode=ratchet]")
    peer: Literal["optuna-tpe"] | None = knob(None, "run this peer instead of an evo mode (needs optuna)")
    pruner: Literal["median", "none"] | None = knob(
        None, "the peer's pruner (null: its default, Optuna's MedianPruner)"
    )


@dataclass(frozen=True)
class BenchConfig:
    """`evo bench`: search modes compared on one target at equal compute, several seeds each."""

    base: str = knob(dataclasses.MISSING, "the run config every arm starts from (relative to this file)")
    arms: tuple[Arm, ...] = knob(dataclasses.MISSING, "the searches compared")
    name: str = knob("", "bench directory name under runs_dir (default: this file's stem)")
    seeds: int = knob(5, "searches per arm, on run seeds first_seed..first_seed+seeds-1", ge=2)
    first_seed: int = knob(0, "the first run seed (fresh seeds check a setting a sweep chose on others)", ge=0)
    jobs: int | None = knob(None, "searches run at once (null: the cores // the base config's slots)", ge=1)
    runs_dir: str = knob("runs", "where the bench directory is made")
    gpus: tuple[str, ...] = knob((), "CUDA_VISIBLE_DEVICES values, one per search at a time (each search: 1 slot)")
    overrides: tuple[str, ...] = knob(
        (), "key=value overrides for every arm: set the compute here (stop.train_seconds)"
    )


@dataclass(frozen=True)
class Dimension:
    """One hyperparameter of a sweep: listed values, or (random sampling only) a range."""

    key: str = knob(dataclasses.MISSING, "a run-config key, e.g. population.size or early_stop.alpha")
    values: tuple[Any, ...] = knob((), "the values tried (a grid takes each; random draws among them)")
    low: float | None = knob(None, "random only, instead of values: the range's low end")
    high: float | None = knob(None, "random only: the range's high end")
    log: bool = knob(False, "random only: draw on a log scale")
    integer: bool = knob(False, "random only: round draws to integers")


@dataclass(frozen=True)
class SweepConfig:
    """`evo sweep`: the search's own hyperparameters, a grid or random settings, each run on several seeds."""

    base: str = knob(dataclasses.MISSING, "the run config every setting starts from (relative to this file)")
    space: tuple[Dimension, ...] = knob(dataclasses.MISSING, "the hyperparameters swept")
    name: str = knob("", "sweep directory name under runs_dir (default: this file's stem)")
    method: Literal["grid", "random"] = knob("grid", "grid (every combination) or random (samples draws)")
    samples: int | None = knob(None, "random: settings drawn", ge=1)
    sample_seed: int = knob(0, "random: seeds the draws")
    seeds: int = knob(3, "searches per setting, on run seeds first_seed..first_seed+seeds-1", ge=2)
    first_seed: int = knob(0, "the first run seed", ge=0)
    jobs: int | None = knob(None, "searches run at once (null: the cores // the base config's slots)", ge=1)
    runs_dir: str = knob("runs", "where the sweep directory is made")
    gpus: tuple[str, ...] = knob((), "CUDA_VISIBLE_DEVICES values, one per search at a time (each search: 1 slot)")
    overrides: tuple[str, ...] = knob((), "key=value overrides for every setting: the compute goes here")


@dataclass(frozen=True)
class ArmPlan:
    name: str
    overrides: tuple[str, ...]  # the shared overrides, then the arm's own
    peer: dict[str, Any] | None = None  # written to the run directory's peer.json


@dataclass(frozen=True)
class Plan:
    """A bench or sweep, resolved: what `evo bench`/`evo sweep` run and `evo resume` continues (saved as plan.json)."""

    kind: Literal["bench", "sweep"]
    name: str
    source: str  # the bench or sweep file
    base: str  # the base run config, absolute
    seeds: int
    jobs: int | None
    runs_dir: str
    arms: tuple[ArmPlan, ...]
    skipped: tuple[str, ...] = ()  # sweep settings the run config refused, one line each
    gpus: tuple[str, ...] = ()  # a search claims one of these while it runs; at most this many run at once
    first_seed: int = 0

    @property
    def seed_list(self) -> range:
        """The run seeds every arm runs on."""
        return range(self.first_seed, self.first_seed + self.seeds)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> Plan:
        arms = tuple(ArmPlan(a["name"], tuple(a["overrides"]), a["peer"]) for a in data["arms"])
        gpus = tuple(data.get("gpus", ()))  # plans written before these keys existed have none
        return Plan(**{**data, "arms": arms, "skipped": tuple(data["skipped"]), "gpus": gpus})


def load_bench(path: str | Path) -> Plan:
    path = Path(path)
    config: BenchConfig = load_file(BenchConfig, path, {"name": path.stem})
    base = _base(path, config)
    names = [arm.name for arm in config.arms]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise EvoError(f"{path}: arms[{i}]: the name {name!r} is used twice")
    if not names:
        raise EvoError(f"{path}: key 'arms' must list at least one arm")
    arms = []
    for i, arm in enumerate(config.arms):
        overrides = (*config.overrides, *arm.overrides)
        _checked(path, base, overrides, config.gpus, f"arms[{i}] ({arm.name})")
        peer = {"name": arm.peer, **({"pruner": arm.pruner} if arm.pruner else {})} if arm.peer else None
        arms.append(ArmPlan(arm.name, overrides, peer))
    return _plan("bench", path, config, base, arms, [])


def load_sweep(path: str | Path) -> Plan:
    path = Path(path)
    config: SweepConfig = load_file(SweepConfig, path, {"name": path.stem})
    base = _base(path, config)
    settings = _settings(path, config)
    labels = _labels([key for key, _ in settings[0]] if settings else [])
    arms, skipped = [], []
    for setting in settings:
        name = " ".join(f"{label}={_text(value)}" for label, (_, value) in zip(labels, setting, strict=True))
        overrides = (*config.overrides, *(f"{key}={_text(value)}" for key, value in setting))
        try:
            load_config(base, overrides)
        except EvoError as exc:
            skipped.append(f"{name}: {str(exc).partition(': ')[2] or exc}")
            continue
        if all(arm.name != name for arm in arms):
            arms.append(ArmPlan(name, overrides))
    if len(arms) < 2:
        reasons = "; ".join(skipped[:3])
        raise EvoError(
            f"{path}: the sweep has {len(arms)} valid setting(s), at least 2 are needed"
            + (f" ({reasons})" if reasons else "")
        )
    return _plan("sweep", path, config, base, arms, skipped)


def _plan(
    kind: Literal["bench", "sweep"],
    path: Path,
    config: BenchConfig | SweepConfig,
    base: Path,
    arms: list[ArmPlan],
    skipped: list[str],
) -> Plan:
    return Plan(
        kind,
        config.name,
        str(path),
        str(base),
        config.seeds,
        config.jobs,
        config.runs_dir,
        tuple(arms),
        tuple(skipped),
        config.gpus,
        config.first_seed,
    )


def _base(path: Path, config: BenchConfig | SweepConfig) -> Path:
    """The base run config (relative to the file), checked with the shared overrides and the GPUs."""
    base = (path.parent / config.base).resolve()
    if not base.is_file():
        raise EvoError(f"{path}: key 'base' names {config.base!r}, which is not a file next to it ({base})")
    if config.gpus and config.jobs is not None and config.jobs > len(config.gpus):
        raise EvoError(f"{path}: key 'jobs' ({config.jobs}) must be at most the number of gpus ({len(config.gpus)})")
    _checked(path, base, config.overrides, config.gpus)
    return base


def _checked(path: Path, base: Path, overrides: tuple[str, ...], gpus: tuple[str, ...], arm: str = "") -> None:
    """Refuse, before anything runs, overrides that make the base config invalid, a target that does not load, or
    several slots per search where the bench hands out GPUs one per search."""
    where = f"{path}: {arm}: " if arm else f"{path}: "
    try:
        config = load_config(base, overrides)
        load_target(config.target)
    except EvoError as exc:
        raise EvoError(f"{where}{exc}") from None
    if gpus and config.slots.count != 1:
        raise EvoError(
            f"{where}key 'gpus' gives each search one GPU, so slots.count must be 1 (got {config.slots.count})"
        )


def _settings(path: Path, config: SweepConfig) -> list[list[tuple[str, Any]]]:
    """The sweep's settings, each a list of (key, value) in the space's order."""
    if not config.space:
        raise EvoError(f"{path}: key 'space' must list at least one dimension")
    for i, dim in enumerate(config.space):
        ranged = dim.low is not None or dim.high is not None
        where = f"{path}: space[{i}] ({dim.key})"
        if bool(dim.values) == ranged:
            raise EvoError(f"{where}: give either values or low and high")
        if ranged and (dim.low is None or dim.high is None or not dim.low < dim.high):
            raise EvoError(f"{where}: low and high must both be set, with low < high")
        if ranged and dim.log and dim.low <= 0:  # type: ignore[operator]
            raise EvoError(f"{where}: a log range needs low > 0")
        if ranged and config.method == "grid":
            raise EvoError(f"{where}: a grid needs listed values (ranges are for method: random)")
    if config.method == "grid":
        return [
            list(zip((d.key for d in config.space), combo, strict=True))
            for combo in itertools.product(*(d.values for d in config.space))
        ]
    if config.samples is None:
        raise EvoError(f"{path}: key 'samples' must be set when method is random")
    rng = random.Random(config.sample_seed)
    return [[(d.key, _draw(d, rng)) for d in config.space] for _ in range(config.samples)]


def _draw(dim: Dimension, rng: random.Random) -> Any:
    if dim.values:
        return rng.choice(dim.values)
    assert dim.low is not None and dim.high is not None
    low, high = (math.log(dim.low), math.log(dim.high)) if dim.log else (dim.low, dim.high)
    value = math.exp(rng.uniform(low, high)) if dim.log else rng.uniform(low, high)
    return round(value) if dim.integer else float(f"{value:.3g}")


def _labels(keys: list[str]) -> list[str]:
    """Short names for a sweep's keys: the last part (population.size -> size) unless two keys share it."""
    last = [key.rpartition(".")[2] for key in keys]
    return [short if last.count(short) == 1 else key for key, short in zip(keys, last, strict=True)]


def _text(value: Any) -> str:
    """A value as an override writes it (YAML flow style, so 0.5, true, adamw and [1, 2] read back as themselves)."""
    return yaml.safe_dump(value, default_flow_style=True).removesuffix("\n").removesuffix("\n...").strip()
