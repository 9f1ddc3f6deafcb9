"""The ledger: the run's single source of truth (SQLite), which modes resume from and reports read.

Every write is one committed transaction in WAL mode with `synchronous=FULL`, so a coordinator killed with SIGKILL
(or a power cut) leaves a database that opens and holds only whole rows. Records go in and come out as plain
dataclasses; dicts and tuples are stored as JSON text so the file stays readable with the `sqlite3` shell.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from population.errors import PopulationError
from population.individual import STATUSES, Individual, format_id

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS individuals (
    id TEXT PRIMARY KEY, parents TEXT NOT NULL, operator TEXT NOT NULL, model TEXT, "commit" TEXT NOT NULL,
    description TEXT NOT NULL, rationale TEXT NOT NULL, status TEXT NOT NULL, metric REAL, summary TEXT NOT NULL,
    curve TEXT NOT NULL, seeds TEXT NOT NULL, budget_seconds REAL NOT NULL, saved_seconds REAL NOT NULL DEFAULT 0,
    confirmed INTEGER, wall_seconds REAL NOT NULL,
    prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, cost REAL NOT NULL, island INTEGER NOT NULL,
    created REAL, started REAL, finished REAL, reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS individuals_status ON individuals (status);
CREATE TABLE IF NOT EXISTS evaluations (
    id INTEGER PRIMARY KEY AUTOINCREMENT, individual TEXT NOT NULL REFERENCES individuals (id), seed INTEGER,
    status TEXT NOT NULL, metric REAL, wall_seconds REAL, budget_seconds REAL, started REAL, finished REAL,
    result TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS evaluations_individual ON evaluations (individual);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, kind TEXT NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_kind ON events (kind);
"""

_JSON_FIELDS = ("parents", "summary", "curve", "seeds")  # stored as JSON text
_REAL_FIELDS = ("metric", "budget_seconds", "saved_seconds", "wall_seconds", "cost", "created", "started", "finished")
_COLUMNS = tuple(f.name for f in fields(Individual))
_QUOTED = ", ".join(f'"{name}"' for name in _COLUMNS)  # "commit" is an SQL keyword


class LedgerError(PopulationError):
    """The file is not a ledger this version can read; the message names the file."""


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of an individual: several per individual when a mode re-runs it on other seeds."""

    id: int
    individual: str
    seed: int | None
    status: str
    metric: float | None
    wall_seconds: float | None
    budget_seconds: float | None
    started: float | None
    finished: float | None
    result: dict[str, Any]  # the evaluator's whole result, as `EvalResult.to_json()` wrote it


@dataclass(frozen=True)
class Event:
    """A decision worth replaying or reporting ("kept", "reset", "migrated", ...): append-only."""

    id: int
    time: float
    kind: str
    data: dict[str, Any]


class Ledger:
    """One run's SQLite ledger; see the module docstring. Safe to share between threads of one process."""

    def __init__(self, path: str | Path, readonly: bool = False) -> None:
        """`readonly`: a reader beside the live coordinator (the dashboard): SQLite's read-only mode, so it can never
        write, create or migrate the file; in WAL mode it never blocks the writer either."""
        self.path = Path(path)
        self.readonly = readonly
        self._lock = threading.RLock()
        if readonly and not self.path.is_file():
            raise LedgerError(f"{self.path}: no ledger there")
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # Autocommit (isolation_level=None): a statement commits by itself; multi-statement writes use _write().
            target = f"{self.path.resolve().as_uri()}?mode=ro" if readonly else str(self.path)
            self._db = sqlite3.connect(
                target, timeout=30.0, isolation_level=None, check_same_thread=False, uri=readonly
            )
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"{self.path}: cannot open the ledger ({exc})") from None
        try:
            self._open()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise LedgerError(f"{self.path}: not an evo ledger ({exc})") from None
        except LedgerError:
            self._db.close()
            raise

    def _open(self) -> None:
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "meta" not in tables:
            raise LedgerError(f"{self.path}: not an evo ledger (an SQLite database without a meta table)")
        if "meta" in tables:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            try:
                version = _loads(row[0]) if row else None
            except (TypeError, ValueError):
                version = None
            if not isinstance(version, int):
                raise LedgerError(f"{self.path}: not an evo ledger (no schema_version in its meta table)")
            if version > SCHEMA_VERSION:
                raise LedgerError(
                    f"{self.path}: ledger schema {version} was written by a newer evo (this one reads up to "
                    f"{SCHEMA_VERSION}); upgrade evo to open it"
                )
            if version < SCHEMA_VERSION and self.readonly:
                raise LedgerError(
                    f"{self.path}: ledger schema {version} is older than this evo's; `evo status` upgrades it"
                )
            if version < SCHEMA_VERSION:
                self._migrate(version)
        if self.readonly:
            if not tables:
                raise LedgerError(f"{self.path}: not an evo ledger (an empty database)")
            return
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.execute("PRAGMA foreign_keys = ON")
        if not tables:
            with self._write() as db:  # executescript would commit on its own; one transaction creates all or nothing
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    db.execute(statement)
                insert = "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)"
                db.execute(insert, ("schema_version", _dumps(SCHEMA_VERSION)))
                db.execute(insert, ("created", _dumps(time.time())))

    def _migrate(self, version: int) -> None:
        """Bring an older ledger up to this schema in one transaction (2 added early termination's saved seconds
        and the confirmation verdict)."""
        with self._write() as db:
            if version < 2:
                db.execute("ALTER TABLE individuals ADD COLUMN saved_seconds REAL NOT NULL DEFAULT 0")
                db.execute("ALTER TABLE individuals ADD COLUMN confirmed INTEGER")
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (_dumps(SCHEMA_VERSION),))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction: all of its statements land, or none do (also under SIGKILL)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[Ledger]:
        """One read transaction: every read inside sees the same state of the ledger, however the writer goes on."""
        with self._lock:
            self._db.execute("BEGIN DEFERRED")
            try:
                yield self
            finally:
                self._db.execute("COMMIT")

    # -- meta -----------------------------------------------------------------------------------------------------

    def set_meta(self, key: str, value: Any) -> None:
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, _dumps(value)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else _loads(row[0])

    # -- individuals ----------------------------------------------------------------------------------------------

    def next_id(self) -> str:
        """Reserve the next id: a reserved id is never handed out twice, even if its individual is never added."""
        with self._write() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'next_id'").fetchone()
            counter = _loads(row[0]) if row else 0
            for (existing,) in db.execute("SELECT id FROM individuals"):
                if existing.isdigit():
                    counter = max(counter, int(existing) + 1)
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('next_id', ?)", (_dumps(counter + 1),))
        return format_id(counter)

    def add(self, individual: Individual) -> None:
        try:
            with self._write() as db:
                db.execute(f"INSERT INTO individuals ({_QUOTED}) VALUES ({_marks(_COLUMNS)})", _row(individual))
        except sqlite3.IntegrityError:
            raise ValueError(f"{self.path}: individual {individual.id} is already in the ledger") from None

    def update(self, individual: Individual) -> None:
        """Replace the whole stored record with `individual` (records are immutable: there are no partial updates)."""
        with self._write() as db:
            self._update(db, individual)

    def finish(
        self, individual: Individual, result: Any, started: float | None = None, finished: float | None = None
    ) -> int:
        """Store an evaluated individual and its evaluation in one transaction: a kill between the two writes would
        otherwise leave a finished individual without its evaluation (or, the other way round, one evaluated twice).
        The evaluation ends at `finished` (default: the individual's finish; a re-evaluation passes its own).
        Returns the evaluation's id."""
        with self._write() as db:
            self._update(db, individual)
            return self._insert_evaluation(db, individual.id, result, started, finished or individual.finished)

    def _update(self, db: sqlite3.Connection, individual: Individual) -> None:
        assignments = ", ".join(f'"{name}" = ?' for name in _COLUMNS[1:])
        values = (*_row(individual)[1:], individual.id)
        cursor = db.execute(f"UPDATE individuals SET {assignments} WHERE id = ?", values)
        if cursor.rowcount != 1:
            raise KeyError(f"{self.path}: no individual {individual.id} to update")

    def get(self, individual_id: str) -> Individual:
        rows = self._select("WHERE id = ?", (individual_id,))
        if not rows:
            raise KeyError(f"{self.path}: no individual {individual_id}")
        return rows[0]

    def __contains__(self, individual_id: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM individuals WHERE id = ?", (individual_id,)).fetchone() is not None

    def all(self) -> list[Individual]:
        return self._select("", ())

    def with_status(self, *statuses: str) -> list[Individual]:
        unknown = set(statuses) - set(STATUSES)
        if unknown:
            raise ValueError(f"unknown status {sorted(unknown)!r} (expected one of {', '.join(STATUSES)})")
        return self._select(f"WHERE status IN ({_marks(statuses)})", statuses)

    def _select(self, where: str, args: tuple[Any, ...]) -> list[Individual]:
        # Ordered by numeric id: length first, so "10000" follows "9999".
        query = f"SELECT {_QUOTED} FROM individuals {where} ORDER BY length(id), id"
        with self._lock:
            rows = self._db.execute(query, args).fetchall()
        return [_individual(row) for row in rows]

    # -- evaluations ----------------------------------------------------------------------------------------------

    def add_evaluation(
        self,
        individual_id: str,
        result: Any,
        started: float | None = None,
        finished: float | None = None,
    ) -> int:
        """Record one evaluation: `result` is an `EvalResult` (or its `to_json()` dict), stored whole, with its seed,
        status, metric, wall and budget seconds also in columns for queries. Returns the evaluation's id."""
        with self._write() as db:
            return self._insert_evaluation(db, individual_id, result, started, finished)

    def _insert_evaluation(
        self, db: sqlite3.Connection, individual_id: str, result: Any, started: float | None, finished: float | None
    ) -> int:
        data = dict(result) if isinstance(result, Mapping) else result.to_json()
        status = getattr(data.get("status"), "value", data.get("status"))
        row = (
            individual_id,
            data.get("seed"),
            status,
            _real(data.get("metric")),
            _real(data.get("wall_seconds")),
            _real(data.get("budget", data.get("budget_seconds"))),
            started,
            finished,
            _dumps({**data, "status": status}),
        )
        try:
            cursor = db.execute(
                "INSERT INTO evaluations (individual, seed, status, metric, wall_seconds, budget_seconds, started,"
                " finished, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
        except sqlite3.IntegrityError:
            raise KeyError(f"{self.path}: no individual {individual_id} for this evaluation") from None
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def evaluations(self, individual_id: str | None = None) -> list[Evaluation]:
        """The evaluations of one individual (or of all), oldest first."""
        query = "SELECT id, individual, seed, status, metric, wall_seconds, budget_seconds, started, finished, result"
        query += " FROM evaluations" + (" WHERE individual = ?" if individual_id is not None else "") + " ORDER BY id"
        with self._lock:
            rows = self._db.execute(query, () if individual_id is None else (individual_id,)).fetchall()
        return [
            Evaluation(*row[:4], _unreal(row[4]), _unreal(row[5]), _unreal(row[6]), row[7], row[8], _loads(row[9]))
            for row in rows
        ]

    # -- events ---------------------------------------------------------------------------------------------------

    def event(self, kind: str, **data: Any) -> int:
        """Append a decision to the log; returns its id (events are ordered by id, which follows time)."""
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO events (time, kind, data) VALUES (?, ?, ?)", (time.time(), kind, _dumps(data))
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def events(self, kind: str | None = None) -> list[Event]:
        query = "SELECT id, time, kind, data FROM events" + (" WHERE kind = ?" if kind is not None else "")
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", () if kind is None else (kind,)).fetchall()
        return [Event(row[0], row[1], row[2], _loads(row[3])) for row in rows]


# -- encoding -----------------------------------------------------------------------------------------------------


def _dumps(value: Any) -> str:
    # allow_nan: a diverged run's curve holds NaN; Python's json writes and reads it back (as non-standard `NaN`).
    return json.dumps(value, ensure_ascii=False, allow_nan=True)


def _loads(text: str) -> Any:
    return json.loads(text)


def _real(value: float | None) -> float | str | None:
    """SQLite silently stores a NaN REAL as NULL, which would turn a NaN metric into "no metric". The text 'NaN'
    survives a REAL column (as text, so numeric comparisons in SQL skip it, as they should)."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return value


def _unreal(value: float | str | None) -> float | None:
    return float(value) if isinstance(value, str) else value


def _marks(items: tuple[Any, ...] | tuple[str, ...]) -> str:
    return ", ".join("?" for _ in items)


def _row(individual: Individual) -> tuple[Any, ...]:
    values = []
    for name in _COLUMNS:
        value = getattr(individual, name)
        if name in _JSON_FIELDS:
            value = _dumps(value)
        elif isinstance(value, float):
            value = _real(value)
        values.append(value)
    return tuple(values)


def _individual(row: tuple[Any, ...]) -> Individual:
    values: dict[str, Any] = {}
    for name, value in zip(_COLUMNS, row, strict=True):
        if name in _JSON_FIELDS:
            value = _loads(value)
        elif name in _REAL_FIELDS:
            value = _unreal(value)
        values[name] = value
    return Individual(**values)
