"""A train.py's top-level UPPERCASE constants: read through the AST, rewritten in place, each with a mutation domain.

The offline operators search the knobs a human would turn, so they need each knob's value, the exact span of its
literal (a rewrite changes that span and no other byte: comments, alignment and blank lines stay as they were) and
the values it may take. Only ``NAME = literal`` (or ``NAME: type = literal``) at module level counts, where the literal
is an int, float (negative and scientific included), str or bool, or a power of two written ``2**k`` or ``1 << k``
(1 <= k <= 64; read as the int it is, rewritten in the same form with a new exponent); tuples, other computed values
and names assigned twice are skipped. Which of them a search turns (those that matter in the file) is `knobs`' job.

Domains, inferred from the value, the name and the trailing comment:

- str: the choices declared in the comment, either quoted (``# "adamw", or "muon"``) or listed after ``one of:`` /
  ``choices:`` (``# one of: adamw, muon, sgd``); the value must be one of them. Otherwise a string of 1 to 16 uppercase
  letters is a pattern (``WINDOW_PATTERN = "SSSL"``) when its alphabet is declared, by ``X=`` pairs in the comment
  (``# L=full, S=half context``) or by an assert of the file (``assert all(c in "SL" for c in pattern)``), holding at
  least two letters and every letter of the value: it mutates by one letter replaced, inserted or deleted, its length
  within [max(1, n // 2), min(16, 2 n)]. Any other string is never mutated.
- bool: flips.
- int: a power of two (>= 2) stays a power of two, its exponent mutated within [max(1, v // 4), v * 4]; other ints
  are rounded within [max(1, v // 4), v * 4] (0 within [0, 4], negatives mirrored).
- float: names with an ``LR`` part or ``LEARNING_RATE`` mutate on a log scale within [v / 10, v * 10]; fraction-like
  names (a ``FRAC``, ``FRACTION``, ``PROB``, ``DROPOUT``, ``MOMENTUM``, ``BETA`` or ``DECAY`` part, e.g.
  ``WARMUP_FRAC``, ``WEIGHT_DECAY``) and values in [0, 1] whose comment says "fraction" or "probability" stay in
  [0, 1] on a linear scale; any other 0.0 has no scale to multiply, so it gets the linear [0, 1] too; other positive
  floats are scales, log within [v / 10, v * 10]; negative floats are linear within [10 v, v / 10].
- A declared range in the comment, written ``[lo, hi]`` (e.g. ``# heads [1, 16]``), replaces the inferred bounds. On
  an int it makes a plain int domain unless the comment also says "power of two" or the literal is ``2**k`` /
  ``1 << k``; on a float it keeps the log scale where one was inferred and ``lo > 0``, and is linear otherwise.

A domain with fewer than two values (e.g. ``[4, 4]``) is not mutable. A comment's ``used only when`` clause (see
`knobs`) is left out when it is read for ranges and choices, so its value is never taken for a choice.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from evo.operators.base import parse_python

Value = int | float | str | bool

_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(rf"\[\s*({_NUMBER})\s*,\s*({_NUMBER})\s*\]")
_QUOTED = re.compile(r"\"([^\"\\]*)\"|'([^'\\]*)'")
_LISTED = re.compile(r"\b(?:one of|choices)\s*:?\s*([\w.\-]+(?:\s*(?:,|/|\||\bor\b)\s*[\w.\-]+)+)", re.IGNORECASE)
_POW2_WORDS = re.compile(r"power[- ]of[- ](?:two|2)", re.IGNORECASE)
_FRACTION_WORDS = re.compile(r"\b(?:fraction|probability)\b", re.IGNORECASE)
_CONDITION_CLAUSE = re.compile(r"used only when\b[^);]*", re.IGNORECASE)  # to the clause's ")" or ";", or the end
_POWER = re.compile(r"(?:2\s*\*\*|1\s*<<)\s*(\d+)")  # 2**k, 2 ** k, 1 << k: group 1 is the exponent
_PATTERN = re.compile(r"[A-Z]{1,16}")
_PATTERN_LETTER = re.compile(r"\b([A-Z])\s*=(?!=)")  # "L=full, S=half context" declares L and S
_LR_PARTS = {"LR"}
_FRACTION_PARTS = {"FRAC", "FRACTION", "PROB", "DROPOUT", "MOMENTUM", "BETA", "BETA1", "BETA2", "DECAY"}


@dataclass(frozen=True)
class Constant:
    """One top-level ``NAME = literal``: its value, where its literal sits in the text, and its trailing comment."""

    name: str
    value: Value
    source: str  # the literal exactly as written, e.g. "1e-3" or "-4"
    start: int  # character offsets of `source` in the text
    end: int
    line: int  # 1-based
    comment: str = ""  # the trailing comment without its "#", stripped


@dataclass(frozen=True)
class Domain:
    """The values a constant may take under mutation."""

    kind: str  # "choice", "pattern", "bool", "pow2", "int", "log" or "linear"
    low: float = 0.0  # inclusive bounds on a number (pow2: on the value, not its exponent) or a pattern's length
    high: float = 0.0
    choices: tuple[str, ...] = ()  # kind "choice": the values; kind "pattern": the alphabet's letters
    declared: bool = False  # the bounds or choices come from the comment

    def contains(self, value: Value) -> bool:
        """Whether `value` is one this domain allows, type included (an int domain holds no floats)."""
        if self.kind == "choice":
            return isinstance(value, str) and value in self.choices
        if self.kind == "pattern":
            return isinstance(value, str) and self.low <= len(value) <= self.high and set(value) <= set(self.choices)
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind in ("int", "pow2"):
            if type(value) is not int or not self.low <= value <= self.high:
                return False
            return self.kind == "int" or (value >= 2 and value & (value - 1) == 0)
        return type(value) is float and math.isfinite(value) and self.low <= value <= self.high


@lru_cache(maxsize=64)
def read_constants(text: str) -> tuple[Constant, ...]:
    """The top-level UPPERCASE literal constants of a Python source, in order. Raises SyntaxError if it does not
    parse."""
    tree = parse_python(text)
    lines = text.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    found: list[Constant] = []
    seen: dict[str, int] = {}
    for node in tree.body:
        target, value_node = _assignment(node)
        if target is None or value_node is None:
            continue
        seen[target] = seen.get(target, 0) + 1
        value = _literal(value_node)
        if value is None:
            continue
        start = _offset(lines, starts, value_node.lineno, value_node.col_offset)
        end = _offset(lines, starts, value_node.end_lineno or value_node.lineno, value_node.end_col_offset or 0)
        rest = text[end : starts[(value_node.end_lineno or value_node.lineno)] - 1]
        comment = match.group(1).strip() if (match := re.match(r"[ \t]*#(.*)", rest)) else ""
        found.append(Constant(target, value, text[start:end], start, end, value_node.lineno, comment))
    return tuple(c for c in found if seen[c.name] == 1)


def constants_by_name(text: str) -> dict[str, Constant]:
    return {c.name: c for c in read_constants(text)}


def rewrite(text: str, literals: Mapping[str, str]) -> str:
    """`text` with the named constants' literals replaced by the given source texts; every other byte is kept."""
    constants = constants_by_name(text)
    missing = set(literals) - set(constants)
    if missing:
        raise KeyError(f"no literal constant named {', '.join(sorted(missing))}")
    for name in sorted(literals, key=lambda n: constants[n].start, reverse=True):
        c = constants[name]
        text = text[: c.start] + literals[name] + text[c.end :]
    return text


def format_value(value: Value, like: str, digits: int = 2) -> str:
    """`value` as a Python literal in the style of the literal `like`: floats to `digits` significant digits,
    scientific if `like` is (``2.4e-3``) and positional otherwise (``0.0024``); strings in `like`'s quotes; a power
    of two as ``2**k`` (or ``1 << k``) if `like` is one."""
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        power = _POWER.fullmatch(like)
        if power and value >= 2 and value & (value - 1) == 0:
            return like[: power.start(1)] + str(value.bit_length() - 1)
        return str(value)
    if isinstance(value, float):
        if value == 0:
            return "0.0"
        if "e" in like.lower():
            mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
            if "." in mantissa:
                mantissa = mantissa.rstrip("0").rstrip(".")
            return f"{mantissa}e{int(exponent)}"
        return np.format_float_positional(value, precision=digits, unique=False, fractional=False, trim="0")
    quote = "'" if like[:1] == "'" else '"'
    text = repr(value)
    return text if quote in value or "\\" in text else f"{quote}{value}{quote}"


def literal_value(source: str) -> Value:
    """The value of a literal as `read_constants` reads it (``2**19`` included). Raises ValueError if it is none."""
    value = _literal(ast.parse(source.strip(), mode="eval").body)
    if value is None:
        raise ValueError(f"not a constant's literal: {source!r}")
    return value


def domain_of(constant: Constant, alphabets: Sequence[str] = ()) -> Domain | None:
    """The domain `constant` mutates within (see the module docstring), or None if it is never mutated. `alphabets`:
    the pattern alphabets the file's asserts declare."""
    value, comment = constant.value, _CONDITION_CLAUSE.sub("", constant.comment)
    declared = _declared_range(comment)
    if isinstance(value, bool):
        return Domain("bool")
    if isinstance(value, str):
        choices = _declared_choices(comment)
        if value in choices and len(choices) > 1:
            return Domain("choice", choices=choices, declared=True)
        return _pattern_domain(value, comment, alphabets)
    if isinstance(value, int):
        says_pow2 = bool(_POW2_WORDS.search(comment) or _POWER.fullmatch(constant.source))
        domain = _int_domain(value, declared, says_pow2)
    else:
        domain = _float_domain(constant.name, value, declared, bool(_FRACTION_WORDS.search(comment)))
    return domain if domain is not None and _has_room(domain, value) else None


def _int_domain(value: int, declared: tuple[float, float] | None, says_pow2: bool) -> Domain | None:
    if declared is not None:
        low, high = math.ceil(declared[0]), math.floor(declared[1])
        if says_pow2 and value >= 2 and value & (value - 1) == 0:
            return Domain("pow2", max(low, 2), high, declared=True)
        return Domain("int", low, high, declared=True)
    if value > 0:
        low, high = max(1, value // 4), value * 4
    elif value == 0:
        low, high = 0, 4
    else:
        low, high = value * 4, -max(1, -value // 4)
    kind = "pow2" if value >= 2 and value & (value - 1) == 0 else "int"
    return Domain(kind, max(low, 2) if kind == "pow2" else low, high)


def _float_domain(name: str, value: float, declared: tuple[float, float] | None, says_fraction: bool) -> Domain:
    parts = set(name.split("_"))
    if parts & _LR_PARTS or "LEARNING_RATE" in name:
        kind, low, high = ("log", value / 10, value * 10) if value > 0 else ("linear", 0.0, 1.0)
    elif parts & _FRACTION_PARTS or (says_fraction and 0 <= value <= 1) or value == 0:
        kind, low, high = "linear", 0.0, 1.0
    elif value > 0:
        kind, low, high = "log", value / 10, value * 10
    else:
        kind, low, high = "linear", value * 10, value / 10
    if declared is None:
        return Domain(kind, low, high)
    low, high = declared
    return Domain("log" if kind == "log" and low > 0 else "linear", low, high, declared=True)


def _pattern_domain(value: str, comment: str, alphabets: Sequence[str]) -> Domain | None:
    """A pattern's domain, if the comment's ``X=`` pairs or one of the asserted `alphabets` cover its letters."""
    if not _PATTERN.fullmatch(value):
        return None
    declared = "".join(_PATTERN_LETTER.findall(comment))
    for alphabet in (declared, *alphabets):
        letters = tuple(dict.fromkeys(alphabet))
        if len(letters) > 1 and set(value) <= set(letters):
            n = len(value)
            return Domain("pattern", max(1, n // 2), min(16, 2 * n), choices=letters, declared=True)
    return None


def _has_room(domain: Domain, value: Value) -> bool:
    """Whether the domain holds some value other than `value`."""
    if domain.kind == "pow2":
        return math.floor(math.log2(domain.high)) > math.ceil(math.log2(domain.low)) if domain.high >= 2 else False
    if domain.kind == "int":
        return math.floor(domain.high) > math.ceil(domain.low)
    return domain.high > domain.low


def _declared_range(comment: str) -> tuple[float, float] | None:
    match = _RANGE.search(comment)
    if match is None:
        return None
    low, high = float(match.group(1)), float(match.group(2))
    return (low, high) if low <= high else None


def _declared_choices(comment: str) -> tuple[str, ...]:
    if match := _LISTED.search(comment):
        words = re.split(r"\s*(?:,|/|\||\bor\b)\s*", match.group(1))
    else:
        words = [a or b for a, b in _QUOTED.findall(comment)]
    return tuple(dict.fromkeys(w for w in words if w))


def _assignment(node: ast.stmt) -> tuple[str | None, ast.expr | None]:
    """The target name and value of a module-level ``NAME = value`` (or annotated) assignment to an UPPERCASE name."""
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        name, value = node.targets[0].id, node.value
    elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
        name, value = node.target.id, node.value
    else:
        return None, None
    return (name, value) if _NAME.fullmatch(name) else (None, None)


def _literal(node: ast.expr) -> Value | None:
    """The value of an int, float, str or bool literal (a leading minus included) or of ``2**k`` / ``1 << k``, else
    None."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Pow, ast.LShift)):
        base, exponent = (_int_literal(n) for n in (node.left, node.right))
        if base == (2 if isinstance(node.op, ast.Pow) else 1) and exponent is not None and 1 <= exponent <= 64:
            return 2**exponent
        return None
    sign = 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign, node = (-1 if isinstance(node.op, ast.USub) else 1), node.operand
        if not isinstance(node, ast.Constant) or isinstance(node.value, (bool, str)):
            return None
    if not isinstance(node, ast.Constant) or not isinstance(node.value, (int, float, str)):
        return None
    value = node.value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value if sign == 1 else -value


def _int_literal(node: ast.expr) -> int | None:
    return node.value if isinstance(node, ast.Constant) and type(node.value) is int else None


def _offset(lines: list[str], starts: list[int], lineno: int, byte_col: int) -> int:
    """The character offset of an AST position (1-based line, UTF-8 byte column)."""
    line = lines[lineno - 1]
    return starts[lineno - 1] + len(line.encode()[:byte_col].decode(errors="ignore"))
