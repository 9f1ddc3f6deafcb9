"""LOCKED objective of the surrogate target: a simulated training run that takes ~1 s of real time.

train.py only chooses constants; the landscape, the noise and the metric live here so that a candidate cannot
change how val_bpb is computed. Expected loss after t simulated seconds (D tokens seen, N parameters):

    L(t) = L_inf(c) + (INITIAL_LOSS - L_inf(c)) * (1 + D(t) / DATA_SCALE) ** -DATA_EXP,   D(t) = t * FLOPS / (6 N)
    L_inf(c) = IRREDUCIBLE + SIZE_COEF * (N / 1e6) ** -SIZE_EXP + penalties (saturating below INITIAL_LOSS)

Bigger models end lower but learn slower, so curves cross and the best size grows with the budget.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import operator
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_BUDGET = 300.0  # simulated training seconds when EVO_TIME_BUDGET is absent
REAL_SECONDS = float(os.environ.get("EVO_SURROGATE_SECONDS", "1.0"))  # real wall time of one run, any budget
POINTS = 50  # progress points per run (one every 2% of the budget)
VOCAB, SEQ_LEN = 256, 256  # bytes; tokens per sequence
FLOPS = 1e13  # simulated training FLOP/s
INITIAL_LOSS = 8.0  # bits per byte of a uniform guess over 256 byte values
IRREDUCIBLE, SIZE_COEF, SIZE_EXP = 0.70, 0.48, 0.35
DATA_SCALE, DATA_EXP = 3.7e3, 0.45
LR_BEST = {"muon": 2e-2, "adamw": 2e-3, "sgd": 5e-2}  # best learning rate at WIDTH 512; scales as (512/WIDTH)**0.5
OPTIMIZER_PENALTY = {"muon": 0.0, "adamw": 0.03, "sgd": 0.15}
DIVERGE_RATIO = 30.0  # a learning rate this many times its best diverges (NaN loss)
ANNEAL_GAP = 0.04  # train loss the LR warmdown anneals away; never removed when WARMDOWN_FRAC == 0
CURVE_NOISE, CURVE_PHI = 0.01, 0.9  # relative AR(1) noise on progress losses: stationary std, autocorrelation
FINAL_NOISE, FINAL_CURVE_CORR = 0.004, 0.5  # relative std of val_bpb; its correlation with the last curve noise
NAMES = ("LEARNING_RATE", "BATCH_SIZE", "DEPTH", "WIDTH", "WARMUP_FRAC", "WARMDOWN_FRAC", "WEIGHT_DECAY", "OPTIMIZER")
OPTIMUM: dict[str, Any] = dict(  # argmin of the expected val_bpb at DEFAULT_BUDGET (python prepare.py re-checks it)
    LEARNING_RATE=2e-2,
    BATCH_SIZE=64,
    DEPTH=6,
    WIDTH=512,
    WARMUP_FRAC=0.05,
    WARMDOWN_FRAC=0.5,
    WEIGHT_DECAY=0.1,
    OPTIMIZER="muon",
)


def _validated(constants: Mapping[str, Any]) -> dict[str, Any]:
    """Keep the knobs the landscape knows (others are ignored) and reject values real training would reject."""
    missing = [n for n in NAMES if n not in constants]
    if missing:
        raise ValueError(f"train.py must define {', '.join(missing)}")
    c = {n: constants[n] for n in NAMES}
    for name in ("BATCH_SIZE", "DEPTH", "WIDTH"):
        if not isinstance(c[name], int) or isinstance(c[name], bool) or c[name] < 1:
            raise ValueError(f"{name} must be a positive integer, got {c[name]!r}")
    for name in ("LEARNING_RATE", "WARMUP_FRAC", "WARMDOWN_FRAC", "WEIGHT_DECAY"):
        if not isinstance(c[name], (int, float)) or isinstance(c[name], bool) or not math.isfinite(c[name]):
            raise ValueError(f"{name} must be a finite number, got {c[name]!r}")
    if c["LEARNING_RATE"] <= 0 or c["WEIGHT_DECAY"] < 0:
        raise ValueError("LEARNING_RATE must be > 0 and WEIGHT_DECAY >= 0")
    if min(c["WARMUP_FRAC"], c["WARMDOWN_FRAC"]) < 0 or c["WARMUP_FRAC"] + c["WARMDOWN_FRAC"] > 1:
        raise ValueError("WARMUP_FRAC and WARMDOWN_FRAC must be >= 0 and sum to at most 1")
    if c["OPTIMIZER"] not in LR_BEST:
        raise ValueError(f"OPTIMIZER must be one of {', '.join(LR_BEST)}, got {c['OPTIMIZER']!r}")
    return c


def num_params(c: Mapping[str, Any]) -> int:
    """Transformer parameter count: 12 d^2 per layer plus byte embedding and head."""
    return 12 * c["DEPTH"] * c["WIDTH"] ** 2 + 2 * VOCAB * c["WIDTH"]


def _lr_ratio(c: Mapping[str, Any]) -> float:
    """Learning rate relative to its best value for this optimizer and width (muP-like width scaling)."""
    return c["LEARNING_RATE"] / (LR_BEST[c["OPTIMIZER"]] * (512 / c["WIDTH"]) ** 0.5)


def _asymptote(c: Mapping[str, Any]) -> float:
    """L_inf: size term plus the penalties of each knob, saturating so a hopeless run stays below INITIAL_LOSS."""
    size = IRREDUCIBLE + SIZE_COEF * (num_params(c) / 1e6) ** -SIZE_EXP
    penalty = (
        0.02 * math.log2(_lr_ratio(c)) ** 2
        + 0.015 * math.log2(c["BATCH_SIZE"] / 64) ** 2
        + 0.02 * math.log2(c["WIDTH"] / (85 * c["DEPTH"])) ** 2  # aspect ratio: ~85 model dims per layer
        + 1.0 * (c["WARMUP_FRAC"] - 0.05) ** 2
        + 0.3 * (c["WARMDOWN_FRAC"] - 0.5) ** 2
        + 0.5 * (c["WEIGHT_DECAY"] - 0.1) ** 2
        + OPTIMIZER_PENALTY[c["OPTIMIZER"]]
    )
    room = INITIAL_LOSS - size
    return size + room * (1 - math.exp(-penalty / room))


def _expected_curve(c: Mapping[str, Any], budget: float, fractions: np.ndarray) -> np.ndarray:
    """Noise-free train loss at each fraction of the budget, including the gap the warmdown anneals away."""
    l_inf = _asymptote(c)
    tokens = fractions * budget * FLOPS / (6 * num_params(c))
    loss = l_inf + (INITIAL_LOSS - l_inf) * (1 + tokens / DATA_SCALE) ** -DATA_EXP
    warmdown = c["WARMDOWN_FRAC"]
    annealed = np.clip((fractions - (1 - warmdown)) / warmdown, 0, 1) if warmdown > 0 else 0 * fractions
    return loss + ANNEAL_GAP * (1 - annealed)


def expected_val_bpb(constants: Mapping[str, Any], budget: float = DEFAULT_BUDGET) -> float:
    """Noise-free final metric (NaN if the run diverges): what studies compare seeds' averages against."""
    c = _validated(constants)
    return math.nan if _lr_ratio(c) > DIVERGE_RATIO else float(_expected_curve(c, budget, np.ones(1))[0])


@dataclass(frozen=True)
class Run:
    """One simulated run, fixed by the constants, the budget and the seed."""

    constants: dict[str, Any]
    budget: float
    losses: np.ndarray  # train loss at fractions 1/POINTS .. 1; NaN from the divergence on
    val_bpb: float  # NaN when diverged
    num_params: int
    tokens_per_sec: float

    def progress(self, real_seconds: float = REAL_SECONDS) -> Iterator[tuple[float, float]]:
        """Yield (fraction_of_budget, loss) paced evenly over real_seconds, so a run feels like training."""
        start = time.perf_counter()
        for k, loss in enumerate(self.losses, 1):
            time.sleep(max(0.0, start + real_seconds * k / POINTS - time.perf_counter()))
            yield k / POINTS, float(loss)

    def lr_multiplier(self, fraction: float) -> float:
        """Schedule of the learning rate: linear warmup, constant, linear warmdown to zero."""
        up, down = self.constants["WARMUP_FRAC"], self.constants["WARMDOWN_FRAC"]
        return min(1.0, fraction / up if up else 1.0, (1 - fraction) / down if down else 1.0)


def simulate(constants: Mapping[str, Any], budget: float | None = None, seed: int | None = None) -> Run:
    """Simulate training; budget and seed default to EVO_TIME_BUDGET and EVO_SEED like real training."""
    c = _validated(constants)
    budget = float(os.environ.get("EVO_TIME_BUDGET", DEFAULT_BUDGET)) if budget is None else budget
    seed = int(os.environ.get("EVO_SEED", 0)) if seed is None else seed
    if budget <= 0:
        raise ValueError(f"budget must be > 0, got {budget}")
    digest = hashlib.sha256(json.dumps(c, sort_keys=True).encode()).digest()
    rng = np.random.default_rng([seed % 2**64, int.from_bytes(digest[:8], "little")])
    fractions = np.arange(1, POINTS + 1) / POINTS
    noise = np.empty(POINTS)  # AR(1) with stationary std CURVE_NOISE
    noise[0] = rng.normal(0, CURVE_NOISE)
    for k in range(1, POINTS):
        noise[k] = CURVE_PHI * noise[k - 1] + rng.normal(0, CURVE_NOISE * math.sqrt(1 - CURVE_PHI**2))
    losses = _expected_curve(c, budget, fractions) * (1 + noise)
    z = FINAL_CURVE_CORR * noise[-1] / CURVE_NOISE + math.sqrt(1 - FINAL_CURVE_CORR**2) * rng.normal()
    val_bpb = float(_expected_curve(c, budget, np.ones(1))[0]) * (1 + FINAL_NOISE * z)
    excess = _lr_ratio(c) / DIVERGE_RATIO
    if excess > 1:  # like real divergence: spikes, then NaN; sooner the further past the stable range
        nan_at = max(3, int(POINTS * (0.6 - 0.5 * math.log10(excess))))
        losses[nan_at - 2 : nan_at] *= (1.5, 3.0)
        losses[nan_at:], val_bpb = math.nan, math.nan
    return Run(c, budget, losses, val_bpb, num_params(c), FLOPS / (6 * num_params(c)))


FLOOR = expected_val_bpb(OPTIMUM)  # best expected val_bpb at DEFAULT_BUDGET


# ---- target hooks (target.yaml `hooks`): evo asks these in-process; train.py's text is read, never run ---------------


def constants_of(source: str) -> dict[str, Any]:
    """The UPPERCASE constants a train.py assigns at its top level (the last assignment wins, as when it runs):
    literals, and arithmetic on numeric literals such as `2**9`."""
    values = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name.isupper():
                try:
                    values[name] = _literal(node.value)
                except ValueError:
                    values.pop(name, None)
    return values


_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
               ast.FloorDiv: operator.floordiv, ast.Pow: operator.pow}  # fmt: skip


def _literal(node: ast.expr) -> Any:
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        left, right = _literal(node.left), _literal(node.right)
        if isinstance(left, (int, float)) and isinstance(right, (int, float)) and abs(right) < 64:
            return _ARITHMETIC[type(node.op)](left, right)
        raise ValueError("not a numeric expression")
    return ast.literal_eval(node)


def expected(files: Mapping[str, str], budget: float, env: Mapping[str, str]) -> float | None:
    """Hook `expected`: the candidate's noise-free val_bpb (None if it would fail: bad constants, divergence)."""
    try:
        value = expected_val_bpb(constants_of(files["train.py"]), budget)
    except (ValueError, SyntaxError):
        return None
    return None if math.isnan(value) else value


def simulate_run(files: Mapping[str, str], budget: float, seed: int, env: Mapping[str, str]) -> dict[str, Any]:
    """Hook `simulate`: what `python train.py` prints for this seed, as data (status, metric, curve, summary)."""
    try:
        constants = constants_of(files["train.py"])
        run = simulate(constants, budget, seed)
    except (ValueError, SyntaxError) as exc:
        return {"status": "crash", "metric": None, "curve": [], "summary": {}, "reason": f"exit 1: {exc}"}
    fractions = np.arange(1, POINTS + 1) / POINTS
    finite = ~np.isnan(run.losses)
    curve = [(float(f * budget), float(v)) for f, v in zip(fractions[finite], run.losses[finite], strict=True)]
    if not finite.all():
        step = round(fractions[int(np.argmin(finite))] * max(1, round(budget * run.tokens_per_sec / (32 * SEQ_LEN))))
        reason = f"exit 1: FAIL: loss is NaN at step {step}: training diverged"
        return {"status": "crash", "metric": None, "curve": curve, "summary": {}, "reason": reason}
    summary = {"val_bpb": run.val_bpb, "training_seconds": budget, "num_params_M": round(run.num_params / 1e6, 1)}
    return {"status": "ok", "metric": run.val_bpb, "curve": curve, "summary": summary, "reason": ""}


if __name__ == "__main__":  # re-check OPTIMUM: other knobs sit at closed-form minima, so search size and optimizer
    grid = (
        {**OPTIMUM, "DEPTH": d, "WIDTH": w, "OPTIMIZER": o, "LEARNING_RATE": LR_BEST[o] * (512 / w) ** 0.5}
        for d in range(1, 25)
        for w in range(32, 2049, 32)
        for o in LR_BEST
    )
    best = min(grid, key=expected_val_bpb)
    print(f"FLOOR {FLOOR:.6f}; grid best {expected_val_bpb(best):.6f} at {best}")
    if best != OPTIMUM:
        raise SystemExit("OPTIMUM is stale: update it to the grid best")
