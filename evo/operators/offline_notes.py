"""Without an LLM, learnings.md is still kept: the offline notes keeper writes it from the attempts' own numbers.

Every `every` finished individuals the coordinator hands over the recent attempts; the keeper merges them into what
the notes already say (the file is its only state, so a resumed run carries on where it stopped) and lists, most
useful first: the counts, the changes that beat their parent and by how much, those that did worse, and what
crashed or was stopped and why. LLM prompts carry these notes, so they stay under `MAX_WORDS`; descriptions and
reasons are untrusted text, each kept to one short line. Notes written by someone else are not read back: their
lists start empty.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from evo.operators.base import Attempt, Context, Usage

MAX_WORDS = 250
MAX_HELPED, MAX_HURT, MAX_FAILED = 6, 4, 4  # entries per list
TEXT_CHARS = 90  # of a description or a reason
TITLE = "# Learnings (offline notes: the attempts' numbers, no LLM)"
HELPED, HURT, FAILED = "## Helped", "## Hurt", "## Crashed or stopped"
OUTCOMES = ("helped", "hurt", "unchanged", "crashed", "stopped")
_SEP = " — "  # between a failure's description and its reason (taken out of both, so a line reads back)
_CHANGE = re.compile(r"- ([-+]\d[\d.]*(?:e[-+]?\d+)?): (.*)")
_FAILURE = re.compile(rf"- (\w+): (.*?){_SEP}(.*)")
_COUNT = re.compile(rf"(\d+) ({'|'.join(OUTCOMES)})\b")


@dataclass
class _Record:
    """What the notes hold: outcome counts, each measured change (delta, description), each failure (status,
    description, reason) newest first."""

    counts: Counter[str] = field(default_factory=Counter)
    changes: list[tuple[float, str]] = field(default_factory=list)
    failures: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class OfflineNotes:
    """The notes keeper of a run without an LLM (the `Notes` protocol): costs nothing and never fails but on disk."""

    path: Path  # learnings.md in the run directory
    every: int  # evaluations between rewrites (llm.learnings_every)

    @property
    def text(self) -> str:
        return self.path.read_text(encoding="utf-8") if self.path.is_file() else ""

    def due(self, evaluations: int) -> bool:
        return evaluations > 0 and evaluations % self.every == 0

    def update(self, attempts: Sequence[Attempt], context: Context) -> tuple[Usage, str]:
        """Merge `attempts` into the notes and rewrite the file; on failure keep the old notes.

        Returns no usage and an error ("" on success)."""
        record = _read(self.text)
        for attempt in attempts:
            _add(record, attempt, _sign(context.direction))
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(render(record, context.metric, context.direction), encoding="utf-8")
            os.replace(tmp, self.path)  # a kill mid-write leaves the old notes, never half of the new
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            return Usage(), f"could not write {self.path}: {exc}"
        return Usage(), ""


def render(record: _Record, metric: str, direction: str) -> str:
    """The notes as Markdown, the longest list cut until they fit in `MAX_WORDS`."""
    sign = _sign(direction)
    better = "lower" if sign < 0 else "higher"
    helped = _largest_first([c for c in record.changes if c[0] * sign > 0], sign)[:MAX_HELPED]
    hurt = _largest_first([c for c in record.changes if c[0] * sign < 0], -sign)[:MAX_HURT]
    failed = _newest_once(record.failures)[:MAX_FAILED]
    while True:
        text = "\n".join(
            [
                TITLE,
                "",
                _counts_line(record.counts),
                *_section(f"{HELPED} (change in {metric} vs parent; {better} is better)", helped, _change_line),
                *_section(f"{HURT} (change in {metric} vs parent)", hurt, _change_line),
                *_section(f"{FAILED} (why: the first line of the reason)", failed, _failure_line),
            ]
        )
        longest = max((hurt, failed, helped), key=len)  # on a tie, cut what hurt before what helped
        if len(text.split()) <= MAX_WORDS or not longest:
            return text + "\n"
        longest.pop()


def _read(text: str) -> _Record:
    """The record behind notes this keeper wrote (lines it does not recognise are skipped)."""
    record, section = _Record(), ""
    if not text.startswith(TITLE):
        return record
    for line in text.splitlines():
        if line.startswith("#"):
            section = line
        elif not line.startswith("- "):
            record.counts.update({outcome: int(n) for n, outcome in _COUNT.findall(line)})
        elif section.startswith((HELPED, HURT)) and (change := _CHANGE.fullmatch(line)):
            record.changes.append((float(change[1]), change[2]))
        elif section.startswith(FAILED) and (failure := _FAILURE.fullmatch(line)):
            record.failures.append((failure[1], failure[2], failure[3]))
    return record


def _add(record: _Record, attempt: Attempt, sign: int) -> None:
    """Count `attempt` and note its change (as written: three significant digits) or its failure (newest first)."""
    description = _one_line(attempt.description) or "(no description)"
    if attempt.status != "ok":
        record.counts["stopped" if attempt.status in ("pruned", "timeout") else "crashed"] += 1
        record.failures.insert(0, (attempt.status, description, _reason(attempt)))
        return
    delta = float(f"{attempt.delta:.3g}") if attempt.delta is not None and math.isfinite(attempt.delta) else 0.0
    record.counts["unchanged" if delta == 0 else "helped" if delta * sign > 0 else "hurt"] += 1
    if delta != 0:
        record.changes.append((delta, description))


def _sign(direction: str) -> int:
    """+1 when a larger metric is better, -1 when a smaller one is."""
    return -1 if direction == "minimize" else 1


def _largest_first(changes: list[tuple[float, str]], sign: int) -> list[tuple[float, str]]:
    """`changes` largest first in the `sign` direction, each description once (with its largest change)."""
    kept: dict[str, tuple[float, str]] = {}
    for delta, description in sorted(changes, key=lambda c: c[0] * sign, reverse=True):
        kept.setdefault(description, (delta, description))
    return list(kept.values())


def _newest_once(failures: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """`failures` (newest first) with each status and description once, its newest reason kept."""
    kept: dict[tuple[str, str], tuple[str, str, str]] = {}
    for status, description, reason in failures:
        kept.setdefault((status, description), (status, description, reason))
    return list(kept.values())


def _reason(attempt: Attempt) -> str:
    """The first line of the attempt's reason, else the last line of its log, else a placeholder."""
    lines = attempt.reason.splitlines() or attempt.log_tail.strip().splitlines()[-1:]
    first = next((line for line in lines if line.strip()), "")
    return _one_line(first) or "no reason recorded"


def _one_line(text: str) -> str:
    """Untrusted text as one short line: whitespace collapsed, the separator taken out, cut at `TEXT_CHARS`."""
    flat = " ".join(text.replace(_SEP.strip(), "-").split())
    return flat if len(flat) <= TEXT_CHARS else flat[: TEXT_CHARS - 1].rstrip() + "…"


def _counts_line(counts: Counter[str]) -> str:
    total = sum(counts[o] for o in OUTCOMES)
    return f"{total} attempts: " + ", ".join(f"{counts[o]} {o}" for o in OUTCOMES) + "."


def _section(heading: str, entries: Sequence[tuple], line: Callable[..., str]) -> list[str]:
    return ["", heading, *(line(*entry) for entry in entries)] if entries else []


def _change_line(delta: float, description: str) -> str:
    return f"- {delta:+.3g}: {description}"


def _failure_line(status: str, description: str, reason: str) -> str:
    return f"- {status}: {description}{_SEP}{reason}"
