"""The self-audit pooled over runs of one rule: a bench's searches on the surrogate, read by `evo status` (a run and
the bench), the run report, the bench report and the dashboard."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from evo.bench.plan import load_bench
from evo.bench.runner import run_dirs
from evo.reporting.run_data import load_run
from evo.reporting.run_report import write_run_report
from evo.stopping.audit import AuditTally, audit_from
from population.ledger import Ledger

from .conftest import REPO

BENCH = """\
    base: {base}
    seeds: 2
    runs_dir: {runs}
    overrides: [target={target}, 'env.EVO_SURROGATE_SECONDS="1.0"', stop.evaluations=12, population.size=4,
                early_stop.enabled=true, early_stop.warmup=0.1, early_stop.audit=1, calibration.runs=3]
    arms:
      - {{name: stated, overrides: []}}
      - {{name: looser, overrides: [early_stop.alpha=0.1]}}
    """
BESIDE = "pooled with {} beside it (same target, budget and early_stop settings): "


def evo(*args: str, cwd: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "evo", *args], capture_output=True, text=True, cwd=cwd)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def tally(root: Path) -> AuditTally:
    with Ledger(root / "ledger.sqlite", readonly=True) as ledger:
        measured = audit_from(ledger.events())
    assert measured is not None and measured[0].audits  # every decision to stop audited: each says how it ended
    return measured[0]


def test_status_report_and_dashboard_pool_the_self_audit_of_the_runs_with_the_same_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bench's two searches of one rule pool their audit tallies (status of a run and of the bench, the run
    report, the bench report, the dashboard's run and bench pages); the arm with another alpha pools apart, and a
    run beside them whose ledger records other locked target files (another target under the same path) is left
    out."""
    monkeypatch.setenv("EVO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    path = tmp_path / "bench.yaml"
    text = BENCH.format(
        base=REPO / "configs" / "surrogate.yaml", runs=tmp_path / "runs", target=REPO / "benchmarks" / "surrogate"
    )
    path.write_text(textwrap.dedent(text))
    evo("bench", str(path), "--jobs", "2", cwd=tmp_path)
    bench = tmp_path / "runs" / "bench"
    dirs = run_dirs(bench, load_bench(path))
    (first, second), (third, fourth) = dirs["stated"], dirs["looser"]
    arms = {"stated": (tally(first) + tally(second), 0.05), "looser": (tally(third) + tally(fourth), 0.1)}
    stated, looser = (t.line(alpha) for t, alpha in arms.values())
    report = (bench / "report" / "report.md").read_text().splitlines()
    for name, (pooled, alpha) in arms.items():  # the bench report's compute-saved table, one row per arm
        rate = pooled.false_stop_rate()
        assert rate is not None
        measured = f"{rate.estimate:.0%} [{rate.low:.0%}, {rate.high:.0%}]"
        cells = f"| {pooled.decisions} ({pooled.audits}) | {measured} | {alpha:.0%} |"
        assert sum(line.startswith(f"| {name} |") and line.endswith(cells) for line in report) == 1

    other_target = first.with_name("zz-other-target")  # a copy of a run of the same rule, but of other locked files
    shutil.copytree(first, other_target)
    with Ledger(other_target / "ledger.sqlite") as ledger:
        locked = ledger.get_meta("target_locked")
        ledger.set_meta("target_locked", dict.fromkeys(locked, "0" * 64))

    status = evo("status", str(second), cwd=tmp_path).splitlines()
    assert "early termination, " + BESIDE.format("1 run") + stated in status
    assert stated in write_run_report(load_run(second), tmp_path / "report").read_text()
    assert "early termination, " + BESIDE.format("1 run") + looser in evo("status", str(fourth), cwd=tmp_path)
    whole = evo("status", str(bench), cwd=tmp_path).splitlines()
    assert whole.index(f"  early termination, pooled over 2 searches: {stated}") < whole.index("looser:")
    assert f"  early termination, pooled over 2 searches: {looser}" in whole

    pytest.importorskip("fastapi", reason="the dashboard's packages: pip install -e '.[serve]'")
    from fastapi.testclient import TestClient

    from evo.dashboard.app import create_app

    with TestClient(create_app(tmp_path / "runs"), base_url="http://127.0.0.1") as client:
        relative = second.relative_to(tmp_path / "runs").as_posix()
        progress = client.get("/api/progress", params={"path": relative}).json()
        assert progress["early_termination_pooled"] == BESIDE.format("1 run") + stated
        arms = client.get("/api/bench", params={"path": "bench"}).json()["arms"]
        assert [arm["early_termination"] for arm in arms] == [f"pooled over 2 searches: {x}" for x in (stated, looser)]
