"""The research directions in a target's program, without the instructions for an agent that runs the loop itself.

autoresearch's `program.md` is written for an agent that runs the experiments: make a git branch, commit, run
`uv run train.py > run.log`, record results.tsv, reset on a loss, never stop. evo runs that loop, and the operator only
edits the file, so those lines would tell the model to do what it cannot. A program that names such a loop
(AGENT_MARKERS) is filtered:

1. a section (a heading below the title, down to the next heading of its level or above) whose title is about setup,
   running, logging, results or the output format (LOOP_TITLES) is dropped whole;
2. in what is left, outside code fences, each sentence about running or recording experiments (LOOP_SENTENCE: git,
   a branch, a shell command, results.tsv, run.log, timeouts, the first run, never stopping) is dropped, and so is a
   heading whose section is left empty.

What stays is the goal, the metric, what may and may not change, and the simplicity criterion. A program with no such
loop, such as a directions file a target names with `program:` in target.yaml, is used as it is.
"""

from __future__ import annotations

import re

AGENT_MARKERS = re.compile(r"LOOP FOREVER|NEVER STOP|results\.tsv|\bgit (?:commit|reset|checkout)\b", re.IGNORECASE)
LOOP_TITLES = re.compile(r"\b(?:set ?up|logging|log|results|output|loop|running|timeouts?|workflow)\b", re.IGNORECASE)
LOOP_SENTENCE = re.compile(
    r"\bgit\b|\bbranch\b|results\.tsv|run\.log|`(?:uv|python|grep|tail|git)\b|\bnever stop|\bloop forever"
    r"|\bindefinitely\b|\btime ?out\b|\bkill it\b|\bfirst run\b|\bautonomous",
    re.IGNORECASE,
)
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_FENCE = re.compile(r"^\s*(?:```|~~~)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[.!?]\*\*)\s+")
_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


def research_directions(program: str) -> str:
    """`program` without its agent-loop instructions (the module docstring says which), or as it is if it has none."""
    if not AGENT_MARKERS.search(program):
        return program
    kept: list[str] = []
    dropping = 0  # the level of the dropped section we are in (0: none)
    fenced = False
    for line in program.splitlines():
        heading = None if fenced else _HEADING.match(line)
        if heading:
            level = len(heading.group(1))
            if dropping and level > dropping:
                continue
            dropping = level if level > 1 and LOOP_TITLES.search(heading.group(2)) else 0
            if not dropping:
                kept.append(line)
            continue
        if dropping:
            continue
        if _FENCE.match(line):
            fenced = not fenced
            kept.append(line)
        elif fenced or not line.strip():
            kept.append(line)
        elif left := _without_loop_sentences(line):
            kept.append(left)
    return _tidy(kept)


def _without_loop_sentences(line: str) -> str:
    """The line's sentences that are not about the loop ("" when none is left), its list marker kept."""
    marker = _ITEM.match(line)
    prefix = marker.group() if marker else ""
    sentences = [s for s in _SENTENCE_END.split(line[len(prefix) :]) if s and not LOOP_SENTENCE.search(s)]
    return prefix + " ".join(sentences) if sentences else ""


def _tidy(lines: list[str]) -> str:
    """Headings whose sections were emptied dropped (from the end, so a chain of them goes), blank runs squeezed."""
    out: list[str] = []
    next_level = 0  # level of the nearest heading below, with text in between or under it (0: none)
    body = False  # whether text follows before that heading
    fenced = False
    for line in reversed(lines):
        fenced ^= bool(_FENCE.match(line))
        heading = None if fenced else _HEADING.match(line)
        if heading:
            level = len(heading.group(1))
            if not body and (not next_level or next_level <= level):
                continue
            next_level, body = level, False
        elif line.strip():
            body = True
        out.append(line)
    text = "\n".join(reversed(out))
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
