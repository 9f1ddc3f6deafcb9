"""The words evo sends to the LLM: one system prompt, the mutation and crossover requests, repair, learnings.

Plain functions of plain data, so a prompt can be read (and tested) without any client in sight. A request is a list
of parts, each with its rank in TRIM_ORDER, so that `evo.operators.llm.fit` can shorten it to fit a context.

Laid out for prompt caching: the system prompt, then the user message's static part (the research directions, then
the file to edit as the parent has it), then its changing part (the parent's outcome and training dynamics, the run's
notes, the recent attempts with the best so far, crash tails, earlier runs, inspirations, the noise level, the task
and the answer format once more). Consecutive calls of a run share a byte-identical prefix through the directions,
and through the whole file when they have the same parent: nothing before it depends on the call, and the file view
depends only on the parent (`file_view`). Each part's size rule is in `evidence`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evo.operators.base import Attempt, Code, Context, Parent
from evo.operators.llm.directions import research_directions
from evo.operators.llm.evidence import (
    CRASH_TAILS,
    DIFF_LINES,
    EARLIER_ROWS,
    NOTES_CHARS,
    RECENT_ATTEMPTS,
    attempts_table,
    code_diff,
    crash_tail,
    fenced_diff,
    inspirations_text,
    one_line,
)
from evo.operators.llm.file_view import MARKER

# What a request loses first when it does not fit, in order (`evo.operators.llm.fit` says how).
TRIM_ORDER = (
    "inspirations",
    "earlier runs",
    "crash logs",
    "recent attempts",
    "learnings",
    "parents' notes",
    "function bodies",
    "research directions",
)
INSPIRATIONS, EARLIER, LOGS, ATTEMPTS, LEARNINGS, NOTES, BODIES, DIRECTIONS = range(len(TRIM_ORDER))
KEEP = len(TRIM_ORDER)  # never trimmed
ELIDED_NOTE = (
    f" (some function bodies are not shown: `{MARKER.format(lines='N')}` stands for each; SEARCH text can quote only"
    " the lines shown)"
)


@dataclass(frozen=True)
class Part:
    """A section of a request: `trim` is its rank in TRIM_ORDER (KEEP: never trimmed) and `short` what trimming
    leaves of it; `source` is (file, text) for a file shown whole, which may be shown with bodies left out; `kind`
    names it (for measuring prompts)."""

    text: str
    trim: int = KEEP
    short: str = ""
    source: tuple[str, str] | None = None
    kind: str = ""


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

NOISE_UNKNOWN = (
    "The noise level is unknown: this run measured no noise model (calibration, early_stop and confirm are off), so "
    "a small change in {metric} may be luck."
)
REMINDER = (
    "Answer in the format given at the start: DESCRIPTION: <one line>, RATIONALE: <two or three sentences>, then {how}."
)


def system_prompt(context: Context, whole_file: bool = False) -> str:
    """The system prompt asking for SEARCH/REPLACE blocks, or with `whole_file` for the complete file."""
    answer = (WHOLE if whole_file else EDITS).format(
        file=context.editable[0],
        editable=", ".join(context.editable),
        locked=", ".join(context.locked) or "any other file",
    )
    better = "lower is better" if context.direction == "minimize" else "higher is better"
    return SYSTEM.format(metric=context.metric, better=better, answer=answer)


def mutation_parts(parent: Parent, context: Context, whole_file: bool = False) -> list[Part]:
    return [
        *_static(parent.code, context),
        _parent("# The parent to improve", parent, context),
        *_evidence(context),
        *_closing(f"Propose one change to this parent that should improve {context.metric}.", context, whole_file),
    ]


def crossover_parts(a: Parent, b: Parent, context: Context, whole_file: bool = False) -> list[Part]:
    ancestor = context.ancestor or {}
    return [
        *_static(a.code, context),
        _parent("# Parent A (its file is shown above)", a, context),
        Part(f"# Parent A's changes since the common ancestor\n{_diff(ancestor, a.code)}", NOTES, kind="parents"),
        _parent("# Parent B", b, context),
        Part(f"# Parent B's changes since the common ancestor\n{_diff(ancestor, b.code)}", kind="parents"),
        *_evidence(context),
        *_closing(
            "Write a child that combines what made each parent good: edit parent A's file so it also carries the "
            "best of parent B's changes (resolve any conflict in the way most likely to improve "
            f"{context.metric}).",
            context,
            whole_file,
        ),
    ]


def file_part(name: str, text: str, elided: bool = False) -> Part:
    """A file shown in full, or (`elided`) with some function bodies replaced by marker lines."""
    note = ELIDED_NOTE if elided else ""
    return Part(f"# The file to edit: {name}{note}\n```python\n{text.rstrip()}\n```", source=(name, text), kind="file")


def repair_prompt(problem: str, whole_file: bool = False) -> str:
    again = "with the complete file" if whole_file else "copy SEARCH text exactly from the current file"
    return f"Your answer could not be used: {problem}. Answer again in the same format; {again}."


def learnings_prompt(previous: str, attempts: Sequence[Attempt], context: Context) -> str:
    return "\n\n".join(
        [
            _directions(context),
            f"# Notes so far\n{previous.strip() or '(none yet)'}",
            f"# Attempts since then\n{attempts_table(attempts, context.metric)}",
            "Rewrite the notes in under 250 words as four short lists: what helped, what hurt, what crashed "
            "(and why), and ideas not yet tried. Keep facts with their numbers; drop anything the attempts contradict.",
        ]
    )


def _directions(context: Context) -> str:
    return f"# Research directions\n{research_directions(context.program).strip() or '(none given)'}"


def _static(code: Code, context: Context) -> list[Part]:
    """What every call of the run starts with: the directions, then the file to edit (the same for one parent)."""
    return [Part(_directions(context), DIRECTIONS, kind="directions"), *_files(code)]


def _evidence(context: Context) -> list[Part]:
    """The changing part: what the run has learned and tried so far, and where it stands."""
    parts = []
    if context.learnings.strip():
        notes = context.learnings.strip()[:NOTES_CHARS]
        parts.append(Part(f"# What this run has learned so far\n{notes}", LEARNINGS, kind="learnings"))
    recent = context.attempts[-RECENT_ATTEMPTS:]
    if recent:
        table = attempts_table(recent, context.metric)
        parts.append(Part(f"# Recent attempts (most recent last)\n{table}", ATTEMPTS, kind="attempts"))
    if context.best is not None:
        parts.append(Part(_best(context.best, context), ATTEMPTS, kind="best"))
    crashes = [a for a in recent if a.status == "crash" and a.log_tail.strip()][-CRASH_TAILS:]
    for a in crashes:
        title = " ".join(filter(None, ["# Log tail of the crashed attempt", a.id])) + f": {one_line(a.description)}"
        parts.append(Part(f"{title}\n```\n{crash_tail(a.log_tail)}\n```", LOGS, kind="crash logs"))
    if context.earlier:
        table = attempts_table(context.earlier[-EARLIER_ROWS:], context.metric)
        parts.append(Part(f"# Earlier runs on this target (most recent last)\n{table}", EARLIER, kind="earlier runs"))
    if context.inspirations:
        title = (
            "# Strong individuals of other lineages (of other islands, where the run has several): what they changed"
            " since their common ancestor with the parent, ideas worth borrowing"
        )
        text = inspirations_text(context.inspirations, context.metric)
        parts.append(Part(f"{title}\n\n{text}", INSPIRATIONS, kind="inspirations"))
    parts.append(Part(f"# Noise\n{context.noise or NOISE_UNKNOWN.format(metric=context.metric)}", kind="noise"))
    return parts


def _closing(task: str, context: Context, whole_file: bool) -> list[Part]:
    """The task, the duplicate to avoid (if any), and the answer format once more, where the model reads last."""
    how = (
        f"the complete new {context.editable[0]} in one ```python block"
        if whole_file
        else "SEARCH/REPLACE blocks naming the file, SEARCH text copied exactly from the file shown above"
    )
    parts = [Part(task, kind="task")]
    if context.avoid:
        parts.append(Part(context.avoid, kind="task"))
    return [*parts, Part(REMINDER.format(how=how), kind="format")]


def _best(best: Attempt, context: Context) -> str:
    value = f"{context.metric} = {best.metric:.6f}" if best.metric is not None else "no value"
    return f"# Best so far\n{best.id} ({value}): {one_line(best.description) or 'baseline'}"


def _parent(title: str, parent: Parent, context: Context) -> Part:
    """The parent's outcome, and its last change and training dynamics as notes trimming may drop."""
    value = f"{parent.metric:.6f}" if parent.metric is not None else "no value"
    header = f"{title}: {parent.id} ({context.metric} = {value}, status {parent.status})"
    notes = [f"Its last change: {one_line(parent.description) or 'baseline'}"]
    if context.dynamics.get(parent.id):
        notes.append(f"Its training: {context.dynamics[parent.id]}")
    return Part("\n".join([header, *notes]), NOTES, short=header, kind="parents")


def _files(code: Code) -> list[Part]:
    return [file_part(name, text) for name, text in code.items()]


def _diff(before: Code, after: Code) -> str:
    return fenced_diff(code_diff(before, after, DIFF_LINES))
