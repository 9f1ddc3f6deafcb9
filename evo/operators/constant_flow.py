"""Which names of a Python file only feed its printouts: a small data-flow pass over the AST.

A constant such as autoresearch's ``H100_BF16_PEAK_FLOPS`` is only used to work out a number the script prints (its
MFU), so mutating it spends a run on a child that trains exactly like its parent. Each read of a name is followed up
through the expression that holds it:

- it reaches a call of ``print`` or of a logger's method (``.debug``, ``.info``, ``.warning``, ``.error``,
  ``.critical``, ``.exception`` or ``.log`` of a name with "log" in it: ``logging``, ``logger``; not ``math.log``): an
  output use;
- it reaches the value of a simple assignment to names (``x = ...``, ``x += ...``, ``x: T = ...``): it feeds those
  names;
- anything else (a test, a return, an assert, an argument of another call, an attribute or subscript store, ...) is a
  real use.

On the way up, arithmetic, comparisons, ``and``/``or``, ``x if c else y``, f-strings, ``%``, tuples, lists,
``str.format`` and the pure builtins ``abs``, ``float``, ``int``, ``max``, ``min``, ``round`` and ``str`` pass the
value along. Names are followed by name whatever their scope, so a real use of a name anywhere counts everywhere. A
file that reads names it does not spell out (it calls ``globals``, ``vars``, ``locals``, ``eval`` or ``exec``, as the
surrogate target does to report its constants) has no output-only names.

A name is output-only when it is read at least once and every read is an output use or feeds only names that are
output-only or never read; of the sets of names with that property the largest is taken, so a name that feeds itself
(``total += x``) is output-only when its other reads are.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from functools import lru_cache

from evo.operators.base import parse_python

_LOG_METHODS = frozenset({"debug", "info", "warning", "error", "critical", "exception", "log"})
_PURE = frozenset({"abs", "float", "int", "max", "min", "round", "str"})
_DYNAMIC = frozenset({"globals", "vars", "locals", "eval", "exec"})
_PASS_ALONG = (
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.JoinedStr,
    ast.FormattedValue,
    ast.Tuple,
    ast.List,
    ast.keyword,
)


@lru_cache(maxsize=64)
def output_only(text: str) -> frozenset[str]:
    """The names of a Python source that only feed its printouts (see the module docstring); none if it does not
    parse."""
    try:
        tree = parse_python(text)
    except SyntaxError:
        return frozenset()
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    read: set[str] = set()
    used: set[str] = set()  # names with a real use
    feeds: defaultdict[str, set[str]] = defaultdict(set)  # name -> the names its reads are assigned to
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id in _DYNAMIC:
                return frozenset()
            read.add(node.id)
            targets = _flow(node, parents)
            if targets is None:
                used.add(node.id)
            else:
                feeds[node.id] |= targets
    only = read - used
    shrinking = True
    while shrinking:
        dropped = {name for name in only if any(t in read and t not in only for t in feeds[name])}
        only -= dropped
        shrinking = bool(dropped)
    return frozenset(only)


def _flow(node: ast.Name, parents: dict[ast.AST, ast.AST]) -> set[str] | None:
    """Where one read goes: the names it is assigned to, an empty set for an output use, None for a real use."""
    child: ast.AST = node
    while True:
        parent = parents.get(child)
        if isinstance(parent, ast.Call):
            if child is parent.func:
                return None
            if _is_output(parent):
                return set()
            if not _passes_along(parent):
                return None
        elif isinstance(parent, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
            if child is not parent.value or not all(isinstance(t, ast.Name) for t in targets):
                return None
            return {t.id for t in targets if isinstance(t, ast.Name)}
        elif not isinstance(parent, _PASS_ALONG):
            return None
        child = parent


def _is_output(call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id == "print"
    if not isinstance(func, ast.Attribute) or func.attr not in _LOG_METHODS:
        return False
    return isinstance(func.value, ast.Name) and "log" in func.value.id.lower()


def _passes_along(call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id in _PURE
    return isinstance(func, ast.Attribute) and func.attr == "format"
