"""The replay's corpora: learning curves of variants of the default target, several seeds each, collected once
(`python -m benchmarks.sprt_replay collect`) and read back as candidates with their same-seed parent runs.

- wide: variants of the untuned baseline that differ in size and learning rate, as early in a search;
- near-tie: small perturbations of one good parent, as late in a search, where curves cross and noise decides;
- slow: larger or slower-starting variants of that parent, whose curves trail early and may overtake late.

Each corpus comes with the target's own progress values (an exponentially smoothed training loss) or, collected with
`--raw`, the unsmoothed loss of the step just taken: the noisiest curve a target may print.
"""

from __future__ import annotations

import json
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.target_budgets import TUNED, with_constants
from evo.config import BudgetConfig
from evo.stopping import NoiseModel, fit_noise, fit_paired, reference_luck
from evo.stopping.trend import closing, trend_scale
from evo.stopping.units import EndPair, end_gain, metric_scale

REPO = Path(__file__).resolve().parent.parent
CURVES = REPO / "benchmarks" / "data" / "sprt_curves.json"
SMOOTHED = "loss: {smooth / (1 - 0.9**step):.6f}"  # target/train.py's progress value
RAW = "loss: {loss_value:.6f}"  # what `--raw` prints instead

# Each corpus: its parent's constants over target/train.py, then variants as changes over the parent.
CORPORA: dict[str, dict[str, Any]] = {
    "wide": {
        "parent": {},
        "variants": {
            "depth 1": {"DEPTH": "1"},
            "depth 2": {"DEPTH": "2"},
            "depth 8": {"DEPTH": "8"},
            "width 64": {"WIDTH": "64"},
            "width 256": {"WIDTH": "256", "N_HEAD": "8"},
            "lr 1e-4": {"LR": "1e-4"},
            "lr 3e-4": {"LR": "3e-4"},
            "lr 3e-3": {"LR": "3e-3"},
            "lr 1e-2": {"LR": "1e-2"},
            "batch 4": {"BATCH_SIZE": "4"},
            "batch 64": {"BATCH_SIZE": "64"},
            "muon": {"OPTIMIZER": '"muon"'},
        },
    },
    "near-tie": {
        "parent": TUNED,
        "variants": {
            "muon lr 0.016": {"MUON_LR": "0.016"},
            "muon lr 0.025": {"MUON_LR": "0.025"},
            "lr 8e-4": {"LR": "8e-4"},
            "lr 1.25e-3": {"LR": "1.25e-3"},
            "warmdown 0.2": {"WARMDOWN_FRAC": "0.2"},
            "warmdown 0.45": {"WARMDOWN_FRAC": "0.45"},
            "warmup 0": {"WARMUP_FRAC": "0.0"},
            "warmup 0.05": {"WARMUP_FRAC": "0.05"},
            "weight decay 0.05": {"WEIGHT_DECAY": "0.05"},
            "betas 0.9/0.99": {"ADAM_BETAS": "(0.9, 0.99)"},
            "batch 6": {"BATCH_SIZE": "6"},
            "batch 12": {"BATCH_SIZE": "12"},
            "mlp 3": {"MLP_RATIO": "3"},
            "grad clip 0.5": {"GRAD_CLIP": "0.5"},
        },
    },
    "slow": {
        "parent": TUNED,
        "variants": {
            "depth 3": {"DEPTH": "3"},
            "depth 4": {"DEPTH": "4"},
            "width 192": {"WIDTH": "192"},
            "width 256": {"WIDTH": "256", "N_HEAD": "8"},
            "depth 3 width 192": {"DEPTH": "3", "WIDTH": "192"},
            "mlp 6": {"MLP_RATIO": "6"},
            "batch 16": {"BATCH_SIZE": "16"},
            "muon lr 0.01": {"MUON_LR": "0.01"},
        },
    },
}


def collect(
    budget: float, seeds: int, parent_seeds: int, corpus: str, workers: int, out: Path, names: list[str], raw: bool
) -> None:
    """Train every variant of the corpora `names` for `seeds` seeds (the parents for `parent_seeds`) and write the
    curves; `raw`: the unsmoothed loss as progress value. Each run is saved as it finishes and runs already in `out`
    are skipped, so an interrupted collection resumes."""
    from evo.evaluation import EvalSettings, available_cores, evaluate
    from evo.evaluation.target import load_target

    target = load_target(REPO / "target")
    source = (REPO / "target" / "train.py").read_text()
    if raw:
        if SMOOTHED not in source:
            raise SystemExit(f"target/train.py: the progress line no longer prints {SMOOTHED!r}")
        source = source.replace(SMOOTHED, RAW)
    threads = max(1, available_cores() // workers)
    data = json.loads(out.read_text()) if out.is_file() else {"meta": {}, "runs": []}
    data["meta"] = {
        "target": "target",
        "corpus": corpus,
        "budget": budget,
        "clock": "cpu",
        "device": "cpu",
        "threads": threads,
        "metric": "val_bpb",
        "direction": "minimize",
        "progress": "raw training loss" if raw else "smoothed training loss",
        "parents": {name: CORPORA[name]["parent"] for name in sorted({*data["meta"].get("parents", {}), *names})},
    }
    done = {(run["corpus"], run["variant"], run["seed"]) for run in data["runs"]}
    jobs = []
    for name in names:
        spec = CORPORA[name]
        parent = with_constants(source, spec["parent"])
        jobs += [(name, "parent", {}, parent, s) for s in range(parent_seeds)]
        for variant, changes in spec["variants"].items():
            jobs += [(name, variant, changes, with_constants(parent, changes), s) for s in range(seeds)]
    jobs = [job for job in jobs if (job[0], job[1], job[4]) not in done]
    lock = threading.Lock()

    def run(job: tuple[str, str, dict[str, str], str, int], tmp: Path) -> None:
        name, variant, changes, code, seed = job
        settings = EvalSettings(
            BudgetConfig(budget, "cpu"), seed=seed, threads=threads, device="cpu", env={"EVO_CORPUS": corpus}
        )
        result = evaluate(target, {"train.py": code}, tmp / f"{name}-{variant}-{seed}".replace(" ", "_"), settings)
        print(f"{name:9} {variant:18} seed {seed}: {result.status.value} {result.metric}", flush=True)
        record = {
            "corpus": name,
            "variant": variant,
            "changes": changes,
            "seed": seed,
            "status": result.status.value,
            "metric": result.metric,
            "curve": [list(point) for point in result.curve],
        }
        with lock:
            data["runs"].append(record)
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp_out = out.with_name(out.name + ".tmp")
            tmp_out.write_text(json.dumps(data, indent=1) + "\n")
            tmp_out.replace(out)

    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda job: run(job, Path(tmp)), jobs))
    print(f"{out}: {len(data['runs'])} curves")


@dataclass(frozen=True)
class Candidate:
    variant: str
    seed: int
    curve: tuple[tuple[float, float], ...]
    metric: float
    reference: dict[str, Any]  # the parent's run on the same seed
    luck: float = 0.0  # that run's luck (evo.stopping.sprt.reference_luck) against the parent's other seeds


def shown(path: Path) -> Path:
    """A curve file as a report names it: relative to the repository when it lies inside."""
    return path.resolve().relative_to(REPO) if path.resolve().is_relative_to(REPO) else path


def load_corpus(data: dict[str, Any], name: str) -> tuple[list[Candidate], dict[int, dict[str, Any]], int]:
    """A corpus's finished candidates (each with its same-seed parent run), its parent runs by seed, and how many
    candidate runs failed (excluded: a crash ends early anyway)."""
    runs = [run for run in data["runs"] if run["corpus"] == name]
    parents = {run["seed"]: run for run in runs if run["variant"] == "parent" and run["status"] == "ok"}
    candidates, failed = [], 0
    for run in runs:
        if run["variant"] == "parent":
            continue
        if run["status"] != "ok" or run["seed"] not in parents or len(run["curve"]) < 2:
            failed += 1
            continue
        curve = tuple((float(t), float(v)) for t, v in run["curve"])
        candidates.append(Candidate(run["variant"], run["seed"], curve, float(run["metric"]), parents[run["seed"]]))
    return candidates, parents, failed


def parent_luck(candidate: Candidate, noise: NoiseModel, budget: float) -> float:
    """The luck of the candidate's parent run (evo.stopping.sprt.reference_luck) against the parent's other seeds."""
    parent = candidate.reference
    return reference_luck(parent["curve"], parent["metric"], noise, budget, "minimize", calibrated=True)


def noise_without(parents: dict[int, dict[str, Any]], seed: int, budget: float, limit: int = 0) -> NoiseModel:
    """The noise model fitted to every parent run but the one the candidate is compared with (leave one out), or to
    the first `limit` of them (a calibration with that many seeds)."""
    others = [run for s, run in sorted(parents.items()) if s != seed]
    others = others[:limit] if limit else others
    return fit_noise(
        [run["curve"] for run in others], [run["metric"] for run in others], [r["seed"] for r in others], budget
    )


def paired_without(
    model: NoiseModel, parents: dict[int, dict[str, Any]], candidates: list[Candidate], held_out: Candidate
) -> NoiseModel:
    """`model` with same-seed noise measured as calibration's probes would, the probes being the corpus's other
    variants on the other seeds (leave the candidate's variant and seed out)."""
    baseline = {s: (run["curve"], run["metric"]) for s, run in parents.items() if s != held_out.seed}
    probes: dict[str, dict[int, tuple[Any, float]]] = {}
    for c in candidates:
        if c.variant != held_out.variant and c.seed != held_out.seed:
            probes.setdefault(c.variant, {})[c.seed] = (c.curve, c.metric)
    return fit_paired(model, baseline, probes)


def measured(
    corpora: dict[str, tuple[list[Candidate], dict[int, NoiseModel]]], budget: float, warmup: float
) -> dict[str, dict[tuple[str, int], tuple[float, float]]]:
    """Each corpus's candidates' closing trend and scale k, by (variant, seed), as a run would measure them on its
    finished candidates, leaving the candidate's variant out (a search never saw its own curve's end before deciding
    on it): the trend from its corpus's other variants, k from every corpus's. k belongs to the target (its curve
    against its metric), and a run measures it on early wide changes and late near ties alike; near ties alone
    measure it through their noise, which pulls it toward zero (0.9 where the file's corpora together say 1.2)."""
    slopes, pairs = {}, {}
    for name, (candidates, models) in corpora.items():
        for c in candidates:
            model, gain, key = models[c.seed], c.reference["metric"] - c.metric, (name, c.variant, c.seed)
            slopes[key] = closing(c.curve, c.reference["curve"], model, budget, warmup, gain / model.final_sd)
            pairs[key] = EndPair(end_gain(c.curve, c.reference["curve"], model, budget), gain)
    return {
        name: {
            (c.variant, c.seed): (
                trend_scale(s for (n, v, _), s in slopes.items() if n == name and v != c.variant),
                metric_scale((p for (n, v, _), p in pairs.items() if (n, v) != (name, c.variant)), models[c.seed]),
            )
            for c in candidates
        }
        for name, (candidates, models) in corpora.items()
    }


def first_look_bound(candidates: list[Candidate], delta: float, budget: float, warmup: float) -> float:
    """The share of the losers' compute saved if every loser by more than `delta` (and no other candidate) were
    stopped at its first progress point past the warm-up: the most a rule can save that stops no candidate within
    delta of its parent, where a winner by just over delta looks the same."""
    losers = [c for c in candidates if c.metric > c.reference["metric"]]
    saved = sum(
        1 - min(t / budget for t, _ in c.curve if t / budget >= warmup)
        for c in losers
        if c.metric - c.reference["metric"] > delta
    )
    return saved / len(losers) if losers else 0.0
