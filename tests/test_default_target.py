"""The default GPT target end to end: it trains and is scored, and its locked evaluation cannot be gamed.

Each candidate is the real `target/train.py` with one small edit, run for 2 CPU-seconds on the synthetic corpus.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from evo.config import BudgetConfig
from evo.evaluation import EvalSettings, evaluate
from evo.evaluation.result import EvalResult, Status
from evo.evaluation.target import TargetSpec, load_target

from .conftest import REPO

BASELINE = (REPO / "target" / "train.py").read_text()
# The CPU budget clock keeps the number of steps the same on a loaded machine (and exercises EVO_BUDGET_CLOCK=cpu);
# one thread, because an idle OpenMP thread spin-waits on a busy machine and burns CPU seconds without steps.
# 4 s: about six steps of ~0.6 CPU s, so the curve has its three points even when a first step runs slow (2 s gave two).
SETTINGS = EvalSettings(BudgetConfig(4.0, "cpu", 30.0, 30.0), threads=1, env={"EVO_CORPUS": "synthetic"})


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> TargetSpec:
    """The default target, with data and manifests in a fresh cache: the first-run path a new user takes."""
    cache = tmp_path_factory.mktemp("evo-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EVO_CACHE_DIR", str(cache))
        yield load_target(REPO / "target")


def run(target: TargetSpec, tmp_path: Path, code: str) -> EvalResult:
    return evaluate(target, {"train.py": code}, tmp_path / "run", SETTINGS)


def edit(old: str, new: str) -> str:
    """The baseline with exactly one occurrence of `old` replaced."""
    assert BASELINE.count(old) == 1, f"target/train.py no longer contains {old!r} exactly once"
    return BASELINE.replace(old, new)


def test_the_target_describes_itself(target: TargetSpec) -> None:
    assert target.editable == ("train.py",)
    assert target.metric.attested and target.prepare == ("python", "prepare.py")
    assert "prepare.py" in target.locked and "train.py" not in target.locked
    assert "val_bpb" in target.read_program()


def test_the_baseline_trains_and_is_scored_by_the_locked_evaluation(target: TargetSpec, tmp_path: Path) -> None:
    result = run(target, tmp_path, BASELINE)
    assert result.status is Status.OK, f"{result.reason}\n{result.log_tail}"
    assert result.info["corpus"] == "synthetic"
    floor = result.info["entropy_floor_bpb"]
    assert 0.5 < floor < result.metric < 8.0
    assert result.summary["val_bpb"] == pytest.approx(result.metric, abs=1e-6)
    for key in ("training_seconds", "total_seconds", "peak_memory_mb", "num_steps", "num_params_M"):
        assert key in result.summary
    assert len(result.curve) >= 3
    assert result.curve[-1][0] == pytest.approx(SETTINGS.budget.seconds, rel=0.2)
    assert result.curve[-1][1] < result.curve[0][1]


def test_a_printed_val_bpb_instead_of_the_evaluation_is_not_recorded(target: TargetSpec, tmp_path: Path) -> None:
    result = run(target, tmp_path, edit("val_bpb = evaluate_bpb(model, EVAL_BATCH_SIZE)", "val_bpb = 0.0001"))
    assert result.summary["val_bpb"] == 0.0001
    assert result.status is Status.INVALID
    assert result.reason.startswith("no val_bpb from the locked evaluation")


def test_editing_prepare_py_is_not_recorded(target: TargetSpec, tmp_path: Path) -> None:
    cheat = (
        "import pathlib\n_p = pathlib.Path('prepare.py')\n"
        "_p.write_text(_p.read_text().replace('bpb = total_nats / counted / math.log(2)', 'bpb = 0.0001'))\n"
    )
    result = run(target, tmp_path, cheat + BASELINE)
    assert result.status is Status.INVALID
    assert result.reason == "locked file prepare.py was modified during the run"


def test_evaluating_fewer_tokens_is_not_recorded(target: TargetSpec, tmp_path: Path) -> None:
    result = run(target, tmp_path, "import prepare as _p\n_p.N_WINDOWS = 4\n" + BASELINE)
    assert result.status is Status.INVALID
    assert "tokens=1024" in result.reason and "its data or token count was changed" in result.reason


def test_evaluating_on_other_data_is_not_recorded(target: TargetSpec, tmp_path: Path) -> None:
    swap = "import prepare as _p\n_load = _p._load\n_p._load = lambda split: _load('train')\n"
    result = run(target, tmp_path, swap + BASELINE)
    assert result.status is Status.INVALID
    assert "val_digest=" in result.reason


def test_a_model_that_sees_the_future_is_not_recorded(target: TargetSpec, tmp_path: Path) -> None:
    result = run(target, tmp_path, edit("is_causal=True", "is_causal=False"))
    assert result.status is Status.INVALID
    assert result.reason.startswith("the model is not causal")


def test_a_diverging_run_is_reported_not_scored(target: TargetSpec, tmp_path: Path) -> None:
    result = run(target, tmp_path, edit("\nLR = 1e-3 ", "\nLR = 1e12 "))
    assert result.status in (Status.CRASH, Status.INVALID)
    assert result.metric is None
    assert "nan" in result.reason.lower() or "inf" in result.reason.lower() or "finite" in result.reason.lower()
    assert not math.isnan(result.wall_seconds)
