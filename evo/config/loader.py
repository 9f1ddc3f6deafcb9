"""Loading a run config: YAML read with each key's line, `key=value` overrides applied, every value checked.

Validation is generic over the schema's dataclasses (`evo.config.schema`): each field's type and bounds. Every error
is one line naming where the bad value was written (file and line, or the override) and the dotted key:
`configs/x.yaml, line 7: key 'population.tournament' must be an integer >= 2, got 'three'`. Relative paths (`target`,
`runs_dir`) are relative to the working directory; `llm.cassette` is relative to the run directory.
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

from evo.config.schema import RunConfig
from evo.errors import EvoError

T = TypeVar("T")


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
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(path.read_text())  # libyaml's, where built: 10x faster
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
    """`value` converted to `tp` (None, bool, int, float, str, a Literal, an Optional or a union of those), else
    _BAD."""
    inner = _optional_inner(tp)
    if inner is not tp:
        return None if value is None else _scalar(inner, value, meta)
    if get_origin(tp) in (Union, types.UnionType):  # e.g. an integer or 'auto': the first that takes the value
        return next((v for arg in get_args(tp) if (v := _scalar(arg, value, meta)) is not _BAD), _BAD)
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
    if get_origin(tp) in (Union, types.UnionType):
        return " or ".join(_describe(arg, meta) for arg in get_args(tp))
    if get_origin(tp) is Literal:
        choices = [repr(c) for c in get_args(tp)]
        return " or ".join(choices) if len(choices) <= 2 else f"one of {', '.join(choices)}"
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
    if slots.count == "auto" and config.executor.kind != "ray":
        raise _Problem(
            "key 'slots.count' may be 'auto' only with executor.kind ray (a local run has a fixed number of slots)",
            "slots.count",
            "executor.kind",
        )
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
