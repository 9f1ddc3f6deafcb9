"""What both reports say about one run: its final value and regret, its operators' outcomes, its tokens, its
progress and lineage figures, and the number formats they share."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from evo.reporting import figures
from evo.reporting.document import Block, Figure, Paragraph
from evo.reporting.run_data import RunData, best_so_far, counts_as_best, final_best, running_best
from population.individual import FINISHED, Individual

OFFLINE = "offline operators: no LLM calls"


def final_value(run: RunData) -> float | None:
    best = final_best(run)
    return None if best is None else best.metric


def regret_of(run: RunData, value: float) -> float | None:
    if run.optimum is None:
        return None
    return value - run.optimum if run.direction == "minimize" else run.optimum - value


@dataclass
class Outcomes:
    """What one operator's (or model's) proposals came to: its children, and what failed proposals cost too."""

    children: int = 0
    ok: int = 0
    beat_parent: int = 0
    new_best: int = 0
    failed: int = 0  # proposals that made no child (the ledger's proposal_failed events)
    tokens: int = 0  # LLM tokens of children and failed proposals
    cost: float = 0.0

    def spend(self, tokens: int, cost: float) -> None:
        self.tokens += tokens
        self.cost += cost


def child_outcomes(run: RunData) -> Iterator[tuple[Individual, bool, bool]]:
    """Each finished child in finish order, whether it beat its better parent, and whether it set a new running best."""
    by_id = {i.id: i for i in run.individuals}
    for individual, _, _, new_best in running_best(run):
        if not individual.parents:
            continue
        value = individual.metric
        parents = [by_id[p] for p in individual.parents if p in by_id and by_id[p].is_parent_eligible]
        beat = (
            counts_as_best(individual) and bool(parents) and all(run.better(value, p.metric) for p in parents)  # type: ignore[arg-type]
        )
        yield individual, beat, new_best


def operator_outcomes(runs: Sequence[RunData]) -> dict[str, Outcomes]:
    """Outcomes by "operator X" and, where an LLM proposed the child, "model Y", summed over runs; failed proposals
    count where their event names the operator and model."""
    table: dict[str, Outcomes] = {}

    def rows(operator: object, model: object) -> list[Outcomes]:
        keys = [f"operator {operator}"] * bool(operator) + [f"model {model}"] * bool(model)
        return [table.setdefault(key, Outcomes()) for key in keys]

    for run in runs:
        for child, beat, new_best in child_outcomes(run):
            for row in rows(child.operator, child.model):
                row.children += 1
                row.ok += child.status == "ok"
                row.beat_parent += beat
                row.new_best += new_best
                row.spend(child.prompt_tokens + child.completion_tokens, child.cost)
        for event in (e for e in run.events if e.kind == "proposal_failed"):
            data = event.data
            for row in rows(data.get("operator"), data.get("model")):
                row.failed += 1
                row.spend(
                    int(data.get("prompt_tokens", 0)) + int(data.get("completion_tokens", 0)),
                    float(data.get("cost", 0.0)),
                )
    return dict(sorted(table.items()))


def tokens(runs: Sequence[RunData]) -> tuple[int, int, float]:
    everyone = [i for run in runs for i in run.individuals]
    return (
        sum(i.prompt_tokens for i in everyone),
        sum(i.completion_tokens for i in everyone),
        sum(i.cost for i in everyone),
    )


def status_counts(runs: Sequence[RunData]) -> dict[str, int]:
    counts = dict.fromkeys(FINISHED, 0)
    for run in runs:
        for status, n in run.counts().items():
            counts[status] += n
    return counts


def num(value: float | None, digits: int = 6) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


def seconds(value: float) -> str:
    return f"{value:,.0f}"


def share(part: float, whole: float) -> str:
    return "-" if whole <= 0 else f"{100 * part / whole:.0f}%"


def slug(name: str, taken: set[str]) -> str:
    """A file-name-safe, unique stem for an arm name such as "size=4 tournament=2"."""
    stem = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower() or "arm"
    slug, k = stem, 2
    while slug in taken:
        slug, k = f"{stem}-{k}", k + 1
    taken.add(slug)
    return slug


def outcome_rows(prefix: tuple[str, ...], outcomes: Mapping[str, Outcomes]) -> list[tuple[str, ...]]:
    return [
        (
            *prefix,
            key,
            str(o.children),
            share(o.ok, o.children),
            share(o.beat_parent, o.children),
            share(o.new_best, o.children),
            str(o.failed),
            spend_text(o.tokens, o.cost),
        )
        for key, o in outcomes.items()
    ]


OUTCOME_HEADERS = (
    "operator / model",
    "children",
    "ok",
    "better than parent",
    "new running best",
    "failed proposals",
    "LLM spend",
)


def spend_text(tokens: int, cost: float) -> str:
    return "-" if tokens == 0 and cost == 0 else f"{tokens:,} tokens, cost {cost:.4g}"


def token_text(prompt: int, completion: int, cost: float, cached: int = 0) -> str:
    if prompt == completion == 0:
        return OFFLINE
    reused = f"; the endpoint served {cached:,} prompt tokens of its calls from its prompt cache" if cached else ""
    return f"{prompt:,} prompt + {completion:,} completion tokens, cost {cost:.4g}{reused}"


def run_figures(run: RunData, label: str, out: Path, stem: str) -> list[Block]:
    """A run's progress plot and its best individual's lineage tree, with captions in numbers."""
    finished, best = run.finished, final_best(run)
    if best is None:
        return [Paragraph(f"{label}: no individual has finished with a metric yet, so there is nothing to plot.")]
    points = best_so_far(run)
    records = len({p[2] for p in points})
    failed = sum(i.status in ("crash", "timeout", "invalid") for i in finished)
    pruned = sum(i.status == "pruned" for i in finished)
    first = next(i for i in finished if counts_as_best(i))
    progress = figures.progress_figure(run, out / f"progress_{stem}.png")
    lineage = figures.lineage_figure(run, best.id, out / f"lineage_{stem}.png")
    return [
        Figure(
            progress,
            f"Progress of {label}: {len(finished)} evaluations in finish order; {records} set a new running best "
            f"(green, labelled), taking {run.metric} from {num(first.metric)} ({first.id}) to {num(best.metric)} "
            f"({best.id}); {pruned} pruned and {failed} failed (marked at the {figures.worse_side(run.direction)}).",
        ),
        Figure(
            lineage,
            f"Lineage of the best individual of {label}, {best.id} ({num(best.metric)}): {lineage_text(run, best.id)}.",
        ),
    ]


def lineage_text(run: RunData, individual_id: str) -> str:
    """How far an individual is from the baseline: its generation is the longest chain of parents back to it (a
    crossover counts its longer side), so a chain baseline -> a -> b is three individuals over two generations."""
    generation = figures.ancestry(run, individual_id)
    depth = generation[individual_id]
    if depth == 0:
        return "the baseline itself"
    crossovers = sum(len(i.parents) > 1 for i in run.individuals if i.id in generation)
    return (
        f"{plural(len(generation), 'individual')} over {plural(depth, 'generation')} back to the baseline, "
        f"{crossovers} of them {'a crossover' if crossovers == 1 else 'crossovers'}"
    )


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")
