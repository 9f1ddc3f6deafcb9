"""Whole-file answers: a model that rewrites the file instead of sending SEARCH/REPLACE blocks.

The largest fenced block (or the bare answer from its first line of code) is taken as the new file when it parses and
still defines most of a parent file's top-level names; a file cut off by max_tokens, or a snippet that cannot be
placed, is a one-line reason instead.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from evo.operators.base import parse_python

FENCE = re.compile(r"^\s*(```+|~~~+)\s*(\S*)\s*(.*)$")
_DEF_LINE = re.compile(r"^(?:async\s+def|def|class)\s+(\w+)")
_IMPORT_LINE = re.compile(r"^(?:from\s+\S+\s+)?import\s+(.*)$")
_ASSIGN_LINE = re.compile(r"^([A-Za-z_][\w\s,]*?)\s*(?::[^=]*)?=(?!=)")
_CODE_START = re.compile(r"^(?:\"\"\"|'''|#!|import\s|from\s+\S+\s+import\s|def\s|class\s|[A-Z_][A-Z0-9_]*\s*=)")

WHOLE_FILE_KEEP = 0.6  # a whole-file answer must define at least this fraction of the parent's top-level names


@dataclass(frozen=True)
class _Fence:
    info: str  # the opening line's language and anything after it
    body: str
    closed: bool  # False when the answer ends inside the fence (cut off by max_tokens)


def _fences(lines: list[str]) -> list[_Fence]:
    fences: list[_Fence] = []
    opening: str | None = None
    body: list[str] = []
    for line in lines:
        match = FENCE.match(line)
        if opening is None:
            if match:
                opening, body = f"{match.group(2)} {match.group(3)}".strip(), []
        elif match and not match.group(2) and not match.group(3):
            fences.append(_Fence(opening, "\n".join(body), closed=True))
            opening = None
        else:
            body.append(line)
    if opening is not None:
        fences.append(_Fence(opening, "\n".join(body), closed=False))
    return fences


def whole_file(lines: list[str], files: Mapping[str, str], editable: Sequence[str]) -> tuple[str, str] | str:
    """A complete file in place of blocks: the largest fenced block, or else the bare answer from its first line of
    code, accepted when it parses and keeps most of a parent file's top-level names. Returns (file, its new text),
    or a one-line reason there is none."""
    prose_only = (
        f"answer has no SEARCH/REPLACE blocks and no code (prose only); answer with blocks that edit {editable[0]}"
    )
    fences = sorted(_fences(lines), key=lambda f: len(f.body), reverse=True)
    candidates = [f for f in fences if f.body.strip()]
    if not fences:
        start = next((i for i, line in enumerate(lines) if _CODE_START.match(line)), None)
        if start is not None:
            candidates.append(_Fence("", "\n".join(lines[start:]), closed=False))  # bare: it may stop anywhere
    if not candidates:
        return prose_only
    for candidate in candidates:
        target = _whole_file_target(candidate.body, candidate.info, files, editable)
        if target is not None:
            return _whole_file_outcome(candidate.body, target, files)
    first = candidates[0]
    cut = _parse_error(first.body)
    if cut and _keeps_parent(surface_names(first.body), files, editable):
        if first.closed:  # complete but broken: the caller's child_problem reports the syntax error precisely
            target = _whole_file_target(first.body, first.info, files, editable, parsed=False) or editable[0]
            return _whole_file_outcome(first.body, target, files)
        return (
            f"answer is a whole file cut off at line {cut} (it does not parse); "
            "answer with SEARCH/REPLACE blocks instead"
        )
    if not fences and cut:
        return prose_only  # bare text that happens to contain a line like `LR = 3e-3 ...`
    return "answer has code but no SEARCH/REPLACE blocks and no complete file; snippets cannot be placed"


def _whole_file_outcome(body: str, target: str, files: Mapping[str, str]) -> tuple[str, str] | str:
    text = body.strip("\n") + "\n"
    if "\r\n" in files.get(target, ""):
        text = text.replace("\n", "\r\n")
    if text == files.get(target, ""):
        return f"the answer repeats {target} unchanged"
    return target, text


def _whole_file_target(
    body: str, info: str, files: Mapping[str, str], editable: Sequence[str], parsed: bool = True
) -> str | None:
    """The editable file `body` is a complete new version of, or None. With `parsed` False, a body that does not
    parse is judged by the names its unindented lines define."""
    try:
        names = _top_level_names(parse_python(body))
    except (SyntaxError, ValueError):
        if parsed:
            return None
        names = surface_names(body)
    named = [f for f in editable if f in info.split() or info.endswith(f)]
    for file in named or editable:
        parent = files.get(file, "")
        if not parent.strip():
            if named:
                return file
            continue
        if _keeps(names, parent):
            return file
    return None


def _keeps_parent(names: set[str], files: Mapping[str, str], editable: Sequence[str]) -> bool:
    return any(files.get(f, "").strip() and _keeps(names, files[f]) for f in editable)


def _keeps(names: set[str], parent: str) -> bool:
    try:
        wanted = _top_level_names(parse_python(parent))
    except (SyntaxError, ValueError):
        return False
    return not wanted or len(wanted & names) >= WHOLE_FILE_KEEP * len(wanted)


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def _parse_error(body: str) -> int | None:
    try:
        parse_python(body)
    except SyntaxError as exc:
        return exc.lineno or 1
    except ValueError:
        return 1
    return None


def surface_names(body: str) -> set[str]:
    """Top-level names a file that does not parse appears to define, read off its unindented lines: what a truncated
    or broken whole file still shows of the parent."""
    names: set[str] = set()
    in_import = False
    for line in body.split("\n"):
        if in_import:
            names.update(_import_names(line.split(")")[0]))
            in_import = ")" not in line
            continue
        if not line or line[0].isspace():
            continue
        if match := _DEF_LINE.match(line):
            names.add(match.group(1))
        elif match := _IMPORT_LINE.match(line):
            names.update(_import_names(match.group(1).strip("()")))
            in_import = match.group(1).rstrip().endswith("(")
        elif match := _ASSIGN_LINE.match(line):
            names.update(n.strip() for n in match.group(1).split(","))
    return {n for n in names if n.isidentifier()}


def _import_names(clause: str) -> list[str]:
    return [part.split(" as ")[-1].strip().split(".")[0] for part in clause.split(",") if part.strip()]
