"""Shared fixtures: tiny pure-Python targets, so harness tests take a second each and need no torch."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from evo.config import BudgetConfig
from evo.evaluation import EvalSettings
from evo.evaluation.target import TargetSpec, load_target

REPO = Path(__file__).resolve().parent.parent

# A well-behaved candidate: progress lines for the whole budget, then autoresearch's summary block.
GOOD_TRAIN = """
import os, time
BUDGET = float(os.environ.get("EVO_TIME_BUDGET", "300"))
start = time.perf_counter()
step = 0
while (elapsed := time.perf_counter() - start) < BUDGET:
    print(f"step {step:05d} ({100 * elapsed / BUDGET:.1f}%) | loss: {3.0 / (1 + elapsed):.6f} | dt: 50ms", flush=True)
    step += 1
    time.sleep(0.05)
print("---")
print(f"val_bpb:          {1.0 + 1.0 / step:.6f}")
print(f"training_seconds: {BUDGET:.1f}")
print(f"num_steps:        {step}")
"""


@pytest.fixture
def make_target(tmp_path: Path) -> Callable[..., TargetSpec]:
    """Write a target directory with `train.py` and optional extra files, and load it."""

    def make(train: str = GOOD_TRAIN, files: dict[str, str] | None = None, spec: str | None = None) -> TargetSpec:
        root = tmp_path / "target"
        root.mkdir(exist_ok=True)
        (root / "train.py").write_text(textwrap.dedent(train))
        (root / "helper.py").write_text("SCALE = 1.0\n")
        for name, text in (files or {}).items():
            (root / name).write_text(textwrap.dedent(text))
        if spec is not None:
            (root / "target.yaml").write_text(textwrap.dedent(spec))
        return load_target(root)

    return make


@pytest.fixture
def quick() -> EvalSettings:
    """Settings for sub-second candidates: a 1 s budget and 2 s of grace on either side."""
    return EvalSettings(BudgetConfig(1.0, startup_grace=2.0, eval_grace=2.0), threads=1)


from .fake_openai import fake_openai  # noqa: E402, F401  (the fixture, shared by every LLM test)
