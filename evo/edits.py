"""Turn a model's answer into a child's code: forgiving of how real models write edits, strict about the result.

Models are asked for aider-style SEARCH/REPLACE blocks. What comes back varies: blocks inside ``` fences with prose
around them, a file name on the line before a block, marker lines a few characters too long or short, SEARCH text
whose trailing whitespace or indentation has drifted, CRLF line endings, a whole file instead of blocks, a unified
diff, or an answer cut off by max_tokens. `apply_answer` accepts every form it can place unambiguously and otherwise
returns a one-line reason that a repair prompt can send back to the model.

Matching is line-based and tried in three levels, each only when the one before finds nothing: exact lines, lines
equal once trailing whitespace is ignored, and lines equal up to a uniform indentation shift (the REPLACE text is
shifted by the same amount). A SEARCH must match exactly one place at the first level that finds any. Blocks apply in
order, each to the text the previous ones left; a block with no file name edits the file the previous block named,
or the first editable file.

Python validity is not checked here beyond what recognising a whole-file answer needs: the caller checks the child
with `evo.operator.child_problem`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["EditOutcome", "apply_answer", "extract_description"]

_HEAD = re.compile(r"^\s*<{5,9}\s*SEARCH\s*:?\s*$", re.IGNORECASE)
_DIVIDER = re.compile(r"^\s*={5,9}\s*$")
_TAIL = re.compile(r"^\s*>{5,9}\s*REPLACE\s*$", re.IGNORECASE)
_FENCE = re.compile(r"^\s*(```+|~~~+)\s*(\S*)\s*(.*)$")
# A file-name line: a path ending in an extension a target's file plausibly has (not `torch.compile` or `e.g.`).
_FILENAME = re.compile(r"^[\w./\\-]*\w\.(?:py|pyi|md|txt|ya?ml|json|toml|cfg|ini|sh|csv)$", re.IGNORECASE)
_FILENAME_PREFIX = re.compile(r"^(?:file(?:name)?|path)\s*:\s*", re.IGNORECASE)
_DIFF_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@")
_THINKING = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.DOTALL | re.IGNORECASE)
_THINK_OPEN = re.compile(r"<(think|thinking|reasoning)>", re.IGNORECASE)
_DEF_LINE = re.compile(r"^(?:async\s+def|def|class)\s+(\w+)")
_IMPORT_LINE = re.compile(r"^(?:from\s+\S+\s+)?import\s+(.*)$")
_ASSIGN_LINE = re.compile(r"^([A-Za-z_][\w\s,]*?)\s*(?::[^=]*)?=(?!=)")
_CODE_START = re.compile(r"^(?:\"\"\"|'''|#!|import\s|from\s+\S+\s+import\s|def\s|class\s|[A-Z_][A-Z0-9_]*\s*=)")

WHOLE_FILE_KEEP = 0.6  # a whole-file answer must define at least this fraction of the parent's top-level names
SNIPPET_CHARS = 60  # how much of a SEARCH block's first line an error quotes


@dataclass(frozen=True)
class EditOutcome:
    """The child's changed files (full text of each), or `error`: one line a repair prompt can send back."""

    code: Mapping[str, str] | None
    error: str = ""
    blocks: int = 0  # SEARCH/REPLACE blocks applied
    fuzzy: int = 0  # of those, how many needed whitespace- or indentation-tolerant matching
    whole_file: bool = False  # the answer was a complete file rather than blocks

    @property
    def ok(self) -> bool:
        return self.code is not None


@dataclass(frozen=True)
class _Block:
    number: int  # 1-based, in answer order, for error messages
    file: str | None  # as named in the answer, or None
    search: tuple[str, ...]
    replace: tuple[str, ...]


class _EditError(Exception):
    """A one-line reason the answer cannot be applied."""


def _fail(reason: str) -> EditOutcome:
    return EditOutcome(code=None, error=reason)


# --------------------------------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------------------------------


def apply_answer(answer: str, files: Mapping[str, str], editable: Sequence[str]) -> EditOutcome:
    """Apply a model's answer to `files` (the parent's editable files); the module docstring says what is accepted."""
    if not editable:
        return _fail("no editable files")
    text = _normalize(answer)
    if _THINK_OPEN.search(text):
        return _fail("answer ends inside its reasoning (<think> without </think>); it was probably cut off")
    lines = text.split("\n")
    try:
        blocks = _parse_blocks(lines)
        if blocks:
            return _apply_blocks(blocks, files, editable)
        if _is_unified_diff(lines):
            return _fail("answer is a unified diff; SEARCH/REPLACE blocks are expected")
        return _whole_file(lines, files, editable)
    except _EditError as exc:
        return _fail(str(exc))


def extract_description(answer: str) -> tuple[str, str]:
    """The `DESCRIPTION:` line and `RATIONALE:` paragraph the model was asked to open with ("" where missing).

    Models decorate these (`**DESCRIPTION:**`, `### Rationale`, backticks); the decoration is dropped. The rationale
    runs until a blank line, a fence, an edit marker or another header."""
    lines = _normalize(answer).split("\n")
    description, rationale = "", ""
    for i, line in enumerate(lines):
        label, rest = _header(line)
        if label == "description" and not description:
            description = rest or _next_nonblank(lines, i)
        elif label == "rationale" and not rationale:
            parts = [rest] if rest else []
            for follow in lines[i + 1 :]:
                if not follow.strip():
                    if parts:
                        break
                    continue
                if _header(follow)[0] or _FENCE.match(follow) or _HEAD.match(follow):
                    break
                parts.append(_unmark(follow))
            rationale = " ".join(p for p in parts if p)
    return description, rationale


def _normalize(answer: str) -> str:
    """LF line endings, and no reasoning section: models that think aloud (`<think>...</think>`) draft blocks there
    that they then revise, and only the final answer's blocks are meant."""
    text = answer.replace("\r\n", "\n").replace("\r", "\n")
    return _THINKING.sub("", text)


def _header(line: str) -> tuple[str, str]:
    match = re.match(r"^[\s>#*_`-]*(description|rationale)[*_`]*\s*:[*_`]*\s*(.*)$", line, re.IGNORECASE)
    if not match:
        match = re.match(r"^\s*#+\s*(description|rationale)\s*$", line, re.IGNORECASE)
        return (match.group(1).lower(), "") if match else ("", "")
    return match.group(1).lower(), _unmark(match.group(2))


def _unmark(text: str) -> str:
    return re.sub(r"\*\*|__|`", "", text).strip()


def _next_nonblank(lines: list[str], i: int) -> str:
    for line in lines[i + 1 :]:
        if line.strip():
            return "" if _header(line)[0] else _unmark(line)
    return ""


# --------------------------------------------------------------------------------------------------------------------
# SEARCH/REPLACE blocks
# --------------------------------------------------------------------------------------------------------------------


def _parse_blocks(lines: list[str]) -> list[_Block]:
    """Every complete block; a block cut off before its REPLACE marker is an error, since applying the blocks before
    it would hand back a child the model never finished describing."""
    blocks: list[_Block] = []
    i, n = 0, len(lines)
    while i < n:
        if not _HEAD.match(lines[i]):
            if _TAIL.match(lines[i]) and not blocks:
                raise _EditError(f"found {lines[i].strip()!r} without a '<<<<<<< SEARCH' line before it")
            i += 1
            continue
        number = len(blocks) + 1
        name = _name_before(lines, i)
        j = i + 1
        while j < n and not _DIVIDER.match(lines[j]):
            if _HEAD.match(lines[j]) or _TAIL.match(lines[j]):
                raise _EditError(f"SEARCH block {number} has no '=======' line between SEARCH and REPLACE")
            j += 1
        search = lines[i + 1 : j]
        k = j + 1
        while k < n and not _TAIL.match(lines[k]):
            if _HEAD.match(lines[k]):
                raise _EditError(f"SEARCH block {number} has no '>>>>>>> REPLACE' line before the next SEARCH")
            k += 1
        if j >= n or k >= n:
            raise _EditError(
                f"answer is truncated mid-block: SEARCH block {number} has no closing '>>>>>>> REPLACE' line"
            )
        blocks.append(_Block(number, name, tuple(search), tuple(lines[j + 1 : k])))
        i = k + 1
    return blocks


def _name_before(lines: list[str], head: int) -> str | None:
    """A file name on one of the few lines before a SEARCH marker (skipping blank and fence lines), if there is one."""
    for line in reversed(lines[max(0, head - 4) : head]):
        if not line.strip():
            continue
        if _TAIL.match(line) or _DIVIDER.match(line):
            return None
        fence = _FENCE.match(line)
        if fence:
            for token in (fence.group(2).split(":")[-1], fence.group(3)):  # ```python:train.py or ```python train.py
                if _FILENAME.match(token.strip()):
                    return token.strip()
            continue
        candidate = _FILENAME_PREFIX.sub("", re.sub(r"^[#>*\s-]+|[*`:\s]+$", "", line).replace("`", "").strip("*"))
        return candidate if _FILENAME.match(candidate) else None
    return None


def _resolve(name: str | None, previous: str, editable: Sequence[str], number: int) -> str:
    if name is None:
        return previous
    for file in editable:
        if name == file or name.replace("\\", "/").endswith("/" + file):
            return file
    raise _EditError(f"SEARCH block {number} edits locked file {name!r} (only {', '.join(editable)} may change)")


def _apply_blocks(blocks: list[_Block], files: Mapping[str, str], editable: Sequence[str]) -> EditOutcome:
    current: dict[str, list[str]] = {}
    crlf: dict[str, bool] = {}
    fuzzy, target = 0, editable[0]
    for block in blocks:
        target = _resolve(block.file, target, editable, block.number)
        if target not in current:
            original = files.get(target, "")
            crlf[target] = "\r\n" in original
            current[target] = original.replace("\r\n", "\n").split("\n")
        new_lines, used_fuzzy = _apply_block(current[target], block, target)
        current[target] = new_lines
        fuzzy += used_fuzzy
    code = {}
    for name, lines in current.items():
        text = "\n".join(lines)
        if crlf[name]:
            text = text.replace("\n", "\r\n")
        if text != files.get(name, ""):
            code[name] = text
    if not code:
        return _fail("the answer changes nothing: every REPLACE leaves the file as it was")
    return EditOutcome(code=code, blocks=len(blocks), fuzzy=fuzzy)


def _apply_block(lines: list[str], block: _Block, file: str) -> tuple[list[str], bool]:
    """`lines` with the block applied (the last element is "" when the text ends in a newline), and whether the match
    needed tolerance."""
    search, replace = list(block.search), list(block.replace)
    if not any(s.strip() for s in search):
        if any(line.strip() for line in lines):
            raise _EditError(
                f"SEARCH block {block.number} is empty; quote the lines of {file} to replace "
                "(an empty SEARCH only fills an empty file)"
            )
        return [*replace, ""], False
    attempts = [(search, replace, False)]
    trimmed = _trim_blank_edges(search, replace)
    if trimmed != (search, replace):
        attempts.append((*trimmed, True))
    for search_lines, replace_lines, trimmed_edges in attempts:
        found = find_matches(lines, search_lines)
        if found is None:
            continue
        level, starts, shift = found
        if len(starts) > 1:
            raise _EditError(
                f"SEARCH block {block.number} matches {len(starts)} places in {file}: {_snippet(search)}; "
                "quote more lines to make it unique"
            )
        start = starts[0]
        if level > 0:
            replace_lines = [_reindent(line.rstrip(), shift) for line in replace_lines]
        return lines[:start] + replace_lines + lines[start + len(search_lines) :], level > 0 or trimmed_edges
    raise _EditError(
        f"SEARCH block {block.number} not found in {file}: {_snippet(search)} "
        "(SEARCH must copy the file's lines exactly)"
    )


def find_matches(lines: Sequence[str], search: Sequence[str]) -> tuple[int, list[int], int] | None:
    """Where `search` occurs in `lines`, at the first level that finds it: (level, start indices, indent shift).

    Level 0 is exact; level 1 ignores trailing whitespace; level 2 also allows every non-blank line to be indented
    by the same number of spaces more (shift > 0) or fewer (shift < 0) in the file than in `search`."""
    m = len(search)
    windows = range(len(lines) - m + 1)
    exact = [i for i in windows if list(lines[i : i + m]) == list(search)]
    if exact:
        return 0, exact, 0
    stripped_search = [s.rstrip() for s in search]
    loose = [i for i in windows if [f.rstrip() for f in lines[i : i + m]] == stripped_search]
    if loose:
        return 1, loose, 0
    shifted: list[tuple[int, int]] = []
    for i in windows:
        shift = _uniform_shift(lines[i : i + m], stripped_search)
        if shift:
            shifted.append((i, shift))
    if shifted:
        return 2, [i for i, _ in shifted], shifted[0][1]
    return None


def _uniform_shift(window: Sequence[str], search: Sequence[str]) -> int:
    """The indentation the file adds to every non-blank SEARCH line in this window (0 when there is no such shift)."""
    shift: int | None = None
    for have, want in zip(window, search, strict=True):
        have = have.rstrip()
        if not want.strip() or not have.strip():
            if want.strip() or have.strip():
                return 0
            continue
        if have.lstrip() != want.lstrip():
            return 0
        delta = (len(have) - len(have.lstrip(" "))) - (len(want) - len(want.lstrip(" ")))
        if shift is None:
            shift = delta
        elif delta != shift:
            return 0
    return shift or 0


def _reindent(line: str, shift: int) -> str:
    if shift > 0 and line.strip():
        return " " * shift + line
    if shift < 0:
        spaces = len(line) - len(line.lstrip(" "))
        return line[min(spaces, -shift) :]
    return line


def _trim_blank_edges(search: list[str], replace: list[str]) -> tuple[list[str], list[str]]:
    """Drop blank lines a model added around its SEARCH text, and as many from the REPLACE text's matching edge."""
    lead = next(i for i, s in enumerate(search) if s.strip())
    trail = next(i for i, s in enumerate(reversed(search)) if s.strip())
    r_lead = 0
    while r_lead < min(lead, len(replace)) and not replace[r_lead].strip():
        r_lead += 1
    r_trail = 0
    while r_trail < min(trail, len(replace) - r_lead) and not replace[len(replace) - 1 - r_trail].strip():
        r_trail += 1
    return search[lead : len(search) - trail], replace[r_lead : len(replace) - r_trail]


def _snippet(search: Sequence[str]) -> str:
    first = next((s.strip() for s in search if s.strip()), "")
    more = len([s for s in search if s.strip()]) > 1 or len(first) > SNIPPET_CHARS
    return repr(first[:SNIPPET_CHARS] + (" ..." if more else ""))


# --------------------------------------------------------------------------------------------------------------------
# Whole-file answers, diffs and prose
# --------------------------------------------------------------------------------------------------------------------


def _is_unified_diff(lines: list[str]) -> bool:
    has_hunk = any(_DIFF_HUNK.match(line) for line in lines)
    has_headers = any(line.startswith("--- ") for line in lines) and any(line.startswith("+++ ") for line in lines)
    return has_hunk or has_headers or any(line.startswith("diff --git ") for line in lines)


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
        match = _FENCE.match(line)
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


def _whole_file(lines: list[str], files: Mapping[str, str], editable: Sequence[str]) -> EditOutcome:
    """A complete file in place of blocks: the largest fenced block, or else the bare answer from its first line of
    code, accepted when it parses and keeps most of a parent file's top-level names."""
    prose_only = _fail(
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
    if cut and _keeps_parent(_surface_names(first.body), files, editable):
        if first.closed:  # complete but broken: the caller's child_problem reports the syntax error precisely
            target = _whole_file_target(first.body, first.info, files, editable, parsed=False) or editable[0]
            return _whole_file_outcome(first.body, target, files)
        return _fail(
            f"answer is a whole file cut off at line {cut} (it does not parse); "
            "answer with SEARCH/REPLACE blocks instead"
        )
    if not fences and cut:
        return prose_only  # bare text that happens to contain a line like `LR = 3e-3 ...`
    return _fail("answer has code but no SEARCH/REPLACE blocks and no complete file; snippets cannot be placed")


def _whole_file_outcome(body: str, target: str, files: Mapping[str, str]) -> EditOutcome:
    text = body.strip("\n") + "\n"
    if "\r\n" in files.get(target, ""):
        text = text.replace("\n", "\r\n")
    if text == files.get(target, ""):
        return _fail(f"the answer repeats {target} unchanged")
    return EditOutcome(code={target: text}, whole_file=True)


def _whole_file_target(
    body: str, info: str, files: Mapping[str, str], editable: Sequence[str], parsed: bool = True
) -> str | None:
    """The editable file `body` is a complete new version of, or None. With `parsed` False, a body that does not
    parse is judged by the names its unindented lines define."""
    try:
        names = _top_level_names(ast.parse(body))
    except (SyntaxError, ValueError):
        if parsed:
            return None
        names = _surface_names(body)
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
        wanted = _top_level_names(ast.parse(parent))
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
        ast.parse(body)
    except SyntaxError as exc:
        return exc.lineno or 1
    except ValueError:
        return 1
    return None


def _surface_names(body: str) -> set[str]:
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
