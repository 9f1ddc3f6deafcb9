"""`evo serve`: the dashboard on uvicorn, in its own process, so no request ever shares a thread (or the GIL) with a
search's coordinator."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from evo.errors import EvoError

HOST = "127.0.0.1"
PORT = 8765


def address(host: str, port: int, token: str | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def serve(root: Path, host: str = HOST, port: int = PORT, token: str | None = None) -> None:
    """Serve `root` until interrupted. A non-loopback bind always takes a token (a fresh one unless given), printed
    with the address; a loopback bind takes one only when given."""
    import uvicorn  # the dashboard's packages (the `serve` extra) load only when it starts

    from evo.dashboard.app import create_app
    from evo.dashboard.security import is_loopback, new_token

    loopback = is_loopback(host)
    if not loopback and token is None:
        token = new_token()
    app = create_app(root, token, loopback)
    print(f"evo dashboard: {address(host, port, token)} (serving {root.resolve()}; Ctrl-C stops it)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def answering(url: str, seconds: float = 15.0) -> bool:
    """Whether a server answers at `url` (any HTTP status) within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            time.sleep(0.05)
    return False


def beside(runs_dir: Path, port: int) -> subprocess.Popen[bytes] | None:
    """`evo run --serve`: the dashboard as a child process (its own process group) for the length of a search. A
    port already taken is said in one line and the search goes on without it (None)."""
    with socket.socket() as probe:
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            print(f"evo: no dashboard: port {port} is taken ({exc.strerror}); try --port", file=sys.stderr)
            return None
    command = [sys.executable, "-m", "evo", "serve", str(runs_dir), "--port", str(port)]
    try:
        process = subprocess.Popen(command, start_new_session=True)
    except OSError as exc:
        raise EvoError(f"cannot start the dashboard ({exc})") from None
    answering(address(HOST, port, None))  # up before the search's first line, so the address printed works
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
