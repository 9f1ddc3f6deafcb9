"""Live progress of a search: a rich status line on a terminal, one plain line per finished individual otherwise."""

from __future__ import annotations

import sys
from typing import TextIO

from evo.search import Progress
from population.individual import Individual


def _metric(individual: Individual | None) -> str:
    return f"{individual.metric:.6f}" if individual is not None and individual.metric is not None else "-"


class ProgressDisplay:
    """The coordinator's progress callback. On a TTY it redraws one line; in a log it appends one per individual."""

    def __init__(self, stream: TextIO = sys.stderr, metric: str = "val_bpb") -> None:
        self.stream, self.metric = stream, metric
        self.live = stream.isatty()
        self._seen: str | None = None

    def __call__(self, progress: Progress) -> None:
        if progress.last is not None and progress.last.id != self._seen:
            self._seen = progress.last.id
            last = progress.last
            line = f"{last.id} {last.status:<7} {self.metric} {_metric(last)}  {last.description[:70]}" + (
                f"  ({last.reason[:60]})" if last.reason else ""
            )
            self._write(line, newline=True)
        tokens = progress.prompt_tokens + progress.completion_tokens
        status = (
            f"  done {progress.finished}  running {progress.running}/{progress.slots}  best {_metric(progress.best)}"
            f" (baseline {_metric(progress.baseline)})  LLM {tokens:,} tokens ${progress.cost:.4f}"
            f"  {progress.elapsed / 60:.1f} min"
        )
        if self.live:
            self._write(status, newline=False)

    def close(self) -> None:
        if self.live:
            self.stream.write("\n")

    def _write(self, text: str, newline: bool) -> None:
        if self.live:
            self.stream.write("\r\x1b[2K" + text + ("\n" if newline else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
