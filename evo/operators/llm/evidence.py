"""The evidence a request carries, rendered for the model: attempts with their ids, parents, outcome and change in
noise units, crash tails cut to their traceback, and inspirations with their diffs. Every part is held to a size rule
below (the one place they are stated), so no part can crowd out the file; `fit` then drops whole parts in
`prompts.TRIM_ORDER` when the context still cannot hold them.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence

from evo.operators.base import Attempt, Code

# Size rules: the most each part of a request holds. Directions and the file have none of their own: the target
# decides them, and `fit` trims or elides them last.
RECENT_ATTEMPTS = 12  # rows of the recent-attempts table
EARLIER_ROWS = 12  # rows of the earlier-runs table (memory.shown says how many the run reads; the newest are shown)
CELL_CHARS = 100  # of a description or a failure reason in a table row
CRASH_TAILS = 2  # crashed attempts shown with their log tail: the most recent ones
CRASH_TAIL_LINES = 16  # lines of a tail: its traceback (the first line and the last ones), else the log's last lines
LINE_CHARS = 160  # of one line of a log tail
CRASH_LOG_CHARS = 8000  # of a crashed attempt's log read from its end, to find where its traceback starts
NOTES_CHARS = 2000  # of the run's learnings (asked for in under 250 words)
DIFF_LINES = 80  # of each parent's diff in a crossover
INSPIRATION_DIFF_LINES = 30  # of each inspiration's diff (llm.inspirations says how many)
DYNAMICS_FRACTIONS = (0.1, 0.25, 0.5, 0.75, 1.0)  # of the budget, where the parent's loss is shown
DYNAMICS_KEYS = 6  # summary values of the parent shown (steps, throughput, memory: whichever the target prints)

TRACEBACK = "Traceback (most recent call last)"


def attempts_table(attempts: Sequence[Attempt], metric: str) -> str:
    """One row per attempt: who it is, where it came from, what it tried, and how it went against its parent."""
    if not attempts:
        return "(none)"
    rows = [
        f"| id | parent | operator | description | status | {metric} | change vs parent | why not ok |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for a in attempts:
        status = f"{a.status} at {a.stopped_at:.0%} of the budget" if a.stopped_at is not None else a.status
        cells = (
            a.id or "-",
            ", ".join(a.parents) or "-",
            a.operator or "-",
            one_line(a.description),
            status,
            f"{a.metric:.6f}" if a.metric is not None else "-",
            change_text(a),
            one_line(a.reason) or "-",
        )
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def change_text(attempt: Attempt) -> str:
    """The change against its parent: the number, and in noise units when the run knows its noise."""
    if attempt.delta is None:
        return "-"
    return f"{attempt.delta:+.6f}" + (f" ({attempt.change})" if attempt.change else "")


def crash_tail(log: str) -> str:
    """The end of a crashed attempt's log from its traceback on, else its last lines; at most CRASH_TAIL_LINES lines
    (a long traceback keeps its first line and its last ones, where the error is), each cut to LINE_CHARS."""
    start = log.find(TRACEBACK)
    lines = (log[start:] if start >= 0 else log).rstrip().splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    if len(lines) > CRASH_TAIL_LINES and start >= 0:
        keep = CRASH_TAIL_LINES - 2
        lines = [lines[0], f"... ({len(lines) - 1 - keep} lines)", *lines[-keep:]]
    lines = lines[-CRASH_TAIL_LINES:]
    return "\n".join(line if len(line) <= LINE_CHARS else line[: LINE_CHARS - 3] + "..." for line in lines)


def inspirations_text(inspirations: Sequence[Attempt], metric: str) -> str:
    blocks = []
    for a in inspirations:
        value = f"{metric} = {a.metric:.6f}" if a.metric is not None else "no value"
        change = f"; against its parent {change_text(a)}" if a.delta is not None else ""
        blocks.append(f"## {a.id}: {one_line(a.description)} ({value}{change})\n{fenced_diff(a.diff)}")
    return "\n\n".join(blocks)


def code_diff(before: Mapping[str, str], after: Code, limit: int) -> str:
    """The unified diff from `before` to `after`, at most `limit` lines (the rest counted, not shown)."""
    lines: list[str] = []
    for name, text in after.items():
        lines += difflib.unified_diff(
            before.get(name, "").splitlines(), text.splitlines(), f"a/{name}", f"b/{name}", lineterm=""
        )
    if len(lines) > limit:
        lines = [*lines[:limit], f"... ({len(lines) - limit} more diff lines)"]
    return "\n".join(lines)


def fenced_diff(diff: str) -> str:
    return f"```diff\n{diff}\n```" if diff.strip() else "(no changes)"


def one_line(text: str) -> str:
    """Table-safe and short: one line, no column separators, at most CELL_CHARS."""
    text = " ".join(text.split()).replace("|", "/")
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 3] + "..."
