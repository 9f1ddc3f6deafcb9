"""The `evo` command line: `evo eval` runs one candidate under the fixed budget; `evo run` and friends run a search."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from evo import __version__
from evo.errors import EvoError
from evo.evaluator import EvalSettings, available_cores, evaluate
from evo.monitor import Decision
from evo.result import EvalResult, Status
from evo.target import load_target


class ProgressLine:
    """A monitor that never stops a run; it shows the latest progress point on one terminal line."""

    def __init__(self, budget: float) -> None:
        self._budget = budget

    def update(self, t: float, value: float) -> Decision:
        pct = 100.0 * t / self._budget if self._budget else 0.0
        sys.stderr.write(f"\r  {pct:5.1f}% of budget   loss {value:.4f}   ")
        sys.stderr.flush()
        return Decision.CONTINUE


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


def add_run_commands(commands: argparse._SubParsersAction) -> None:
    """The search's commands; their code (and the LLM client) is imported only when one runs."""
    run = commands.add_parser("run", help="start a search from a config file")
    run.add_argument("config", help="YAML config, e.g. configs/quickstart.yaml")
    run.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted overrides, e.g. population.size=16")
    resume = commands.add_parser("resume", help="continue a stopped or killed run, bench or sweep")
    resume.add_argument("run_dir")
    status = commands.add_parser("status", help="counts, the top individuals and the best one's lineage")
    status.add_argument("run_dir")
    status.add_argument("--top", type=int, default=5)
    show = commands.add_parser("show", help="one individual: its diff, curve and log tail")
    show.add_argument("run_dir")
    show.add_argument("id")
    export = commands.add_parser("export", help="write the best (or a given) individual's train.py")
    export.add_argument("run_dir")
    export.add_argument("id", nargs="?")
    export.add_argument("-o", "--output", required=True)
    for name, doc in (
        ("bench", "compare search modes at equal compute over several seeds, in parallel, and write a report"),
        ("sweep", "grid or random search over the search's own hyperparameters, ranked with confidence intervals"),
    ):
        command = commands.add_parser(name, help=doc)
        command.add_argument("config", help=f"YAML {name} file, e.g. configs/{name}-surrogate.yaml")
        command.add_argument("--jobs", type=int, help="searches at once (default: the file's jobs, else by cores)")
    report = commands.add_parser("report", help="write report/ (Markdown, HTML, figures) for a run, bench or sweep")
    report.add_argument("run_dir", help="a run directory (live or finished), or a bench or sweep directory")
    report.add_argument("--out", type=Path, help="where to write it (default: RUN_DIR/report)")


def _add_settings(command: argparse.ArgumentParser) -> None:
    """The evaluator's settings, shared by `eval` and `calibrate`."""
    command.add_argument("target", nargs="?", default="target", help="target directory (default: ./target)")
    command.add_argument("--budget", type=_positive, default=300.0, help="training budget in seconds (default 300)")
    command.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="budget clock (default wall)")
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
        "--startup-grace", type=float, default=60.0, help="seconds allowed before training (default 60)"
    )
    command.add_argument("--eval-grace", type=float, default=60.0, help="seconds allowed for evaluation (default 60)")


def _settings(args: argparse.Namespace, seed: int = 0) -> EvalSettings:
    env = dict(args.env)
    if args.corpus:
        env["EVO_CORPUS"] = args.corpus
    return EvalSettings(
        budget=args.budget,
        clock=args.clock,
        seed=seed,
        startup_grace=args.startup_grace,
        eval_grace=args.eval_grace,
        memory_mb=args.memory_limit,
        threads=args.threads,
        device=args.device,
        gpus=args.gpus,
        env=env,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evo", description=__doc__)
    parser.add_argument("--version", action="version", version=f"evo {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
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
    calibrate.add_argument("--runs", type=int, default=5, help="seeds to train (default 5, at least 3)")
    calibrate.add_argument("--slots", type=int, default=1, help="runs at the same time (default 1)")
    calibrate.add_argument(
        "--probes", type=int, default=0, help="children of the baseline trained on the same seeds (same-seed noise)"
    )
    calibrate.add_argument("--out", type=Path, help="also write the model here (for calibration.file in a config)")
    calibrate.add_argument("--force", action="store_true", help="measure again even if the cache has a model")
    add_run_commands(commands)
    return parser


def cmd_eval(args: argparse.Namespace) -> int:
    target = load_target(args.target)
    code = None
    if args.file is not None:
        if not args.file.is_file():
            raise EvoError(f"--file {str(args.file)!r}: no such file")
        code = {target.editable[0]: args.file.read_text()}
    settings = _settings(args, args.seed)
    out = args.out or Path("runs") / f"eval-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    live = not args.json and sys.stderr.isatty()
    result = evaluate(target, code, out, settings, ProgressLine(settings.budget) if live else None)
    if live:
        sys.stderr.write("\r" + " " * 50 + "\r")
    (out / "result.json").write_text(json.dumps(result.to_json(), indent=1))
    if args.json:
        print(json.dumps(result.to_json(), indent=1))
    else:
        print(_report(result, target.metric.name, str(args.file or target.editable[0])))
    return 0 if result.status is Status.OK else 1


def cmd_calibrate(args: argparse.Namespace) -> int:
    from evo.calibrate import cached_or_calibrate

    if args.runs < 3:
        raise EvoError(f"--runs must be at least 3, got {args.runs}")
    if args.slots < 1:
        raise EvoError(f"--slots must be at least 1, got {args.slots}")
    if args.probes < 0:
        raise EvoError(f"--probes must be at least 0, got {args.probes}")
    target = load_target(args.target)
    settings = _settings(args)
    if settings.threads is None:
        settings = replace(settings, threads=max(1, available_cores() // args.slots))

    def show(name: str, seed: int, result: EvalResult) -> None:
        value = f"{result.metric:.6f}" if result.metric is not None else result.reason
        print(f"{name} seed {seed}: {result.status.value} {value}", flush=True)

    with tempfile.TemporaryDirectory(prefix="evo-calibrate-") as tmp:
        slots = [settings] * args.slots
        model, path, reused = cached_or_calibrate(target, slots, args.runs, args.probes, Path(tmp), show, args.force)
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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "eval":
            return cmd_eval(args)
        if args.command == "calibrate":
            return cmd_calibrate(args)
        from evo.run_commands import COMMANDS  # imports the search stack and the openai client: slow, so only here

        return COMMANDS[args.command](args)
    except EvoError as exc:
        print(f"evo: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("evo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `evo eval --json | head`: the reader left, nothing more to say
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (keeps the interpreter's final flush quiet)
        return 1


if __name__ == "__main__":
    sys.exit(main())
