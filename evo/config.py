"""A run's configuration: a tree of frozen dataclasses loaded from YAML, overridden by `key=value`, validated.

Every field documents itself in one line (`doc` in its metadata, echoed as a comment by `dump_config`) and carries
its range there too, so validation is generic over the tree. Every error is one line naming where the bad value was
written (file and line, or the override) and the dotted key: `configs/x.yaml, line 7: key 'population.tournament'
must be an integer >= 2, got 'three'`. Relative paths (`target`, `runs_dir`) are relative to the working directory;
`llm.cassette` is relative to the run directory.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from evo.errors import EvoError
from evo.evaluator import EvalSettings, available_cores
from evo.llm import CallSettings, ModelSpec
from evo.operator_setup import LLMConfig

T = TypeVar("T")


def knob(default: Any, doc: str, **bounds: float) -> Any:
    """A field with its one-line doc and its bounds (`ge`, `gt`, `le`, `lt`), which validation enforces."""
    metadata = {"doc": doc, **bounds}
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class BudgetConfig:
    """What each candidate gets: the same budget for all, so metrics compare."""

    seconds: float = knob(300.0, "training seconds per candidate on the budget clock", gt=0)
    clock: Literal["wall", "cpu"] = knob("wall", "wall (autoresearch's) or cpu (process CPU seconds: steadier)")
    startup_grace: float = knob(60.0, "seconds allowed before training starts (imports, data)", ge=0)
    eval_grace: float = knob(60.0, "seconds allowed after the budget for the final evaluation", ge=0)
    memory_mb: float | None = knob(None, "resident memory limit per candidate in MB (null: none)", gt=0)


@dataclass(frozen=True)
class SlotsConfig:
    """How many candidates run at once, and on what."""

    count: int = knob(1, "candidates evaluated at the same time", ge=1)
    threads: int | None = knob(None, "CPU threads per candidate (null: cores // count)", ge=1)
    gpus: tuple[str, ...] = knob((), "CUDA_VISIBLE_DEVICES per slot, one entry per slot (empty: none set)")
    device: Literal["auto", "cpu", "cuda"] = knob("auto", "passed to the target as EVO_DEVICE")


@dataclass(frozen=True)
class StopConfig:
    """The search stops when any limit that is set is reached; at least one must be set."""

    evaluations: int | None = knob(None, "candidates evaluated, the baseline included", ge=1)
    wall_seconds: float | None = knob(None, "wall-clock seconds since the run started", gt=0)
    train_seconds: float | None = knob(None, "budget seconds spent over all candidates", gt=0)
    cost: float | None = knob(None, "LLM spend, in the currency of the price table", gt=0)


@dataclass(frozen=True)
class PopulationConfig:
    """The population mode's knobs (ignored by ratchet and best-of-n)."""

    size: int = knob(8, "individuals kept per island", ge=2)
    initial_mutants: int | None = knob(None, "mutants of the baseline seeding each island (null: size - 1)", ge=0)
    tournament: int = knob(2, "individuals drawn per parent selection; larger is greedier", ge=2)
    crossover_rate: float = knob(0.2, "share of children made by crossover, the rest by mutation", ge=0, le=1)
    elitism: int = knob(1, "best individuals never replaced", ge=0)
    islands: int = knob(1, "independent sub-populations", ge=1)
    migration_every: int = knob(20, "evaluations between migrations across islands", ge=1)
    migrants: int = knob(1, "individuals copied to the next island per migration", ge=1)


@dataclass(frozen=True)
class CalibrationConfig:
    """The noise model early termination and confirmation need: the baseline trained on several seeds."""

    runs: int = knob(5, "baseline runs on seeds 1..runs, at the start of the run (or found in the cache)", ge=3)
    probes: int = knob(0, "children of the baseline also trained on those seeds: measures same-seed noise", ge=0)
    file: str | None = knob(None, "a stored noise model (from evo calibrate) to use instead of measuring one")


@dataclass(frozen=True)
class SprtConfig:
    """A sequential test's error rate and effect size."""

    alpha: float = knob(
        0.05, "chance of a false decision against the candidate (a false stop; a false confirmation)", gt=0, lt=0.5
    )
    delta: float = knob(1.0, "the difference that matters, in delta_units", gt=0)
    delta_units: Literal["noise", "metric"] = knob("noise", "noise (the final metric's seed sd) or metric units")


@dataclass(frozen=True)
class EarlyStopConfig(SprtConfig):
    """Stops a candidate whose curve is worse than its reference's by delta (one-sided SPRT on calibrated noise)."""

    delta: float = knob(2.0, "how much worse a clear loser is, in delta_units", gt=0)
    enabled: bool = knob(False, "watch every candidate's curve and stop clear losers")
    reference: Literal["parent", "incumbent"] = knob("parent", "compare with the better parent's curve or the best's")
    warmup: float = knob(0.1, "fraction of the budget before the test looks at the curve", ge=0, lt=1)
    catch_up: float = knob(0.0, "share of the reference's remaining improvement a candidate may still catch up", ge=0)
    margin: float | None = knob(None, "H0: better than the reference by margin (delta_units; null: 1 noise unit)", ge=0)
    drift: float = knob(0.25, "variance (noise units squared) by which the gap may still drift before the end", ge=0)
    luck: bool = knob(True, "net of the reference's luck: how much worse its final metric came out than its curve said")


@dataclass(frozen=True)
class ConfirmConfig(SprtConfig):
    """Re-evaluates a would-be new best against the best on fresh seeds until an SPRT decides the gain exceeds delta."""

    enabled: bool = knob(False, "confirm a new best before it replaces the incumbent or enters the elite")
    beta: float = knob(0.2, "chance of rejecting a real gain of delta", gt=0, lt=0.5)
    max_pairs: int = knob(8, "fresh-seed pairs at most; still undecided means not confirmed", ge=1)


@dataclass(frozen=True)
class ModelConfig:
    """One model of the ensemble; mirrors `evo.llm.ModelSpec`."""

    name: str = knob(dataclasses.MISSING, "the model name the endpoint serves")
    base_url: str | None = knob(None, "OpenAI-compatible endpoint (null: OPENAI_BASE_URL, else OpenAI)")
    api_key_env: str = knob("OPENAI_API_KEY", "environment variable holding the key (never the key itself)")
    weight: float = knob(1.0, "share of calls in the ensemble", gt=0)
    prompt_price: float = knob(0.0, "currency per million prompt tokens", ge=0)
    completion_price: float = knob(0.0, "currency per million completion tokens", ge=0)


@dataclass(frozen=True)
class LLMSection:
    """The LLM operators; with no models and no endpoint in the environment, evo uses its offline operators."""

    models: tuple[ModelConfig, ...] = knob((), "ensemble (empty: EVO_MODEL at OPENAI_BASE_URL, if set)")
    temperature: float = knob(0.7, "sampling temperature", ge=0, le=2)
    max_tokens: int = knob(4096, "tokens per answer", ge=1)
    timeout: float = knob(120.0, "seconds per request", gt=0)
    retries: int = knob(4, "extra attempts after a retryable failure", ge=0)
    max_cost: float | None = knob(None, "stop calling the LLM once this much was spent", gt=0)
    max_tokens_total: int | None = knob(None, "stop calling the LLM once this many tokens were used", ge=1)
    learnings_every: int = knob(10, "evaluations between rewrites of learnings.md", ge=1)
    cassette: str | None = knob(None, "record/replay file, relative to the run directory")
    cassette_mode: Literal["off", "record", "replay"] = knob("off", "off, record (needs an endpoint) or replay")


@dataclass(frozen=True)
class RunConfig:
    """One search: what to evolve, how, with what resources, until when."""

    name: str = knob("", "run directory name under runs_dir (default: the config file's stem)")
    target: str = knob("target", "target directory (train.py, target.yaml, ...)")
    mode: Literal["ratchet", "population", "best-of-n"] = knob("population", "ratchet, population or best-of-n")
    seed: int = knob(0, "seeds the search and the candidates' EVO_SEED")
    runs_dir: str = knob("runs", "where run directories are made")
    env: Mapping[str, str] = knob({}, "locked settings for every candidate, over the target's env")
    budget: BudgetConfig = field(default_factory=BudgetConfig, metadata={"doc": "per-candidate budget"})
    slots: SlotsConfig = field(default_factory=SlotsConfig, metadata={"doc": "parallel evaluation"})
    stop: StopConfig = field(default_factory=StopConfig, metadata={"doc": "when the search ends (any limit set)"})
    population: PopulationConfig = field(default_factory=PopulationConfig, metadata={"doc": "population mode"})
    llm: LLMSection = field(default_factory=LLMSection, metadata={"doc": "LLM operators"})
    early_stop: EarlyStopConfig = field(default_factory=EarlyStopConfig, metadata={"doc": "early termination"})
    confirm: ConfirmConfig = field(default_factory=ConfirmConfig, metadata={"doc": "confirmation of a new best"})
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig, metadata={"doc": "the noise model"})


# ---------------------------------------------------------------------------------------------------- loading


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> RunConfig:
    """Load `path`, apply dotted `key=value` overrides (values parsed as YAML) and validate; raise EvoError."""
    path = Path(path)
    if not path.is_file():
        raise EvoError(f"config file {str(path)!r} not found")
    data, lines = _read(path)
    origins = _Origins(str(path), lines)
    for text in overrides:
        key, value = _parse_override(text)
        _apply(data, key, value)
        origins.overridden.append((key, text))
    data.setdefault("name", path.stem)
    try:
        _refuse_secrets(data, "")
        config = _section(RunConfig, data, "")
        _cross_check(config)
    except _Problem as problem:
        raise EvoError(f"{origins.where(problem.blame, problem.secret)}: {problem}") from None
    return config


def load_file(cls: type[T], path: str | Path, defaults: Mapping[str, Any] | None = None) -> T:
    """Load a YAML file into the config dataclass `cls` (e.g. a bench or sweep file), checked like a run config:
    every error is one line naming the file, line and key. `defaults` fill keys the file leaves out."""
    path = Path(path)
    if not path.is_file():
        raise EvoError(f"config file {str(path)!r} not found")
    data, lines = _read(path)
    for key, value in (defaults or {}).items():
        data.setdefault(key, value)
    try:
        _refuse_secrets(data, "")
        return _section(cls, data, "")
    except _Problem as problem:
        raise EvoError(f"{_Origins(str(path), lines).where(problem.blame, problem.secret)}: {problem}") from None


class _Problem(Exception):
    """A validation failure; `blame` lists the keys whose origin (file line or override) the message should name."""

    def __init__(self, message: str, *blame: str, secret: bool = False) -> None:
        super().__init__(message)
        self.blame = blame
        self.secret = secret  # the override's value must not be echoed


@dataclass
class _Origins:
    """Where each dotted key was written: a line of the file, or an override."""

    path: str
    lines: dict[str, int]
    overridden: list[tuple[str, str]] = field(default_factory=list)

    def where(self, keys: Sequence[str], secret: bool = False) -> str:
        """The first of `keys` written by an override or in the file; else the nearest section written in the file."""
        for key in keys:
            for prefix, text in reversed(self.overridden):
                if key == prefix or key.startswith((prefix + ".", prefix + "[")):
                    return f"override {f'{prefix}=...' if secret else text!r}"
            if key in self.lines:
                return f"{self.path}, line {self.lines[key]}"
        for key in keys:
            for ancestor in _ancestors(key):
                if ancestor in self.lines:
                    return f"{self.path}, line {self.lines[ancestor]}"
        return self.path


def _ancestors(key: str) -> list[str]:
    """`a.b[0].c` -> [`a.b[0]`, `a.b`, `a`]."""
    parts = re.split(r"(?=[.\[])", key)
    return ["".join(parts[:n]) for n in range(len(parts) - 1, 0, -1)]


def _read(path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    """The file's data and the line each dotted key was written on (from yaml's node marks)."""
    loader = yaml.SafeLoader(path.read_text())
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark else ""
        raise EvoError(f"{path}{line}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    finally:
        loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise EvoError(f"{path}: expected a mapping of keys to values at the top level")
    lines: dict[str, int] = {}
    if node is not None:
        _mark_lines(node, "", lines, path)
    return data, lines


def _mark_lines(node: yaml.Node, key: str, lines: dict[str, int], path: Path) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = f"{key}.{key_node.value}" if key else str(key_node.value)
            line = key_node.start_mark.line + 1
            if child in lines:
                raise EvoError(f"{path}, line {line}: key {child!r} is written twice (first on line {lines[child]})")
            lines[child] = line
            _mark_lines(value_node, child, lines, path)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[f"{key}[{i}]"] = item.start_mark.line + 1
            _mark_lines(item, f"{key}[{i}]", lines, path)


_OVERRIDE_KEY = re.compile(r"[\w-]+(\.[\w-]+)*")


def _parse_override(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not _OVERRIDE_KEY.fullmatch(key):
        raise EvoError(f"override {text!r}: expected KEY=VALUE")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise EvoError(f"override {text!r}: the value is not valid YAML ({getattr(exc, 'problem', exc)})") from None
    _check_path(key, text)
    return key, value


def _check_path(key: str, text: str) -> None:
    """Refuse an override whose key the schema does not have, before it is applied."""
    tp: Any = RunConfig
    parts = key.split(".")
    for i, part in enumerate(parts):
        dotted = ".".join(parts[: i + 1])
        if _API_KEY.search(part):
            raise EvoError(f"override {f'{key}=...'!r}: {_secret_message(dotted)}")
        if dataclasses.is_dataclass(tp):
            names = [f.name for f in dataclasses.fields(tp)]
            if part not in names:
                raise EvoError(f"override {text!r}: {_unknown(dotted, names)}")
            tp = _optional_inner(get_type_hints(tp)[part])
        elif get_origin(tp) is Mapping and i == len(parts) - 1:
            return
        else:
            whole = ".".join(parts[:i])
            raise EvoError(f"override {text!r}: key {whole!r} has no key {part!r}: set it whole ({whole}=...)")


def _apply(data: dict[str, Any], key: str, value: Any) -> None:
    *sections, last = key.split(".")
    for part in sections:
        if not isinstance(data.get(part), dict):
            data[part] = {}
        data = data[part]
    data[last] = value


# ---------------------------------------------------------------------------------------------------- validation

_API_KEY = re.compile(r"(^|[_-])api[_-]?key$", re.IGNORECASE)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _secret_message(key: str) -> str:
    return (
        f"key {key!r} would put an API key in the config (and the run directory); "
        "name the environment variable that holds it instead, e.g. api_key_env: OPENAI_API_KEY"
    )


def _refuse_secrets(value: Any, key: str) -> None:
    if isinstance(value, dict):
        for name, child in value.items():
            dotted = f"{key}.{name}" if key else str(name)
            if isinstance(name, str) and _API_KEY.search(name):
                raise _Problem(_secret_message(dotted), dotted, secret=True)
            _refuse_secrets(child, dotted)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _refuse_secrets(item, f"{key}[{i}]")


def _unknown(key: str, known: Sequence[str]) -> str:
    parent, _, name = key.rpartition(".")
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return f"unknown key {key!r} (did you mean {'.'.join(filter(None, (parent, close[0])))!r}?)"
    return f"unknown key {key!r} (known: {', '.join(known)})"


def _section(cls: Any, value: Any, key: str) -> Any:
    """Build dataclass `cls` from a mapping, checking every key and value."""
    if not isinstance(value, dict):
        raise _Problem(f"key {key!r} must be a mapping of settings, got {_show(value)}", key)
    fields = dataclasses.fields(cls)
    names = [f.name for f in fields]
    for name in value:
        if name not in names:
            child = f"{key}.{name}" if key else str(name)
            raise _Problem(_unknown(child, names), child)
    hints = get_type_hints(cls)
    kwargs = {}
    for f in fields:
        child = f"{key}.{f.name}" if key else f.name
        if f.name in value:
            kwargs[f.name] = _convert(hints[f.name], value[f.name], child, f.metadata)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise _Problem(f"key {child!r} is required ({f.metadata['doc']})", child)
    return cls(**kwargs)


def _convert(tp: Any, value: Any, key: str, meta: Mapping[str, Any]) -> Any:
    """Check `value` against type `tp` and the bounds in `meta`; return it in the dataclass's form."""
    if dataclasses.is_dataclass(tp):
        return _section(tp, value, key)
    if tp is Any:  # checked later, where it is used (e.g. a sweep's values, applied as run-config overrides)
        return value
    origin = get_origin(tp)
    if origin is tuple:
        item_type = get_args(tp)[0]
        if not isinstance(value, list):
            raise _Problem(f"key {key!r} must be {_describe(tp, meta)}, got {_show(value)}", key)
        return tuple(_convert(item_type, item, f"{key}[{i}]", {}) for i, item in enumerate(value))
    if origin is Mapping:
        return _env(value, key)
    converted = _scalar(tp, value, meta)
    if converted is _BAD:
        wants_text = _optional_inner(tp) is str or get_origin(_optional_inner(tp)) is Literal
        hint = " (YAML reads a bare yes, no, on or off as true or false: quote it)" * (wants_text and value is not None)
        raise _Problem(
            f"key {key!r} must be {_describe(tp, meta)}, got {_show(value)}{hint * isinstance(value, bool)}", key
        )
    return converted


_BAD = object()
_YAML_TRUE = ("y", "yes", "on", "true")
_YAML_FALSE = ("n", "no", "off", "false")


def _scalar(tp: Any, value: Any, meta: Mapping[str, Any]) -> Any:
    """`value` converted to `tp` (None, bool, int, float, str, a Literal or an Optional of one), else _BAD."""
    inner = _optional_inner(tp)
    if inner is not tp:
        return None if value is None else _scalar(inner, value, meta)
    if get_origin(tp) is Literal:
        if isinstance(value, bool):  # YAML 1.1 reads a bare `off` as false: take it back when only one choice fits
            words = [c for c in get_args(tp) if c in (_YAML_TRUE if value else _YAML_FALSE)]
            return words[0] if len(words) == 1 else _BAD
        return value if isinstance(value, str) and value in get_args(tp) else _BAD
    if tp is bool:
        return value if isinstance(value, bool) else _BAD
    if tp is str:
        return value if isinstance(value, str) and value else _BAD
    if tp is int and (not isinstance(value, int) or isinstance(value, bool)):
        return _BAD
    if tp is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            return _BAD
        value = float(value)
    bounds = {"ge": value >= meta.get("ge", -math.inf), "gt": value > meta.get("gt", -math.inf)}
    bounds.update(le=value <= meta.get("le", math.inf), lt=value < meta.get("lt", math.inf))
    return value if all(bounds.values()) else _BAD


def _env(value: Any, key: str) -> dict[str, str]:
    """A mapping of environment variable names to values; numbers become strings, as a shell would pass them."""
    if not isinstance(value, dict):
        raise _Problem(
            f"key {key!r} must be a mapping of environment variable names to values, got {_show(value)}", key
        )
    env = {}
    for name, item in value.items():
        child = f"{key}.{name}"
        if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
            raise _Problem(f"key {key!r} has {_show(name)}, which is not an environment variable name", child)
        if not isinstance(item, (str, int, float)) or isinstance(item, bool):
            raise _Problem(f"key {child!r} must be a string or a number, got {_show(item)}", child)
        env[name] = str(item)
    return env


def _optional_inner(tp: Any) -> Any:
    """X for `X | None`, else `tp` itself."""
    if get_origin(tp) in (Union, types.UnionType) and type(None) in get_args(tp):
        return next(arg for arg in get_args(tp) if arg is not type(None))
    return tp


def _describe(tp: Any, meta: Mapping[str, Any]) -> str:
    """What a type and its bounds accept, in words: 'an integer >= 2', 'null or a number > 0', "'wall' or 'cpu'"."""
    inner = _optional_inner(tp)
    if inner is not tp:
        return f"null or {_describe(inner, meta)}"
    if get_origin(tp) is Literal:
        choices = [repr(c) for c in get_args(tp)]
        return " or ".join(choices) if len(choices) == 2 else f"one of {', '.join(choices)}"
    if get_origin(tp) is tuple:
        item = get_args(tp)[0]
        if item is Any:
            return "a list"
        return "a list of mappings" if dataclasses.is_dataclass(item) else f"a list of {_describe(item, {})[2:]}s"
    words = {bool: "true or false", int: "an integer", float: "a number", str: "a non-empty string"}[tp]
    low = next(((name, meta[name]) for name in ("ge", "gt") if name in meta), None)
    high = next(((name, meta[name]) for name in ("le", "lt") if name in meta), None)
    if low and high:
        left, right = "[" if low[0] == "ge" else "(", "]" if high[0] == "le" else ")"
        return f"{words} in {left}{low[1]:g}, {high[1]:g}{right}"
    symbols = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    return " ".join([words, *(f"{symbol} {meta[name]:g}" for name, symbol in symbols.items() if name in meta)])


def _show(value: Any) -> str:
    """A value as the user wrote it in YAML, on one short line."""
    text = "null" if value is None else str(value).lower() if isinstance(value, bool) else repr(value)
    text = " ".join(text.split())
    return text if len(text) <= 80 else text[:77] + "..."


def _cross_check(config: RunConfig) -> None:
    """The rules that relate two keys."""
    name = config.name
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise _Problem(f"key 'name' must be a directory name (no slashes), got {_show(name)}", "name")
    slots, stop, pop, llm = config.slots, config.stop, config.population, config.llm
    if slots.gpus and len(slots.gpus) != slots.count:
        raise _Problem(
            f"key 'slots.gpus' must have one entry per slot (slots.count is {slots.count}), got {len(slots.gpus)}",
            "slots.gpus",
            "slots.count",
        )
    if all(getattr(stop, f.name) is None for f in dataclasses.fields(stop)):
        limits = ", ".join(f.name for f in dataclasses.fields(stop))
        blame = [f"stop.{f.name}" for f in dataclasses.fields(stop)]
        message = f"key 'stop' must set at least one of {limits} (the search stops on the first reached)"
        raise _Problem(message, *blame, "stop")
    for knob_name, bound, limit in (
        ("tournament", "population.size", pop.size),
        ("elitism", "population.size - 1", pop.size - 1),
        ("migrants", "population.size - 1", pop.size - 1),
    ):
        value = getattr(pop, knob_name)
        if value > limit:
            raise _Problem(
                f"key 'population.{knob_name}' must be <= {bound} ({limit}), got {value}",
                f"population.{knob_name}",
                "population.size",
            )
    if llm.cassette_mode != "off" and llm.cassette is None:
        raise _Problem(
            f"key 'llm.cassette' must name a file when llm.cassette_mode is {llm.cassette_mode!r}",
            "llm.cassette",
            "llm.cassette_mode",
        )


# ---------------------------------------------------------------------------------------------------- output


def dump_config(config: RunConfig) -> str:
    """The resolved config as YAML, every field written and commented with its doc; `load_config` reads it back."""
    lines = ["# evo run configuration, resolved: every default written out. `evo run` reads this file back as is."]
    _dump_section(config, 0, lines)
    return "\n".join(lines) + "\n"


def _dump_section(section: Any, depth: int, lines: list[str]) -> None:
    indent = "  " * depth
    rows: list[tuple[str, str, Any]] = []  # (first line, doc, a nested section or the value's further lines)
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        if dataclasses.is_dataclass(value):
            rows.append((f"{indent}{f.name}:", f.metadata["doc"], value))
        else:
            plain = _plain(value)
            if isinstance(plain, list) and any(isinstance(item, dict) for item in plain):
                items = [f"{indent}  - {_flow(item)}" for item in plain]
                rows.append((f"{indent}{f.name}:", f.metadata["doc"], items))
            else:
                rows.append((f"{indent}{f.name}: {_flow(plain)}", f.metadata["doc"], []))
    width = max(len(head) for head, _, _ in rows)
    for head, doc, more in rows:
        lines.append(f"{head.ljust(width)}  # {doc}")
        if dataclasses.is_dataclass(more):
            _dump_section(more, depth + 1, lines)
        else:
            lines.extend(more)


def _flow(value: Any) -> str:
    """A value in YAML's one-line flow style."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=1 << 30)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _plain(value: Any) -> Any:
    """Tuples, mappings and dataclasses as the lists and dicts YAML writes."""
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------------------------------------------- converters


def eval_settings(config: RunConfig, slot: int = 0, cores: int | None = None) -> EvalSettings:
    """The evaluator's settings for a candidate on `slot` (its GPU, its share of `cores`, default: this machine's)."""
    slots = config.slots
    if not 0 <= slot < slots.count:
        raise ValueError(f"slot {slot} is not in range for {slots.count} slots")
    if cores is None:
        cores = available_cores()
    return EvalSettings(
        budget=config.budget.seconds,
        clock=config.budget.clock,
        seed=config.seed,
        startup_grace=config.budget.startup_grace,
        eval_grace=config.budget.eval_grace,
        memory_mb=config.budget.memory_mb,
        threads=slots.threads or max(1, cores // slots.count),
        device=slots.device,
        gpus=slots.gpus[slot] if slots.gpus else None,
        env=dict(config.env),
    )


def llm_config(config: RunConfig, run_dir: Path) -> LLMConfig:
    """The operators' settings; a relative cassette path lands in the run directory."""
    llm = config.llm
    models = tuple(ModelSpec(**dataclasses.asdict(model)) for model in llm.models)
    cassette = run_dir / Path(llm.cassette).expanduser() if llm.cassette is not None else None
    return LLMConfig(
        models=models,
        call=CallSettings(
            temperature=llm.temperature, max_tokens=llm.max_tokens, timeout=llm.timeout, retries=llm.retries
        ),
        max_cost=llm.max_cost,
        max_tokens=llm.max_tokens_total,
        learnings_every=llm.learnings_every,
        cassette=cassette,
        cassette_mode=llm.cassette_mode,
    )
