"""How big each part of the LLM operator's prompt is, on each target, against the default 8k context.

No endpoint is needed: a short offline search on each target gives a realistic run (attempts, crashes, stops, notes,
islands), then the real prompt-building functions make the mutation and the crossover prompt the next proposal would
send, and `fit` fits them to `llm.context_tokens`. Per target and prompt, each part's token estimate (evo's
conservative count, `evo.operators.llm.tokens`) before and after fitting, and the total against the context.

    python -m benchmarks.prompt_sizes

Targets: the default target `target/` (a short real run: 4 candidates of 1 CPU-second, no calibration), the surrogate
`benchmarks/surrogate/` (16 candidates on the local executor, early termination and calibration on, two islands) and
the ideas landscape `benchmarks/ideas/` (96 candidates on the simulated executor, early termination and calibration
on, two islands). The surrogate and the ideas landscape run twice, so the second run's prompts carry the first's
attempts (memory: the earlier-runs table). Under 2 minutes on 2 cores.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from benchmarks.results import write_section
from evo.config import LLMSection, load_config
from evo.execution.simulated import VirtualClock
from evo.modes import CROSSOVER, MUTATION, Job
from evo.operators import Context, Parent
from evo.operators.llm.fit import fit_parts, request_parts
from evo.operators.llm.prompts import TRIM_ORDER, Part, system_prompt
from evo.operators.llm.tokens import MESSAGE_OVERHEAD, estimate_tokens
from evo.search import Coordinator, start
from evo.search.context import operator_context
from evo.search.novelty import Novelty
from evo.search.session import RunPaths, RunSession, session_config
from evo.stopping import load_noise
from population.individual import Individual, rank_key

REPO = Path(__file__).resolve().parent.parent
RUNS = {  # target: (config, overrides, runs: the last one's prompts are measured)
    "target/": (
        "quickstart.yaml",
        ["budget.seconds=1", "stop.evaluations=4", "calibration.enabled=false", "holdout.seeds=0"],
        1,
    ),
    "benchmarks/surrogate/": (
        "surrogate.yaml",
        [
            "env={EVO_SURROGATE_SECONDS: '0.05'}",
            "stop.evaluations=16",
            "slots.count=2",
            "population.size=4",
            "population.islands=2",
            "early_stop.enabled=true",
            "calibration.runs=3",
        ],
        2,
    ),
    "benchmarks/ideas/": (
        "ideas.yaml",
        [
            "stop.evaluations=96",
            "slots.count=8",
            "population.size=8",
            "population.islands=2",
            "early_stop.enabled=true",
            "calibration.runs=3",
        ],
        2,
    ),
}
COMMON = ["llm.learnings_every=4", "holdout.seeds=0"]  # notes early, so the prompt carries some; no final check


def main() -> None:
    env = {k: os.environ.pop(k) for k in ("OPENAI_API_KEY", "OPENAI_BASE_URL") if k in os.environ}
    settings = LLMSection()
    sections, began = [], time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["EVO_CACHE_DIR"] = str(Path(tmp) / "cache")
        for target, (config_file, overrides, runs) in RUNS.items():
            for seed in range(runs):
                name = f"{target.strip('/').replace('/', '-')}-{seed}"
                extra = [f"runs_dir={tmp}", f"name={name}", f"seed={seed}", *overrides, *COMMON]
                root = start(load_config(REPO / "configs" / config_file, extra))
                Coordinator(root).run()
            sections.append(_target_section(target, root, settings, runs))
    os.environ.update(env)
    body = (
        f"Each target's prompts as the next proposal of a short offline search would send them (the runs, set in "
        f"`benchmarks/prompt_sizes.py`, took {time.monotonic() - began:.0f} s in all), fitted to the default "
        f"`llm.context_tokens` = {settings.context_tokens} with `llm.min_answer_tokens` = "
        f"{settings.min_answer_tokens} left for the answer. Tokens are evo's conservative estimate (1.02-1.77 times "
        "a real BPE count). `full` is a part as built (within its size rule, `evo/operators/llm/evidence.py`), "
        "`sent` what is left of it once fitted (`-`: trimmed whole, in the order "
        f"{', '.join(TRIM_ORDER)}). The system prompt and the static part of the user message (directions, the "
        "file) come first, so consecutive calls share them as a prefix.\n\n"
        "While it ran, two colleagues were editing and testing in the same checkout on this 2-core machine (their "
        "own test files), so the seconds above are those of a shared machine; the token counts do not depend on it."
        "\n\n" + "\n\n".join(sections)
    )
    print(body)
    write_section("prompt_sizes", "Prompt sizes per part (`benchmarks/prompt_sizes.py`)", body)


def _target_section(target: str, root: Path, settings: LLMSection, runs: int) -> str:
    paths = RunPaths(root)
    session = RunSession.open(paths, session_config(paths), VirtualClock())
    try:
        noise = load_noise(root / "noise.json") if (root / "noise.json").is_file() else None
        learnings = (root / "learnings.md").read_text() if (root / "learnings.md").is_file() else ""
        individuals = session.individuals.values()
        eligible = sorted(
            (i for i in individuals if i.is_parent_eligible), key=lambda i: rank_key(i, session.direction)
        )
        best = eligible[0]
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(Counter(i.status for i in individuals).items()))
        earlier = f", after {runs - 1} earlier run on the target" if runs > 1 else ""
        tables = [f"### `{target}`\n\nThe run{earlier}: {len(session.individuals)} individuals ({statuses})."]
        jobs = [("mutation of the best", Job(MUTATION, (best,), best.island))]
        mate = next((i for i in eligible[1:] if i.island == best.island), None)
        if mate is not None:
            jobs.append(("crossover of the two best", Job(CROSSOVER, (best, mate), best.island)))
        novelty = Novelty.open(session)  # brings the earlier run's attempts, as the coordinator's does
        for title, job in jobs:
            context = operator_context(session, job, 0, learnings, novelty, noise=noise)
            tables.append(_table(title, _parents(session, job.parents), context, settings))
        return "\n\n".join(tables)
    finally:
        session.close()


def _parents(session: RunSession, parents: Sequence[Individual]) -> list[Parent]:
    return [Parent(p.id, session.store.code(p.commit), p.metric, p.status, p.description) for p in parents]


def _table(title: str, parents: list[Parent], context: Context, settings: LLMSection) -> str:
    system = system_prompt(context)
    parts = request_parts(parents, context)
    least = min(settings.min_answer_tokens, settings.max_tokens)
    fitted = fit_parts(system, parts, settings.context_tokens - least, elide=True) or []
    full, sent = _by_kind(parts), _by_kind(fitted)
    rows = [
        f"| {title}: part | full | sent |",
        "|---|---|---|",
        f"| system prompt | {estimate_tokens(system)} | same |",
    ]
    rows += [f"| {kind} | {tokens} | {sent.get(kind) or '-'} |" for kind, tokens in full.items()]
    user_full = estimate_tokens("\n\n".join(p.text for p in parts if p.text))
    user_sent = estimate_tokens("\n\n".join(p.text for p in fitted if p.text))
    total = estimate_tokens(system) + user_sent + 2 * MESSAGE_OVERHEAD
    rows.append(f"| user message (parts and separators) | {user_full} | {user_sent} |")
    rows.append(
        f"| **request sent** (+{2 * MESSAGE_OVERHEAD} message overhead) | | **{total}** of {settings.context_tokens}, "
        f"leaving {settings.context_tokens - total} for the answer |"
    )
    return "\n".join(rows)


def _by_kind(parts: Sequence[Part]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for part in parts:
        if part.text:
            sizes[part.kind] = sizes.get(part.kind, 0) + estimate_tokens(part.text)
    return sizes


if __name__ == "__main__":
    main()
