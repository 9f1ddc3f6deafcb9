"""What an operator is told about the run: the program, recent attempts (traces) with their evidence, learnings, the
best so far, the noise, the parents' training dynamics, inspirations, and for a crossover the parents' common
ancestor, read from the session's records and logs (`traces` gathers the evidence)."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evo.evaluation import TargetSpec
from evo.modes import CROSSOVER, Job
from evo.operators import Attempt, Context
from evo.operators.llm.evidence import RECENT_ATTEMPTS
from evo.search.model_stats import run_model_stats
from evo.search.novelty import Novelty
from evo.search.session import RunSession
from evo.search.traces import best_so_far, common_ancestor, dynamics, inspirations, noise_words, trace, traces
from evo.stopping import NoiseModel


def operator_context(
    session: RunSession,
    job: Job,
    seed: int,
    learnings: str,
    novelty: Novelty | None = None,
    twin: str = "",
    noise: NoiseModel | None = None,
) -> Context:
    """The context for the operator making `job`'s child; `seed` drives its randomness; `novelty` brings earlier
    runs' attempts, and `twin` names the duplicate this operator proposed for the same child last time; `noise` (the
    run's noise model, when it has one) turns changes into noise units."""
    ancestor = None
    if job.kind == CROSSOVER:
        common = common_ancestor(session.individuals, job.parents[0].id, job.parents[1].id)
        ancestor = session.store.code(session.individuals[common].commit) if common else None
    target, by_id, best = session.target, session.individuals, best_so_far(session.individuals, session.direction)
    return Context(
        program=target.read_program(),
        editable=target.editable,
        locked=tuple(target.locked),
        metric=target.metric.name,
        direction=session.direction,
        attempts=tuple(attempts(session, RECENT_ATTEMPTS, noise)),
        learnings=learnings,
        ancestor=ancestor,
        seed=seed,
        locked_code=locked_python(target),
        model_stats=run_model_stats(session),
        earlier=tuple(earlier_attempt(record) for record in novelty.shown) if novelty else (),
        avoid=avoid_note(twin),
        noise=noise_words(noise, target.metric.name),
        best=trace(best, by_id, session.direction, noise) if best is not None else None,
        dynamics={p.id: dynamics(p, session.config.budget.seconds) for p in job.parents},
        inspirations=inspirations(session, job, session.config.llm.inspirations, noise),
    )


def earlier_attempt(record: Mapping[str, Any]) -> Attempt:
    """An attempt of an earlier run on the target, as memory holds it (its id prefixed with that run's name)."""
    metric, delta, name = record.get("metric"), record.get("delta"), record.get("name", "?")
    return Attempt(
        description=str(record.get("description", "")),
        status=str(record.get("status", "")),
        metric=float(metric) if isinstance(metric, (int, float)) else None,
        delta=float(delta) if isinstance(delta, (int, float)) else None,
        reason=str(record.get("reason", "")),
        id=f"{name}/{record.get('id', '?')}",
        parents=(f"{name}/{record['parent']}",) if record.get("parent") else (),
        operator=str(record.get("operator", "")),
    )


def avoid_note(twin: str) -> str:
    if not twin:
        return ""
    where = "an earlier run on this target" if "/" in twin else "this run"
    return f"Your last answer for this child duplicated {twin}, which {where} already has: propose a different change."


def locked_python(target: TargetSpec) -> dict[str, str]:
    """The target's locked top-level Python files (name -> text): the constants a child's asserts import from them
    (``from prepare import MAX_SEQ_LEN``), which the offline operators check before a run is spent."""
    files = tuple((name, digest) for name, digest in sorted(target.locked.items()) if name.endswith(".py"))
    return dict(_read_locked(target.root, files))


@functools.lru_cache(maxsize=8)
def _read_locked(root: Path, files: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """Read once per target: locked files are hash-checked and cannot change under a run (keyed by their digests)."""
    return tuple((name, (root / name).read_text(errors="replace")) for name, _ in files if "/" not in name)


def attempts(session: RunSession, limit: int, noise: NoiseModel | None = None) -> list[Attempt]:
    """The `limit` most recent finished children as traces (only their logs are read), oldest first."""
    by_id = session.individuals
    children = list(itertools.islice((i for i in reversed(by_id.values()) if i.is_finished and i.parents), limit))
    children.reverse()  # newest last; read from the end, so a long run costs no more than a short one
    return traces(session, children, noise)
