"""A resolved run config written back as YAML: every field, commented with its doc (`config.yaml` in a run)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import yaml

from evo.config.schema import RunConfig


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
