"""One run's report (`evo report RUN_DIR`, live or finished): summary, best so far against compute, progress and
lineage, operators and models, the top individuals; as report.md and report.html with the same blocks."""

from __future__ import annotations

from pathlib import Path

from evo.reporting import figures
from evo.reporting.document import Block, Figure, Heading, Paragraph, Table, write_document
from evo.reporting.facts import (
    OUTCOME_HEADERS,
    num,
    operator_outcomes,
    outcome_rows,
    regret_of,
    run_figures,
    seconds,
    token_text,
    tokens,
)
from evo.reporting.pooled_audit import beside
from evo.reporting.run_data import (
    RunData,
    best_so_far,
    counts_as_best,
    duplicates,
    final_best,
    training_seconds,
)
from evo.stopping.audit import audit_line
from population.individual import rank_key

TOP = 10  # individuals listed in a run report


def write_run_report(run: RunData, out: Path) -> Path:
    """Write out/report.md, out/report.html and their PNG figures for one run (live or finished); return report.md."""
    out.mkdir(parents=True, exist_ok=True)
    blocks: list[Block] = [Heading("Summary"), *[Paragraph(run.warning)] * bool(run.warning), _run_summary(run)]
    points, best = best_so_far(run), final_best(run)
    live = [i for i in run.individuals if not i.is_finished]
    if live:
        blocks.append(
            Paragraph(f"The run is live: {len(live)} individuals are running or pending; this is a snapshot.")
        )
    if best is None:
        blocks.append(Paragraph("No individual has finished with a metric yet: the figures and tables come later."))
    else:
        blocks += [Heading("Best so far against compute")]
        path = figures.best_so_far_figure(
            {run.mode: [[(s, v) for s, v, _ in points]]},
            run.metric,
            run.direction,
            run.optimum,
            out / "best_so_far.png",
        )
        caption = (
            f"Best {run.metric} so far against budget seconds spent: {num(points[0][1])} after "
            f"{seconds(points[0][0])} s, {num(points[-1][1])} after {seconds(points[-1][0])} s."
        )
        if run.optimum is not None:
            caption += f" Right: the regret to the known optimum {num(run.optimum)} on a log scale."
        blocks += [Figure(path, caption), Heading("Progress and lineage"), *run_figures(run, run.name, out, "run")]
        blocks += [Heading("Operators and models")]
        outcomes = operator_outcomes([run])
        blocks.append(
            Table(OUTCOME_HEADERS, tuple(outcome_rows((), outcomes))) if outcomes else Paragraph("No children yet.")
        )
        blocks += [Heading(f"Top {TOP} individuals"), _top_table(run)]
    return write_document(blocks, f"evo run report: {run.name}", out)


def _run_summary(run: RunData) -> Table:
    counts = run.counts()
    waiting = {s: sum(i.status == s for i in run.individuals) for s in ("running", "pending")}
    statuses = ", ".join(f"{n} {s}" for s, n in {**counts, **waiting}.items() if n) or "none yet"
    used, saved = training_seconds(run)
    rows = [
        ("mode", run.mode),
        ("metric", f"{run.metric} ({'lower' if run.direction == 'minimize' else 'higher'} is better)"),
        ("budget per candidate", f"{seconds(run.budget)} s"),
        *run.settings,
        ("individuals", statuses),
    ]
    baseline, best = run.baseline, final_best(run)
    if best is not None:
        rows.append(("best", f"{num(best.metric)} ({best.id}: {best.description})"))
        if run.heldout is not None:
            rows.append(("held out", f"{num(run.heldout)}: {run.heldout_source}"))
        if baseline is not None and counts_as_best(baseline):
            gain = (baseline.metric - best.metric) * (1 if run.direction == "minimize" else -1)  # type: ignore[operator]
            relative = f" ({100 * gain / abs(baseline.metric):.2f}%)" if baseline.metric else ""  # type: ignore[arg-type]
            rows.append(
                ("baseline -> best", f"{num(baseline.metric)} -> {num(best.metric)}: gain {num(gain, 4)}{relative}")
            )
        gap = regret_of(run, float(best.metric))  # type: ignore[arg-type]
        if gap is not None:
            rows.append(("regret", f"{num(gap, 4)} to the known optimum {num(run.optimum)}"))
    else:
        rows.append(("best", "no individual has finished with a metric yet"))
    pruned = counts.get("pruned", 0)
    rows.append(
        ("budget seconds", f"{seconds(used)} used, {seconds(saved)} saved by early termination ({pruned} pruned)")
    )
    audit = audit_line(run.events, used / run.budget)
    if audit is not None:
        rows.append(("early termination", audit))
    pooled = beside(run.root)
    if pooled is not None:
        rows.append(("early termination, runs beside it", pooled))
    rows.append(("LLM", token_text(*tokens([run]), run.cached_tokens)))
    count, cost = duplicates(run)
    rows.append(
        (
            "novelty",
            f"{count} duplicate children not evaluated (about {seconds(cost)} budget seconds saved); "
            f"{run.known} attempts of earlier runs on this target known",
        )
    )
    return Table(("", "value"), tuple(rows))


def _top_table(run: RunData) -> Table:
    ranked = sorted((i for i in run.individuals if counts_as_best(i)), key=lambda i: rank_key(i, run.direction))
    has_regret = run.optimum is not None
    headers = ("rank", "id", run.metric, *(("regret",) if has_regret else ()), "operator", "parents", "description")
    rows = [
        (
            str(k),
            i.id,
            num(i.metric),
            *((num(regret_of(run, float(i.metric)), 4),) if has_regret else ()),  # type: ignore[arg-type]
            i.operator + (f" ({i.model})" if i.model else ""),
            " ".join(i.parents) or "-",
            i.description,
        )
        for k, i in enumerate(ranked[:TOP], start=1)
    ]
    return Table(headers, tuple(rows))
