"""LOCKED landscape of the ideas target: what each research idea in train.py does, alone and together, simulated.

An autoresearch run is a sequence of discrete ideas worth a few 1e-4 bpb each, about the size of the seed noise:
most hurt, a few help, some only help together, some cancel, some crash or run out of memory in combination, and
some change the step time, so more or fewer steps fit in the budget. The landscape (effect sizes, which pairs
interact and how) is drawn from EVO_LANDSCAPE_SEED, so a study need not be tuned to one landscape; the sizes are
matched to autoresearch's record (see README.md). Expected loss after a fraction f of the budget:

    L(f) = L_inf(f) + (INITIAL - L_inf(f)) * (1 + f * STEPS_SCALE / M) ** -DATA_EXP
    L_inf(f) = FLOOR_BASE + sum of the ideas' effects (late ones realised over the last quarter of the budget)

where M is the step-time multiplier (the product of the ideas' own). val_bpb is L(1) plus seed noise.
`python prepare.py` prints the landscape's best configuration and its floor.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import itertools
import json
import math
import os
import random
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_BUDGET = 300.0
REAL_SECONDS = float(os.environ.get("EVO_SURROGATE_SECONDS", "1.0"))
POINTS = 50
FLOOR_BASE, INITIAL = 0.930, 8.0  # L_inf of the baseline idea set; a uniform guess over bytes
STEPS_SCALE, DATA_EXP, BASE_STEPS = 9_000.0, 0.5, 3_000  # the baseline ends ~0.07 above its L_inf
FINAL_NOISE, CURVE_NOISE, CURVE_PHI = 5e-4, 0.002, 0.9  # seed noise of val_bpb (absolute); of the curve (relative)
MEMORY_MB, MEMORY_LIMIT_MB = 48_000.0, 80_000.0  # the baseline's peak memory; an H100's
LATE = 0.75  # "late" ideas realise their effect over the budget's last quarter (schedules, averaging)

# name -> options (the first is the baseline's); booleans are (False, True)
IDEAS: dict[str, tuple[Any, ...]] = {
    **{name: (False, True) for name in (
        "USE_RMSNORM", "USE_QK_NORM", "USE_ROPE", "USE_VALUE_EMBEDS", "USE_SWIGLU", "USE_RELU_SQUARED",
        "USE_SOFTCAP", "USE_ZERO_INIT_PROJ", "USE_UNTIED_HEAD", "USE_SKIP_CONNECTIONS", "USE_SMEAR",
        "USE_PARALLEL_BLOCKS", "USE_MTP", "USE_MUON", "USE_NESTEROV", "USE_GRAD_CLIP", "USE_EMA", "USE_BATCH_RAMP",
        "USE_SEQ_LEN_WARMUP", "USE_DROPOUT", "USE_LABEL_SMOOTHING", "USE_WEIGHT_DECAY", "USE_BF16",
        "USE_FLASH_ATTN", "USE_COMPILE", "USE_SLIDING_WINDOW")},
    "DEPTH_WIDTH": ("4x256", "3x320", "6x192", "8x160"),
    "INIT_SCALE": ("default", "small", "mup"),
    "WINDOW_PATTERN": ("LLLL", "SSSL", "SSLL", "SLSL"),
    "LR_SCHEDULE": ("constant", "cosine", "linear", "wsd"),
}  # fmt: skip
HARMFUL = {"USE_DROPOUT": 4e-3, "USE_LABEL_SMOOTHING": 6e-3}  # known to hurt a short run's bpb (mean effect)
STEP_TIME = {  # (idea, option) -> step-time multiplier
    ("USE_BF16", True): 0.72, ("USE_FLASH_ATTN", True): 0.86, ("USE_COMPILE", True): 0.90,
    ("USE_PARALLEL_BLOCKS", True): 0.93, ("USE_SWIGLU", True): 1.07, ("USE_MTP", True): 1.18,
    ("USE_VALUE_EMBEDS", True): 1.05, ("USE_EMA", True): 1.02, ("USE_QK_NORM", True): 1.02,
    ("DEPTH_WIDTH", "6x192"): 1.06, ("DEPTH_WIDTH", "8x160"): 1.12, ("DEPTH_WIDTH", "3x320"): 0.97,
}  # fmt: skip
MEMORY = {  # (idea, option) -> memory multiplier
    ("USE_BF16", True): 0.6, ("USE_VALUE_EMBEDS", True): 1.35, ("USE_MTP", True): 1.45,
    ("DEPTH_WIDTH", "8x160"): 1.25, ("DEPTH_WIDTH", "6x192"): 1.1, ("USE_SKIP_CONNECTIONS", True): 1.1,
}  # fmt: skip
LATE_IDEAS = {"LR_SCHEDULE", "USE_EMA", "USE_WEIGHT_DECAY"}
COUPLED = {name for name, _ in STEP_TIME} | {name for name, _ in MEMORY}  # ideas that change time or memory
CONDITIONAL = {"USE_NESTEROV": ("USE_MUON", True), "USE_SLIDING_WINDOW": ("WINDOW_PATTERN", "not LLLL")}
CRASHES = {  # pairs that fail together, and how
    (("USE_SWIGLU", True), ("USE_RELU_SQUARED", True)): "RuntimeError: mat1 and mat2 shapes cannot be multiplied",
    (("USE_COMPILE", True), ("USE_SMEAR", True)): "torch._dynamo.exc.Unsupported: graph break in the smear kernel",
}
STRUCTURED = [  # (a, b, kind): synergy helps only together; cancel takes back the smaller gain; clash hurts
    ("USE_VALUE_EMBEDS", "USE_ROPE", "synergy"), ("USE_ZERO_INIT_PROJ", "INIT_SCALE", "synergy"),
    ("USE_RMSNORM", "USE_QK_NORM", "cancel"), ("USE_EMA", "LR_SCHEDULE", "cancel"),
    ("USE_BATCH_RAMP", "USE_SEQ_LEN_WARMUP", "clash"), ("USE_SOFTCAP", "USE_UNTIED_HEAD", "synergy"),
]  # fmt: skip


@dataclass(frozen=True)
class Landscape:
    effects: dict[tuple[str, Any], float]  # (idea, option) -> change of L_inf (negative helps)
    pairs: dict[tuple[tuple[str, Any], tuple[str, Any]], float]  # both present -> extra change of L_inf


def _magnitude(rng: random.Random, median: float, spread: float) -> float:
    return median * math.exp(rng.gauss(0.0, spread))


@functools.lru_cache(maxsize=16)
def landscape(seed: int) -> Landscape:
    """The effects of landscape `seed`: about a fifth of the options help, mostly by 1e-4 to 1e-3, a few by more;
    the rest hurt, mostly by about 1e-3."""
    rng = random.Random(f"ideas:{seed}")
    effects: dict[tuple[str, Any], float] = {}
    for name, options in IDEAS.items():
        for option in options[1:]:
            if name in HARMFUL:
                effects[name, option] = _magnitude(rng, HARMFUL[name], 0.3)
            elif rng.random() < 0.22:
                effects[name, option] = -_magnitude(rng, 3e-4, 0.9)
            else:
                effects[name, option] = _magnitude(rng, 1.0e-3, 1.0)
    pairs: dict[tuple[tuple[str, Any], tuple[str, Any]], float] = {}
    for a, b, kind in STRUCTURED:
        first, second = (a, IDEAS[a][-1]), (b, IDEAS[b][-1])
        if kind == "synergy":  # each alone a little worse; together clearly better
            for key in (first, second):
                effects[key] = _magnitude(rng, 3e-4, 0.5)
            pairs[first, second] = -(effects[first] + effects[second]) - _magnitude(rng, 1.5e-3, 0.5)
        elif kind == "cancel":  # both help alone; together the smaller gain is lost
            for key in (first, second):
                effects[key] = -_magnitude(rng, 6e-4, 0.5)
            pairs[first, second] = min(-effects[first], -effects[second])
        else:  # clash: fine alone, bad together
            pairs[first, second] = _magnitude(rng, 2e-3, 0.5)
    free = sorted(set(IDEAS) - COUPLED)  # kept apart from the time and memory ideas, so `best` stays exact
    for _ in range(6):  # and a few interactions nobody designed
        a, b = rng.sample(free, 2)
        key = ((a, IDEAS[a][-1]), (b, IDEAS[b][-1]))
        pairs.setdefault(key, rng.choice((-1, 1)) * _magnitude(rng, 5e-4, 0.7))
    return Landscape(effects, pairs)


def _present(ideas: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The (idea, option) pairs that act: options other than the baseline's, whose condition holds."""
    acting = []
    for name, options in IDEAS.items():
        value = ideas[name]
        if value == options[0]:
            continue
        condition = CONDITIONAL.get(name)
        if condition and not _holds(ideas, *condition):
            continue
        acting.append((name, value))
    return acting


def _holds(ideas: Mapping[str, Any], name: str, wanted: Any) -> bool:
    if isinstance(wanted, str) and wanted.startswith("not "):
        return ideas[name] != wanted[4:]
    return ideas[name] == wanted


def validated(ideas: Mapping[str, Any]) -> dict[str, Any]:
    missing = [name for name in IDEAS if name not in ideas]
    if missing:
        raise ValueError(f"train.py must define {', '.join(missing)}")
    for name, options in IDEAS.items():
        if ideas[name] not in options or type(ideas[name]) is not type(options[0]):
            raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}, got {ideas[name]!r}")
    return {name: ideas[name] for name in IDEAS}


@dataclass(frozen=True)
class Outcome:
    """A configuration's expected run: its failure (or ""), step-time multiplier, memory, and effects."""

    failure: str
    multiplier: float
    memory_mb: float
    early: float  # effect on L_inf from the start
    late: float  # effect realised over the last quarter


def outcome(ideas: Mapping[str, Any], seed: int) -> Outcome:
    world, acting = landscape(seed), _present(validated(ideas))
    multiplier = math.prod(STEP_TIME.get(key, 1.0) for key in acting)
    memory = MEMORY_MB * math.prod(MEMORY.get(key, 1.0) for key in acting)
    failure = next((reason for (a, b), reason in CRASHES.items() if a in acting and b in acting), "")
    if not failure and memory > MEMORY_LIMIT_MB:
        failure = f"torch.OutOfMemoryError: CUDA out of memory ({memory:,.0f} MB needed, {MEMORY_LIMIT_MB:,.0f} MB)"
    early = late = 0.0
    for key in acting:
        effect = world.effects.get(key, 0.0)
        late, early = (late + effect, early) if key[0] in LATE_IDEAS else (late, early + effect)
    for (a, b), effect in world.pairs.items():
        if a in acting and b in acting:
            late, early = (late + effect, early) if {a[0], b[0]} & LATE_IDEAS else (late, early + effect)
    return Outcome(failure, multiplier, memory, early, late)


def _curve(out: Outcome, budget: float, fractions: np.ndarray) -> np.ndarray:
    realised = out.early + out.late * np.clip((fractions - LATE) / (1 - LATE), 0.0, 1.0)
    l_inf = FLOOR_BASE + realised
    scale = STEPS_SCALE * budget / DEFAULT_BUDGET / out.multiplier
    return l_inf + (INITIAL - l_inf) * (1 + fractions * scale) ** -DATA_EXP


def expected_val_bpb(ideas: Mapping[str, Any], seed: int, budget: float = DEFAULT_BUDGET) -> float:
    """Noise-free val_bpb of a configuration on landscape `seed` (NaN when it fails): L(1), every effect realised."""
    out = outcome(ideas, seed)
    if out.failure:
        return math.nan
    l_inf = FLOOR_BASE + out.early + out.late
    return l_inf + (INITIAL - l_inf) * (1 + STEPS_SCALE * budget / DEFAULT_BUDGET / out.multiplier) ** -DATA_EXP


@dataclass(frozen=True)
class Run:
    budget: float
    losses: np.ndarray  # at fractions 1/POINTS .. 1 (up to a failure)
    val_bpb: float
    steps: int
    memory_mb: float
    failure: str

    def progress(self, real_seconds: float = REAL_SECONDS) -> Iterator[tuple[float, float]]:
        """(fraction of budget, loss) points, one every real_seconds / POINTS: a run this short needs no drift fix."""
        for k, loss in enumerate(self.losses, 1):
            time.sleep(real_seconds / POINTS)
            yield k / POINTS, float(loss)


def simulate(
    ideas: Mapping[str, Any], budget: float | None = None, seed: int | None = None, world: int | None = None
) -> Run:
    """One run: budget, seed and landscape default to EVO_TIME_BUDGET, EVO_SEED and EVO_LANDSCAPE_SEED."""
    budget = float(os.environ.get("EVO_TIME_BUDGET", DEFAULT_BUDGET)) if budget is None else budget
    seed = int(os.environ.get("EVO_SEED", 0)) if seed is None else seed
    world = int(os.environ.get("EVO_LANDSCAPE_SEED", 0)) if world is None else world
    out = outcome(ideas, world)
    digest = hashlib.sha256(json.dumps(validated(ideas), sort_keys=True).encode()).digest()
    rng = np.random.default_rng([seed % 2**64, int.from_bytes(digest[:8], "little")])
    fractions = np.arange(1, POINTS + 1) / POINTS
    noise = np.empty(POINTS)
    noise[0] = rng.normal(0, CURVE_NOISE)
    for k in range(1, POINTS):
        noise[k] = CURVE_PHI * noise[k - 1] + rng.normal(0, CURVE_NOISE * math.sqrt(1 - CURVE_PHI**2))
    losses = _curve(out, budget, fractions) * (1 + noise)
    val_bpb = float(_curve(out, budget, np.ones(1))[0]) + rng.normal(0, FINAL_NOISE)
    steps = max(1, round(BASE_STEPS * budget / DEFAULT_BUDGET / out.multiplier))
    if out.failure:  # an out-of-memory or a crash shows in the first steps
        return Run(budget, losses[:1], math.nan, steps, out.memory_mb, out.failure)
    return Run(budget, losses, val_bpb, steps, out.memory_mb, "")


# ---- the best configuration --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def best(seed: int, budget: float = DEFAULT_BUDGET) -> tuple[tuple[tuple[str, Any], ...], float]:
    """The landscape's best configuration and its expected val_bpb, exactly: every combination of the ideas that
    change step time or memory (they fix M, and with M fixed the value only grows with L_inf), and for each, every
    other idea chosen within its group of interacting ideas. Groups add to L_inf independently of one another, so
    each group's best setting depends only on the time and memory ideas it interacts with (remembered per value)."""
    baseline = {name: options[0] for name, options in IDEAS.items()}
    groups, coupled = _groups(seed), sorted(COUPLED)
    linked = [_linked(group, seed) for group in groups]
    chosen: dict[tuple[int, tuple[Any, ...]], dict[str, Any]] = {}
    winner, floor = dict(baseline), math.inf
    for values in itertools.product(*(IDEAS[name] for name in coupled)):
        ideas = {**baseline, **dict(zip(coupled, values, strict=True))}
        if outcome(ideas, seed).failure:
            continue
        for number, group in enumerate(groups):
            key = (number, tuple(ideas[name] for name in linked[number]))
            if key not in chosen:
                chosen[key] = min(_settings(group), key=lambda setting: _value({**ideas, **setting}, seed, budget))
            ideas.update(chosen[key])
        value = _value(ideas, seed, budget)
        if value < floor:
            winner, floor = dict(ideas), value
    return tuple(winner.items()), floor


def _linked(group: list[str], seed: int) -> list[str]:
    """The time and memory ideas that share an interaction or a crash with a member of `group`."""
    pairs = [(a[0], b[0]) for a, b in landscape(seed).pairs] + [(a[0], b[0]) for a, b in CRASHES]
    members = set(group)
    return sorted(
        {b for a, b in pairs if a in members and b in COUPLED} | {a for a, b in pairs if b in members and a in COUPLED}
    )


def _value(ideas: Mapping[str, Any], seed: int, budget: float) -> float:
    value = expected_val_bpb(ideas, seed, budget)
    return math.inf if math.isnan(value) else value


def _settings(group: list[str]) -> list[dict[str, Any]]:
    return [dict(zip(group, values, strict=True)) for values in itertools.product(*(IDEAS[n] for n in group))]


def _groups(seed: int) -> list[list[str]]:
    """The ideas outside COUPLED, in groups linked by an interaction or a condition."""
    world, parent = landscape(seed), {name: name for name in set(IDEAS) - COUPLED}

    def root(name: str) -> str:
        while parent[name] != name:
            name = parent[name]
        return name

    links = [(a[0], b[0]) for a, b in world.pairs] + [(n, c[0]) for n, c in CONDITIONAL.items()]
    links += [(a[0], b[0]) for a, b in CRASHES]
    for a, b in links:
        if a in parent and b in parent:
            parent[root(a)] = root(b)
    groups: dict[str, list[str]] = {}
    for name in sorted(parent):
        groups.setdefault(root(name), []).append(name)
    return list(groups.values())


# ---- target hooks (target.yaml `hooks`): evo asks these in-process; train.py's text is read, never run -----------


def ideas_of(source: str) -> dict[str, Any]:
    """The UPPERCASE constants train.py assigns at its top level (literals; the last assignment wins)."""
    values: dict[str, Any] = {}
    for node in ast.parse(source).body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
        if isinstance(target, ast.Name) and target.id.isupper():
            try:
                values[target.id] = ast.literal_eval(node.value)  # type: ignore[union-attr]
            except ValueError:
                values.pop(target.id, None)
    return values


def _landscape_seed(env: Mapping[str, str]) -> int:
    return int(env.get("EVO_LANDSCAPE_SEED", 0))


def expected(files: Mapping[str, str], budget: float, env: Mapping[str, str]) -> float | None:
    """Hook `expected`: the candidate's noise-free val_bpb (None when it would fail)."""
    try:
        value = expected_val_bpb(ideas_of(files["train.py"]), _landscape_seed(env), budget)
    except (ValueError, SyntaxError):
        return None
    return None if math.isnan(value) else value


def optimum(budget: float, env: Mapping[str, str]) -> float:
    """Hook `optimum`: the landscape's floor (it depends on EVO_LANDSCAPE_SEED)."""
    return best(_landscape_seed(env), budget)[1]


def simulate_run(files: Mapping[str, str], budget: float, seed: int, env: Mapping[str, str]) -> dict[str, Any]:
    """Hook `simulate`: what `python train.py` prints for this seed, as data."""
    try:
        run = simulate(ideas_of(files["train.py"]), budget, seed, _landscape_seed(env))
    except (ValueError, SyntaxError) as exc:
        return {"status": "crash", "metric": None, "curve": [], "summary": {}, "reason": f"exit 1: {exc}"}
    curve = [(float(k / POINTS * budget), float(v)) for k, v in enumerate(run.losses, 1)]
    if run.failure:
        return {
            "status": "crash",
            "metric": None,
            "curve": curve,
            "summary": {},
            "reason": f"exit 1: FAIL: {run.failure}",
        }
    summary = {"val_bpb": run.val_bpb, "training_seconds": budget, "peak_memory_mb": run.memory_mb}
    summary["num_steps"] = run.steps
    return {"status": "ok", "metric": run.val_bpb, "curve": curve, "summary": summary, "reason": ""}


if __name__ == "__main__":
    landscape_seed = int(os.environ.get("EVO_LANDSCAPE_SEED", 0))
    chosen, floor = best(landscape_seed)
    baseline_value = expected_val_bpb({n: o[0] for n, o in IDEAS.items()}, landscape_seed)
    print(f"landscape {landscape_seed}: baseline {baseline_value:.6f}, floor {floor:.6f} with:")
    for name, value in chosen:
        if value != IDEAS[name][0]:
            print(f"  {name} = {value!r}")
