"""Candidates run sandboxed where bubblewrap works: they write only their workspace and scratch folder, reach no
network unless the target declares it, and cannot see the coordinator; where there is no sandbox, evo says so once."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from evo.config import BudgetConfig
from evo.errors import EvoError
from evo.evaluation import EvalSettings, evaluate
from evo.evaluation.result import Status
from evo.evaluation.sandbox import unavailable
from evo.evaluation.target import TargetSpec, load_target
from population.ledger import Ledger

from .test_first_hour import CONFIG, SURROGATE, evo, offline_env, run_overrides

Make = Callable[..., TargetSpec]
WHY = unavailable()
sandboxed = pytest.mark.skipif(bool(WHY), reason=f"sandbox unavailable: {WHY}")

# Tries each thing a candidate should not be able to do, and two it must still do, and says how each went.
PROBE = """
import os, socket, tempfile

def attempt(name, action):
    try:
        action()
        print(f"{name}: done", flush=True)
    except OSError as exc:
        print(f"{name}: {type(exc).__name__}", flush=True)

def append(path):
    with open(path, "a") as f:
        f.write("a candidate was here\\n")

def connect():
    with socket.create_connection(("127.0.0.1", int(os.environ["EVO_TEST_PORT"])), timeout=5) as sock:
        sock.sendall(b"hello")

def environ_of_evo():
    with open(f"/proc/{os.environ['EVO_TEST_EVO_PID']}/environ", "rb") as f:
        f.read()

attempt("outside", lambda: append(os.environ["EVO_TEST_OUTSIDE"]))
attempt("new file", lambda: append(os.environ["EVO_TEST_NEW"]))
attempt("network", connect)
attempt("signal evo", lambda: os.kill(int(os.environ["EVO_TEST_EVO_PID"]), 0))
attempt("read evo", environ_of_evo)
attempt("workspace", lambda: append("notes.txt"))
attempt("tmpdir", lambda: tempfile.NamedTemporaryFile(delete=False).write(b"scratch"))
print("tmp is", tempfile.gettempdir())
print("---")
print("val_bpb: 1.0")
"""


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.setblocking(False)
        yield server


def probe(make_target: Make, tmp_path: Path, listener: socket.socket, spec: str = "") -> str:
    """Run PROBE with a file outside its workspace to append to, and return its log."""
    outside = tmp_path / "ledger.sqlite"
    outside.write_text("the run's own\n")
    env = {
        "EVO_TEST_OUTSIDE": str(outside),
        "EVO_TEST_NEW": str(tmp_path / "planted.txt"),
        "EVO_TEST_PORT": str(listener.getsockname()[1]),
        "EVO_TEST_EVO_PID": str(os.getpid()),
    }
    settings = EvalSettings(BudgetConfig(1.0, startup_grace=30.0, eval_grace=30.0), threads=1, env=env)  # unhurried
    result = evaluate(make_target(PROBE, spec=spec or None), None, tmp_path / "run", settings)
    assert result.status is Status.OK, result.reason
    assert outside.read_text() == "the run's own\n" and not (tmp_path / "planted.txt").exists()
    assert not (tmp_path / "run" / "scratch").exists()  # removed once the run ends
    return result.log_tail


@sandboxed
def test_a_candidate_writes_only_its_workspace_and_scratch_and_reaches_no_network(
    make_target: Make, tmp_path: Path, listener: socket.socket
) -> None:
    log = probe(make_target, tmp_path, listener)
    assert "outside: OSError" in log and "new file: OSError" in log  # read-only file system
    assert "network: done" not in log
    with pytest.raises(BlockingIOError):
        listener.accept()  # nothing ever connected
    assert "workspace: done" in log and "tmpdir: done" in log
    assert f"tmp is {tmp_path / 'run' / 'scratch'}" in log
    assert (tmp_path / "run" / "workspace" / "notes.txt").is_file()


@sandboxed
def test_a_candidate_cannot_signal_evo_nor_read_its_environment(
    make_target: Make, tmp_path: Path, listener: socket.socket
) -> None:
    log = probe(make_target, tmp_path, listener)
    assert "signal evo: ProcessLookupError" in log  # evo is not in the candidate's pid namespace
    assert "read evo: FileNotFoundError" in log


@sandboxed
def test_a_target_that_declares_network_may_connect(make_target: Make, tmp_path: Path, listener: socket.socket) -> None:
    log = probe(make_target, tmp_path, listener, spec="network: true\n")
    assert "network: done" in log and "outside: OSError" in log
    connection, _ = listener.accept()
    with connection:
        connection.settimeout(5)
        assert connection.recv(16) == b"hello"


@sandboxed
def test_a_folder_the_target_declares_writable_may_be_written(make_target: Make, tmp_path: Path) -> None:
    cache, other = tmp_path / "hub-cache", tmp_path / "other"
    other.mkdir()
    train = f"""
        for folder in ({str(cache)!r}, {str(other)!r}):
            try:
                open(folder + "/file", "w").write("x")
                print(folder, "written")
            except OSError as exc:
                print(folder, type(exc).__name__)
        print("---")
        print("val_bpb: 1.0")
    """
    target = make_target(train, spec=f"writable: [{cache}]\n")
    result = evaluate(target, None, tmp_path / "run", EvalSettings(BudgetConfig(1.0), threads=1))
    assert result.status is Status.OK, result.reason
    assert f"{cache} written" in result.log_tail and f"{other} OSError" in result.log_tail
    assert (cache / "file").is_file() and not (other / "file").exists()  # made for the bind, then written


@sandboxed
def test_a_run_whose_candidates_attack_its_ledger_completes_with_the_ledger_intact(tmp_path: Path) -> None:
    target = tmp_path / "target"
    shutil.copytree(SURROGATE, target)
    train = target / "train.py"
    attack = """
        import pathlib
        for folder in pathlib.Path.cwd().parents:
            if not (folder / "ledger.sqlite").is_file():  # not the run's directory
                continue
            for victim in (folder / "ledger.sqlite", folder / "config.yaml", folder / "planted"):
                try:
                    victim.write_bytes(b"overwritten by a candidate")
                    print("ATTACK succeeded on", victim)
                except OSError as exc:
                    print("ATTACK blocked:", exc.strerror)
    """
    body = textwrap.indent(textwrap.dedent(attack).strip(), "    ")
    train.write_text(train.read_text().replace("def main() -> None:", f"def main() -> None:\n{body}", 1))
    overrides = run_overrides(tmp_path, f"target={target}", "executor.sandbox=required")
    done = evo("run", str(CONFIG), *overrides, cwd=tmp_path, env=offline_env())
    assert done.returncode == 0, done.stderr
    root = tmp_path / "runs" / "surrogate"
    assert not list(root.rglob("planted"))
    with sqlite3.connect(root / "ledger.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with Ledger(root / "ledger.sqlite") as ledger:
        individuals = ledger.all()
    assert len(individuals) == 12 and all(i.status == "ok" for i in individuals)
    logs = "".join(path.read_text() for path in root.rglob("log.txt"))
    assert "ATTACK blocked: Read-only file system" in logs and "ATTACK succeeded" not in logs


UNSANDBOXED = """
from pathlib import Path
from evo.config import BudgetConfig
from evo.errors import EvoError
from evo.evaluation.sandbox import sandbox_prefix
assert sandbox_prefix("off", [Path.cwd()], False) == ()
assert sandbox_prefix("auto", [Path.cwd()], False) == ()
assert sandbox_prefix("auto", [Path.cwd()], True) == ()
try:
    sandbox_prefix("required", [Path.cwd()], False)
except EvoError as exc:
    print(exc)
"""


def test_without_bubblewrap_auto_says_so_once_and_required_refuses_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # no bwrap on it
    done = subprocess.run(
        [sys.executable, "-c", UNSANDBOXED], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    said = done.stderr.strip().splitlines()
    assert len(said) == 1 and said[0].startswith("evo: candidates run without a sandbox, able to write your files")
    assert done.stdout.startswith("executor.sandbox is required but candidates cannot be sandboxed here: ")
    assert len(done.stdout.strip().splitlines()) == 1


def test_network_in_target_yaml_is_true_or_false(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print('hi')\n")
    (tmp_path / "target.yaml").write_text("network: true\n")
    assert load_target(tmp_path).network
    (tmp_path / "target.yaml").write_text("network: yes please\n")
    with pytest.raises(EvoError, match="key 'network' must be true or false, got 'yes please'"):
        load_target(tmp_path)
