"""The Optuna TPE peer on the surrogate target: its run directory reads like evo's own, it stops at the limits, it
resumes after `kill -9`, and peer.json is checked."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evo.config import load_config
from evo.errors import EvoError
from evo.evaluation.proctree import with_env
from evo.operators.train_constants import read_constants, rewrite
from evo.reporting.run_data import PEER_FILE, load_run
from evo.search import RUN_MARK, start
from evo.stopping.noise import GRID, resample
from population.ledger import Ledger
from population.store import GitStore

from .conftest import REPO

pytest.importorskip("optuna")

from evo.bench import peer_tpe  # after the skip: the peer needs optuna to run
from evo.bench.peer_tpe import PEER_NAME, GridReport, run_tpe

SURROGATE = REPO / "benchmarks" / "surrogate"
BUDGET = 300.0


def tpe_run(runs: Path, *extra: str, peer: dict | None = None, seconds: str = "0.05") -> Path:
    """A run directory for the peer on the surrogate (one slot, 300 simulated seconds a run)."""
    env = f"env={{EVO_SURROGATE_SECONDS: '{seconds}'}}"
    overrides = [f"runs_dir={runs}", f"target={SURROGATE}", env, "slots.count=1", *extra]
    config = load_config(REPO / "configs" / "surrogate.yaml", overrides)
    root = start(config)
    (root / PEER_FILE).write_text(json.dumps({"name": PEER_NAME, **(peer or {})}))
    return root


def trial_params(root: Path) -> list[dict[str, object]]:
    """Each trial's constants as its code has them, in id order."""
    with Ledger(root / "ledger.sqlite") as ledger, GitStore(root / "git", ("train.py",)) as store:
        return [{c.name: c.value for c in read_constants(store.code(i.commit)["train.py"])} for i in ledger.all()[1:]]


def consistent(root: Path) -> None:
    """Ids contiguous, nothing left running, git and ledger agree, each finished individual evaluated once."""
    with Ledger(root / "ledger.sqlite") as ledger, GitStore(root / "git", ("train.py",)) as store:
        individuals = ledger.all()
        assert [i.id for i in individuals] == [f"{n:04d}" for n in range(len(individuals))]
        assert all(i.is_finished for i in individuals)
        assert store.check(individuals) == []
        assert sorted(e.individual for e in ledger.evaluations()) == [i.id for i in individuals]


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tpe_run(tmp_path_factory.mktemp("tpe"), "stop={evaluations: 40}")
    return root, run_tpe(root)


def test_a_tpe_run_writes_a_run_directory_like_evos_own(searched: tuple[Path, str]) -> None:
    root, reason = searched
    assert reason == "40 evaluations"
    run = load_run(root)
    assert run.mode == PEER_NAME and len(run.individuals) == 40
    baseline, trials = run.individuals[0], run.individuals[1:]
    assert (baseline.parents, baseline.operator, baseline.status) == ((), "baseline", "ok")
    assert (SURROGATE / "train.py").read_text() == _code(root, baseline.commit)
    assert {t.parents for t in trials} == {("0000",)} and {t.operator for t in trials} == {PEER_NAME}
    statuses = {t.status for t in trials}
    assert {"ok", "pruned"} <= statuses <= {"ok", "pruned", "crash"}  # crashes: warm-up + warm-down over the budget
    base_text = _code(root, baseline.commit)
    base = {c.name: c.source for c in read_constants(base_text)}
    for trial in trials:
        text = _code(root, trial.commit)
        literals = {c.name: c.source for c in read_constants(text)}
        assert rewrite(base_text, literals) == text  # only constants differ
        changed = {name for name, literal in literals.items() if literal != base[name]}
        assert trial.description == "tpe: " + ", ".join(f"{n} {base[n]} -> {literals[n]}" for n in base if n in changed)
        assert trial.seeds == (0,) and (trial.curve or trial.status == "crash")
    pruned = [t for t in trials if t.status == "pruned"]
    for trial in pruned:
        assert trial.budget_seconds + trial.saved_seconds == pytest.approx(BUDGET)
        assert 0 < trial.budget_seconds < BUDGET and trial.reason.startswith("stopped at ")
    assert {e.data["individual"] for e in run.events if e.kind == "pruned"} == {t.id for t in pruned}
    assert all(t.budget_seconds == BUDGET and t.saved_seconds == 0 for t in trials if t.status == "ok")
    assert all(t.budget_seconds < BUDGET for t in trials if t.status == "crash")  # charged the seconds it ran
    consistent(root)


def test_tpe_beats_the_baseline_and_replays_with_the_same_seed(searched: tuple[Path, str], tmp_path: Path) -> None:
    root, _ = searched
    run = load_run(root)
    best = min(i.metric for i in run.individuals if i.status == "ok")
    assert best < run.individuals[0].metric
    again = tpe_run(tmp_path, "stop={evaluations: 8}")
    run_tpe(again)
    assert trial_params(again) == trial_params(root)[:7]
    other = tpe_run(tmp_path, "stop={evaluations: 8}", "seed=1")
    run_tpe(other)
    assert trial_params(other) != trial_params(again)


def test_status_show_and_export_read_a_tpe_run(searched: tuple[Path, str], tmp_path: Path) -> None:
    root, _ = searched

    def evo(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "evo", *args], capture_output=True, text=True, cwd=REPO)

    status = evo("status", str(root))
    assert status.returncode == 0 and "40 individuals" in status.stdout
    assert evo("show", str(root), "0001").returncode == 0
    assert evo("export", str(root), "-o", str(tmp_path / "best.py")).returncode == 0


def test_a_tpe_run_stops_once_its_training_seconds_reach_the_limit(tmp_path: Path) -> None:
    root = tpe_run(tmp_path, "stop={train_seconds: 2000}", peer={"startup_trials": 1, "warmup": 0.0})
    assert run_tpe(root) == "2000 s of training"
    spent = [i.budget_seconds for i in load_run(root).individuals]
    assert sum(spent) >= 2000 > sum(spent[:-1])  # the last one crossed it; nothing started after


# Runs the peer and SIGKILLs it at the first progress point of individual argv[2]: killed mid-evaluation, its
# candidate still running.
KILLED_MID_EVALUATION = """
import os, signal, sys
from pathlib import Path
from evo.bench import peer_tpe
from evo.execution import local

class Kill:
    def update(self, t, value):
        os.kill(os.getpid(), signal.SIGKILL)

def evaluate(target, code, workdir, settings, monitor=None, cancel=None):
    return real(target, code, workdir, settings, Kill() if workdir.name == sys.argv[2] else monitor, cancel)

real, local.evaluate = local.evaluate, evaluate
peer_tpe.run_tpe(Path(sys.argv[1]))
"""


def test_a_tpe_run_killed_mid_evaluation_resumes_where_it_stopped(tmp_path: Path) -> None:
    root = tpe_run(tmp_path, "stop={evaluations: 12}", seconds="0.3")
    killed = subprocess.run([sys.executable, "-c", KILLED_MID_EVALUATION, str(root), "0003"], cwd=REPO)
    assert killed.returncode == -signal.SIGKILL
    with Ledger(root / "ledger.sqlite") as ledger:
        running = ledger.all()[-1]
        assert (running.id, running.status) == ("0003", "running")
        run_id = ledger.get_meta("run_id")
    assert run_tpe(root) == "12 evaluations"
    consistent(root)
    run = load_run(root)
    assert len(run.individuals) == 12 and run.individuals[3].commit == running.commit
    assert not with_env(RUN_MARK, run_id)  # no candidate of the run outlived its sessions


def test_a_curve_is_reported_on_the_grid_as_resample_reads_it_live_and_rebuilt() -> None:
    curve = [(0.3, 5.0), (1.3, 3.0), (2.2, 2.5), (4.0, 2.0)]  # sparse, as a short budget gives
    live = GridReport(4.0)
    reported = [report for t, value in curve for report in live.feed(t, value)]
    assert [step for step, _ in reported] == list(range(1, GRID + 1))
    assert [value for _, value in reported] == pytest.approx(resample(curve, 4.0, np.arange(1, GRID + 1) / GRID))
    assert GridReport.of_curve(curve, 4.0) == dict(reported)
    assert live.feed(4.0, 1.0) == []  # nothing past the budget's end


@pytest.mark.parametrize(
    ("peer", "key"),
    [
        ({"pruner": "hyperband"}, "pruner"),
        ({"warmup": 1.5}, "warmup"),
        ({"startup_trials": -1}, "startup_trials"),
        ({"tpe_startup_trials": True}, "tpe_startup_trials"),
        ({"name": "random"}, "name"),
        ({"prunner": "median"}, "prunner"),
    ],
)
def test_a_bad_peer_json_value_is_a_one_line_error_naming_the_file_and_key(
    tmp_path: Path, peer: dict, key: str
) -> None:
    root = tpe_run(tmp_path, "stop={evaluations: 2}", peer=peer)
    with pytest.raises(EvoError) as error:
        run_tpe(root)
    message = str(error.value)
    assert PEER_FILE in message and repr(key) in message and "\n" not in message
    assert not (root / "ledger.sqlite").exists()  # refused before anything ran


def test_without_optuna_the_module_imports_and_run_tpe_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = "import sys; sys.modules['optuna'] = None; import evo.bench.peer_tpe"
    assert subprocess.run([sys.executable, "-c", blocked], cwd=REPO).returncode == 0
    monkeypatch.setattr(peer_tpe, "optuna", None)
    with pytest.raises(EvoError, match=r"needs optuna: pip install -e '\.\[bench\]'"):
        run_tpe(tpe_run(tmp_path, "stop={evaluations: 2}"))


def _code(root: Path, commit: str) -> str:
    with GitStore(root / "git", ("train.py",)) as store:
        return store.code(commit)["train.py"]
