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
with `evo.operators.base.child_problem`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from evo.operators.llm.whole_file import FENCE, whole_file

__all__ = ["EditOutcome", "apply_answer", "extract_description"]

_HEAD = re.compile(r"^\s*<{5,9}\s*SEARCH\s*:?\s*$", re.IGNORECASE)
_DIVIDER = re.compile(r"^\s*={5,9}\s*$")
_TAIL = re.compile(r"^\s*>{5,9}\s*REPLACE\s*$", re.IGNORECASE)
# A file-name line: a path ending in an extension a target's file plausibly has (not `torch.compile` or `e.g.`).
_FILENAME = re.compile(r"^[\w./\\-]*\w\.(?:py|pyi|md|txt|ya?ml|json|toml|cfg|ini|sh|csv)$", re.IGNORECASE)
_FILENAME_PREFIX = re.compile(r"^(?:file(?:name)?|path)\s*:\s*", re.IGNORECASE)
_DIFF_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@")
_THINKING = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.DOTALL | re.IGNORECASE)
_THINK_OPEN = re.compile(r"<(think|thinking|reasoning)>", re.IGNORECASE)

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
        found = whole_file(lines, files, editable)
        return _fail(found) if isinstance(found, str) else EditOutcome(code={found[0]: found[1]}, whole_file=True)
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
                if _header(follow)[0] or FENCE.match(follow) or _HEAD.match(follow):
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
        fence = FENCE.match(line)
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
# Diffs
# --------------------------------------------------------------------------------------------------------------------


def _is_unified_diff(lines: list[str]) -> bool:
    has_hunk = any(_DIFF_HUNK.match(line) for line in lines)
    has_headers = any(line.startswith("--- ") for line in lines) and any(line.startswith("+++ ") for line in lines)
    return has_hunk or has_headers or any(line.startswith("diff --git ") for line in lines)
