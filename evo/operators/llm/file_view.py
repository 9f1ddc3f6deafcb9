"""The file to edit with some function bodies left out, for a model whose context cannot hold it whole.

A training script can be most of a small model's context by itself (autoresearch's is about 7,000 tokens of an 8k
window). Then the bodies of some functions and methods are each replaced by one marker line until the file fits.
Which ones is drawn from the file's own text: every call on the same parent sees the same view (so consecutive
prompts share their prefix, which an endpoint's prompt cache can reuse, and a replay sees the same), while children,
whose text differs, show other parts of the file. Signatures and docstrings stay, so the model still sees what every
function is; SEARCH text can quote only the lines shown.
"""

from __future__ import annotations

import ast
import random
import zlib
from dataclasses import dataclass

from evo.operators.base import parse_python
from evo.operators.llm.tokens import estimate_tokens

MARKER = "...  # evo: {lines} lines not shown"
MIN_BODY_LINES = 4  # shorter bodies save too little to be worth hiding


@dataclass(frozen=True)
class _Body:
    start: int  # 0-based index of its first line shown as the marker
    end: int  # 0-based index one past its last line
    indent: int


def elided_view(text: str, excess: int) -> str | None:
    """`text` with function bodies left out until its estimate is at least `excess` tokens smaller, or None when
    leaving all of them out is not enough (or the file does not parse)."""
    try:
        tree = parse_python(text)
    except (SyntaxError, ValueError):
        return None
    lines = text.split("\n")
    bodies = _bodies(tree)
    random.Random(zlib.crc32(text.encode())).shuffle(bodies)  # the same text, the same bodies left out
    chosen: list[_Body] = []
    saved = 0
    for body in bodies:
        if saved >= excess:
            break
        chosen.append(body)
        # one token more per body than the difference of estimates: each estimate rounds up
        saved += estimate_tokens("\n".join(lines[body.start : body.end])) - estimate_tokens(_marker(body)) - 1
    if saved < excess:
        return None
    for body in sorted(chosen, key=lambda b: b.start, reverse=True):
        lines[body.start : body.end] = [_marker(body)]
    return "\n".join(lines)


def _bodies(tree: ast.Module) -> list[_Body]:
    """The bodies of module-level functions and of methods of module-level classes (docstrings excluded), in file
    order, that are long enough to hide."""
    functions = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            functions += [n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    bodies = []
    for function in functions:
        statements = function.body[1:] if ast.get_docstring(function) is not None else function.body
        if not statements or statements[0].lineno == function.lineno:  # none, or on the `def` line itself
            continue
        first = statements[0]
        start = min([first.lineno, *(d.lineno for d in getattr(first, "decorator_list", []))]) - 1
        end = statements[-1].end_lineno or statements[-1].lineno
        if end - start >= MIN_BODY_LINES:
            bodies.append(_Body(start, end, first.col_offset))
    return sorted(bodies, key=lambda b: b.start)


def _marker(body: _Body) -> str:
    return " " * body.indent + MARKER.format(lines=body.end - body.start)
