"""`evo run` and `evo resume`: a search in a run directory, its live display, its closing summary and exit code.

Exit codes: 0 when the run did its work, whatever it found; 1 when it could not (its baseline failed, or its
operator cannot propose: a dead endpoint, a rejected key, an unknown model, a spent cap); 130 when interrupted
(the run resumes with `evo resume RUN_DIR`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from evo.bench import runner as bench
from evo.cli.bench_commands import cmd_bench, cmd_report, run_bench
from evo.cli.inspect_commands import cmd_export, cmd_show, cmd_status, value
from evo.cli.progress import ProgressDisplay, printable
from evo.cli.serve_command import check_installed
from evo.config import load_config
from evo.dashboard.server import beside, stop
from evo.errors import RunFailed
from evo.evaluation import load_target
from evo.evaluation.control import control_lines
from evo.evaluation.diagnosis import failure_hint
from evo.reporting.run_data import PEER_FILE, load_run
from evo.search import Coordinator, Outcome, improvement, start

LOG_LINES = 15  # of a failed baseline's log, shown when a run fails


def cmd_run(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.overrides)
    for line in control_lines(load_target(config.target), config.budget.seconds):
        print(f"evo: {line}", file=sys.stderr)
    root = start(config)
    print(
        f"evo run: {root} ({config.mode}, target {config.target}, {config.budget.seconds:g} s "
        f"{config.budget.clock}-clock budget, {config.slots.count} slot(s))",
        file=sys.stderr,
    )
    with _dashboard(args, root.parent):
        return _search(root)


def cmd_resume(args: argparse.Namespace) -> int:
    print(f"evo resume: {args.run_dir}", file=sys.stderr)
    root = Path(args.run_dir)
    with _dashboard(args, root.parent):
        return _resume(root)


def _resume(root: Path) -> int:
    if (root / bench.PLAN_FILE).is_file():
        return run_bench(root, None)
    if (root / PEER_FILE).is_file():
        from evo.bench.peer_tpe import run_tpe

        print(f"stopped: {run_tpe(root, on_line=print)}")
        return 0
    return _search(root)


@contextmanager
def _dashboard(args: argparse.Namespace, runs_dir: Path) -> Iterator[None]:
    """`--serve`: the dashboard over the run's directory of runs, for as long as the command runs."""
    if not args.serve:
        yield
        return
    check_installed()
    process = beside(runs_dir, args.port)
    try:
        yield
    finally:
        if process is not None:
            stop(process)


def _search(root: Path) -> int:
    display = ProgressDisplay()
    coordinator = Coordinator(root, on_notice=display.note)
    display.metric = coordinator.target.metric.name
    display.note(coordinator.operators.notice)
    coordinator.on_progress = display
    try:
        outcome = coordinator.run()
    except KeyboardInterrupt:
        display.close()
        print(f"evo: interrupted; the run resumes where it stopped with: evo resume {root}", file=sys.stderr)
        return 130
    finally:
        display.close()
    print(_summary(outcome, coordinator.target.metric.name, coordinator.direction))
    from evo.reporting.run_report import write_run_report  # matplotlib: only once the search is done

    print(f"report: {write_run_report(load_run(root), root / 'report')} (and report.html beside it)")
    if outcome.failure:
        raise RunFailed(outcome.failure, _failed_log(outcome))
    return 0


def _summary(outcome: Outcome, metric: str, direction: str) -> str:
    lines = [f"stopped: {outcome.stop_reason}; {outcome.finished} individuals evaluated"]
    if outcome.baseline is not None:
        lines.append(f"baseline {outcome.baseline.id}: {metric} {value(outcome.baseline)}")
    if outcome.best is not None:
        gain = improvement(outcome.best, outcome.baseline, direction)
        lines.append(
            f"best     {outcome.best.id}: {metric} {value(outcome.best)}  {printable(outcome.best.description, 80)}"
            + (f"  ({gain:+.6f} vs baseline)" if gain is not None else "")
        )
        if outcome.holdout is not None:
            lines.append(outcome.holdout.sentence)
        lines.append(f"export it: evo export {outcome.run_dir} {outcome.best.id} -o train.py")
    return "\n".join(lines)


def _failed_log(outcome: Outcome) -> str:
    """The end of the failed baseline's log, where the error is."""
    baseline = outcome.baseline
    if baseline is None or baseline.is_parent_eligible:
        return ""
    log = outcome.run_dir / "individuals" / baseline.id / "log.txt"
    if not log.is_file():
        return ""
    tail = log.read_text(errors="replace").splitlines()[-LOG_LINES:]
    hint = failure_hint("\n".join(tail))
    return f"the end of {log}:\n" + "\n".join(f"  {printable(line, 200)}" for line in tail) + f"\n{hint}" * bool(hint)


COMMANDS = {
    "run": cmd_run,
    "resume": cmd_resume,
    "status": cmd_status,
    "show": cmd_show,
    "export": cmd_export,
    "bench": cmd_bench,
    "sweep": cmd_bench,
    "report": cmd_report,
}
