"""What a run's pages show, as plain JSON-able data read from the run directory (read-only: the ledger through
SQLite's read-only mode, git through the store's reads, files by reading them).

Everything a candidate or the LLM wrote (descriptions, rationales, reasons, logs, diffs) is passed on as text; the
page puts it in the DOM as text, never as markup.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from evo.config import load_config
from evo.errors import EvoError
from evo.evaluation import load_target
from evo.reporting.run_data import (
    RunData,
    best_so_far,
    counts_as_best,
    final_best,
    running_best,
    training_seconds,
)
from evo.search.session import RunPaths
from evo.stopping import load_noise
from evo.stopping.audit import audit_line
from evo.stopping.sprt import open_ended
from population.individual import STATUSES, Individual, rank_key
from population.ledger import Ledger
from population.store import GitStore

LOG_LINES = 80  # the log tail an individual's page shows
LOG_CHARS = 20_000  # and at most this much of it
SHORT = 120  # characters of a description in the lineage's hover text and the top table
TOP = 10  # the best individuals listed on a run's page


def number(value: float | None) -> float | None:
    """JSON has no NaN or infinity: those become null."""
    return value if value is not None and math.isfinite(value) else None


def shown(value: float | None) -> str:
    """How the pages print a metric (as `evo status` does)."""
    return f"{value:.6f}" if value is not None and math.isfinite(value) else "-"


def summary(root: Path) -> dict[str, Any]:
    """A run's line in a list (the index, a bench's arms): cheap, from the ledger and the config alone."""
    config = load_config(RunPaths(root).config)
    direction = load_target(config.target).metric.direction
    with Ledger(RunPaths(root).ledger, readonly=True) as ledger:
        individuals = ledger.all()
    eligible = [i for i in individuals if counts_as_best(i)]
    best = min(eligible, key=lambda i: rank_key(i, direction), default=None)
    return {
        "name": root.name,
        "mode": config.mode,
        "individuals": len(individuals),
        "best": None if best is None else {"id": best.id, "text": shown(best.metric)},
        "updated": max((i.finished or i.created or 0.0 for i in individuals), default=None),
    }


def progress(run: RunData, live: bool | None, now: float) -> dict[str, Any]:
    """The run page's headline and its live charts: best so far against compute and wall-clock, slot use, LLM use."""
    pick = final_best(run)
    used, saved = training_seconds(run)
    counts = dict.fromkeys(STATUSES, 0)
    for individual in run.individuals:
        counts[individual.status] += 1
    best = _changes(best_so_far(run))
    by_wall = _best_by_wall(run)
    return {
        "name": run.name,
        "mode": run.mode,
        "metric": run.metric,
        "direction": run.direction,
        "budget": run.budget,
        "live": live,
        "warning": run.warning,
        "individuals": len(run.individuals),
        "counts": counts,
        "best": None if pick is None else {"id": pick.id, "value": number(pick.metric), "text": shown(pick.metric)},
        "heldout": number(run.heldout),
        "heldout_source": run.heldout_source,
        "optimum": number(run.optimum),
        "compute": {"used": used, "saved": saved},
        "llm": _llm_totals(run),
        "early_termination": audit_line(run.events, used / run.budget),
        "settings": [list(row) for row in run.settings],
        "top": [
            {"id": i.id, "text": shown(i.metric), "operator": i.operator, "description": i.description[:SHORT]}
            for i in sorted(filter(counts_as_best, run.individuals), key=lambda i: rank_key(i, run.direction))[:TOP]
        ],
        "best_by_compute": {
            "x": [p[0] for p in best],
            "y": [number(p[1]) for p in best],
            "id": [p[2] for p in best],
        },
        "best_by_wall": by_wall,
        "evaluated": _evaluated(run),
        "slots": _slot_use(run, now),
        "llm_use": _llm_use(run),
    }


def _changes(points: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """The best-so-far steps only where the best changed, and the last point (the page draws them as steps)."""
    kept = [p for k, p in enumerate(points) if k == 0 or p[2] != points[k - 1][2]]
    return kept + points[-1:] if points and kept[-1] is not points[-1] else kept


def _minutes(run: RunData, stamp: float | None) -> float | None:
    """A timestamp as minutes since the run started, the x of every time chart."""
    return None if stamp is None else (stamp - run.started) / 60


def _best_by_wall(run: RunData) -> dict[str, list[Any]]:
    """Each new best against minutes since the start."""
    bests = [individual for individual, _, _, sets in running_best(run) if sets]
    return {
        "x": [_minutes(run, i.finished) for i in bests],
        "y": [number(i.metric) for i in bests],
        "id": [i.id for i in bests],
    }


def _evaluated(run: RunData) -> dict[str, list[Any]]:
    """Every finished individual with a metric, at the compute spent when it finished: the cloud under the best."""
    spent, x, y, ids, statuses = 0.0, [], [], [], []
    for individual in run.finished:
        spent += individual.budget_seconds
        if individual.metric is not None and math.isfinite(individual.metric):
            x.append(spent)
            y.append(individual.metric)
            ids.append(individual.id)
            statuses.append(individual.status)
    return {"x": x, "y": y, "id": ids, "status": statuses}


def _slot_use(run: RunData, now: float) -> dict[str, list[float]]:
    """Candidates training at once, as a step function of minutes since the start (a running one up to now)."""
    changes: list[tuple[float, int]] = []
    for individual in run.individuals:
        if individual.started is None:
            continue
        changes.append((individual.started, 1))
        end = (
            individual.finished
            if individual.finished is not None
            else (now if individual.status == "running" else None)
        )
        if end is not None:
            changes.append((max(end, individual.started), -1))
    x, y, running = [], [], 0
    for stamp, change in sorted(changes):
        running += change
        x.append(_minutes(run, stamp))
        y.append(running)
    return {"x": x, "y": y}


def _llm_totals(run: RunData) -> dict[str, float]:
    return {
        "prompt_tokens": sum(i.prompt_tokens for i in run.individuals),
        "completion_tokens": sum(i.completion_tokens for i in run.individuals),
        "cached_tokens": run.cached_tokens,
        "cost": sum(i.cost for i in run.individuals),
    }


def _llm_use(run: RunData) -> dict[str, list[float]]:
    """Tokens and cost summed over proposals, against minutes since the start (a proposal counts when its child is
    created)."""
    x, tokens, cost, total, spent = [], [], [], 0, 0.0
    for individual in sorted(run.individuals, key=lambda i: (i.created or 0.0, i.id)):
        if individual.created is None or not (individual.prompt_tokens or individual.completion_tokens):
            continue
        total += individual.prompt_tokens + individual.completion_tokens
        spent += individual.cost
        x.append(_minutes(run, individual.created))
        tokens.append(total)
        cost.append(spent)
    return {"x": x, "tokens": tokens, "cost": cost}


def lineage(run: RunData) -> dict[str, Any]:
    """Every individual as a node (its generation: one more than its deepest parent's) with its parents as edges."""
    depth: dict[str, int] = {}
    nodes = []
    for individual in run.individuals:  # in id order: parents come first
        depth[individual.id] = 1 + max((depth.get(p, 0) for p in individual.parents), default=-1)
        nodes.append(
            {
                "id": individual.id,
                "parents": list(individual.parents),
                "status": individual.status,
                "metric": number(individual.metric),
                "operator": individual.operator,
                "description": individual.description[:SHORT],
                "generation": depth[individual.id],
            }
        )
    pick = final_best(run)
    return {"nodes": nodes, "best": pick.id if pick else None, "direction": run.direction}


def individual(run: RunData, ident: str) -> dict[str, Any]:
    """One individual's page: its record, its diff against each parent, its curve over its reference's with where
    the test stopped it, its log tail and its evaluations."""
    by_id = {i.id: i for i in run.individuals}
    if ident not in by_id:
        raise KeyError(ident)
    me = by_id[ident]
    paths = RunPaths(run.root)
    return {
        "id": me.id,
        "parents": list(me.parents),
        "status": me.status,
        "metric": number(me.metric),
        "metric_text": shown(me.metric),
        "operator": me.operator,
        "model": me.model,
        "description": me.description,
        "rationale": me.rationale,
        "reason": me.reason,
        "seeds": list(me.seeds),
        "budget_seconds": me.budget_seconds,
        "saved_seconds": me.saved_seconds,
        "confirmed": me.confirmed,
        "wall_seconds": me.wall_seconds,
        "tokens": me.prompt_tokens + me.completion_tokens,
        "cost": me.cost,
        "budget": run.budget,
        "diffs": _diffs(run, me, by_id),
        "curve": [list(point) for point in me.curve],
        "stop": _stop(run, me, by_id),
        "log": _log_tail(paths.individuals / me.id / "log.txt"),
        "evaluations": _evaluations(paths.ledger, me.id),
    }


def _diffs(run: RunData, me: Individual, by_id: dict[str, Individual]) -> list[dict[str, str]]:
    git = RunPaths(run.root).git
    if not me.commit or not git.is_dir() or not any(git.iterdir()):
        return []
    editable = load_target(load_config(RunPaths(run.root).config).target).editable
    with GitStore(git, editable) as store:
        if not me.parents:
            return [{"parent": "", "diff": store.diff(me.commit)}]
        return [
            {"parent": parent, "diff": store.diff(me.commit, by_id[parent].commit)}
            for parent in me.parents
            if parent in by_id and by_id[parent].commit
        ]


def _stop(run: RunData, me: Individual, by_id: dict[str, Individual]) -> dict[str, Any] | None:
    """The early-termination test's record of this individual (the last `pruned` or `watched` event): its reference's
    curve, where it stopped (or would have, when audited), the statistic and its threshold."""
    event = next(
        (e for e in reversed(run.events) if e.kind in ("pruned", "watched") and e.data.get("individual") == me.id),
        None,
    )
    if event is None:
        return None
    data = event.data
    reference = by_id.get(data.get("reference", ""))
    fraction = data.get("fraction") if event.kind == "pruned" else data.get("audited")
    alpha = data.get("alpha")
    return {
        "kind": event.kind,
        "reference": reference.id if reference else None,
        "reference_curve": [list(point) for point in reference.curve] if reference else [],
        "at": None if fraction is None else fraction * run.budget,
        "fraction": fraction,
        "llr": number(data.get("llr")),
        "threshold": open_ended(alpha) if alpha else None,
        "alpha": alpha,
        "trend": data.get("trend"),
        "luck": data.get("luck"),
        "gain": data.get("gain"),
        "won": data.get("won"),
        "audited": event.kind == "watched" and data.get("audited") is not None,
    }


def _log_tail(path: Path) -> str:
    if not path.is_file():
        return ""
    with path.open("rb") as log:
        log.seek(max(0, path.stat().st_size - 4 * LOG_CHARS))
        text = log.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-LOG_LINES:])[-LOG_CHARS:]


def _evaluations(ledger_path: Path, ident: str) -> list[dict[str, Any]]:
    with Ledger(ledger_path, readonly=True) as ledger:
        return [
            {
                "seed": e.seed,
                "status": e.status,
                "metric": number(e.metric),
                "wall_seconds": e.wall_seconds,
                "budget_seconds": e.budget_seconds,
                "reason": str(e.result.get("reason", "")),
            }
            for e in ledger.evaluations(ident)
        ]


def noise(root: Path) -> dict[str, Any] | None:
    """The run's noise model (from its calibration), or None when the run has none."""
    path = root / "noise.json"
    if not path.is_file():
        return None
    try:
        model = load_noise(path)
    except EvoError as exc:
        return {"error": str(exc)}
    return {
        "summary": model.summary(),
        "fractions": list(model.fractions),
        "mean": list(model.mean),
        "sd": list(model.sd),
        "autocorr": list(model.autocorr),
        "persistent": model.persistent,
        "phi": model.phi,
        "final_mean": model.final_mean,
        "final_sd": model.final_sd,
        "finals": list(model.finals),
        "seeds": list(model.seeds),
        "budget": model.budget,
        "metric": model.metric,
        "probes": list(model.probes),
    }
