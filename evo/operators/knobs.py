"""The knobs of a file: its mutable constants (`train_constants`) that matter to what a run measures.

A mutation of a constant that changes nothing the run measures trains exactly like its parent and wastes the run, so
two kinds of constants are left out:

- A constant whose every use only feeds the file's printouts (``H100_BF16_PEAK_FLOPS``, used only for a printed MFU);
  the rule is `constant_flow`'s.
- An inactive one. A comment may declare when the constant matters at all: ``used only when NAME == value`` (or
  ``!=``, or ``in (a, b)`` / ``not in (a, b)``), e.g. ``MUON_LR = 0.02  # (used only when OPTIMIZER == "muon")``;
  changing NAME itself can make it active in the child. Quotes around strings are optional; booleans and numbers
  compare as literals. A condition that does not parse, or names no literal constant of the same file, is ignored:
  the constant stays active.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from evo.operators.constant_checks import asserted_alphabets
from evo.operators.constant_flow import output_only
from evo.operators.train_constants import Constant, Domain, Value, domain_of, read_constants

_TOKEN = r"""(?:"[^"\\]*"|'[^'\\]*'|[\w.+\-]+)"""
_TOKEN_LIST = re.compile(rf"\s*{_TOKEN}\s*(?:,\s*{_TOKEN}\s*)*,?\s*")  # a trailing comma allowed, as in ("a",)
_CONDITION = re.compile(
    rf"(?i:used only when)\s+(?P<name>[A-Z][A-Z0-9_]*)\s*"
    rf"(?:(?P<op>==|!=)\s*(?P<token>{_TOKEN})|(?P<negated>not\s+)?in\s*\((?P<tokens>[^)]*)\))"
)


@dataclass(frozen=True)
class Condition:
    """A declared activity condition: the constant is used only when `name` is (or, negated, is not) one of `tokens`."""

    name: str
    tokens: tuple[str, ...]  # the values as written in the comment, quotes kept
    negated: bool = False

    def holds(self, value: Value) -> bool:
        """Whether the condition holds when its constant has `value`."""
        return any(_equal(value, token) for token in self.tokens) != self.negated


def condition_of(constant: Constant) -> Condition | None:
    """The activity condition `constant`'s comment declares, or None if it declares none or one that does not parse."""
    match = _CONDITION.search(constant.comment)
    if match is None:
        return None
    if match["op"] is not None:
        return Condition(match["name"], (match["token"],), negated=match["op"] == "!=")
    if not _TOKEN_LIST.fullmatch(match["tokens"]):
        return None
    return Condition(match["name"], tuple(re.findall(_TOKEN, match["tokens"])), negated=match["negated"] is not None)


def is_active(constant: Constant, constants: Mapping[str, Constant]) -> bool:
    """Whether `constant` matters given the file's `constants` (by name): its declared condition holds, or it has none
    that can be checked."""
    condition = condition_of(constant)
    if condition is None or condition.name not in constants:
        return True
    return condition.holds(constants[condition.name].value)


def mutable_constants(
    code: Mapping[str, str], editable: Sequence[str], active_only: bool = False
) -> list[tuple[str, Constant, Domain]]:
    """(file, constant, domain) for every mutable constant of the editable Python files in `code` that does more than
    feed printouts (a file that does not parse has none): the knobs the offline operators and the optuna-tpe peer
    search. With `active_only`, only those whose declared condition holds in this code (see `is_active`)."""
    knobs = []
    for file in editable:
        if not file.endswith(".py") or file not in code:
            continue
        try:
            constants = read_constants(code[file])
        except SyntaxError:
            continue
        by_name = {c.name: c for c in constants}
        printed, alphabets = output_only(code[file]), asserted_alphabets(code[file])
        kept = [c for c in constants if c.name not in printed and (not active_only or is_active(c, by_name))]
        knobs += [(file, c, d) for c in kept if (d := domain_of(c, alphabets)) is not None]
    return knobs


def _equal(value: Value, token: str) -> bool:
    """Whether a constant's `value` equals a condition's `token`: strings by text (quotes optional), booleans and
    numbers as literals (``True`` is not ``1``)."""
    quoted = len(token) >= 2 and token[0] == token[-1] and token[0] in "\"'"
    if isinstance(value, str):
        return value == (token[1:-1] if quoted else token)
    if quoted:
        return False
    literal = _bare_literal(token)
    if isinstance(value, bool) or isinstance(literal, bool):
        return type(literal) is type(value) and literal == value
    return literal is not None and literal == value


def _bare_literal(token: str) -> bool | int | float | None:
    """An unquoted token as a bool (any case) or a number, else None."""
    if token.lower() in ("true", "false"):
        return token.lower() == "true"
    for kind in (int, float):
        try:
            return kind(token)
        except ValueError:
            pass
    return None
