"""`evo serve [RUNS_DIR]`: the live dashboard over every run and bench under a directory (evo/dashboard)."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from evo.errors import EvoError

NEEDS = ("fastapi", "uvicorn", "jinja2")


def add_serve_command(commands: argparse._SubParsersAction) -> None:
    from evo.dashboard.server import HOST, PORT

    serve = commands.add_parser("serve", help="a live dashboard of the runs and benches under a directory")
    serve.add_argument("runs_dir", nargs="?", default="runs", help="the directory to serve (default: runs)")
    serve.add_argument("--host", default=HOST, help=f"address to bind (default {HOST}; any other needs a token)")
    serve.add_argument("--port", type=int, default=PORT, help=f"port (default {PORT})")
    serve.add_argument("--token", help="the token a browser must bring (default: a fresh one on a non-loopback bind)")


def check_installed() -> None:
    missing = [name for name in NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        raise EvoError(
            f"the dashboard needs {', '.join(missing)}: pip install 'evo-research[serve]' (or -e \".[serve]\")"
        )


def cmd_serve(args: argparse.Namespace) -> int:
    check_installed()
    from evo.dashboard.server import serve

    if not 0 < args.port < 65536:
        raise EvoError(f"--port {args.port}: not a port (1-65535)")
    serve(Path(args.runs_dir), args.host, args.port, args.token)
    return 0
