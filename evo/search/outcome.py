"""What a search tells its caller: progress after every change, the outcome when it ends, each result's change
against its parent in words, and the run's LLM spend as its ledger keeps it across sessions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from evo.operators import Proposal
from evo.operators.base import FAILURES
from evo.search.holdout import Holdout
from evo.stopping import NoiseModel
from population.individual import Individual
from population.ledger import Ledger

WITHIN_NOISE = 2.0  # noise sds: a change smaller than this is within the seed-to-seed noise of one run


@dataclass(frozen=True)
class Progress:
    """What a live display shows; handed to the progress callback after every change."""

    finished: int
    running: int
    slots: int
    best: Individual | None
    baseline: Individual | None
    prompt_tokens: int
    completion_tokens: int
    cost: float
    elapsed: float
    last: Individual | None = None
    note: str = ""  # the last individual's change against its parent, in noise units when the noise is known
    failed_proposals: int = 0  # this session's proposals that gave no child (their ids are skipped)


@dataclass(frozen=True)
class Outcome:
    run_dir: Path
    stop_reason: str
    best: Individual | None
    baseline: Individual | None
    finished: int
    notice: str
    coordinator_seconds: float  # the coordinator's own work this session: git, ledger, selection, operators' setup
    failure: str = ""  # why the run could not do its work ("" when it did, whatever it found): a non-zero exit
    holdout: Holdout | None = None  # the final check on fresh seeds, when configured


def change_note(
    individual: Individual, individuals: Mapping[str, Individual], direction: str, noise: NoiseModel | None
) -> str:
    """Its metric against its better parent's, in the noise model's units when there is one ("" when either has no
    metric)."""
    parents = [individuals[p] for p in individual.parents if individuals[p].metric is not None]
    if individual.metric is None or not parents:
        return ""
    sign = 1.0 if direction == "minimize" else -1.0
    parent = min(parents, key=lambda p: sign * p.metric)  # type: ignore[operator]
    change = individual.metric - parent.metric  # type: ignore[operator]
    if noise is None:
        return f"{change:+.4g} vs {parent.id}"
    return f"{change:+.4g} vs {parent.id}: {noise_verdict(change, direction, noise)}"


def noise_verdict(change: float, direction: str, noise: NoiseModel) -> str:
    """A metric change in the noise model's units, in words: "within the noise", or "better by 3.1 noise sd"."""
    units = abs(change) / noise.final_sd
    side = "better" if (change < 0) == (direction == "minimize") else "worse"
    return "within the noise" if units < WITHIN_NOISE else f"{side} by {units:.1f} noise sd"


def skipped_line(ident: str, proposal: Proposal, explain: bool) -> str:
    """The line a failed proposal gets (its id is skipped), with what to check the first time its kind fails."""
    line = f"{ident} skipped: {proposal.operator} gave no child ({proposal.error})"
    return line + (f"\n  {FAILURES.get(proposal.failure, FAILURES['child'])}" if explain else "")


def spent_before(ledger: Ledger) -> tuple[float, int]:
    """Earlier sessions' LLM cost (which stop.cost caps) and the prompt tokens the endpoint served from its cache."""
    return float(ledger.get_meta("llm_cost", 0.0)), int(ledger.get_meta("llm_cached_tokens", 0))


def record_spend(ledger: Ledger, cost: float, cached_tokens: int) -> None:
    """The run's LLM spend so far, earlier sessions' included, in the ledger's meta (the cached tokens once an
    endpoint reported some, where the report reads them: each write is a synced transaction)."""
    ledger.set_meta("llm_cost", cost)
    if cached_tokens:
        ledger.set_meta("llm_cached_tokens", cached_tokens)
