"""DEAP's operators draw from the global `random` module; this runs them from a caller's seed without side effects."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def seeded_global_random(seed: int) -> Iterator[None]:
    """Seed the `random` module for the block, then restore its state, so a DEAP call replays from its own seed and
    nobody else's draws shift. Not thread-safe against other threads drawing from `random` meanwhile: the coordinator
    calls DEAP from one thread."""
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)
