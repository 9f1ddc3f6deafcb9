"""Runs one candidate under the fixed budget and returns its metric and learning curve (the target and
monitor contracts, docs/architecture.md).

Flow: a fresh workspace (the target plus the candidate's editable files) -> the trusted manifest, for attested
targets -> the candidate as a supervised subprocess whose output streams into the parser and the monitor -> a
result whose status says, in one line, why it is not `ok`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evo.evaluation.attest import AttestationError, attested_metric
from evo.evaluation.logcap import CappedLog
from evo.evaluation.manifest import load_manifest
from evo.evaluation.monitor import Action, Monitor, NoMonitor
from evo.evaluation.parsing import OutputParser, compile_progress
from evo.evaluation.process import Limits, Outcome, run_supervised
from evo.evaluation.result import EvalResult, Status
from evo.evaluation.sandbox import sandbox_prefix, scratch_env
from evo.evaluation.settings import EvalSettings, candidate_env, locked_settings
from evo.evaluation.target import TargetSpec
from evo.evaluation.workspace import Fingerprint, build_workspace, touched_locked_files

LAUNCHER = Path(__file__).with_name("launcher.py")


def _command(target: TargetSpec) -> tuple[str, ...]:
    """Run `python ...` with this interpreter, so a target works the same inside evo's virtual environment; through
    evo's launcher where the target has one."""
    command = target.command
    if command[0] != "python":
        return command
    return (sys.executable, *([str(LAUNCHER)] if target.launch else []), *command[1:])


def _writable(target: TargetSpec) -> list[Path]:
    """The target's declared writable folders on this machine (`~` is this user's home), made if missing: a bind
    needs its source to exist."""
    folders = [Path(os.path.expanduser(folder)).resolve() for folder in target.writable]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    return folders


def _launch_env(target: TargetSpec) -> dict[str, str]:
    launch = target.launch
    if launch is None:
        return {}
    spec = {"budget": launch.budget, "seed": launch.seed, "evaluate": launch.evaluate, "metric": target.metric.name}
    return {"EVO_LAUNCH": json.dumps(spec)}


def evaluate(
    target: TargetSpec,
    code: Mapping[str, str] | None,
    workdir: Path,
    settings: EvalSettings,
    monitor: Monitor | None = None,
    cancel: threading.Event | None = None,
) -> EvalResult:
    """Evaluate one candidate (`code`: editable file -> text; None runs the target as it is) in `workdir`; setting
    `cancel` kills it (a search shutting down)."""
    monitor = monitor or NoMonitor()
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    workspace = workdir / "workspace"
    fingerprints = build_workspace(target, code, workspace)
    scratch = workdir / "scratch"  # its TMPDIR: with the workspace, all it may write
    scratch.mkdir(exist_ok=True)
    sandbox = sandbox_prefix(settings.sandbox, (workspace, scratch, *_writable(target)), target.network)
    env = {**candidate_env(target, settings), **_launch_env(target)}
    manifest = (
        load_manifest(target, (sys.executable,), env, locked_settings(target, settings))
        if target.metric.attested and target.prepare is not None
        else {}
    )
    parser = OutputParser(compile_progress(target.progress), settings.budget.seconds)
    stopped = False

    def on_line(line: str) -> bool:
        # Lines already in the pipe when the monitor stopped the run are not read: the curve ends where it stopped.
        nonlocal stopped
        if stopped:
            return True
        point = parser.feed(line)
        stopped = point is not None and monitor.update(*point) is Action.STOP
        return stopped

    log = CappedLog(workdir / "log.txt", settings.log_bytes)
    limits = Limits(settings.hard_limit, settings.budget.memory_mb)
    run_env = {**env, **scratch_env(scratch)}
    try:
        outcome = run_supervised(_command(target), workspace, run_env, limits, log, on_line, cancel, sandbox)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    tail = log.tail_text()
    status, metric, reason, notes = _judge(target, settings, outcome, parser, manifest, workspace, fingerprints, tail)
    info = {k: v for k, v in manifest.items() if k not in ("kind", "expect")}
    return EvalResult(
        status=status,
        metric=metric,
        reason=reason,
        summary=parser.summary,
        curve=tuple(parser.curve),
        exit_code=outcome.exit_code,
        wall_seconds=outcome.wall_seconds,
        peak_rss_mb=outcome.peak_rss_mb,
        seed=settings.seed,
        budget=settings.budget.seconds,
        used_seconds=_used(settings, outcome, parser) if status in _CUT_SHORT else None,
        clock=settings.budget.clock,
        log_path=str(log.path),
        log_tail=tail,
        notes=tuple(notes),
        info=info,
    )


_CUT_SHORT = (Status.CRASH, Status.TIMEOUT)  # charged the seconds they ran, not the whole budget


def _used(settings: EvalSettings, outcome: Outcome, parser: OutputParser) -> float:
    """Budget seconds a run cut short used: where its curve got to on the budget clock (a simulated target's clock
    too), else its wall time; at most the budget."""
    reached = parser.curve[-1][0] if parser.curve else outcome.wall_seconds
    return min(settings.budget.seconds, reached)


def _judge(
    target: TargetSpec,
    settings: EvalSettings,
    outcome: Outcome,
    parser: OutputParser,
    manifest: Mapping[str, Any],
    workspace: Path,
    fingerprints: Mapping[str, Fingerprint],
    tail: str,
) -> tuple[Status, float | None, str, list[str]]:
    """Decide the status, most serious cause first; only `ok` carries a metric."""
    notes = [f"{outcome.channel_errors} malformed lines on the result channel were ignored"] * bool(
        outcome.channel_errors
    )
    if outcome.survivors:
        notes.append(f"processes {list(outcome.survivors)} survived SIGKILL")
    if outcome.killed_for == "stop":
        return Status.PRUNED, None, "stopped early by the monitor", notes
    if outcome.killed_for == "timeout":
        return Status.TIMEOUT, None, f"still running at the hard limit of {settings.hard_limit:g} s", notes
    if outcome.killed_for == "cancelled":
        return Status.CRASH, None, "cancelled: the search was shutting down", notes
    if outcome.killed_for == "memory":
        return Status.CRASH, None, f"memory limit of {settings.budget.memory_mb:g} MB exceeded", notes
    touched = touched_locked_files(workspace, fingerprints)
    if touched:
        return Status.INVALID, None, f"locked file {', '.join(touched)} was modified during the run", notes
    if outcome.exit_code != 0:
        return Status.CRASH, None, _crash_reason(outcome.exit_code, tail), notes
    name = target.metric.name
    printed = parser.summary.get(name)
    if target.metric.attested:
        try:
            metric = attested_metric(outcome.records, manifest.get("expect", {}), name, settings.budget)
        except AttestationError as exc:
            return Status.INVALID, None, str(exc), notes
        if isinstance(printed, float) and not math.isclose(printed, metric, rel_tol=1e-4, abs_tol=1e-5):
            differs = f"printed {name} {printed:g} differs from the locked evaluation's {metric:g}"
            return Status.INVALID, None, differs, notes
        return Status.OK, metric, "", notes
    if printed is None:
        return Status.INVALID, None, f"no {name} in the summary block", notes
    if not isinstance(printed, float) or not math.isfinite(printed):
        return Status.INVALID, None, f"{name} is {printed}", notes
    return Status.OK, printed, "", notes


def _crash_reason(exit_code: int | None, tail: str) -> str:
    if exit_code is not None and exit_code < 0:
        try:
            return f"killed by {signal.Signals(-exit_code).name}"
        except ValueError:
            return f"killed by signal {-exit_code}"
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    return f"exit {exit_code}: {lines[-1][:300] if lines else 'no output'}"
