"""Slot utilisation and the coordinator's own time per individual, at 4, 8 and 16 candidates at once, on this
machine's processes and on a local Ray cluster, with an LLM endpoint that answers after 2 s.

A population search on the surrogate target: real candidate processes, each `--seconds` of real time (the surrogate
mostly sleeps, so 2 cores hold 16 of them), children proposed by the real LLM operator through the `openai` client
at a fake OpenAI-compatible server on 127.0.0.1 that answers every request after `--latency` seconds. Utilisation is
busy seconds (each candidate process's lifetime) over slots x the run's wall time; the second column is the steady
stretch, from the first LLM answer (before it nothing can run) to the last evaluation's start (after it the last
results drain). "During the baseline" counts the candidates that ran beside the
baseline's evaluation. The coordinator's time is its thread's work besides waiting (git, ledger, selection, prompts).

The Ray cluster (a head and two nodes of 8 CPUs, `ray.cluster_utils.Cluster`) needs a private network namespace,
where only loopback exists: the script runs itself again under `unshare -rn` for it.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.results import write_section
from evo.config import load_config
from evo.search import Coordinator, start
from population.ledger import Ledger
from tests.fake_openai import Completion, FakeOpenAI, Slow

REPO = Path(__file__).resolve().parent.parent
INSIDE = "EVO_BENCH_NETNS"  # set when the script runs in its own network namespace
FOOTER = "# " + "-" * 117  # the surrogate train.py's line closing its knobs


def answer(rng: random.Random) -> str:
    """A model's answer that sets a new learning rate below the knobs (the last assignment wins)."""
    rate = f"{10 ** rng.uniform(-3.5, -1.5):.2g}"
    return (
        f"DESCRIPTION: learning rate {rate}\nRATIONALE: try another step size.\n\n"
        f"train.py\n<<<<<<< SEARCH\n{FOOTER}\n=======\nLEARNING_RATE = {rate}\n{FOOTER}\n>>>>>>> REPLACE\n"
    )


def measure(backend: str, slots: int, args: argparse.Namespace, address: str) -> dict[str, float]:
    rng = random.Random(slots)
    with FakeOpenAI() as fake, tempfile.TemporaryDirectory() as tmp:
        evaluations = args.rounds * slots
        fake.script(*[Slow(args.latency, Completion(answer(rng))) for _ in range(4 * evaluations)])
        overrides = [
            f"runs_dir={tmp}",
            f"target={REPO / 'benchmarks' / 'surrogate'}",
            f"env={{EVO_SURROGATE_SECONDS: '{args.seconds}'}}",
            f"slots.count={slots}",
            "slots.threads=1",
            *args.override,
            f"stop.evaluations={evaluations}",
            f"population.size={max(8, slots)}",
            f"llm.models=[{{name: fake-model, base_url: '{fake.base_url}'}}]",
            f"executor.kind={backend}",
            *([f"executor.address={address}"] if backend == "ray" else []),
        ]
        root = start(load_config(REPO / "configs" / "surrogate.yaml", overrides))
        coordinator = Coordinator(root)
        began = time.monotonic()
        outcome = coordinator.run()
        wall = time.monotonic() - began
        with Ledger(root / "ledger.sqlite") as ledger:
            individuals = ledger.all()
            busy = sum(e.wall_seconds or 0.0 for e in ledger.evaluations())
    baseline = individuals[0]
    beside = sum(1 for i in individuals[1:] if i.started and baseline.finished and i.started < baseline.finished)
    return {
        "individuals": len(individuals),
        "wall": wall,
        "utilisation": busy / (slots * wall),
        "steady": steady(individuals, slots, args.latency),
        "beside": beside,
        "coordinator_ms": 1000 * outcome.coordinator_seconds / len(individuals),
    }


def steady(individuals: list, slots: int, latency: float) -> float:
    """Busy slot-seconds over available ones from the first LLM answer to the last evaluation's start: the stretch
    where there is always work to start (before it nothing can run; after it the last results drain)."""
    spans = [(i.started, i.finished) for i in individuals if i.started and i.finished]
    begin = min(s for s, _ in spans) + latency
    end = max(s for s, _ in spans)
    busy = sum(max(0.0, min(f, end) - max(s, begin)) for s, f in spans)
    return busy / (slots * (end - begin))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--seconds", type=float, default=8.0, help="real seconds per surrogate run")
    parser.add_argument("--latency", type=float, default=2.0, help="seconds the fake LLM takes per answer")
    parser.add_argument("--rounds", type=int, default=8, help="evaluations per slot")
    parser.add_argument("--backends", nargs="+", default=["local", "ray"])
    parser.add_argument("--override", nargs="*", default=[], help="more run-config overrides, e.g. slots.ahead=8")
    args = parser.parse_args()
    if "ray" in args.backends and not os.environ.get(INSIDE):
        inner = 'ip link set lo up && exec "$0" "$@"'
        command = ["unshare", "-rn", "sh", "-c", inner, sys.executable, "-m", "benchmarks.slots", *sys.argv[1:]]
        raise SystemExit(subprocess.run(command, env={**os.environ, INSIDE: "1"}).returncode)
    address, cluster = "", None
    if "ray" in args.backends:
        from ray.cluster_utils import Cluster

        os.environ.setdefault("RAY_TMPDIR", tempfile.mkdtemp(prefix="evoray-", dir="/tmp"))
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
        for _ in range(2):
            cluster.add_node(num_cpus=max(args.slots) // 2)
        cluster.wait_for_nodes()
        address = cluster.address
    rows = []
    for backend in args.backends:
        for slots in args.slots:
            m = measure(backend, slots, args, address)
            rows.append(
                f"| {backend} | {slots} | {m['individuals']:.0f} | {m['wall']:.1f} | **{100 * m['utilisation']:.1f}%** "
                f"| {100 * m['steady']:.1f}% | {m['beside']:.0f} | **{m['coordinator_ms']:.1f}** |"
            )
            print(rows[-1], flush=True)
    body = (
        f"Population mode on the surrogate target ({args.seconds:g} s real per candidate process, 1 thread each), "
        f"the LLM operator against a fake endpoint answering after {args.latency:g} s, {args.rounds} evaluations "
        "per slot; Ray: a local cluster of a head and two nodes (`ray.cluster_utils.Cluster`, in a private network "
        "namespace). Nothing else ran.\n\n"
        "| backend | slots | individuals | run wall (s) | utilisation | steady stretch | ran beside the "
        "baseline | coordinator ms / individual |\n|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
        "The whole-run figure counts the wait for the first LLM answers (only the baseline can run) and the drain at "
        "the end (the last results arrive while nothing new may start): both are fixed costs that a longer run "
        "spreads thinner; the steady stretch leaves them out. Target: at least 95% utilisation at 16 slots with the "
        "2 s LLM; no slot idle while the baseline runs."
    )
    print(body)
    write_section("slots", "Slot utilisation and coordinator time (`benchmarks/slots.py`)", body)
    if cluster is not None:
        cluster.shutdown()


if __name__ == "__main__":
    main()
