"""Faults in candidate code are contained and reported: each ends as a status with a one-line reason."""

from __future__ import annotations

import gc
import itertools
import os
import secrets
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from evo.config import BudgetConfig
from evo.errors import EvoError
from evo.evaluation import EvalSettings, evaluate
from evo.evaluation.monitor import Action
from evo.evaluation.proctree import COOKIE_VAR, cpu_seconds, kill_everything, process_tree, survivors, with_env
from evo.evaluation.result import Status
from evo.evaluation.target import TargetSpec

Make = Callable[..., TargetSpec]


def alive(pid: int) -> bool:
    """True if `pid` is a live process (a zombie awaiting its reaper counts as dead)."""
    try:
        return psutil.Process(pid).status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.Error:
        return False


def test_a_good_candidate_is_ok_with_its_curve_and_summary(make_target: Make, quick: EvalSettings, tmp_path: Path):
    result = evaluate(make_target(), None, tmp_path / "run", quick)
    assert result.status is Status.OK, result.reason
    assert result.metric == result.summary["val_bpb"]
    assert len(result.curve) >= 10
    assert all(b[0] >= a[0] for a, b in itertools.pairwise(result.curve))
    assert result.curve[-1][1] < result.curve[0][1]
    assert (
        (tmp_path / "run" / "log.txt")
        .read_text()
        .rstrip()
        .endswith("num_steps:        " + str(int(result.summary["num_steps"])))
    )


def test_syntax_error_is_a_crash_with_the_error_kept(make_target: Make, quick: EvalSettings, tmp_path: Path):
    target = make_target()
    result = evaluate(target, {"train.py": "def broken(:\n    pass\n"}, tmp_path / "run", quick)
    assert result.status is Status.CRASH
    assert "SyntaxError" in result.reason
    assert result.metric is None


def test_exception_mid_training_is_a_crash_that_keeps_the_curve(make_target: Make, quick: EvalSettings, tmp_path):
    train = """
    import time
    for step in range(5):
        print(f"step {step:05d} ({step * 10:.1f}%) | loss: {2.0 - step * 0.1:.6f}", flush=True)
        time.sleep(0.02)
    raise RuntimeError("CUDA out of memory (simulated)")
    """
    result = evaluate(make_target(train), None, tmp_path / "run", quick)
    assert result.status is Status.CRASH
    assert result.reason == "exit 1: RuntimeError: CUDA out of memory (simulated)"
    assert "Traceback" in result.log_tail
    assert len(result.curve) == 5


def test_a_silent_endless_loop_times_out_at_the_hard_limit(make_target: Make, quick: EvalSettings, tmp_path: Path):
    result = evaluate(make_target("while True:\n    pass\n"), None, tmp_path / "run", quick)
    assert result.status is Status.TIMEOUT
    assert quick.hard_limit <= result.wall_seconds < quick.hard_limit + 3
    assert "hard limit of 5 s" in result.reason


def test_nan_metric_is_invalid(make_target: Make, quick: EvalSettings, tmp_path: Path):
    train = 'print("step 00001 (50.0%) | loss: nan")\nprint("---")\nprint("val_bpb:          nan")\n'
    result = evaluate(make_target(train), None, tmp_path / "run", quick)
    assert result.status is Status.INVALID
    assert result.reason == "val_bpb is nan"
    assert result.metric is None


def test_missing_metric_is_invalid(make_target: Make, quick: EvalSettings, tmp_path: Path):
    result = evaluate(make_target('print("---")\nprint("loss: 1.0")\n'), None, tmp_path / "run", quick)
    assert result.status is Status.INVALID
    assert result.reason == "no val_bpb in the summary block"


def test_an_output_flood_leaves_the_log_capped(make_target: Make, quick: EvalSettings, tmp_path: Path):
    train = """
    import sys, time
    end = time.time() + 1.0
    line = "x" * 200 + "\\n"
    while time.time() < end:
        sys.stdout.write(line * 100)
    sys.stdout.write("no newline here " * 10000)
    print("\\n---\\nval_bpb: 1.5")
    """
    settings = replace(quick, log_bytes=64 * 1024)
    result = evaluate(make_target(train), None, tmp_path / "run", settings)
    log = (tmp_path / "run" / "log.txt").read_bytes()
    assert len(log) <= 64 * 1024 + 100
    assert b"bytes of output omitted" in log
    assert result.status is Status.OK and result.metric == 1.5


SPAWNER = """
import os, signal, sys, time
pids = []
for escape in (False, True):
    pid = os.fork()
    if pid == 0:
        if escape:
            os.setsid()  # leave the candidate's process group, as a daemon would
            if os.fork():  # and orphan a grandchild, as double-forking daemons do
                os._exit(0)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with open("pids.txt", "a") as f:
            f.write(f"{os.getpid()}\\n")
        while True:
            time.sleep(0.1)
    pids.append(pid)
time.sleep(0.5)
print("children started", flush=True)
MODE
"""


@pytest.mark.parametrize("mode", ["while True: time.sleep(1)", "sys.exit(0)"])
def test_children_that_ignore_sigterm_or_escape_the_group_do_not_survive(
    make_target: Make, quick: EvalSettings, tmp_path: Path, mode: str
):
    mark = secrets.token_hex(8)  # the children's pids may be a sandbox's own: they are found by their environment
    settings = replace(quick, env={"EVO_TEST_MARK": mark})
    result = evaluate(make_target(SPAWNER.replace("MODE", mode)), None, tmp_path / "run", settings)
    assert len((tmp_path / "run" / "workspace" / "pids.txt").read_text().split()) == 2
    time.sleep(0.2)
    assert not [p for p in psutil.process_iter(["environ"]) if (p.info["environ"] or {}).get("EVO_TEST_MARK") == mark]
    assert result.status is (Status.TIMEOUT if "while" in mode else Status.INVALID)
    assert not result.notes


FAMILY = """
import os, time

def report(name):
    os.write(1, f"{name} {os.getpid()}\\n".encode())  # one write, which a pipe keeps whole

def fork(body):
    pid = os.fork()
    if pid == 0:
        body()
        os._exit(0)

def stay(name):
    report(name)
    while True:
        time.sleep(1)

def hoard():  # in the group, holding 64 MiB
    ballast = b"x" * (64 << 20)
    stay("hoard")

def own_group():  # leaves the group but stays a descendant, and starts a grandchild there
    os.setpgid(0, 0)
    fork(lambda: stay("grandchild"))
    stay("own_group")

def daemon():  # leaves the session, and its child is orphaned: only the cookie finds that one
    os.setsid()
    report("session_leader")  # then exits and is never reaped
    fork(lambda: stay("daemon"))

fork(lambda: report("zombie"))  # exits at once and is never reaped
fork(hoard)
fork(own_group)
fork(daemon)
stay("root")
"""


@pytest.mark.parametrize("parents", ["read at once", "asked one by one"])
def test_the_process_tree_is_found_measured_and_killed_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parents: str
):
    """proctree itself: the group and the memory it holds, descendants that left it, a daemon that left the session
    (by the cookie), zombies as gone; "asked one by one" is the path for a process whose parent may not be read."""

    def refuse(*_: object, **__: object) -> list[psutil.Process]:
        raise psutil.AccessDenied()

    if parents == "asked one by one":
        monkeypatch.setattr(psutil.Process, "children", refuse)
    cookie = secrets.token_hex(8)
    (tmp_path / "family.py").write_text(textwrap.dedent(FAMILY))
    root = subprocess.Popen(
        [sys.executable, "family.py"],
        cwd=tmp_path,
        env={**os.environ, COOKIE_VAR: cookie},
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert root.stdout is not None
        pids = {name: int(pid) for name, pid in (root.stdout.readline().split() for _ in range(7))}
        deadline = time.monotonic() + 5
        while (alive(pids["zombie"]) or alive(pids["session_leader"])) and time.monotonic() < deadline:
            time.sleep(0.01)
        tree = {p.pid: p for p in process_tree(root.pid)}
        family = {pids[name] for name in ("root", "hoard", "own_group", "grandchild")}
        assert set(tree) == family
        assert tree[pids["hoard"]].pgrp == root.pid and tree[pids["hoard"]].rss_bytes >= 64 << 20
        assert tree[pids["grandchild"]].pgrp == tree[pids["grandchild"]].ppid == pids["own_group"]
        assert with_env(COOKIE_VAR, cookie) == survivors(root.pid, cookie) == family | {pids["daemon"]}
        assert cpu_seconds(root.pid) is not None and cpu_seconds(pids["zombie"]) is None
        assert kill_everything(root.pid, cookie) == set()
        assert not [name for name, pid in pids.items() if alive(pid)]
    finally:
        kill_everything(root.pid, cookie, patience=1.0)
        root.wait()
        assert root.stdout is not None
        root.stdout.close()


def test_a_memory_hog_is_killed_at_the_limit(make_target: Make, quick: EvalSettings, tmp_path: Path):
    train = """
    import time
    hoard = []
    while True:
        hoard.append(b"x" * (20 << 20))  # 20 MiB of touched pages at a time
        time.sleep(0.01)
    """
    limited = replace(quick, budget=replace(quick.budget, memory_mb=300))
    result = evaluate(make_target(train), None, tmp_path / "run", limited)
    assert result.status is Status.CRASH
    assert result.reason == "memory limit of 300 MB exceeded"
    assert 300 <= result.peak_rss_mb < 1500
    assert result.wall_seconds < quick.hard_limit


@pytest.mark.parametrize(
    "tamper",
    [
        'open("helper.py", "a").write("SCALE = 0.0\\n")',
        'import os; open("helper2.py", "w").write("SCALE = 0.0\\n"); os.replace("helper2.py", "helper.py")',
        # modify, then restore the exact bytes and mtime: only the inode change time gives it away
        'import os; s = os.stat("helper.py"); b = open("helper.py").read(); open("helper.py", "w").write("X = 1");'
        ' open("helper.py", "w").write(b); os.utime("helper.py", ns=(s.st_atime_ns, s.st_mtime_ns))',
        'import os; os.remove("helper.py")',
    ],
)
def test_a_candidate_that_touches_a_locked_file_is_invalid(
    make_target: Make, quick: EvalSettings, tmp_path: Path, tamper: str
):
    train = tamper + '\nprint("---")\nprint("val_bpb: 0.001")\n'
    result = evaluate(make_target(train), None, tmp_path / "run", quick)
    assert result.status is Status.INVALID
    assert result.reason == "locked file helper.py was modified during the run"


def test_a_candidate_that_supplies_a_locked_file_is_rejected(make_target: Make, quick: EvalSettings, tmp_path: Path):
    target = make_target()
    with pytest.raises(EvoError, match=r"'helper\.py' is locked"):
        evaluate(target, {"train.py": "pass\n", "helper.py": "SCALE = 0\n"}, tmp_path / "run", quick)


def test_a_changed_original_target_is_caught_before_the_run(make_target: Make, quick: EvalSettings, tmp_path: Path):
    target = make_target()
    (target.root / "helper.py").write_text("SCALE = 0.0\n")
    with pytest.raises(EvoError, match="changed since the target was loaded"):
        evaluate(target, None, tmp_path / "run", quick)


def test_a_monitor_stop_prunes_the_run_and_frees_the_slot_at_once(make_target: Make, tmp_path: Path):
    class StopAfterHalf:
        def __init__(self) -> None:
            self.stopped_at: float | None = None

        def update(self, t: float, value: float) -> Action:
            if t >= 1.0:
                self.stopped_at = time.monotonic()
                return Action.STOP
            return Action.CONTINUE

    monitor = StopAfterHalf()
    settings = EvalSettings(BudgetConfig(4.0, startup_grace=2.0, eval_grace=2.0), threads=1)
    result = evaluate(make_target(), None, tmp_path / "run", settings, monitor)
    assert result.status is Status.PRUNED
    assert monitor.stopped_at is not None
    assert time.monotonic() - monitor.stopped_at < 2.0  # SIGTERM is obeyed at once by a plain Python loop
    assert result.curve[-1][0] == pytest.approx(1.0, abs=0.3)
    assert result.wall_seconds < settings.budget.seconds  # stopped well before its budget ran out


def test_secrets_in_the_environment_never_reach_the_candidate(
    make_target: Make, quick: EvalSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-do-not-leak-12345")
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-do-not-leak-67890")
    train = 'import os\nprint(dict(os.environ))\nprint("---")\nprint("val_bpb: 1.0")\n'
    result = evaluate(make_target(train), None, tmp_path / "run", quick)
    assert result.status is Status.OK
    log = (tmp_path / "run" / "log.txt").read_text()
    assert "EVO_TIME_BUDGET" in log
    assert "do-not-leak" not in log


def test_settings_reach_the_candidate_environment(make_target: Make, tmp_path: Path):
    train = """
    import os
    print("---")
    for key in ("EVO_TIME_BUDGET", "EVO_SEED", "EVO_BUDGET_CLOCK", "EVO_THREADS", "OMP_NUM_THREADS", "EVO_DEVICE",
                "CUDA_VISIBLE_DEVICES", "EVO_CORPUS"):
        print(f"{key}: {os.environ.get(key)}")
    print("val_bpb: 1.0")
    """
    settings = EvalSettings(
        BudgetConfig(2.5, "cpu"), seed=7, threads=3, device="cpu", gpus="1", env={"EVO_CORPUS": "synthetic"}
    )
    result = evaluate(make_target(train), None, tmp_path / "run", settings)
    assert result.summary == {
        "EVO_TIME_BUDGET": 2.5,
        "EVO_SEED": 7.0,
        "EVO_BUDGET_CLOCK": "cpu",
        "EVO_THREADS": 3.0,
        "OMP_NUM_THREADS": 3.0,
        "EVO_DEVICE": "cpu",
        "CUDA_VISIBLE_DEVICES": 1.0,
        "EVO_CORPUS": "synthetic",
        "val_bpb": 1.0,
    }


def test_death_by_signal_is_a_crash_that_names_the_signal(make_target: Make, quick: EvalSettings, tmp_path: Path):
    train = "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n"
    result = evaluate(make_target(train), None, tmp_path / "run", quick)
    assert result.status is Status.CRASH
    assert result.reason == "killed by SIGSEGV"


def test_the_workspace_and_the_target_are_separate(make_target: Make, quick: EvalSettings, tmp_path: Path):
    target = make_target()
    evaluate(
        target, {"train.py": 'open("out.txt", "w").write("x")\nprint("---\\nval_bpb: 1")\n'}, tmp_path / "run", quick
    )
    assert (tmp_path / "run" / "workspace" / "out.txt").exists()
    assert not (target.root / "out.txt").exists()
    assert os.path.getsize(target.root / "train.py") > 100  # the original editable file is untouched


def test_many_candidates_in_threads_never_lose_a_descriptor(make_target: Make, quick: EvalSettings, tmp_path: Path):
    """Regression: closing a candidate's stdout by number let the file object's finaliser close it a second time,
    after another thread's candidate had been given the same number (EBADF/EINVAL in the other's selector)."""
    target = make_target('print("step 1 (50.0%) | loss: 1.0")\nprint("---")\nprint("val_bpb: 1.0")\n')

    # 8 interpreters starting at once on 2 cores: no timeouts
    settings = replace(quick, budget=replace(quick.budget, startup_grace=30.0))

    def one(i: int) -> str:
        result = evaluate(target, None, tmp_path / f"run{i}", settings)
        gc.collect()  # finalise the dead candidates' file objects while others are running
        return result.status.value

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(one, range(160))) == ["ok"] * 160
