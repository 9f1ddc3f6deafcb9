"""The words evo sends to the LLM: one system prompt, the mutation and crossover requests, repair, learnings.

Plain functions of plain data, so a prompt can be read (and tested) without any client in sight.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence

from evo.operators.base import Attempt, Code, Context, Parent

RECENT_ATTEMPTS = 12  # rows of the attempts table
LOG_TAIL_LINES = 8  # lines of a crashed attempt's log shown to the model

SYSTEM = """\
You are an ML research engineer improving a training script by editing its code. Each edit is trained for the same \
fixed time budget and judged by one metric, {metric} ({better}). Propose one focused change at a time: a new idea, \
or a fix of something that failed.

Answer in exactly this format:
DESCRIPTION: <one line saying what you changed>
RATIONALE: <two or three sentences on why it should improve {metric}>
Then one or more SEARCH/REPLACE blocks, each naming the file it edits:
{file}
<<<<<<< SEARCH
<lines copied exactly from the current file>
=======
<the lines that replace them>
>>>>>>> REPLACE

Rules: SEARCH text must match the current file exactly and only once, so include enough lines to be unique. \
Only edit {editable}; never edit {locked}. The result must be valid Python that runs as it is, with no new packages."""


def system_prompt(context: Context) -> str:
    return SYSTEM.format(
        metric=context.metric,
        better="lower is better" if context.direction == "minimize" else "higher is better",
        file=context.editable[0],
        editable=", ".join(context.editable),
        locked=", ".join(context.locked) or "any other file",
    )


def mutation_prompt(parent: Parent, context: Context) -> str:
    return "\n\n".join(
        [
            *_shared(context),
            f"# The parent to improve ({_outcome(parent, context)})\n"
            f"Its last change: {parent.description or 'baseline'}",
            *_files(parent.code),
            f"Propose one change to this parent that should improve {context.metric}.",
        ]
    )


def crossover_prompt(a: Parent, b: Parent, context: Context) -> str:
    ancestor = context.ancestor or {}
    return "\n\n".join(
        [
            *_shared(context),
            f"# Parent A ({_outcome(a, context)})\nIts last change: {a.description or 'baseline'}",
            *_files(a.code),
            f"# Parent A's changes since the common ancestor\n{_diff(ancestor, a.code)}",
            f"# Parent B ({_outcome(b, context)})\nIts last change: {b.description or 'baseline'}",
            f"# Parent B's changes since the common ancestor\n{_diff(ancestor, b.code)}",
            "Write a child that combines what made each parent good: edit parent A's file so it also carries the best "
            "of parent B's changes (resolve any conflict in the way most likely to improve "
            f"{context.metric}).",
        ]
    )


def repair_prompt(problem: str) -> str:
    return (
        f"Your answer could not be used: {problem}. Answer again in the same format; copy SEARCH text exactly "
        "from the current file."
    )


def learnings_prompt(previous: str, attempts: Sequence[Attempt], context: Context) -> str:
    return "\n\n".join(
        [
            f"# Research directions\n{context.program.strip() or '(none given)'}",
            f"# Notes so far\n{previous.strip() or '(none yet)'}",
            f"# Attempts since then\n{_attempts_table(attempts, context)}",
            "Rewrite the notes in under 250 words as four short lists: what helped, what hurt, what crashed "
            "(and why), and ideas not yet tried. Keep facts with their numbers; drop anything the attempts contradict.",
        ]
    )


def _shared(context: Context) -> list[str]:
    recent = context.attempts[-RECENT_ATTEMPTS:]
    sections = [f"# Research directions\n{context.program.strip() or '(none given)'}"]
    if context.learnings.strip():
        sections.append(f"# What this run has learned so far\n{context.learnings.strip()}")
    if recent:
        sections.append(f"# Recent attempts (most recent last)\n{_attempts_table(recent, context)}")
        crashes = [a for a in recent if a.status == "crash" and a.log_tail.strip()][-2:]
        for attempt in crashes:
            tail = "\n".join(attempt.log_tail.strip().splitlines()[-LOG_TAIL_LINES:])
            sections.append(f"# Log tail of the crashed attempt '{attempt.description}'\n```\n{tail}\n```")
    return sections


def _attempts_table(attempts: Sequence[Attempt], context: Context) -> str:
    if not attempts:
        return "(none)"
    rows = [f"| description | status | {context.metric} | change vs parent |", "|---|---|---|---|"]
    for a in attempts:
        metric = f"{a.metric:.6f}" if a.metric is not None else "-"
        delta = f"{a.delta:+.6f}" if a.delta is not None else "-"
        rows.append(f"| {a.description} | {a.status} | {metric} | {delta} |")
    return "\n".join(rows)


def _outcome(parent: Parent, context: Context) -> str:
    value = f"{parent.metric:.6f}" if parent.metric is not None else "no value"
    return f"{context.metric} = {value}, status {parent.status}"


def _files(code: Code) -> list[str]:
    return [f"{name}\n```python\n{text.rstrip()}\n```" for name, text in code.items()]


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
