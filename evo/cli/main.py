"""The `evo` command line: `evo eval` runs one candidate under the fixed budget; `evo run` and friends run a search.

Exit codes: 0 when the command did its work (a search: whatever it found); 1 when it could not (`evo eval`: the
candidate was not `ok`; `evo run`/`evo resume`: the baseline failed or the operator cannot propose; the cause is
printed); 2 for bad input (a one-line error naming the file, key or flag); 130 when interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from evo import __version__
from evo.cli.adopt_command import add_adopt_command, cmd_adopt
from evo.cli.eval_commands import add_eval_commands, cmd_calibrate, cmd_eval
from evo.cli.serve_command import add_serve_command, cmd_serve
from evo.dashboard.server import PORT
from evo.errors import EvoError, RunFailed
from population.errors import PopulationError


def add_run_commands(commands: argparse._SubParsersAction) -> None:
    """The search's commands; their code (and the LLM client) is imported only when one runs."""
    run = commands.add_parser("run", help="start a search from a config file")
    run.add_argument("config", help="YAML config, e.g. configs/quickstart.yaml")
    run.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted overrides, e.g. population.size=16")
    resume = commands.add_parser("resume", help="continue a stopped or killed run, bench or sweep")
    resume.add_argument("run_dir")
    for command in (run, resume):
        command.add_argument("--serve", action="store_true", help="the dashboard beside the search (see evo serve)")
        command.add_argument("--port", type=int, default=PORT, help="the dashboard's port with --serve")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"evo {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    add_eval_commands(commands)
    add_adopt_command(commands)
    add_run_commands(commands)
    add_serve_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "eval":
            return cmd_eval(args)
        if args.command == "calibrate":
            return cmd_calibrate(args)
        if args.command == "adopt":
            return cmd_adopt(args)
        if args.command == "serve":
            return cmd_serve(args)
        # The search stack and the openai client are slow to import: only for the commands that need them.
        from evo.cli.search_commands import COMMANDS

        return COMMANDS[args.command](args)
    except RunFailed as exc:
        print(f"evo: the run failed: {exc}", file=sys.stderr)
        if exc.detail:
            print(exc.detail, file=sys.stderr)
        return 1
    except (EvoError, PopulationError) as exc:
        print(f"evo: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("evo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `evo eval --json | head`: the reader left, nothing more to say
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (keeps the interpreter's final flush quiet)
        return 1
