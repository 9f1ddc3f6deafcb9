"""`evo eval` as a user runs it: a subprocess, human and JSON output, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from evo.evaluation.target import TargetSpec

from .conftest import GOOD_TRAIN

FAST = ["--budget", "1", "--startup-grace", "3", "--eval-grace", "3", "--threads", "1"]


def evo(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evo", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_eval_prints_status_metric_summary_and_curve_length(make_target: Callable[..., TargetSpec], tmp_path: Path):
    target = make_target()
    done = evo("eval", str(target.root), *FAST, "--seed", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("candidate  train.py   budget 1 s (wall clock)   seed 3")
    assert lines[1] == "status     ok"
    assert lines[2].startswith("val_bpb    1.")
    assert "num_steps=" in lines[3]
    assert lines[4].startswith("curve      ") and int(lines[4].split()[1]) >= 10
    log = Path(lines[-1].split()[-1])
    assert log.is_file() and log.parent.parent == tmp_path / "runs"
    assert json.loads((log.parent / "result.json").read_text())["status"] == "ok"


def test_eval_json_holds_the_whole_result_and_file_replaces_the_editable(
    make_target: Callable[..., TargetSpec], tmp_path: Path
):
    target = make_target()
    candidate = tmp_path / "candidate.py"
    candidate.write_text(GOOD_TRAIN.replace("1.0 + 1.0 / step", "0.5"))
    done = evo("eval", str(target.root), "--file", str(candidate), "--json", "--out", "out", *FAST, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "ok" and result["metric"] == 0.5
    assert len(result["curve"]) >= 10 and len(result["curve"][0]) == 2
    assert result["budget"] == 1.0 and result["seed"] == 0 and result["clock"] == "wall"
    assert (tmp_path / "out" / "workspace" / "train.py").read_text() == candidate.read_text()


def test_a_crashing_candidate_exits_1_and_shows_the_error_tail(make_target: Callable[..., TargetSpec], tmp_path: Path):
    target = make_target("import math\nmath.sqrt(-1)\n")
    done = evo("eval", str(target.root), *FAST, cwd=tmp_path)
    assert done.returncode == 1
    assert "status     crash   exit 1: ValueError: math domain error" in done.stdout
    assert "Traceback" in done.stdout


def test_bad_input_is_one_line_on_stderr_with_exit_2(make_target: Callable[..., TargetSpec], tmp_path: Path):
    target = make_target()
    for args, message in [
        (["eval", str(tmp_path / "absent")], "evo: error: target directory"),
        (["eval", str(target.root), "--file", "nope.py"], "evo: error: --file 'nope.py': no such file"),
    ]:
        done = evo(*args, cwd=tmp_path)
        assert done.returncode == 2
        assert done.stderr.startswith(message) and done.stderr.count("\n") == 1
    done = evo("eval", str(target.root), "--budget", "-3", cwd=tmp_path)
    assert done.returncode == 2 and "must be positive" in done.stderr
