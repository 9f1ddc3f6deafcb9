"""A file's own asserts, checked on a child's constants before a run is spent on it.

autoresearch's train.py asserts ``TOTAL_BATCH_SIZE % tokens_per_fwdbwd == 0``, where ``tokens_per_fwdbwd =
DEVICE_BATCH_SIZE * MAX_SEQ_LEN`` and MAX_SEQ_LEN comes from the locked prepare.py: a mutation of either batch size can
break it, and a child that fails an assert crashes at startup after taking a slot. So the asserts of a changed file
are evaluated statically, by a small evaluator over the AST (never ``eval``):

- a name resolves when it is bound exactly once in its file, in any scope, by ``name = expr`` (or ``name: T = expr``)
  whose expression resolves, or by ``from module import name`` where ``module.py`` is one of the target's locked files
  or of the child's own files, the name resolving there the same way (assignments and asserts are read as if they
  all run);
- expressions: int, float, str and bool literals, tuples and lists, ``+ - * / // % **`` and ``<< >>`` on numbers
  (``+`` also joins strings), unary ``- + not``, comparisons (chained, ``in`` and ``not in`` included), ``and`` /
  ``or`` (as truth values), ``x if c else y``, ``len()``, and ``all()`` / ``any()`` over a comprehension;
- anything else (an attribute, another call, a name bound twice or as a parameter, a power too large to compute) is
  unknown, and an unknown assert passes: only one that evaluates to False counts.

A child is refused for an assert it fails that its parent passes (one the parent fails already says nothing about
the mutation). The same asserts declare pattern alphabets for `train_constants`: ``assert all(c in "SL" for c in
pattern)`` declares the letters S and L.
"""

from __future__ import annotations

import ast
import contextlib
import operator
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from evo.operators.base import parse_python

_ALPHABET = re.compile(r"[A-Z]{2,}")
_MAX_BITS = 1 << 16  # larger ints (and longer shifts) are not worth computing: unknown
_MAX_ITEMS = 10_000  # of a comprehension's iterable
_ARITHMETIC: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.LShift: operator.lshift,
    ast.RShift: operator.rshift,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: operator.contains(b, a),
    ast.NotIn: lambda a, b: not operator.contains(b, a),
}


class _Unknown(Exception):
    """The evaluator cannot tell the value."""


_UNRESOLVED = object()  # a name's value while it is being resolved (so one defined in terms of itself), or for good


@dataclass(frozen=True)
class _Module:
    """What the evaluator needs of one file: the names bound once, and its asserts."""

    definitions: Mapping[str, ast.expr]  # name -> the expression of its only binding, ``name = expr``
    imports: Mapping[str, tuple[str, str]]  # name -> (module, name there) of its only binding, ``from m import n``
    bound: frozenset[str]  # every name bound anywhere in the file
    asserts: tuple[ast.Assert, ...]


def broken_assert(parent: Mapping[str, str], child: Mapping[str, str], locked: Mapping[str, str]) -> str | None:
    """Why `child` would fail an assert that `parent` passes, in one line (the first such assert of the Python files
    it changed), or None. `locked`: the target's locked files (name -> text), whose constants imports may read."""
    changed = [f for f in sorted(child) if f.endswith(".py") and child[f] != parent.get(f) and "assert" in child[f]]
    return _first_new(parent, changed, locked, lambda file: failing_asserts(child, file, locked))


def broken_by_rewrite(
    parent: Mapping[str, str], rewrites: Mapping[str, Mapping[str, str]], locked: Mapping[str, str]
) -> str | None:
    """`broken_assert` for the child that is `parent` with the constants' literals in `rewrites` (file -> name ->
    literal, as `train_constants.rewrite` takes them) rewritten: the parent's parse serves, the child's is not
    needed."""
    overrides = {
        file: {name: ast.parse(literal.strip(), mode="eval").body for name, literal in literals.items()}
        for file, literals in rewrites.items()
    }
    return _first_new(parent, sorted(rewrites), locked, lambda file: failing_asserts(parent, file, locked, overrides))


def failing_asserts(
    code: Mapping[str, str],
    file: str,
    locked: Mapping[str, str],
    overrides: Mapping[str, Mapping[str, ast.expr]] | None = None,
) -> dict[str, str]:
    """The asserts of `code[file]` that evaluate to False: each one's source -> a one-line reason with its line and
    the values of the names it reads. `overrides` (file -> name -> expression) replace the expressions names are
    defined by."""
    module = _module(code[file])
    evaluator = _Evaluator({**locked, **code}, overrides or {})
    failing = {}
    for node in module.asserts:
        try:
            holds = bool(evaluator.value(node.test, file, {}))
        except _Unknown:
            continue
        if not holds:
            source = ast.unparse(node.test)
            values = ", ".join(f"{name}={value!r}" for name, value in evaluator.known_names(node.test, file))
            failing[source] = f"{file}:{node.lineno}: assert {source} fails" + f" ({values})" * bool(values)
    return failing


def _first_new(
    parent: Mapping[str, str], files: list[str], locked: Mapping[str, str], failing: Callable[[str], dict[str, str]]
) -> str | None:
    """The first reason `failing(file)` gives, over `files`, for an assert the parent does not fail, or None."""
    for file in files:
        reasons = failing(file)
        known = failing_asserts(parent, file, locked) if reasons and file in parent else {}
        news = [reason for source, reason in reasons.items() if source not in known]
        if news:
            return news[0]
    return None


def asserted_alphabets(text: str) -> tuple[str, ...]:
    """The uppercase alphabets the file's asserts declare, ``assert all(c in "SL" for c in ...)``, in file order."""
    found = []
    for node in _module(text).asserts:
        test = node.test
        if not (isinstance(test, ast.Call) and isinstance(test.func, ast.Name) and test.func.id == "all"):
            continue
        if len(test.args) != 1 or not isinstance(test.args[0], (ast.GeneratorExp, ast.ListComp)):
            continue
        element, generators = test.args[0].elt, test.args[0].generators
        if (
            len(generators) == 1
            and isinstance(generators[0].target, ast.Name)
            and isinstance(element, ast.Compare)
            and isinstance(element.left, ast.Name)
            and element.left.id == generators[0].target.id
            and len(element.ops) == 1
            and isinstance(element.ops[0], ast.In)
            and isinstance(alphabet := element.comparators[0], ast.Constant)
            and isinstance(alphabet.value, str)
            and _ALPHABET.fullmatch(alphabet.value)
        ):
            found.append(alphabet.value)
    return tuple(found)


@lru_cache(maxsize=64)
def _module(text: str) -> _Module:
    """The names bound once in a Python source and its asserts; nothing if it does not parse."""
    try:
        tree = parse_python(text)
    except SyntaxError:
        return _Module({}, {}, frozenset(), ())
    counts: Counter[str] = Counter()
    definitions: dict[str, ast.expr] = {}
    imports: dict[str, tuple[str, str]] = {}
    asserts = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            counts[node.id] += 1
        elif isinstance(node, ast.arg):
            counts[node.arg] += 1
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.ExceptHandler)) and node.name:
            counts[node.name] += 1
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                name = alias.asname or alias.name.split(".")[0]
                counts[name] += 1
                if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    imports[name] = (node.module, alias.name)
        elif isinstance(node, ast.Assert):
            asserts.append(node)
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            definitions[node.targets[0].id] = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            definitions[node.target.id] = node.value
    asserts.sort(key=lambda node: node.lineno)
    return _Module(
        {name: expr for name, expr in definitions.items() if counts[name] == 1},
        {name: source for name, source in imports.items() if counts[name] == 1},
        frozenset(counts),
        tuple(asserts),
    )


class _Evaluator:
    """Evaluates expressions of the files in `modules` (file name -> text), resolving names across their imports."""

    def __init__(self, modules: Mapping[str, str], overrides: Mapping[str, Mapping[str, ast.expr]]) -> None:
        self.modules = modules
        self.overrides = overrides  # file -> name -> the expression that defines it instead of the file's
        self.names: dict[tuple[str, str], Any] = {}  # (file, name) -> its value, or _UNRESOLVED

    def resolve(self, file: str, name: str) -> Any:
        key = (file, name)
        if key not in self.names:
            self.names[key] = _UNRESOLVED
            self.names[key] = self._resolve(file, name)
        if self.names[key] is _UNRESOLVED:
            raise _Unknown
        return self.names[key]

    def known_names(self, node: ast.expr, file: str) -> list[tuple[str, Any]]:
        """The names `node` reads that resolve, with their values, in order of first appearance."""
        found = {}
        for name in (n.id for n in ast.walk(node) if isinstance(n, ast.Name)):
            with contextlib.suppress(_Unknown):
                found.setdefault(name, self.resolve(file, name))
        return list(found.items())

    def value(self, node: ast.expr, file: str, scope: Mapping[str, Any]) -> Any:
        """The value of `node` in `file`, with `scope` holding a comprehension's variables. Raises _Unknown."""
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str)):
            return node.value
        if isinstance(node, ast.Name):
            return scope[node.id] if node.id in scope else self.resolve(file, node.id)
        if isinstance(node, (ast.Tuple, ast.List)):
            return tuple(self.value(item, file, scope) for item in node.elts)
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
            return _arithmetic(node.op, self.value(node.left, file, scope), self.value(node.right, file, scope))
        if isinstance(node, ast.UnaryOp):
            operand = self.value(node.operand, file, scope)
            if isinstance(node.op, ast.Not):
                return not operand
            if isinstance(node.op, (ast.USub, ast.UAdd)) and _is_number(operand):
                return -operand if isinstance(node.op, ast.USub) else +operand
        if isinstance(node, ast.BoolOp):
            return self._truth(node.values, isinstance(node.op, ast.Or), lambda v: self.value(v, file, scope))
        if isinstance(node, ast.Compare):
            return self._compare(node, file, scope)
        if isinstance(node, ast.IfExp):
            branch = node.body if self.value(node.test, file, scope) else node.orelse
            return self.value(branch, file, scope)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) == 1 and not node.keywords:
            return self._call(node.func.id, node.args[0], file, scope)
        raise _Unknown

    def _resolve(self, file: str, name: str) -> Any:
        if file not in self.modules:
            return _UNRESOLVED
        module = _module(self.modules[file])
        try:
            if name in module.definitions:
                return self.value(self.overrides.get(file, {}).get(name, module.definitions[name]), file, {})
            if name in module.imports:
                source, there = module.imports[name]
                return self.resolve(source.replace(".", "/") + ".py", there)
        except _Unknown:
            pass
        return _UNRESOLVED

    def _compare(self, node: ast.Compare, file: str, scope: Mapping[str, Any]) -> bool:
        left = self.value(node.left, file, scope)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.value(comparator, file, scope)
            membership = isinstance(op, (ast.In, ast.NotIn))
            if type(op) not in _COMPARE or (membership and not isinstance(right, (str, tuple))):
                raise _Unknown
            try:
                if not _COMPARE[type(op)](left, right):
                    return False
            except TypeError:
                raise _Unknown from None
            left = right
        return True

    def _call(self, function: str, argument: ast.expr, file: str, scope: Mapping[str, Any]) -> Any:
        """``len(x)``, or ``all``/``any`` over a one-loop comprehension; builtins only, not names the file rebinds."""
        if function in _module(self.modules.get(file, "")).bound:
            raise _Unknown
        if function == "len":
            items = self.value(argument, file, scope)
            if isinstance(items, (str, tuple)):
                return len(items)
        elif function in ("all", "any") and isinstance(argument, (ast.GeneratorExp, ast.ListComp)):
            (loop, *more) = argument.generators
            items = self.value(loop.iter, file, scope)
            if more or loop.is_async or not isinstance(loop.target, ast.Name) or not isinstance(items, (str, tuple)):
                raise _Unknown
            if len(items) > _MAX_ITEMS:
                raise _Unknown

            def element(item: Any) -> Any:
                inner = {**scope, loop.target.id: item}
                if not all(self.value(condition, file, inner) for condition in loop.ifs):
                    return function == "all"  # a skipped item decides nothing
                return self.value(argument.elt, file, inner)

            return self._truth(items, function == "any", element)
        raise _Unknown

    @staticmethod
    def _truth(items: Any, deciding: bool, value: Callable[[Any], Any]) -> bool:
        """``or`` / ``any`` (`deciding` True) or ``and`` / ``all`` (False) as a truth value over three-valued items:
        one item whose truth is `deciding` decides, whatever the unknown ones are."""
        unknown = False
        for item in items:
            try:
                if bool(value(item)) is deciding:
                    return deciding
            except _Unknown:
                unknown = True
        if unknown:
            raise _Unknown
        return not deciding


def _arithmetic(op: ast.operator, left: Any, right: Any) -> Any:
    if isinstance(op, ast.Add) and isinstance(left, str) and isinstance(right, str):
        return left + right
    if not (_is_number(left) and _is_number(right)):
        raise _Unknown
    if isinstance(op, (ast.Pow, ast.LShift)) and isinstance(left, int) and isinstance(right, int):
        bits = right if isinstance(op, ast.LShift) else max(left.bit_length(), 1) * right
        if bits > _MAX_BITS:
            raise _Unknown
    try:
        return _ARITHMETIC[type(op)](left, right)
    except (ArithmeticError, ValueError):
        raise _Unknown from None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float))
