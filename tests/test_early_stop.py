"""Early termination and confirmation in real searches on the surrogate target, `evo calibrate`, and the prune audit."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from benchmarks.confirmation import trials
from benchmarks.live_replay import replay_run
from benchmarks.prune_audit import RETRAINED, Audit, audit_run, retrain
from evo.config import NOISE_MARGIN, load_config
from evo.evaluation.proctree import with_env
from evo.evaluation.result import Status
from evo.search import RUN_MARK, Coordinator, start
from population.ledger import Ledger
from population.store import GitStore

from .conftest import REPO

SURROGATE = REPO / "benchmarks" / "surrogate"


@pytest.fixture(autouse=True)
def offline_and_cached(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("EVO_CACHE_DIR", str(tmp_path / "cache"))


def pruning_search(tmp_path: Path, seconds: float, evaluations: int, *overrides: str) -> Path:
    """A finished population search on the surrogate with early termination on (the warm-up at 0.1)."""
    config = [
        f"runs_dir={tmp_path / 'runs'}",
        f"target={SURROGATE}",
        f"env={{EVO_SURROGATE_SECONDS: '{seconds}'}}",
        f"stop.evaluations={evaluations}",
        "population.size=4",
        "early_stop.enabled=true",
        "early_stop.warmup=0.1",
        "calibration.runs=3",
        *overrides,
    ]
    root = start(load_config(REPO / "configs" / "surrogate.yaml", config))
    Coordinator(root).run()
    return root


@pytest.mark.parametrize("reference", ["parent", "incumbent"])
def test_pruned_candidates_stop_at_once_and_the_ledger_shows_compute_used_and_saved(
    tmp_path: Path, reference: str
) -> None:
    # 2 s a run: a progress point every 40 ms
    root = pruning_search(tmp_path, 2.0, 14, f"early_stop.reference={reference}", "slots.count=2")
    assert json.loads((root / "noise.json").read_text())["seeds"] == [1, 2, 3]
    with Ledger(root / "ledger.sqlite") as ledger:
        individuals = {i.id: i for i in ledger.all()}
        pruned_events = {e.data["individual"]: e.data for e in ledger.events("pruned")}
        assert ledger.events("noise_model")
    pruned = [i for i in individuals.values() if i.status == "pruned"]
    assert pruned, "the offline operators' wide mutations include clear losers"
    for individual in pruned:
        event = pruned_events[individual.id]
        stop = event["fraction"]
        assert 0.1 <= stop < 1
        assert individual.budget_seconds == pytest.approx(event["used_seconds"])
        assert individual.budget_seconds + individual.saved_seconds == pytest.approx(300.0)
        assert individual.reason.startswith(f"stopped at {stop:.0%} of the budget: its curve is worse than ")
        # Killed within one progress interval: at most one more point was printed after the stopping one.
        assert sum(t / 300.0 > stop + 1e-9 for t, _ in individual.curve) <= 1
        referenced = individuals[event["reference"]]
        assert referenced.status == "ok" and (referenced.finished or 0) < (individual.finished or 0)
        if reference == "parent":
            assert referenced.id in individual.parents
    for individual in individuals.values():
        if individual.status == "ok":
            assert individual.saved_seconds == 0 and individual.budget_seconds == pytest.approx(300.0)


def test_the_prune_audit_retrains_pruned_candidates_as_their_run_did(tmp_path: Path) -> None:
    """benchmarks/prune_audit.py: a pruned candidate re-trained to its end follows the very curve it was stopped on
    (same seed, same settings), and every finished candidate of the run is counted. benchmarks/live_replay.py, with
    the run's own settings, decides as the run did (one slot: each monitor sees every earlier candidate finished),
    from the re-trained curves the audit kept; other settings decide otherwise."""
    root = pruning_search(tmp_path, 0.4, 12, "slots.count=1", "early_stop.audit=0.5")
    with Ledger(root / "ledger.sqlite") as ledger:
        individuals = ledger.all()
    pruned = [i for i in individuals if i.status == "pruned"]
    assert pruned, "the offline operators' wide mutations include clear losers"
    ((_, full),) = retrain(root, pruned[:1], tmp_path / "audit")
    assert full.status is Status.OK and full.curve[-1][0] == pytest.approx(300.0)
    assert np.allclose(full.curve[: len(pruned[0].curve)], pruned[0].curve)
    audit = Audit()
    audit_run(root, audit)
    children = [i for i in individuals if i.parents and i.status in ("ok", "pruned")]
    assert (audit.runs, audit.candidates) == (1, len(children))
    assert audit.losers + audit.winners <= audit.candidates and len(audit.false_kills) <= audit.winners
    assert all(kill.split(":")[0].split("/")[1] in {i.id for i in pruned} for kill in audit.false_kills)
    kept = (root / RETRAINED).stat().st_mtime_ns
    replayed = Audit()
    replay_run(root, [], replayed)
    assert (root / RETRAINED).stat().st_mtime_ns == kept, "the replay re-trains nothing the audit re-trained"
    assert replayed.self_audit == audit.self_audit and replayed.self_audit.decisions >= len(pruned)
    assert (replayed.candidates, replayed.losers, replayed.winners) == (audit.candidates, audit.losers, audit.winners)
    assert replayed.false_kills == audit.false_kills
    assert replayed.loser_saved == pytest.approx(audit.loser_saved, abs=0.05 * len(pruned))
    unaudited = Audit()
    replay_run(root, ["early_stop.audit=0"], unaudited)
    assert unaudited.self_audit.audits == 0 and unaudited.self_audit.stops == audit.self_audit.decisions
    strict = Audit()
    replay_run(root, ["early_stop.alpha=0.000000001"], strict)
    assert strict.self_audit.decisions <= audit.self_audit.decisions and strict.loser_saved <= audit.loser_saved
    off = Audit()
    replay_run(root, ["early_stop.enabled=false"], off)
    assert (off.runs, off.candidates) == (1, 0)


def test_confirmation_keeps_no_seed_only_change_in_20_seeded_trials(tmp_path: Path) -> None:
    kept_without = trials(20, confirm=False, root=tmp_path)
    kept_with = trials(20, confirm=True, root=tmp_path)
    assert sum(kept_with) == 0
    assert sum(kept_without) >= 4  # the ratchet alone keeps luck: about half the time
    runs = sorted((tmp_path / "runs").glob("seed-*-on"))
    with Ledger(runs[0] / "ledger.sqlite") as ledger:
        child = ledger.get("0001")
        verdicts = ledger.events("not_confirmed") + ledger.events("confirmed")
        if verdicts:  # the child beat the baseline on the run's seed: the pairs are recorded as evaluations
            assert child.confirmed is False
            pairs = len(verdicts[0].data["gains"])
            assert len(ledger.evaluations("0001")) == 1 + pairs
            assert len(ledger.evaluations("0000")) == 1 + pairs
            assert len(child.seeds) == 1 + pairs and child.budget_seconds == pytest.approx(300.0 * (1 + pairs))


def test_evo_calibrate_writes_a_model_and_reuses_it(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "evo", "calibrate", str(SURROGATE), "--runs", "3", "--budget", "300"]
    command += ["--env", "EVO_SURROGATE_SECONDS=0.05", "--out", str(tmp_path / "noise.json")]
    first = subprocess.run(command, capture_output=True, text=True, check=True)
    assert "seed 1: ok" in first.stdout and "3 seeds: final val_bpb" in first.stdout
    model = json.loads((tmp_path / "noise.json").read_text())
    assert model["seeds"] == [1, 2, 3] and model["final_sd"] > 0 and len(model["sd"]) == 50
    second = subprocess.run(command, capture_output=True, text=True, check=True)
    assert second.stdout.startswith("reused ")
    bad = subprocess.run([*command[:5], "--runs", "2"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--runs must be at least 3" in bad.stderr
    probed = subprocess.run([*command, "--probes", "2", "--slots", "2"], capture_output=True, text=True, check=True)
    assert "param: " in probed.stdout and "same-seed gap (2 probes)" in probed.stdout
    model = json.loads((tmp_path / "noise.json").read_text())
    assert len(model["probes"]) == 2 and len(model["paired_sd"]) == 50 and model["paired_final_sd"] > 0


def test_a_stored_model_from_another_budget_is_refused(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "evo", "calibrate", str(SURROGATE), "--runs", "3", "--budget", "100"]
    command += ["--env", "EVO_SURROGATE_SECONDS=0.05", "--out", str(tmp_path / "noise.json")]
    subprocess.run(command, capture_output=True, text=True, check=True)
    overrides = [
        f"runs_dir={tmp_path / 'runs'}",
        f"target={SURROGATE}",
        "stop.evaluations=2",
        "early_stop.enabled=true",
        f"calibration.file={tmp_path / 'noise.json'}",
    ]
    root = start(load_config(REPO / "configs" / "surrogate.yaml", overrides))
    with pytest.raises(Exception, match=r"calibration.file.*measured at 100 s .* budget is 300 s"):
        Coordinator(root).run()


def test_in_population_mode_an_unconfirmed_child_never_becomes_the_best(tmp_path: Path) -> None:
    overrides = [
        f"runs_dir={tmp_path / 'runs'}",
        f"target={SURROGATE}",
        "env={EVO_SURROGATE_SECONDS: '0.05'}",
        "stop.evaluations=10",
        "population.size=4",
        "confirm.enabled=true",
        "confirm.max_pairs=3",
        "calibration.runs=3",
    ]
    root = start(load_config(REPO / "configs" / "surrogate.yaml", overrides))
    outcome = Coordinator(root).run()
    with Ledger(root / "ledger.sqlite") as ledger:
        verdicts = {e.data["individual"]: e.kind for e in ledger.events() if e.kind in ("confirmed", "not_confirmed")}
        individuals = {i.id: i for i in ledger.all()}
        rejected = {e.data["individual"] for e in ledger.events("reject")}
    assert verdicts, "offline mutants of the surrogate's baseline beat it often: some must have been tested"
    for ident, kind in verdicts.items():
        assert individuals[ident].confirmed is (kind == "confirmed")
        if kind == "not_confirmed":
            assert ident in rejected and outcome.best is not None and outcome.best.id != ident


def test_kill_9_during_calibration_pruning_and_confirmation_then_resume(tmp_path: Path) -> None:
    args = [
        str(REPO / "configs" / "surrogate.yaml"),
        f"runs_dir={tmp_path / 'runs'}",
        f"target={SURROGATE}",
        "env={EVO_SURROGATE_SECONDS: '0.4'}",
        "mode=ratchet",
        "stop.evaluations=10",
        "early_stop.enabled=true",
        "confirm.enabled=true",
        "confirm.max_pairs=2",
        "calibration.runs=3",
    ]
    root = tmp_path / "runs" / "surrogate"
    rng = random.Random(3)

    def evo(*words: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "evo", *words], cwd=tmp_path, stderr=subprocess.DEVNULL)

    process = evo("run", *args)
    deadline = time.monotonic() + 60
    while not (root / "ledger.sqlite").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    for _ in range(3):
        time.sleep(rng.uniform(0.5, 2.5))
        process.send_signal(signal.SIGKILL)
        process.wait()
        process = evo("resume", str(root))
    assert process.wait(timeout=300) == 0
    with Ledger(root / "ledger.sqlite") as ledger, GitStore(root / "git", ("train.py",)) as store:
        individuals = ledger.all()
        assert len(individuals) >= 10 and all(i.is_finished for i in individuals)
        assert store.check(individuals) == []
        evaluated = {e.individual for e in ledger.evaluations()}
        assert evaluated == {i.id for i in individuals}
        verdicts = {e.data["individual"]: e.kind == "confirmed" for e in ledger.events() if "confirm" in e.kind}
        for individual in individuals:
            if individual.confirmed is not None:
                assert verdicts[individual.id] is individual.confirmed
        run_id = ledger.get_meta("run_id")
    assert (root / "noise.json").is_file()
    assert not with_env(RUN_MARK, run_id)


def test_a_run_with_the_self_audit_reports_its_false_stop_rate_in_status_and_report(tmp_path: Path) -> None:
    from evo.reporting.run_data import load_run
    from evo.reporting.run_report import write_run_report

    # Every decision to stop audited: no candidate is stopped, each runs to the end and says whether it would have won.
    root = pruning_search(tmp_path, 1.0, 12, "early_stop.audit=1", "slots.count=2")
    with Ledger(root / "ledger.sqlite") as ledger:
        individuals = {i.id: i for i in ledger.all()}
        watched, pruned = ledger.events("watched"), ledger.events("pruned")
    audited = [e.data for e in watched if e.data["audited"] is not None]
    assert audited and not pruned
    for event in audited:
        individual = individuals[event["individual"]]
        assert individual.status == "ok" and individual.curve[-1][0] >= 0.98 * 300.0
        assert 0.1 <= event["audited"] < 1 and event["reference"] in individual.parents
        assert event["won"] == (event["gain"] > NOISE_MARGIN)  # the margin's default
    status = subprocess.run(
        [sys.executable, "-m", "evo", "status", str(root)], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    line = next(x for x in status.stdout.splitlines() if x.startswith("early termination: "))
    trained = sum(i.budget_seconds for i in individuals.values()) / 300.0  # whole budgets
    share = sum(1 - event["audited"] for event in audited) / trained
    count = len(audited)
    assert f"{count} decisions to stop, {count} audited (run to the end, {share:.1%} of the training)" in line
    assert "false-stop rate" in line and "] (95%)" in line and "stated at most 5%" in line
    report = write_run_report(load_run(root), tmp_path / "report").read_text()
    assert line.removeprefix("early termination: ") in report
