"""Live progress of a search: a rich status line on a terminal, one plain line per finished individual otherwise."""

from __future__ import annotations

import sys
from typing import TextIO

from evo.search import Progress
from population.individual import Individual


def _metric(individual: Individual | None) -> str:
    return f"{individual.metric:.6f}" if individual is not None and individual.metric is not None else "-"


def printable(text: str, width: int) -> str:
    """Untrusted text (a model's description, a candidate's error) on one terminal line: control characters, which
    could move the cursor or recolour the terminal, shown as escapes; cut to `width`."""
    flat = " ".join(text.split())
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in flat)[:width]


class ProgressDisplay:
    """The coordinator's progress callback. On a TTY it redraws one status line and prints a line per finished
    individual and per notice above it; in a log it appends those lines only."""

    def __init__(self, stream: TextIO = sys.stderr, metric: str = "val_bpb") -> None:
        self.stream, self.metric = stream, metric
        self.live = stream.isatty()
        self._seen: str | None = None
        self._status = ""

    def __call__(self, progress: Progress) -> None:
        if progress.last is not None and progress.last.id != self._seen:
            self._seen = progress.last.id
            last = progress.last
            line = f"{last.id} {last.status:<7} {self.metric} {_metric(last)}  {printable(last.description, 70)}"
            line += f"  ({printable(progress.note, 60)})" if progress.note else ""
            line += f"  ({printable(last.reason, 60)})" if last.reason else ""
            self._write(line, newline=True)
        tokens = progress.prompt_tokens + progress.completion_tokens
        failed = f"  {progress.failed_proposals} proposals failed" if progress.failed_proposals else ""
        self._status = (
            f"  done {progress.finished}  running {progress.running}/{progress.slots}  best {_metric(progress.best)}"
            f" (baseline {_metric(progress.baseline)}){failed}  LLM {tokens:,} tokens ${progress.cost:.4f}"
            f"  {progress.elapsed / 60:.1f} min"
        )
        if self.live:
            self._write(self._status, newline=False)

    def note(self, text: str) -> None:
        """A notice (calibration, a skipped id, a failure's hint) on lines of its own, above the status line."""
        for line in text.splitlines():
            self._write(printable(line, 400), newline=True)
        if self.live and self._status:
            self._write(self._status, newline=False)

    def close(self) -> None:
        if self.live and self._status:
            self.stream.write("\n")
            self._status = ""

    def _write(self, text: str, newline: bool) -> None:
        if self.live:
            self.stream.write("\r\x1b[2K" + text + ("\n" if newline else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
