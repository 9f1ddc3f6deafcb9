"""An unmodified autoresearch checkout (the replica in autoresearch_replica.py) as a target: evo sets its budget and
its seed without editing a locked file, believes only the locked evaluation's value, and fails honestly."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from evo.config import BudgetConfig
from evo.evaluation import EvalSettings, Status, evaluate, load_target
from evo.evaluation.adopt import adopt
from evo.evaluation.control import control_lines
from evo.evaluation.evaluator import LAUNCHER
from population.ledger import Ledger

from .autoresearch_replica import TRAIN, make_autoresearch
from .conftest import REPO

BUDGET = 1.5  # seconds: far below the checkout's own TIME_BUDGET = 300


def evo(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    return subprocess.run(
        [sys.executable, "-m", "evo", *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env
    )


def settings(seed: int = 0) -> EvalSettings:
    return EvalSettings(BudgetConfig(seconds=BUDGET, clock="wall", startup_grace=60, eval_grace=60), seed=seed)


def test_evo_adopt_writes_target_yaml_and_says_what_it_controls(tmp_path: Path) -> None:
    root = make_autoresearch(tmp_path / "autoresearch")
    done = evo("adopt", str(root), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "prepare.TIME_BUDGET (300 s in the locked file) is set to each run's budget" in done.stdout
    assert "seed: every RNG" in done.stdout and "torch.manual_seed" in done.stdout
    assert "metric: val_bpb is what the locked prepare.evaluate_bpb returns" in done.stdout
    spec = yaml.safe_load((root / "target.yaml").read_text())
    assert spec["launch"] == {"budget": "prepare.TIME_BUDGET", "evaluate": "prepare.evaluate_bpb", "seed": True}
    assert spec["metric"]["attested"] is True
    assert "TIME_BUDGET = 300" in (root / "prepare.py").read_text()  # the locked files are as they were
    again = evo("adopt", str(root), cwd=tmp_path)
    assert again.returncode == 2 and "exists; pass --force" in again.stderr


def test_an_unmodified_checkout_trains_for_evos_budget_and_its_seed_changes_the_run(tmp_path: Path) -> None:
    target = load_target(make_autoresearch(tmp_path / "autoresearch"))  # no target.yaml: adopted in memory
    assert target.adopted and target.launch is not None and target.metric.attested
    runs = [evaluate(target, None, tmp_path / f"run{n}", settings(seed)) for n, seed in enumerate((0, 0, 1))]
    for result in runs:
        assert result.status is Status.OK, result.reason
        trained = result.summary["training_seconds"]
        assert isinstance(trained, float) and BUDGET <= trained < 30  # evo's budget, not the file's 300 s
        assert f"Time budget: {BUDGET}s" in Path(result.log_path).read_text()
    first_loss = [result.curve[0][1] for result in runs]
    assert first_loss[0] == first_loss[1]  # seed 0 keeps torch.manual_seed(42) as written
    assert first_loss[2] != first_loss[0]  # seed 1 moves it: another initialisation
    assert runs[2].metric != runs[0].metric


def test_a_forged_printed_metric_is_invalid(tmp_path: Path) -> None:
    target = load_target(make_autoresearch(tmp_path / "autoresearch"))
    forged = TRAIN.replace('print(f"val_bpb:          {val_bpb:.6f}")', 'print("val_bpb:          0.100000")')
    assert forged != TRAIN
    result = evaluate(target, {"train.py": forged}, tmp_path / "forged", settings())
    assert result.status is Status.INVALID
    assert "printed val_bpb 0.1 differs from the locked evaluation's" in result.reason
    two_lines = 'print("---")\nprint("val_bpb: 0.1")\n'
    result = evaluate(target, {"train.py": two_lines}, tmp_path / "two-lines", settings())
    assert result.status is Status.INVALID and "never ran" in result.reason
    twice = TRAIN.replace(
        "t_end = time.time()", "evaluate_bpb(model, tokenizer, DEVICE_BATCH_SIZE)\nt_end = time.time()"
    )
    result = evaluate(target, {"train.py": twice}, tmp_path / "twice", settings())
    assert result.status is Status.INVALID and "ran 2 times" in result.reason


def test_an_unattested_target_gets_a_loud_line(tmp_path: Path) -> None:
    root = make_autoresearch(tmp_path / "autoresearch")
    (root / "target.yaml").write_text("launch: {budget: prepare.TIME_BUDGET}\n")
    target = load_target(root)
    lines = control_lines(target, BUDGET)
    assert any(line.startswith("WARNING: val_bpb is read from what each candidate prints") for line in lines)
    result = evaluate(target, {"train.py": 'print("---")\nprint("val_bpb: 0.1")\n'}, tmp_path / "run", settings())
    assert (result.status, result.metric) == (Status.OK, 0.1)  # what the warning is about


def test_a_target_that_fixes_its_own_budget_or_seed_is_said_once(tmp_path: Path) -> None:
    root = make_autoresearch(tmp_path / "autoresearch")
    (root / "target.yaml").write_text("fixed_budget: 300\nseeded: false\n")
    lines = control_lines(load_target(root), 20)
    assert any("the run's budget is 300 s, not the configured 20 s" in line for line in lines)
    assert any("ignores EVO_SEED" in line for line in lines)


def test_a_crashing_baseline_fails_the_run_with_its_tail_a_hint_and_the_seconds_it_used(tmp_path: Path) -> None:
    root = make_autoresearch(tmp_path / "autoresearch")
    train = root / "train.py"
    train.write_text(train.read_text().replace("import torch\n", "import torch\nfrom kernels import get_kernel\n", 1))
    overrides = [
        f"runs_dir={tmp_path / 'runs'}",
        f"target={root}",
        "name=ar",
        "budget.seconds=20",
        "budget.clock=wall",
        "stop.evaluations=3",
        "holdout.seeds=0",
    ]
    done = evo("run", str(REPO / "configs" / "ratchet.yaml"), *overrides, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "evo: the run failed: the baseline 0000 failed (crash: exit 1: ModuleNotFoundError" in done.stderr
    assert "No module named 'kernels'" in done.stderr  # the tail of its log
    assert "hint: the target imports 'kernels', which evo's Python lacks" in done.stderr
    run = tmp_path / "runs" / "ar"
    with Ledger(run / "ledger.sqlite") as ledger:
        baseline = ledger.get("0000")
    assert baseline.status == "crash" and 0 < baseline.budget_seconds < 20  # the seconds it ran, not the budget
    rows = (run / "results.tsv").read_text().splitlines()
    assert rows[1].split("\t")[1:4] == ["0.000000", "0.0", "crash"]  # autoresearch's crash convention
    status = evo("status", str(run), cwd=tmp_path)
    assert "training: 20 budget seconds used" not in status.stdout


def test_the_launcher_seeds_every_rng_and_mixes_the_scripts_own_seeds(tmp_path: Path) -> None:
    script = tmp_path / "t.py"
    script.write_text(
        "import random, sys, numpy as np, torch\n"
        "if sys.argv[1:] == ['own']:\n    random.seed(3); np.random.seed(3); torch.manual_seed(3)\n"
        "print(random.random(), np.random.rand(), torch.rand(1).item())\n"
    )

    def draws(seed: int | None, *args: str) -> str:
        env = {**os.environ, "EVO_LAUNCH": '{"seed": true}', "EVO_SEED": str(seed)}
        command = [sys.executable, str(LAUNCHER), str(script), *args] if seed is not None else [sys.executable, *args]
        return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout

    as_written = draws(None, str(script), "own")  # plain python, no launcher
    assert draws(0, "own") == as_written  # seed 0 keeps the script's own seeds
    moved = draws(5, "own").split()
    assert all(a != b for a, b in zip(moved, as_written.split(), strict=True))  # every RNG moved
    unseeded = draws(1)
    assert unseeded == draws(1) and unseeded != draws(2)  # a script that seeds nothing is seeded by evo


def test_adopting_autoresearchs_real_train_py_takes_its_budget_seed_metric_and_hub_download(tmp_path: Path) -> None:
    root = tmp_path / "autoresearch"
    shutil.copytree(REPO / "tests" / "data" / "autoresearch", root)  # the reconstruction of the real files (text)
    adoption = adopt(root)
    launch = {"budget": "prepare.TIME_BUDGET", "evaluate": "prepare.evaluate_bpb", "seed": True}
    assert adoption.spec["launch"] == launch
    assert adoption.spec["network"] is True and adoption.spec["writable"]  # kernels.get_kernel downloads from the hub
    assert any("torch.cuda.manual_seed, torch.manual_seed" in line for line in adoption.lines)
    target = load_target(root)
    assert target.adopted and target.network and target.metric.attested
