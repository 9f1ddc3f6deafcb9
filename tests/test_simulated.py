"""The simulated executor and the simulated targets: the same draw in-process as through a real process, searches on a
virtual clock that keeps the budget's time, held-out values from the target's hook, and the ideas landscape's model."""

from __future__ import annotations

import math
import random
import subprocess
import sys
from pathlib import Path

import pytest

from evo.config import BudgetConfig, load_config
from evo.errors import EvoError
from evo.evaluation import EvalSettings, Status, evaluate, load_target
from evo.evaluation.hooks import hook
from evo.execution import EvalRequest
from evo.execution.simulated import simulate
from evo.reporting.run_data import final_best, load_run
from evo.search import Coordinator, start
from population.ledger import Ledger
from population.store import GitStore

from .conftest import REPO

SURROGATE, IDEAS = REPO / "benchmarks" / "surrogate", REPO / "benchmarks" / "ideas"


def simulated(tmp_path: Path, target: Path, *extra: str) -> Path:
    config = load_config(
        REPO / "configs" / "surrogate.yaml",
        [f"runs_dir={tmp_path / 'runs'}", f"target={target}", "executor.kind=simulated", *extra],
    )
    root = start(config)
    Coordinator(root).run()
    return root


@pytest.mark.parametrize("target", [SURROGATE, IDEAS])
def test_a_simulated_evaluation_is_the_draw_the_real_process_prints(target: Path, tmp_path: Path) -> None:
    spec = load_target(target)
    train = (target / "train.py").read_text()
    code = {"train.py": train.replace("= False  ", "= True   ", 2) if target == IDEAS else train}
    settings = EvalSettings(BudgetConfig(300.0, startup_grace=20, eval_grace=20), seed=7, threads=1,
                            env={"EVO_SURROGATE_SECONDS": "0.05", "EVO_LANDSCAPE_SEED": "2"})  # fmt: skip
    real = evaluate(spec, code, tmp_path / "real", settings)
    fake = simulate(EvalRequest(spec, code, tmp_path / "fake", settings))
    assert real.status is fake.status is Status.OK
    assert fake.metric == pytest.approx(real.metric, abs=1e-6)  # printed with 6 decimals
    assert len(fake.curve) == len(real.curve)
    for (t1, v1), (t2, v2) in zip(fake.curve, real.curve, strict=True):
        assert t1 == pytest.approx(t2, abs=0.2) and v1 == pytest.approx(v2, abs=1e-6)
    assert fake.wall_seconds == 300.0  # the budget it used, on the virtual clock


def test_a_simulated_search_keeps_the_budgets_time_on_its_virtual_clock(tmp_path: Path) -> None:
    root = simulated(tmp_path, SURROGATE, "slots.count=4", "stop.evaluations=21", "executor.proposal_seconds=30")
    with Ledger(root / "ledger.sqlite") as ledger:
        individuals = ledger.all()
        elapsed = ledger.get_meta("elapsed")
    assert len(individuals) == 21 and all(i.is_finished for i in individuals)
    for individual in individuals:  # each candidate trained its 300 simulated seconds
        assert individual.finished - individual.started == pytest.approx(300.0)
    # the baseline, then rounds of 4 after each LLM answer (about 30 s): about 6 budgets of virtual time in all
    assert 6 * 300 <= elapsed <= 8 * 300
    children = [i for i in individuals if i.parents]
    assert min(i.started - individuals[0].started for i in children) >= 10  # waited for an answer first


def test_the_same_simulated_search_gives_the_same_ledger(tmp_path: Path) -> None:
    rows = []
    for name in ("a", "b"):
        root = simulated(tmp_path / name, SURROGATE, "slots.count=8", "stop.evaluations=40", "early_stop.enabled=true")
        with Ledger(root / "ledger.sqlite") as ledger:
            rows.append([(i.id, i.parents, i.description, i.status, i.metric, i.budget_seconds) for i in ledger.all()])
    assert rows[0] == rows[1]
    assert any(row[3] == "pruned" and row[5] < 300 for row in rows[0])  # early stop works on the virtual clock


def test_a_runs_held_out_value_comes_from_the_targets_expected_hook(tmp_path: Path) -> None:
    root = simulated(tmp_path, IDEAS, "slots.count=8", "stop.evaluations=60", "env={EVO_LANDSCAPE_SEED: '4'}")
    run = load_run(root)
    pick = final_best(run)
    spec = load_target(IDEAS)
    with GitStore(root / "git", ("train.py",)) as store:
        code = store.code(pick.commit)
    assert run.heldout == hook(spec, "expected")(code, 300.0, {"EVO_LANDSCAPE_SEED": "4"})
    assert run.optimum == hook(spec, "optimum")(300.0, {"EVO_LANDSCAPE_SEED": "4"}) < run.heldout
    assert abs(run.heldout - pick.metric) < 0.01  # observed and held-out differ by noise, not by more


def test_the_ideas_landscapes_best_is_not_beaten_by_a_random_search_or_a_single_switch() -> None:
    sys.path.insert(0, str(IDEAS))
    try:
        import prepare as landscape
    finally:
        sys.path.remove(str(IDEAS))
    for seed in (0, 5):
        chosen, floor = landscape.best(seed)
        best = dict(chosen)
        assert landscape.expected_val_bpb(best, seed) == floor
        rng = random.Random(seed)
        for _ in range(3000):
            trial = {name: rng.choice(options) for name, options in landscape.IDEAS.items()}
            value = landscape.expected_val_bpb(trial, seed)
            assert math.isnan(value) or value >= floor
        for name, options in landscape.IDEAS.items():
            for option in options:
                value = landscape.expected_val_bpb({**best, name: option}, seed)
                assert math.isnan(value) or value >= floor
    printed = subprocess.run([sys.executable, "prepare.py"], cwd=IDEAS, capture_output=True, text=True, check=True)
    assert printed.stdout.startswith(f"landscape 0: baseline 1.004520, floor {landscape.best(0)[1]:.6f} with:")


def test_the_ideas_landscape_crashes_and_runs_out_of_memory_in_combination(tmp_path: Path) -> None:
    spec, train = load_target(IDEAS), (IDEAS / "train.py").read_text()
    run = hook(spec, "simulate")
    both = train.replace("USE_SWIGLU = False", "USE_SWIGLU = True").replace(
        "USE_RELU_SQUARED = False", "USE_RELU_SQUARED = True"
    )
    crash = run({"train.py": both}, 300.0, 0, {})
    assert crash["status"] == "crash" and "shapes cannot be multiplied" in crash["reason"]
    big = train.replace("USE_MTP = False", "USE_MTP = True").replace(
        "USE_VALUE_EMBEDS = False", "USE_VALUE_EMBEDS = True"
    )
    assert "out of memory" in run({"train.py": big}, 300.0, 0, {})["reason"]
    fits = big.replace("USE_BF16 = False", "USE_BF16 = True")  # bf16 halves the memory: it fits again
    assert run({"train.py": fits}, 300.0, 0, {})["status"] == "ok"


def test_a_target_hook_must_name_a_function_of_a_locked_module(tmp_path: Path) -> None:
    root = tmp_path / "target"
    root.mkdir()
    (root / "train.py").write_text("X = 1\n")
    (root / "prepare.py").write_text("def expected(files, budget, env):\n    return 1.0\n")
    for hooks, message in [
        ("{expected: 'train:expected'}", "names train.py, which is not a locked file"),
        ("{expected: 'prepare'}", "must be 'module:function'"),
        ("{guess: 'prepare:expected'}", "unknown key 'hooks.guess'"),
    ]:
        (root / "target.yaml").write_text(f"hooks: {hooks}\n")
        with pytest.raises(EvoError, match=message):
            load_target(root)
    (root / "target.yaml").write_text("hooks: {expected: 'prepare:missing'}\n")
    with pytest.raises(EvoError, match="which is not a function"):
        hook(load_target(root), "expected")
    (root / "target.yaml").write_text("hooks: {expected: 'prepare:expected'}\n")
    assert hook(load_target(root), "expected")({}, 1.0, {}) == 1.0
    assert hook(load_target(root), "simulate") is None
    with pytest.raises(EvoError, match="needs a target with a 'simulate' hook"):
        simulate(EvalRequest(load_target(root), None, tmp_path / "w", EvalSettings()))
