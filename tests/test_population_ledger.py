"""Ledger: every field round-trips, a SIGKILLed writer leaves only whole rows, and foreign files are refused."""

from __future__ import annotations

import json
import math
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from dataclasses import fields, replace
from pathlib import Path

import pytest

from evo.evaluation.result import EvalResult, Status
from population.individual import Individual
from population.ledger import SCHEMA_VERSION, Ledger, LedgerError

FULL = Individual(
    id="0003",
    parents=("0001", "0002"),
    operator="llm-crossover",
    model="qwen/qwen3-coder",
    commit="a" * 40,
    description="mélange: wider MLP ✓ 模型",
    rationale="both parents improved different parts; 'quotes' and \"doubles\"\nand a newline",
    status="ok",
    metric=0.987654321,
    summary={"val_bpb": 0.987654321, "num_steps": 120, "note": "ünïcode", "peak": float("inf")},
    curve=((0.0, 3.5), (1.5, float("nan")), (2.0, 1e-300)),
    seeds=(1, 2, 3),
    budget_seconds=300.0,
    wall_seconds=312.5,
    prompt_tokens=1234,
    completion_tokens=567,
    cost=0.0123,
    island=2,
    created=1.5,
    started=2.5,
    finished=3.5,
    reason="",
)


def same(a: Individual, b: Individual) -> bool:
    """Field-by-field equality where NaN equals NaN (the record's own == says nan != nan)."""
    return repr(a) == repr(b) and all(type(getattr(a, f.name)) is type(getattr(b, f.name)) for f in fields(a))


def test_every_field_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        ledger.add(FULL)
    with Ledger(path) as ledger:  # reopened: nothing lived only in memory
        assert same(ledger.get(FULL.id), FULL)


@pytest.mark.parametrize("metric", [None, math.nan, math.inf, -math.inf, 1e-12, 3.0])
def test_metric_none_and_nan_stay_distinct(tmp_path: Path, metric: float | None) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.add(Individual("0000", status="invalid", metric=metric, reason="no metric"))
        assert same(ledger.get("0000"), Individual("0000", status="invalid", metric=metric, reason="no metric"))


def test_update_replaces_the_whole_record_and_queries_follow(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ids = [ledger.next_id() for _ in range(3)]
        assert ids == ["0000", "0001", "0002"]
        for i in ids:
            ledger.add(Individual(i, status="pending"))
        ledger.update(replace(FULL, id="0001"))
        assert same(ledger.get("0001"), replace(FULL, id="0001"))
        assert [ind.id for ind in ledger.with_status("pending")] == ["0000", "0002"]
        assert [ind.id for ind in ledger.with_status("ok", "crash")] == ["0001"]
        assert [ind.id for ind in ledger.all()] == ids
        assert "0001" in ledger and "0009" not in ledger
        with pytest.raises(ValueError, match="already"):
            ledger.add(Individual("0000"))
        with pytest.raises(KeyError):
            ledger.update(Individual("0042"))
        with pytest.raises(KeyError):
            ledger.get("0042")
        with pytest.raises(ValueError, match="unknown status"):
            ledger.with_status("done")


def test_next_id_never_repeats_across_reopen_and_explicit_ids(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        assert ledger.next_id() == "0000"  # reserved, never added
        ledger.add(Individual("0009"))
    with Ledger(path) as ledger:
        assert ledger.next_id() == "0010"
        for ind_id in ("10000", "9999", "0010"):
            ledger.add(Individual(ind_id))
        assert ledger.next_id() == "10001"
        assert [ind.id for ind in ledger.all()] == ["0009", "0010", "9999", "10000"]  # numeric order past 9999


def test_evaluations_keep_each_run_of_an_individual(tmp_path: Path) -> None:
    result = EvalResult(
        status=Status.OK, metric=1.25, reason="", summary={"val_bpb": 1.25}, curve=((0.5, 3.0),), exit_code=0,
        wall_seconds=4.0, peak_rss_mb=50.0, seed=7, budget=3.0, clock="wall", log_path="logs/0001.log", log_tail="ok",
    )  # fmt: skip
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.add(Individual("0001"))
        first = ledger.add_evaluation("0001", result, started=10.0, finished=14.0)
        ledger.add_evaluation("0001", replace(result, seed=8, metric=math.nan, status=Status.INVALID))
        runs = ledger.evaluations("0001")
        assert [run.id for run in runs] == [first, first + 1]
        assert (runs[0].seed, runs[0].status, runs[0].metric, runs[0].started, runs[0].finished) == (
            7, "ok", 1.25, 10.0, 14.0,
        )  # fmt: skip
        assert (runs[0].wall_seconds, runs[0].budget_seconds) == (4.0, 3.0)
        assert runs[0].result == json.loads(json.dumps(result.to_json()))  # whole, as JSON (tuples come back lists)
        assert runs[1].status == "invalid" and math.isnan(runs[1].metric or 0.0)
        assert ledger.evaluations("0002") == []
        with pytest.raises(KeyError, match="no individual 0002"):
            ledger.add_evaluation("0002", result)


def test_events_are_an_ordered_append_only_log(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.event("kept", individual="0001", metric=1.0)
        ledger.event("reset", individual="0002", why="worse ✗")
        ledger.event("kept", individual="0003", metric=0.9)
        assert [e.kind for e in ledger.events()] == ["kept", "reset", "kept"]
        kept = ledger.events("kept")
        assert [e.data for e in kept] == [{"individual": "0001", "metric": 1.0}, {"individual": "0003", "metric": 0.9}]
        assert kept[0].time <= kept[1].time


def test_meta_holds_json_values(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        assert ledger.get_meta("schema_version") == SCHEMA_VERSION
        ledger.set_meta("config", {"mode": "population", "islands": [0, 1]})
        assert ledger.get_meta("missing", "default") == "default"
    with Ledger(path) as ledger:
        assert ledger.get_meta("config") == {"mode": "population", "islands": [0, 1]}


def test_garbage_file_is_refused_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"this is not a database, just text " * 100)
    with pytest.raises(LedgerError, match=r"notes\.txt: not an evo ledger") as caught:
        Ledger(path)
    assert "\n" not in str(caught.value)


def test_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE songs (title TEXT)")
    db.close()
    with pytest.raises(LedgerError, match=r"other\.sqlite: not an evo ledger"):
        Ledger(path)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        ledger.set_meta("schema_version", SCHEMA_VERSION + 1)
    with pytest.raises(LedgerError, match=rf"ledger\.sqlite: ledger schema {SCHEMA_VERSION + 1} .* newer evo"):
        Ledger(path)


WRITER = """
import sys
from population.individual import Individual
from population.ledger import Ledger

ledger = Ledger(sys.argv[1])
summary = {f"key{i}": i * 0.5 for i in range(50)}
curve = [(float(t), 1.0 / (t + 1)) for t in range(200)]
n = 0
while True:
    ind_id = ledger.next_id()
    ledger.add(Individual(ind_id, status="running", description="x" * 2000, summary=summary, curve=curve))
    ledger.update(Individual(ind_id, status="ok", metric=float(n), summary=summary, curve=curve, reason=""))
    ledger.add_evaluation(ind_id, {"status": "ok", "metric": float(n), "seed": n, "wall_seconds": 1.0, "budget": 1.0})
    ledger.event("kept", individual=ind_id)
    n += 1
    if n == 20:
        print("ready", flush=True)
"""


def test_sigkill_mid_write_leaves_only_whole_rows(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(WRITER))
    with subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True) as writer:
        try:
            assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
            time.sleep(0.2)  # let it get well into another batch of writes
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait(timeout=10)
    assert writer.returncode == -signal.SIGKILL
    with Ledger(path) as ledger:
        rows = ledger.all()
        assert len(rows) >= 20
        for row in rows:  # each row is one of the two whole records the writer wrote, never a mixture
            assert row.status in ("running", "ok")
            assert len(row.curve) == 200 and len(row.summary) == 50
            if row.status == "ok":
                assert row.metric == float(int(row.id)) and row.description == ""
            else:
                assert row.metric is None and row.description == "x" * 2000
        evaluated = {run.individual for run in ledger.evaluations()}
        assert evaluated <= {row.id for row in rows}
        assert all(row.status == "ok" for row in rows if row.id in evaluated)
        assert len(ledger.events("kept")) <= len(evaluated)
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        db.close()
        ledger.add(Individual(ledger.next_id()))  # and it still takes writes


def test_finish_stores_the_record_and_its_evaluation_in_one_transaction(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.add(Individual("0000", status="running"))
        done = Individual("0000", status="ok", metric=1.5, seeds=(3,), finished=10.0)
        ledger.finish(done, {"status": "ok", "metric": 1.5, "seed": 3, "wall_seconds": 2.0, "budget": 60.0})
        assert ledger.get("0000") == done
        assert [(e.individual, e.seed, e.metric) for e in ledger.evaluations()] == [("0000", 3, 1.5)]
        with pytest.raises(KeyError):  # the update fails, so the evaluation must not land either
            ledger.finish(Individual("0099", status="ok", metric=1.0), {"status": "ok", "metric": 1.0, "seed": 0})
        assert len(ledger.evaluations()) == 1


def test_a_schema_1_ledger_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        ledger.add(Individual(id="0000", status="running"))
    db = sqlite3.connect(path)
    # Rebuild the individuals table as schema 1 had it: without the saved_seconds and confirmed columns.
    columns = [
        row[1] for row in db.execute("PRAGMA table_info(individuals)") if row[1] not in ("saved_seconds", "confirmed")
    ]
    quoted = ", ".join(f'"{c}"' for c in columns)
    db.executescript(
        f"CREATE TABLE old AS SELECT {quoted} FROM individuals; DROP TABLE individuals;"
        "ALTER TABLE old RENAME TO individuals;"
        "UPDATE meta SET value = '1' WHERE key = 'schema_version';"
    )
    db.close()
    with Ledger(path) as ledger:
        assert ledger.get_meta("schema_version") == SCHEMA_VERSION
        individual = ledger.get("0000")
        assert individual.saved_seconds == 0 and individual.confirmed is None
        ledger.update(replace(individual, status="pruned", saved_seconds=12.5, confirmed=False))
        assert ledger.get("0000").saved_seconds == 12.5 and ledger.get("0000").confirmed is False
