"""Reads a candidate's output as it streams: progress lines into a curve, the final summary block into values.

The formats are autoresearch's: progress lines such as
``step 00042 (12.3%) | loss: 2.345678 | ...`` (written with ``\\r`` or ``\\n``) and a summary block of a ``---`` line
followed by ``key: value`` lines, so an unmodified autoresearch checkout parses as it is.
"""

from __future__ import annotations

import codecs
import math
import re

# `pct` is the percent of the budget elapsed; a pattern may instead capture `t`, elapsed seconds on the budget clock.
DEFAULT_PROGRESS = r"step\s+\d+\s+\((?P<pct>[-+0-9.eE]+)%\)\s*\|\s*loss:\s*(?P<value>[-+0-9.eEnaifNAIF]+)"
_SUMMARY_LINE = re.compile(r"([A-Za-z_][\w.]*):\s*(\S.*?)\s*$")
MAX_LINE_CHARS = 64 * 1024


def parse_value(text: str) -> float | str:
    """A summary value as a float when it reads as one (``nan`` and ``inf`` included), else the text."""
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return text


def compile_progress(pattern: str) -> re.Pattern[str]:
    """Compile a progress pattern, checking it names a `value` group and one of `t` or `pct`."""
    compiled = re.compile(pattern)
    groups = set(compiled.groupindex)
    if "value" not in groups or not groups & {"t", "pct"}:
        raise ValueError("a progress pattern needs a (?P<value>...) group and a (?P<t>...) or (?P<pct>...) group")
    return compiled


class OutputParser:
    """Turns lines of output into a curve of (budget-clock seconds, value) and the last summary block."""

    def __init__(self, progress: re.Pattern[str], budget: float) -> None:
        self._progress = progress
        self._budget = budget
        self.curve: list[tuple[float, float]] = []
        self.summary: dict[str, float | str] = {}
        self._in_summary = False

    def feed(self, line: str) -> tuple[float, float] | None:
        """Consume one line; return the curve point it added, if it was a finite progress line."""
        stripped = line.strip()
        if stripped == "---":
            self._in_summary, self.summary = True, {}
            return None
        if self._in_summary and (match := _SUMMARY_LINE.fullmatch(stripped)):
            self.summary[match.group(1)] = parse_value(match.group(2))
            return None
        match = self._progress.search(line)
        if match is None:
            return None
        point = self._point(match)
        if point is not None:
            self.curve.append(point)
        return point

    def _point(self, match: re.Match[str]) -> tuple[float, float] | None:
        groups = match.groupdict()
        try:
            value = float(groups["value"])
            t = float(groups["t"]) if groups.get("t") is not None else float(groups["pct"]) / 100.0 * self._budget
        except (TypeError, ValueError):
            return None
        return (t, value) if math.isfinite(t) and math.isfinite(value) else None


class LineSplitter:
    """Decodes a byte stream incrementally and yields complete lines, split on ``\\n`` and ``\\r`` alike.

    An over-long line (an output flood without newlines) is cut at MAX_LINE_CHARS so memory stays bounded.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""

    def feed(self, data: bytes) -> list[str]:
        text = self._pending + self._decoder.decode(data)
        parts = re.split(r"\r\n|\r|\n", text)
        self._pending = parts.pop()
        if len(self._pending) > MAX_LINE_CHARS:
            parts.append(self._pending[:MAX_LINE_CHARS])
            self._pending = ""
        return parts

    def close(self) -> list[str]:
        rest = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        return [rest] if rest else []
