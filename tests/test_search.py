"""Searches end to end on the surrogate target: offline and against the fake LLM server, determinism, results.tsv,
and repeated `kill -9` of the coordinator followed by `evo resume`."""

from __future__ import annotations

import csv
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evo.config import load_config
from evo.evaluation.proctree import with_env
from evo.operators.offline_notes import MAX_FAILED, MAX_HELPED, MAX_HURT
from evo.search import RUN_MARK, Coordinator, start
from population.ledger import Ledger
from population.store import GitStore

from .conftest import REPO
from .fake_openai import Completion, FakeOpenAI

SURROGATE = REPO / "benchmarks" / "surrogate"
TRAIN = (SURROGATE / "train.py").read_text()


def overrides(tmp_path: Path, *extra: str) -> list[str]:
    return [
        f"runs_dir={tmp_path / 'runs'}",
        f"target={SURROGATE}",
        "env={EVO_SURROGATE_SECONDS: '0.05'}",
        "slots.count=1",
        "stop.evaluations=10",
        "population.size=4",
        *extra,
    ]


def search(tmp_path: Path, *extra: str) -> Path:
    config = load_config(REPO / "configs" / "surrogate.yaml", overrides(tmp_path, *extra))
    root = start(config)
    Coordinator(root).run()
    return root


def ledger_rows(root: Path) -> list[tuple]:
    with Ledger(root / "ledger.sqlite") as ledger:
        return [(i.id, i.parents, i.operator, i.description, i.status, i.metric) for i in ledger.all()]


def consistent(root: Path) -> None:
    with Ledger(root / "ledger.sqlite") as ledger, GitStore(root / "git", ("train.py",)) as store:
        individuals = ledger.all()
        assert store.check(individuals) == []
        assert len({i.id for i in individuals}) == len(individuals)
        evaluated = [e.individual for e in ledger.evaluations()]
        assert sorted(evaluated) == sorted(i.id for i in individuals if i.is_finished)  # each exactly once


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@pytest.mark.parametrize("mode", ["population", "ratchet", "best-of-n"])
def test_an_offline_search_runs_end_to_end(tmp_path: Path, mode: str) -> None:
    root = search(tmp_path, f"mode={mode}")
    rows = ledger_rows(root)
    assert len(rows) == 10
    assert rows[0][1:4] == ((), "baseline", "baseline")
    assert {r[2] for r in rows[1:]} <= {"param", "merge"}
    assert all(r[4] in ("ok", "crash", "invalid") for r in rows)
    baseline, best = rows[0][5], min(r[5] for r in rows if r[5] is not None)
    assert best <= baseline
    consistent(root)


def test_an_offline_search_writes_learnings_from_its_attempts(tmp_path: Path) -> None:
    root = search(tmp_path, "llm.learnings_every=4", "early_stop.enabled=true", "calibration.runs=4")
    with Ledger(root / "ledger.sqlite") as ledger:
        by_id = {i.id: i for i in ledger.all()}
        assert ledger.events("learnings") == []  # an offline rewrite calls no LLM: nothing to account for
    # one slot finishes children in id order; the notes were last rewritten at 8 finished: the baseline and 7 children
    counted = [i for i in by_id.values() if i.parents][:7]
    deltas = [i.metric - by_id[i.parents[0]].metric for i in counted if i.status == "ok"]
    gains = sorted(d for d in deltas if d < 0)
    losses = sorted((d for d in deltas if d > 0), reverse=True)
    failed = [i for i in counted if i.status != "ok"]
    text = (root / "learnings.md").read_text()
    assert text.startswith("# Learnings") and len(text.split()) <= 250
    assert f"7 attempts: {len(gains)} helped, {len(losses)} hurt" in text
    entries = [line for line in text.splitlines() if line.startswith("- ")]
    changes = min(len(gains), MAX_HELPED) + min(len(losses), MAX_HURT)
    assert len(entries) == changes + min(len(failed), MAX_FAILED) and failed and gains and losses
    listed = []
    for entry in entries[:changes]:
        delta, description = entry[2:].split(": ", 1)
        (child,) = [i for i in counted if i.description.startswith(description.removesuffix("…"))]
        assert float(delta) == pytest.approx(child.metric - by_id[child.parents[0]].metric, rel=0.01)
        listed.append(child.metric - by_id[child.parents[0]].metric)
    assert listed == gains[:MAX_HELPED] + losses[:MAX_HURT]  # the largest gains first, then the largest losses
    stopped = {f"- {i.status}: {i.description} — {i.reason.splitlines()[0]}" for i in failed}
    assert set(entries[changes:]) <= stopped
    assert not list(root.glob("*.tmp"))


def test_a_ratchet_run_writes_autoresearch_results_tsv(tmp_path: Path) -> None:
    root = search(tmp_path, "mode=ratchet")
    with (root / "results.tsv").open() as handle:  # autoresearch reads it with pandas.read_csv(sep="\t")
        table = list(csv.DictReader(handle, delimiter="\t"))
    assert list(table[0]) == ["commit", "val_bpb", "memory_gb", "status", "description"]
    assert len(table) == 10
    assert {row["status"] for row in table} <= {"keep", "discard", "crash"} and table[0]["status"] == "keep"
    for row in table:
        assert len(row["commit"]) == 7 and float(row["val_bpb"]) >= 0 and float(row["memory_gb"]) >= 0
    kept = [float(r["val_bpb"]) for r in table if r["status"] == "keep"]
    assert kept == sorted(kept, reverse=True)  # the ratchet only ever moves down
    with Ledger(root / "ledger.sqlite") as ledger, GitStore(root / "git", ("train.py",)) as store:
        best = min((i for i in ledger.all() if i.is_parent_eligible), key=lambda i: i.metric)
        assert store.branch("ratchet") == best.commit


def test_two_runs_with_the_same_seed_make_the_same_ledger(tmp_path: Path) -> None:
    first = search(tmp_path / "a", "population.crossover_rate=0.5")
    second = search(tmp_path / "b", "population.crossover_rate=0.5")
    assert ledger_rows(first) == ledger_rows(second)
    other = search(tmp_path / "c", "population.crossover_rate=0.5", "seed=1")
    assert ledger_rows(other) != ledger_rows(first)


def answer(old: str, new: str, description: str) -> str:
    line = next(text for text in TRAIN.splitlines() if text.startswith(old))
    return (
        f"DESCRIPTION: {description}\nRATIONALE: worth a try.\n"
        f"<<<<<<< SEARCH\n{line}\n=======\n{line.replace(old, new, 1)}\n>>>>>>> REPLACE\n"
    )


@pytest.mark.parametrize("mode", ["population", "ratchet"])
def test_a_search_with_the_llm_operators_records_their_descriptions(
    tmp_path: Path, fake_openai: FakeOpenAI, mode: str
) -> None:
    ideas = [
        ("LEARNING_RATE = 1e-3", "LEARNING_RATE = 3e-3", "raise the learning rate"),
        ("BATCH_SIZE = 32", "BATCH_SIZE = 64", "double the batch"),
        ('OPTIMIZER = "adamw"', 'OPTIMIZER = "muon"', "switch to muon"),
        ("WARMDOWN_FRAC = 0.3", "WARMDOWN_FRAC = 0.5", "longer warmdown"),
    ]
    fake_openai.script(*[Completion(answer(*idea)) for idea in ideas * 3])
    model = f"llm.models=[{{name: fake-model, base_url: '{fake_openai.base_url}', prompt_price: 1.0}}]"
    root = search(tmp_path, f"mode={mode}", model, "stop.evaluations=5", "population.crossover_rate=0")
    with Ledger(root / "ledger.sqlite") as ledger:
        children = [i for i in ledger.all() if i.parents]
    assert len(children) == 4
    assert {c.operator for c in children} == {"llm-mutation"} and {c.model for c in children} == {"fake-model"}
    assert {c.description for c in children} <= {idea[2] for idea in ideas}
    assert all(c.prompt_tokens > 0 and c.cost > 0 for c in children)
    consistent(root)


def evo(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "evo", *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def test_kill_9_at_random_moments_then_resume_keeps_every_individual_once(tmp_path: Path) -> None:
    args = [
        str(REPO / "configs" / "surrogate.yaml"),
        *overrides(tmp_path, "slots.count=2", "stop.evaluations=16", "env={EVO_SURROGATE_SECONDS: '0.4'}"),
    ]
    root = tmp_path / "runs" / "surrogate"
    rng = random.Random(7)
    process = evo("run", *args, cwd=tmp_path)
    deadline = time.monotonic() + 60
    while not (root / "ledger.sqlite").exists() and time.monotonic() < deadline:  # killed once the run exists
        time.sleep(0.05)
    for _ in range(4):
        time.sleep(rng.uniform(0.8, 2.5))
        process.send_signal(signal.SIGKILL)
        process.wait()
        process = evo("resume", str(root), cwd=tmp_path)
    assert process.wait(timeout=300) == 0
    assert (root / "report" / "report.md").is_file()  # a finished run writes its report
    with Ledger(root / "ledger.sqlite") as ledger:
        run_id = ledger.get_meta("run_id")
        assert len(ledger.all()) >= 16 and all(i.is_finished for i in ledger.all())
    consistent(root)
    assert not with_env(RUN_MARK, run_id)  # no candidate of the run outlived its coordinators


def test_status_show_and_export(tmp_path: Path) -> None:
    root = search(tmp_path)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "evo", *args], capture_output=True, text=True, cwd=tmp_path)

    status = run("status", str(root))
    assert status.returncode == 0 and "10 individuals" in status.stdout and "lineage of the best" in status.stdout
    show = run("show", str(root), "0001")
    assert show.returncode == 0 and "--- " in show.stdout and "curve (" in show.stdout
    export = run("export", str(root), "-o", str(tmp_path / "best.py"))
    assert export.returncode == 0
    assert (tmp_path / "best.py").read_text() != TRAIN or "0000" in export.stdout
    missing = run("show", str(root), "9999")
    assert missing.returncode == 2 and "no individual '9999'" in missing.stderr
    report = run("report", str(root), "--out", str(tmp_path / "r"))
    assert report.returncode == 0 and f"report: {tmp_path / 'r' / 'report.md'}" in report.stdout
    assert "## Progress and lineage" in (tmp_path / "r" / "report.md").read_text()


@pytest.mark.parametrize(
    ("stop", "reason", "individuals"),
    [("stop={train_seconds: 900}", "900 s of training", 3), ("stop={wall_seconds: 1.5}", "1.5 s of wall time", None)],
)
def test_a_search_stops_on_training_seconds_or_wall_time(
    tmp_path: Path, stop: str, reason: str, individuals: int | None
) -> None:
    config = load_config(REPO / "configs" / "surrogate.yaml", overrides(tmp_path, stop))
    outcome = Coordinator(start(config)).run()
    assert outcome.stop_reason == reason
    if individuals is not None:  # one slot, 300 simulated seconds each: the third finished individual reaches 900
        assert outcome.finished == individuals
    assert outcome.finished >= 1


def test_a_search_stops_when_the_llm_cost_cap_is_reached(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    ideas = [("LEARNING_RATE = 1e-3", f"LEARNING_RATE = {k}e-3", "raise the learning rate") for k in range(2, 12)]
    fake_openai.script(*[Completion(answer(*idea), prompt_tokens=1000, completion_tokens=0) for idea in ideas])
    model = f"llm.models=[{{name: fake-model, base_url: '{fake_openai.base_url}', prompt_price: 1.0}}]"
    config = load_config(
        REPO / "configs" / "surrogate.yaml", overrides(tmp_path, model, "stop={cost: 0.002}", "mode=best-of-n")
    )
    outcome = Coordinator(start(config)).run()
    assert outcome.stop_reason == "LLM cost 0.0020 reached the cap 0.002"
    assert len(fake_openai.chat_requests) == 2


def test_running_a_config_again_starts_a_new_run_beside_the_old(tmp_path: Path) -> None:
    config = load_config(REPO / "configs" / "surrogate.yaml", overrides(tmp_path))
    first, second = start(config), start(config)
    assert (first.name, second.name) == ("surrogate", "surrogate-2")
    assert load_config(second / "config.yaml").name == "surrogate-2"
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".")]  # no staging folder left behind


def test_a_failed_last_proposal_does_not_end_the_run_short(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    good = Completion(answer("LEARNING_RATE = 1e-3", "LEARNING_RATE = 3e-3", "raise the learning rate"))
    other = Completion(answer("LEARNING_RATE = 1e-3", "LEARNING_RATE = 2e-3", "raise the learning rate less"))
    fake_openai.script(good, Completion("just prose"), Completion("still prose"), other)  # 2nd child: no valid edit
    model = f"llm.models=[{{name: fake-model, base_url: '{fake_openai.base_url}'}}]"
    root = search(tmp_path, model, "mode=best-of-n", "stop.evaluations=3")
    assert len(ledger_rows(root)) == 3
    with Ledger(root / "ledger.sqlite") as ledger:
        assert len(ledger.events("proposal_failed")) == 1
