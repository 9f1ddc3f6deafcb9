"""Searches on a real Ray cluster of several nodes (`ray.cluster_utils.Cluster`): end to end, with a worker node
killed mid-evaluation, and with the coordinator killed and resumed; plus the run lock and the one-line errors.

Ray puts the machine's own address where it is told 127.0.0.1, and test traffic may only reach loopback, so every
cluster starts inside a network namespace of its own where only loopback exists: each test's Ray part is a driver
script run under `unshare -rn` (after `ip link set lo up`), which prints what the test checks as JSON lines.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from evo.evaluation.proctree import with_env
from evo.search import RUN_MARK
from population.ledger import Ledger
from population.store import GitStore

from .conftest import REPO

try:
    import ray
except ImportError:
    ray = None


def _can_unshare() -> bool:
    if not (shutil.which("unshare") and shutil.which("ip")):
        return False
    probe = subprocess.run(["unshare", "-rn", "sh", "-c", "ip link set lo up"], capture_output=True)
    return probe.returncode == 0


NETNS = _can_unshare()
needs_cluster = pytest.mark.skipif(
    ray is None or not NETNS,
    reason="needs Ray (pip install -e '.[test]') and a private network namespace (unshare -rn, ip from iproute2)",
)

PRELUDE = """
import json, os, signal, subprocess, sys, threading, time
from pathlib import Path
from ray.cluster_utils import Cluster

REPO = Path(sys.argv[2])
RUNS = Path(sys.argv[1])
def emit(**data):
    print("RESULT " + json.dumps(data), flush=True)

def overrides(address, *extra):
    return [f"runs_dir={RUNS}", f"target={REPO / 'benchmarks' / 'surrogate'}", "executor.kind=ray",
            f"executor.address={address}", "population.size=4", *extra]
"""


def in_netns(script: str, runs: Path, timeout: float = 240) -> tuple[list[dict], str]:
    """Run a driver script in a private network namespace; the JSON it emitted, and its stderr's end."""
    ray_tmp = tempfile.mkdtemp(prefix="evoray-", dir="/tmp")  # short: Ray's socket paths must fit
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    env.update(RAY_TMPDIR=ray_tmp, EVO_CACHE_DIR=str(runs.parent / "cache"))
    command = ["unshare", "-rn", "sh", "-c", 'ip link set lo up && exec "$0" "$@"', sys.executable, "-c"]
    try:
        done = subprocess.run(
            [*command, PRELUDE + script, str(runs), str(REPO)], env=env, capture_output=True, text=True, timeout=timeout
        )
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    results = [json.loads(line[7:]) for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return results, done.stderr[-3000:]


def consistent(root: Path) -> list:
    """The ledger and the git store agree, and every finished individual was evaluated exactly once; the records."""
    with Ledger(root / "ledger.sqlite") as ledger, GitStore(root / "git", ("train.py",)) as store:
        individuals = ledger.all()
        assert store.check(individuals) == []
        assert len({i.id for i in individuals}) == len(individuals)
        evaluated = [e.individual for e in ledger.evaluations()]
        assert sorted(evaluated) == sorted(i.id for i in individuals if i.is_finished)
        assert all(i.is_finished for i in individuals)
        assert all((root / "individuals" / i.id / "log.txt").is_file() for i in individuals)  # logs came home
        return ledger.evaluations()


END_TO_END = """
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
for _ in range(2):
    cluster.add_node(num_cpus=1)
cluster.wait_for_nodes()
from evo.config import load_config
from evo.search import Coordinator, start
config = load_config(REPO / "configs" / "surrogate.yaml", overrides(cluster.address,
    "env={EVO_SURROGATE_SECONDS: '0.2'}", "slots.count=auto", "stop.evaluations=14", "early_stop.enabled=true",
    "calibration.runs=3"))
outcome = Coordinator(start(config)).run()
emit(stop=outcome.stop_reason, finished=outcome.finished, failure=outcome.failure)
"""


@needs_cluster
def test_a_population_search_runs_end_to_end_on_a_three_node_cluster(tmp_path: Path) -> None:
    (result,), _ = in_netns(END_TO_END, tmp_path / "runs")
    assert result == {"stop": "14 evaluations", "finished": 14, "failure": ""}
    evaluations = consistent(tmp_path / "runs" / "surrogate")
    nodes = {e.result["info"]["ray_node"] for e in evaluations}
    assert len(nodes) >= 2, "the candidates ran on several nodes"
    with Ledger(tmp_path / "runs" / "surrogate" / "ledger.sqlite") as ledger:
        assert ledger.events("noise_model"), "the calibration ran through the cluster too"
        assert all(e.result["log_tail"] for e in evaluations)


NODE_DIES = """
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
workers = [cluster.add_node(num_cpus=2) for _ in range(2)]
cluster.wait_for_nodes()
from evo.config import load_config
from evo.search import Coordinator, start
from population.ledger import Ledger
config = load_config(REPO / "configs" / "surrogate.yaml", overrides(cluster.address,
    "env={EVO_SURROGATE_SECONDS: '3.0'}", "slots.count=4", "stop.evaluations=12", "executor.retries=2"))
root = start(config)
outcome = {}
runner = threading.Thread(target=lambda: outcome.update(done=Coordinator(root).run()))
runner.start()
running = 0
while running < 3 and runner.is_alive():  # wait until candidates run on both workers
    time.sleep(0.2)
    if (root / "ledger.sqlite").is_file():
        with Ledger(root / "ledger.sqlite") as ledger:
            running = len(ledger.with_status("running"))
cluster.remove_node(workers[0])  # a worker node dies mid-evaluation
cluster.add_node(num_cpus=2)  # and a fresh one joins
runner.join(timeout=180)
emit(stop=outcome["done"].stop_reason, finished=outcome["done"].finished, running_when_killed=running)
"""


@needs_cluster
def test_a_worker_node_killed_mid_evaluation_loses_no_candidate(tmp_path: Path) -> None:
    (result,), _ = in_netns(NODE_DIES, tmp_path / "runs")
    assert result["stop"] == "12 evaluations" and result["finished"] == 12 and result["running_when_killed"] >= 3
    evaluations = consistent(tmp_path / "runs" / "surrogate")
    rerun = [e for e in evaluations if any("its worker or node died" in n for n in e.result["notes"])]
    assert rerun, "the candidates of the dead node were run again"
    assert all(e.status != "crash" for e in evaluations)


COORDINATOR_DIES = """
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
cluster.add_node(num_cpus=2)
cluster.wait_for_nodes()
args = [*overrides(cluster.address, "env={EVO_SURROGATE_SECONDS: '2.0'}", "slots.count=3", "stop.evaluations=12")]
run = subprocess.Popen([sys.executable, "-m", "evo", "run", str(REPO / "configs" / "surrogate.yaml"), *args],
                       stderr=subprocess.PIPE, text=True)
for line in run.stderr:
    if line.startswith("0002 "):  # candidates are running on the cluster now
        break
run.send_signal(signal.SIGKILL)
run.wait()
root = RUNS / "surrogate"
resumed = subprocess.run([sys.executable, "-m", "evo", "resume", str(root)], capture_output=True, text=True)
from population.ledger import Ledger
with Ledger(root / "ledger.sqlite") as ledger:
    strays = sum(e.data.get("killed_strays", 0) for e in ledger.events("resume"))
emit(killed=run.returncode, resumed=resumed.returncode, stderr=resumed.stderr[-1500:], strays=strays)
"""


@needs_cluster
def test_a_killed_coordinator_on_a_cluster_resumes_where_it_stopped(tmp_path: Path) -> None:
    (result,), _ = in_netns(COORDINATOR_DIES, tmp_path / "runs")
    assert result["killed"] == -signal.SIGKILL
    assert result["resumed"] == 0, result["stderr"]
    root = tmp_path / "runs" / "surrogate"
    with Ledger(root / "ledger.sqlite") as ledger:
        run_id = ledger.get_meta("run_id")
        assert len(ledger.all()) >= 12
    consistent(root)
    assert not with_env(RUN_MARK, run_id)  # no candidate of the run outlived its coordinators


def test_a_second_coordinator_on_a_live_run_is_refused_and_the_live_run_goes_on(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    overrides = [
        f"runs_dir={tmp_path / 'runs'}",
        f"target={REPO / 'benchmarks' / 'surrogate'}",
        "env={EVO_SURROGATE_SECONDS: '2.0'}",  # ~10 s: still live when the second one starts, on a busy machine too
        "slots.count=2",
        "stop.evaluations=10",
    ]
    live = subprocess.Popen(
        [sys.executable, "-m", "evo", "run", str(REPO / "configs" / "surrogate.yaml"), *overrides],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert live.stderr is not None
    for line in live.stderr:
        if line.startswith("0000 "):
            break
    root = tmp_path / "runs" / "surrogate"
    second = subprocess.run([sys.executable, "-m", "evo", "resume", str(root)], capture_output=True, text=True, env=env)
    rest = live.stderr.read()
    assert live.wait(timeout=120) == 0, rest
    assert second.returncode == 2
    (error,) = [line for line in second.stderr.splitlines() if line.startswith("evo: error:")]
    assert f"{root} is live: coordinator pid {live.pid} on {socket.gethostname()}" in error
    assert "a second coordinator is refused" in error
    with Ledger(root / "ledger.sqlite") as ledger:
        assert len(ledger.all()) == 10 and all(i.is_finished for i in ledger.all())
        assert not ledger.events("resume")  # the refused one never touched it


def test_ray_errors_are_one_line_naming_the_address_or_the_install_command(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = [sys.executable, "-m", "evo", "run", str(REPO / "configs" / "surrogate.yaml"), f"runs_dir={tmp_path}"]
    target = f"target={REPO / 'benchmarks' / 'surrogate'}"
    dead = subprocess.run([*base, target, "executor.kind=ray", f"executor.address=127.0.0.1:{port}"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert dead.returncode == 2
    assert (
        dead.stderr.strip()
        .splitlines()[-1]
        .startswith(f"evo: error: executor.address '127.0.0.1:{port}': no Ray cluster answers there")
    )
    blocked = "import sys; sys.modules['ray'] = None; from evo.cli.main import main; sys.exit(main(sys.argv[1:]))"
    missing = subprocess.run(
        [sys.executable, "-c", blocked, *base[3:], target, "executor.kind=ray"], capture_output=True, text=True
    )
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1] == (
        "evo: error: executor.kind ray needs Ray: pip install 'evo-research[ray]' (or pip install ray)"
    )
