"""The TPE peer's search space: every mutable constant of the editable files, as the offline `param` operator sees
them, turned into Optuna distributions, and a trial's values written back into the baseline's code."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from evo.operators.knobs import mutable_constants
from evo.operators.train_constants import (
    Constant,
    Domain,
    Value,
    constants_by_name,
    format_value,
    literal_value,
    rewrite,
)

_DIGITS = 2  # significant digits of a float written into the code, as the offline param operator writes them


@dataclass(frozen=True)
class Knob:
    """One searched constant: where it is, its domain, and its name as an Optuna parameter."""

    file: str
    constant: Constant  # as the baseline writes it
    domain: Domain
    param: str  # the constant's name, prefixed with "file:" when several files have constants


def search_space(code: Mapping[str, str], editable: Sequence[str]) -> list[Knob]:
    """Every mutable constant of the editable Python files: the knobs the offline param operator turns, less its
    letter patterns (``"SSSL"``), which have no Optuna distribution."""
    found = [(file, c, d) for file, c, d in mutable_constants(code, editable) if d.kind != "pattern"]
    several = len({file for file, _, _ in found}) > 1
    return [Knob(file, c, d, f"{file}:" * several + c.name) for file, c, d in found]


def distribution(domain: Domain) -> Any:
    """The Optuna distribution over `domain`: powers of two, bools and choices are categorical."""
    import optuna  # only when searching: the peer's dependency is optional

    dists = optuna.distributions
    if domain.kind == "choice":
        return dists.CategoricalDistribution(domain.choices)
    if domain.kind == "bool":
        return dists.CategoricalDistribution((False, True))
    if domain.kind == "pow2":
        low, high = math.ceil(math.log2(domain.low)), math.floor(math.log2(domain.high))
        return dists.CategoricalDistribution(tuple(2**k for k in range(low, high + 1)))
    if domain.kind == "int":
        return dists.IntDistribution(math.ceil(domain.low), math.floor(domain.high))
    return dists.FloatDistribution(domain.low, domain.high, log=domain.kind == "log")


def child(code: Mapping[str, str], knobs: Sequence[Knob], params: Mapping[str, Value]) -> tuple[dict[str, str], str]:
    """The baseline's code with the sampled values written in, and a description naming the changed constants."""
    literals: dict[str, dict[str, str]] = {}
    notes = []
    for knob in knobs:
        literal = _literal(knob, params[knob.param])
        if literal != knob.constant.source:
            literals.setdefault(knob.file, {})[knob.constant.name] = literal
            notes.append(f"{knob.param} {knob.constant.source} -> {literal}")
    new = {**code, **{file: rewrite(code[file], changes) for file, changes in literals.items()}}
    return new, "tpe: " + (", ".join(notes) or "the baseline's values")


def _literal(knob: Knob, value: Value) -> str:
    """`value` written like the baseline's literal: floats to two significant digits, more where rounding would
    leave the domain (a trial read back from its code must lie in its distribution)."""
    if value == knob.constant.value and type(value) is type(knob.constant.value):
        return knob.constant.source
    for digits in range(_DIGITS, 18):
        literal = format_value(value, knob.constant.source, digits)
        if knob.domain.contains(literal_value(literal)):
            return literal
    return repr(value)


def params_of(code: Mapping[str, str], knobs: Sequence[Knob]) -> dict[str, Value]:
    """A trial's parameters read back from its code (those inside their domains: the baseline's may not be)."""
    values = {knob.param: constants_by_name(code[knob.file])[knob.constant.name].value for knob in knobs}
    return {knob.param: values[knob.param] for knob in knobs if knob.domain.contains(values[knob.param])}
