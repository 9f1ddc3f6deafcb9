"""`evo run` as a new user meets it: exit codes that mean something, failures that say their cause at once, Ctrl-C
that says how to resume, skipped ids that are visible, and a closing summary that sets the gain against the noise."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from evo.config import load_config
from evo.search import Coordinator, start
from population.ledger import Ledger

from .conftest import REPO

SURROGATE = REPO / "benchmarks" / "surrogate"
CONFIG = REPO / "configs" / "surrogate.yaml"


def run_overrides(tmp_path: Path, *extra: str, seconds: str = "0.05") -> list[str]:
    return [
        f"runs_dir={tmp_path / 'runs'}",
        f"target={SURROGATE}",
        f"env={{EVO_SURROGATE_SECONDS: '{seconds}'}}",
        "slots.count=2",
        "stop.evaluations=12",
        "population.size=4",
        *extra,
    ]


def evo(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evo", *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env
    )


def offline_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("EVO_CACHE_DIR", str(tmp_path / "cache"))


def test_a_crashing_baseline_fails_the_run_at_once_with_its_cause_and_log(tmp_path: Path) -> None:
    target = tmp_path / "target"
    shutil.copytree(SURROGATE, target)
    train = target / "train.py"
    train.write_text(train.read_text().replace("def main() -> None:", "def main() -> None:\n    1 / 0", 1))
    done = evo("run", str(CONFIG), *run_overrides(tmp_path, f"target={target}"), cwd=tmp_path, env=offline_env())
    assert done.returncode == 1, done.stderr
    assert "evo: the run failed: the baseline 0000 failed (crash: exit 1: ZeroDivisionError: division by zero)" in (
        done.stderr
    )
    assert "1 / 0" in done.stderr  # the end of its log, where the error is
    with Ledger(tmp_path / "runs" / "surrogate" / "ledger.sqlite") as ledger:
        baseline, *beside = ledger.all()  # its first mutants ran beside it (they need its code, not its result)
        assert baseline.id == "0000"
        assert all(i.created < baseline.finished for i in beside)  # nothing was started after it failed


def test_a_crashing_baseline_in_calibration_fails_the_run_too(tmp_path: Path) -> None:
    target = tmp_path / "target"
    shutil.copytree(SURROGATE, target)
    train = target / "train.py"
    train.write_text(train.read_text().replace("def main() -> None:", "def main() -> None:\n    1 / 0", 1))
    overrides = run_overrides(tmp_path, f"target={target}", "calibration.enabled=true", "calibration.runs=3")
    done = evo("run", str(CONFIG), *overrides, cwd=tmp_path, env=offline_env())
    assert done.returncode == 1, done.stderr
    assert "the run failed: calibration: the baseline failed on seed 1 (crash: exit 1: ZeroDivisionError" in done.stderr


def test_an_endpoint_that_refuses_connections_stops_the_run_at_the_first_proposal(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**offline_env(), "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1", "OPENAI_API_KEY": "sk-unused"}
    done = evo("run", str(CONFIG), *run_overrides(tmp_path), cwd=tmp_path, env=env)
    assert done.returncode == 1, done.stderr
    assert "0001 skipped: llm-mutation gave no child (connection error" in done.stderr
    assert "check OPENAI_BASE_URL" in done.stderr
    assert "the run failed: the operator cannot work (endpoint)" in done.stderr
    with Ledger(tmp_path / "runs" / "surrogate" / "ledger.sqlite") as ledger:
        failed = ledger.events("proposal_failed")
    # asked before the first refusal came back: one per free slot and one ahead (the look-ahead's first guess)
    assert 1 <= len(failed) <= 3  # not twenty
    assert all("gave up after" not in e.data["error"] for e in failed)  # refused at once, not retried


def test_ctrl_c_says_how_to_resume_and_the_resume_finishes_the_run(tmp_path: Path) -> None:
    overrides = run_overrides(tmp_path, "stop.evaluations=30", seconds="1.0")
    process = subprocess.Popen(
        [sys.executable, "-m", "evo", "run", str(CONFIG), *overrides],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
        env=offline_env(),
        # as in a terminal: a suite started in the background (`pytest &`) ignores SIGINT, and children inherit that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stderr is not None
    for line in process.stderr:  # wait for the first finished individual: candidates are running now
        if line.startswith("0000 "):
            break
    process.send_signal(signal.SIGINT)
    rest = process.stderr.read()
    assert process.wait(timeout=60) == 130
    root = tmp_path / "runs" / "surrogate"
    assert f"the run resumes where it stopped with: evo resume {root}" in rest
    resumed = evo("resume", str(root), cwd=tmp_path, env=offline_env())
    assert resumed.returncode == 0, resumed.stderr
    with Ledger(root / "ledger.sqlite") as ledger:
        assert all(i.is_finished for i in ledger.all()) and len(ledger.all()) >= 20


def test_a_skipped_id_is_shown_live_and_by_status(tmp_path: Path) -> None:
    done = evo("run", str(CONFIG), *run_overrides(tmp_path, "stop.evaluations=24"), cwd=tmp_path, env=offline_env())
    assert done.returncode == 0, done.stderr
    root = tmp_path / "runs" / "surrogate"
    with Ledger(root / "ledger.sqlite") as ledger:
        skipped = [f"{e.data['number']:04d}" for e in ledger.events("proposal_failed")]
        ids = {i.id for i in ledger.all()}
    assert skipped, "the offline operators on the surrogate make some identical children within 24 proposals"
    assert not ids & set(skipped)
    for ident in skipped:
        assert f"{ident} skipped: " in done.stderr
    status = evo("status", str(root), "--top", "50", cwd=tmp_path)
    assert status.returncode == 0
    assert "skipped ids" in status.stdout and all(f"  {ident}  " in status.stdout for ident in skipped)


def test_the_closing_summary_sets_the_gain_against_the_noise_on_fresh_seeds(tmp_path: Path) -> None:
    overrides = run_overrides(tmp_path, "calibration.enabled=true", "calibration.runs=3", "holdout.seeds=3")
    done = evo("run", str(CONFIG), *overrides, cwd=tmp_path, env=offline_env())
    assert done.returncode == 0, done.stderr
    summary = [line for line in done.stdout.splitlines() if line.startswith("held out on 3 fresh seeds:")]
    assert len(summary) == 1 and "noise" in summary[0]
    assert "beats the baseline beyond the noise" in summary[0] or "within the noise" in summary[0]
    assert "noise sd)" in done.stderr or "within the noise)" in done.stderr  # live lines speak in noise units
    root = tmp_path / "runs" / "surrogate"
    with Ledger(root / "ledger.sqlite") as ledger:
        (event,) = ledger.events("holdout")
        best = event.data["best"]
        assert event.data["seeds"] == [1, 2, 3]
        held_out = [e for e in ledger.evaluations(best) if e.seed in (1, 2, 3)]
        assert len(held_out) == 3  # the baseline's runs on those seeds came from the calibration
        charged = ledger.get(best).budget_seconds
    assert charged == 300.0  # the check is not charged to the search
    again = Coordinator(root).run()  # a resumed run does not repeat it
    assert again.holdout is not None and again.holdout.sentence == event.data["sentence"]
    with Ledger(root / "ledger.sqlite") as ledger:
        assert len(ledger.events("holdout")) == 1


def test_a_run_that_found_nothing_still_did_its_work(tmp_path: Path) -> None:
    config = load_config(CONFIG, run_overrides(tmp_path, "stop.evaluations=1"))
    outcome = Coordinator(start(config)).run()
    assert outcome.failure == "" and outcome.finished == 1


def test_status_reads_a_bench_directory(tmp_path: Path) -> None:
    bench = tmp_path / "bench.yaml"
    bench.write_text(
        f"base: {CONFIG}\nseeds: 2\nruns_dir: {tmp_path / 'runs'}\njobs: 2\n"
        f"overrides: [target={SURROGATE}, 'env={{EVO_SURROGATE_SECONDS: \"0.05\"}}', slots.count=1, "
        "stop.evaluations=4, population.size=2]\n"
        "arms:\n  - {name: population, overrides: [mode=population]}\n  - {name: ratchet, overrides: [mode=ratchet]}\n"
    )
    done = evo("bench", str(bench), cwd=tmp_path, env=offline_env())
    assert done.returncode == 0, done.stderr
    status = evo("status", str(tmp_path / "runs" / "bench"), cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0].endswith("bench of 2 arms x 2 seeds")
    assert "population:" in lines and "ratchet:" in lines
    assert sum("4 individuals" in line and "best " in line for line in lines) == 4, status.stdout
