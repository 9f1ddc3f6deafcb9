"""A pinned search: the same-seed surrogate run with the offline operators, early termination and confirmation gives
exactly the ledger recorded in `tests/data/pinned_surrogate.json` (children, decisions, metrics, stops).

The record was written before the layout moved to sub-packages (issue 13), so it pins that the move changed no
behaviour. A change that is meant to alter the search re-records it (`python -m tests.test_pinned_run`) and says why
in its commit.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from evo.config import load_config
from evo.search import Coordinator, start
from population.ledger import Ledger
from population.store import GitStore

from .conftest import REPO

PINNED = Path(__file__).parent / "data" / "pinned_surrogate.json"
OVERRIDES = (
    f"target={REPO / 'benchmarks' / 'surrogate'}",
    "env={EVO_SURROGATE_SECONDS: '0.02'}",
    "seed=3",
    "slots.count=1",  # one slot: results are told in id order, so the run is deterministic
    "stop.evaluations=22",
    "population.size=5",
    "population.crossover_rate=0.4",
    "early_stop.enabled=true",
    "confirm.enabled=true",
    "calibration.runs=4",
)
_VOLATILE_EVENT_KEYS = {"source", "killed_strays"}  # paths and machine state, not decisions


def _plain(value: Any) -> Any:
    """Floats rounded to 9 significant digits (the same code and seed give the same bits; JSON keeps them apart)."""
    if isinstance(value, float):
        return value if not math.isfinite(value) else float(f"{value:.9g}")
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def record(root: Path) -> dict[str, Any]:
    """What the run decided, without times, paths or git hashes."""
    with Ledger(root / "ledger.sqlite") as ledger, GitStore(root / "git", ("train.py",)) as store:
        individuals = [
            {
                "id": i.id,
                "parents": list(i.parents),
                "operator": i.operator,
                "description": i.description,
                "code": hashlib.sha256(store.code(i.commit)["train.py"].encode()).hexdigest()[:16],
                "status": i.status,
                "metric": i.metric,
                "seeds": list(i.seeds),
                "budget_seconds": i.budget_seconds,
                "saved_seconds": i.saved_seconds,
                "confirmed": i.confirmed,
                "island": i.island,
                "reason": i.reason,
            }
            for i in ledger.all()
        ]
        events = [
            {"kind": e.kind, **{k: v for k, v in e.data.items() if k not in _VOLATILE_EVENT_KEYS}}
            for e in ledger.events()
        ]
    return _plain({"individuals": individuals, "events": events})


def pinned_run(runs_dir: Path) -> Path:
    config = load_config(REPO / "configs" / "surrogate.yaml", [*OVERRIDES, f"runs_dir={runs_dir}"])
    root = start(config)
    Coordinator(root).run()
    return root


def test_the_pinned_surrogate_run_gives_the_recorded_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    got = record(pinned_run(tmp_path / "runs"))
    expected = json.loads(PINNED.read_text())
    assert [i["id"] for i in got["individuals"]] == [i["id"] for i in expected["individuals"]]
    for mine, theirs in zip(got["individuals"], expected["individuals"], strict=True):
        assert mine == theirs, mine["id"]
    assert got["events"] == expected["events"]


if __name__ == "__main__":  # re-record: python -m tests.test_pinned_run
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["EVO_CACHE_DIR"] = str(Path(tmp) / "cache")
        os.environ.pop("OPENAI_API_KEY", None)
        os.environ.pop("OPENAI_BASE_URL", None)
        data = record(pinned_run(Path(tmp) / "runs"))
    PINNED.parent.mkdir(exist_ok=True)
    PINNED.write_text(json.dumps(data, indent=1) + "\n")
    statuses = [i["status"] for i in data["individuals"]]
    print(f"wrote {PINNED}: {len(statuses)} individuals, {len(data['events'])} events", file=sys.stderr)
    print({s: statuses.count(s) for s in set(statuses)}, file=sys.stderr)
