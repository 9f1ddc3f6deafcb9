"""The words evo sends to the LLM: one system prompt, the mutation and crossover requests, repair, learnings.

Plain functions of plain data, so a prompt can be read (and tested) without any client in sight. A request is a list
of parts, each with its rank in TRIM_ORDER, so that `evo.operators.llm.fit` can shorten it to fit a context.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from evo.operators.base import Attempt, Code, Context, Parent
from evo.operators.llm.directions import research_directions
from evo.operators.llm.file_view import MARKER

RECENT_ATTEMPTS = 12  # rows of the attempts table
LOG_TAIL_LINES = 8  # lines of a crashed attempt's log shown to the model

# What a request loses first when it does not fit, in order (`evo.operators.llm.fit` says how).
TRIM_ORDER = ("crash logs", "recent attempts", "learnings", "parents' notes", "function bodies", "research directions")
LOGS, ATTEMPTS, LEARNINGS, NOTES, BODIES, DIRECTIONS = range(len(TRIM_ORDER))
KEEP = len(TRIM_ORDER)  # never trimmed
ELIDED_NOTE = (
    f" (some function bodies are not shown: `{MARKER.format(lines='N')}` stands for each; SEARCH text can quote only"
    " the lines shown)"
)


@dataclass(frozen=True)
class Part:
    """A section of a request: `trim` is its rank in TRIM_ORDER (KEEP: never trimmed) and `short` what trimming
    leaves of it; `source` is (file, text) for a file shown whole, which may be shown with bodies left out."""

    text: str
    trim: int = KEEP
    short: str = ""
    source: tuple[str, str] | None = None


SYSTEM = """\
You are an ML research engineer improving a training script by editing its code. Each edit is trained for the same \
fixed time budget and judged by one metric, {metric} ({better}). Propose one focused change at a time: a new idea, \
or a fix of something that failed.

Answer in exactly this format:
DESCRIPTION: <one line saying what you changed>
RATIONALE: <two or three sentences on why it should improve {metric}>
{answer}"""

EDITS = """\
Then one or more SEARCH/REPLACE blocks, each naming the file it edits:
{file}
<<<<<<< SEARCH
<lines copied exactly from the current file>
=======
<the lines that replace them>
>>>>>>> REPLACE

Rules: SEARCH text must match the current file exactly and only once, so include enough lines to be unique. \
Only edit {editable}; never edit {locked}. The result must be valid Python that runs as it is, with no new packages."""

WHOLE = """\
Then the complete new {file} in one ```python block: every line of it, changed or not.

Rules: Only edit {editable}; never edit {locked}. The result must be valid Python that runs as it is, with no new \
packages."""


def system_prompt(context: Context, whole_file: bool = False) -> str:
    """The system prompt asking for SEARCH/REPLACE blocks, or with `whole_file` for the complete file."""
    answer = (WHOLE if whole_file else EDITS).format(
        file=context.editable[0],
        editable=", ".join(context.editable),
        locked=", ".join(context.locked) or "any other file",
    )
    better = "lower is better" if context.direction == "minimize" else "higher is better"
    return SYSTEM.format(metric=context.metric, better=better, answer=answer)


def mutation_parts(parent: Parent, context: Context) -> list[Part]:
    return [
        *_shared(context),
        _parent("# The parent to improve", parent, context),
        *_files(parent.code),
        Part(f"Propose one change to this parent that should improve {context.metric}."),
    ]


def crossover_parts(a: Parent, b: Parent, context: Context) -> list[Part]:
    ancestor = context.ancestor or {}
    return [
        *_shared(context),
        _parent("# Parent A", a, context),
        *_files(a.code),
        Part(f"# Parent A's changes since the common ancestor\n{_diff(ancestor, a.code)}", NOTES),
        _parent("# Parent B", b, context),
        Part(f"# Parent B's changes since the common ancestor\n{_diff(ancestor, b.code)}"),
        Part(
            "Write a child that combines what made each parent good: edit parent A's file so it also carries the "
            "best of parent B's changes (resolve any conflict in the way most likely to improve "
            f"{context.metric})."
        ),
    ]


def file_part(name: str, text: str, elided: bool = False) -> Part:
    """A file shown in full, or (`elided`) with some function bodies replaced by marker lines."""
    note = ELIDED_NOTE if elided else ""
    return Part(f"{name}{note}\n```python\n{text.rstrip()}\n```", source=(name, text))


def repair_prompt(problem: str, whole_file: bool = False) -> str:
    again = "with the complete file" if whole_file else "copy SEARCH text exactly from the current file"
    return f"Your answer could not be used: {problem}. Answer again in the same format; {again}."


def learnings_prompt(previous: str, attempts: Sequence[Attempt], context: Context) -> str:
    return "\n\n".join(
        [
            _directions(context),
            f"# Notes so far\n{previous.strip() or '(none yet)'}",
            f"# Attempts since then\n{_attempts_table(attempts, context)}",
            "Rewrite the notes in under 250 words as four short lists: what helped, what hurt, what crashed "
            "(and why), and ideas not yet tried. Keep facts with their numbers; drop anything the attempts contradict.",
        ]
    )


def _directions(context: Context) -> str:
    return f"# Research directions\n{research_directions(context.program).strip() or '(none given)'}"


def _shared(context: Context) -> list[Part]:
    recent = context.attempts[-RECENT_ATTEMPTS:]
    parts = [Part(_directions(context), DIRECTIONS)]
    if context.learnings.strip():
        parts.append(Part(f"# What this run has learned so far\n{context.learnings.strip()}", LEARNINGS))
    if recent:
        parts.append(Part(f"# Recent attempts (most recent last)\n{_attempts_table(recent, context)}", ATTEMPTS))
        crashes = [a for a in recent if a.status == "crash" and a.log_tail.strip()][-2:]
        for attempt in crashes:
            tail = "\n".join(attempt.log_tail.strip().splitlines()[-LOG_TAIL_LINES:])
            parts.append(Part(f"# Log tail of the crashed attempt '{attempt.description}'\n```\n{tail}\n```", LOGS))
    return parts


def _parent(title: str, parent: Parent, context: Context) -> Part:
    """The parent's outcome, and its last change as a note trimming may drop."""
    value = f"{parent.metric:.6f}" if parent.metric is not None else "no value"
    header = f"{title} ({context.metric} = {value}, status {parent.status})"
    return Part(f"{header}\nIts last change: {parent.description or 'baseline'}", NOTES, short=header)


def _attempts_table(attempts: Sequence[Attempt], context: Context) -> str:
    if not attempts:
        return "(none)"
    rows = [f"| description | status | {context.metric} | change vs parent |", "|---|---|---|---|"]
    for a in attempts:
        metric = f"{a.metric:.6f}" if a.metric is not None else "-"
        delta = f"{a.delta:+.6f}" if a.delta is not None else "-"
        rows.append(f"| {a.description} | {a.status} | {metric} | {delta} |")
    return "\n".join(rows)


def _files(code: Code) -> list[Part]:
    return [file_part(name, text) for name, text in code.items()]


def _diff(before: Mapping[str, str], after: Code) -> str:
    chunks = []
    for name, text in after.items():
        lines = difflib.unified_diff(
            before.get(name, "").splitlines(keepends=True),
            text.splitlines(keepends=True),
            f"ancestor/{name}",
            f"parent/{name}",
        )
        chunks.append("".join(lines))
    body = "".join(chunks).strip()
    return f"```diff\n{body}\n```" if body else "(no changes)"
