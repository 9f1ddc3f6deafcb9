"""`evo eval` (one candidate under the fixed budget) and `evo calibrate` (the baseline's noise model)."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
from dataclasses import fields
from pathlib import Path

from evo.config import BudgetConfig, CalibrationConfig, SlotsConfig
from evo.errors import EvoError
from evo.evaluation import Action, EvalResult, EvalSettings, Status, TargetSpec, evaluate, load_target
from evo.evaluation.control import control_lines, run_budget
from evo.execution import LocalExecutor
from evo.stopping.calibration import cached_or_calibrate

BUDGET = BudgetConfig()  # the flags' defaults are the run config's
RUNS = CalibrationConfig().runs
MIN_RUNS = next(f.metadata["ge"] for f in fields(CalibrationConfig) if f.name == "runs")


class ProgressLine:
    """A monitor that never stops a run; it shows the latest progress point on one terminal line."""

    def __init__(self, budget: float) -> None:
        self._budget = budget

    def update(self, t: float, value: float) -> Action:
        pct = 100.0 * t / self._budget if self._budget else 0.0
        sys.stderr.write(f"\r  {pct:5.1f}% of budget   loss {value:.4f}   ")
        sys.stderr.flush()
        return Action.CONTINUE


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _add_settings(command: argparse.ArgumentParser) -> None:
    """The evaluator's settings, shared by `eval` and `calibrate`."""
    command.add_argument("target", nargs="?", default="target", help="target directory (default: ./target)")
    command.add_argument(
        "--budget",
        type=_positive,
        default=BUDGET.seconds,
        help=f"training budget in seconds (default {BUDGET.seconds:g})",
    )
    command.add_argument(
        "--clock", choices=("wall", "cpu"), default=BUDGET.clock, help=f"budget clock (default {BUDGET.clock})"
    )
    command.add_argument(
        "--corpus", help="corpus of the default target (sets EVO_CORPUS): synthetic, pystdlib or a path"
    )
    command.add_argument(
        "--env",
        type=_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a locked setting passed to the target (repeatable)",
    )
    command.add_argument("--threads", type=int, help="CPU threads per candidate (default: all cores)")
    command.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    command.add_argument("--gpus", help="CUDA_VISIBLE_DEVICES for the candidate")
    command.add_argument("--memory-limit", type=_positive, metavar="MB", help="resident memory limit of a candidate")
    command.add_argument(
        "--startup-grace",
        type=float,
        default=BUDGET.startup_grace,
        help=f"seconds allowed before training (default {BUDGET.startup_grace:g})",
    )
    command.add_argument(
        "--eval-grace",
        type=float,
        default=BUDGET.eval_grace,
        help=f"seconds allowed for evaluation (default {BUDGET.eval_grace:g})",
    )


def _settings(args: argparse.Namespace, target: TargetSpec, seed: int = 0) -> EvalSettings:
    """The run's settings from the flags, after saying what evo controls in `target` (on stderr)."""
    for line in control_lines(target, args.budget):
        print(f"evo: {line}", file=sys.stderr)
    env = dict(args.env)
    if args.corpus:
        env["EVO_CORPUS"] = args.corpus
    seconds = run_budget(target, args.budget)
    budget = BudgetConfig(seconds, args.clock, args.startup_grace, args.eval_grace, args.memory_limit)
    return EvalSettings(
        budget=budget,
        seed=seed,
        threads=args.threads,
        device=args.device,
        gpus=args.gpus,
        env=env,
    )


def add_eval_commands(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("eval", help="run one candidate under the fixed budget and print its metric")
    _add_settings(run)
    run.add_argument("--file", type=Path, help="candidate file to use as the target's editable file")
    run.add_argument("--seed", type=int, default=0, help="seed passed as EVO_SEED (default 0)")
    run.add_argument("--out", type=Path, help="where the workspace, log and result.json go (default runs/eval-*)")
    run.add_argument("--json", action="store_true", help="print the whole result as JSON")
    calibrate = commands.add_parser(
        "calibrate", help="train the baseline on several seeds and store its noise model (for early termination)"
    )
    _add_settings(calibrate)
    calibrate.add_argument(
        "--runs", type=int, default=RUNS, help=f"seeds to train (default {RUNS}, at least {MIN_RUNS})"
    )
    calibrate.add_argument("--slots", type=int, default=1, help="runs at the same time (default 1)")
    calibrate.add_argument(
        "--probes", type=int, default=0, help="children of the baseline trained on the same seeds (same-seed noise)"
    )
    calibrate.add_argument("--out", type=Path, help="also write the model here (for calibration.file in a config)")
    calibrate.add_argument("--force", action="store_true", help="measure again even if the cache has a model")


def cmd_eval(args: argparse.Namespace) -> int:
    target = load_target(args.target)
    code = None
    if args.file is not None:
        if not args.file.is_file():
            raise EvoError(f"--file {str(args.file)!r}: no such file")
        code = {target.editable[0]: args.file.read_text()}
    settings = _settings(args, target, args.seed)
    out = args.out or Path("runs") / f"eval-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    live = not args.json and sys.stderr.isatty()
    result = evaluate(target, code, out, settings, ProgressLine(settings.budget.seconds) if live else None)
    if live:
        sys.stderr.write("\r" + " " * 50 + "\r")
    (out / "result.json").write_text(json.dumps(result.to_json(), indent=1))
    if args.json:
        print(json.dumps(result.to_json(), indent=1))
    else:
        print(_report(result, target.metric.name, str(args.file or target.editable[0])))
    return 0 if result.status is Status.OK else 1


def cmd_calibrate(args: argparse.Namespace) -> int:
    if args.runs < MIN_RUNS:
        raise EvoError(f"--runs must be at least {MIN_RUNS}, got {args.runs}")
    if args.slots < 1:
        raise EvoError(f"--slots must be at least 1, got {args.slots}")
    if args.probes < 0:
        raise EvoError(f"--probes must be at least 0, got {args.probes}")
    target = load_target(args.target)
    settings = _settings(args, target)
    executor = LocalExecutor(SlotsConfig(count=args.slots, threads=settings.threads, device=settings.device))

    def show(name: str, seed: int, result: EvalResult) -> None:
        value = f"{result.metric:.6f}" if result.metric is not None else result.reason
        print(f"{name} seed {seed}: {result.status.value} {value}", flush=True)

    with tempfile.TemporaryDirectory(prefix="evo-calibrate-") as tmp:
        try:
            model, path, reused = cached_or_calibrate(
                target, settings, executor, args.runs, args.probes, Path(tmp), show, args.force
            )
        finally:
            executor.close()
    print(f"{'reused' if reused else 'wrote'} {path}")
    if args.out is not None:
        model.save(args.out)
        print(f"wrote {args.out}")
    print(model.summary())
    return 0


def _report(result: EvalResult, metric: str, candidate: str) -> str:
    corpus = result.info.get("corpus")
    lines = [
        f"candidate  {candidate}   budget {result.budget:g} s ({result.clock} clock)   seed {result.seed}"
        + (f"   corpus {corpus}" if corpus else ""),
        f"status     {result.status.value}" + (f"   {result.reason}" if result.reason else ""),
    ]
    if result.metric is not None:
        floor = result.info.get("entropy_floor_bpb")
        lines.append(f"{metric:<10} {result.metric:.6f}" + (f"   (entropy floor {floor:.6f})" if floor else ""))
    shown = {k: v for k, v in result.summary.items() if k != metric}
    if shown:
        lines.append(
            "summary    " + "  ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items())
        )
    lines.append(
        f"curve      {len(result.curve)} points   wall {result.wall_seconds:.1f} s   "
        f"peak rss {result.peak_rss_mb:.0f} MB"
    )
    lines.extend(f"note       {note}" for note in result.notes)
    if result.status is Status.CRASH:
        lines.append("error tail:")
        lines.extend("  " + line for line in result.log_tail.strip().splitlines()[-12:])
    lines.append(f"log        {result.log_path}")
    return "\n".join(lines)
