"""`evo bench` and `evo sweep`: plans read from their files (errors name file, line and key), sweeps expanded, and a
small bench run end to end through the CLI, killed with SIGKILL and finished by `evo resume`."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from evo.bench.plan import load_bench, load_sweep
from evo.bench.runner import _claimed_share, _share_of, run_dirs
from evo.config import load_config
from evo.errors import EvoError
from evo.evaluation.proctree import with_env
from evo.reporting.run_data import load_run
from evo.search import RunPaths, session_config, start
from population.ledger import Ledger

from .conftest import REPO

SURROGATE = REPO / "benchmarks" / "surrogate"
BASE = REPO / "configs" / "surrogate.yaml"


def write(tmp_path: Path, text: str, name: str = "bench.yaml") -> Path:
    path = tmp_path / name
    text = textwrap.dedent(text).replace("BASE", str(BASE)).replace("RUNS", str(tmp_path / "runs"))
    path.write_text(text.replace("TARGET", str(SURROGATE)))
    return path


BENCH = """\
    base: BASE
    seeds: 2
    runs_dir: RUNS
    overrides: [target=TARGET, slots.count=1, stop.evaluations=null, stop.train_seconds=2400,
                'env.EVO_SURROGATE_SECONDS="0.05"']
    arms:
      - {name: ratchet, overrides: [mode=ratchet]}
      - {name: population, overrides: [mode=population, population.size=4]}
    """


def test_a_bench_file_resolves_into_arms_that_share_the_compute(tmp_path: Path) -> None:
    plan = load_bench(write(tmp_path, BENCH))
    assert plan.kind == "bench" and plan.name == "bench" and plan.seeds == 2
    assert [arm.name for arm in plan.arms] == ["ratchet", "population"]
    for arm in plan.arms:
        assert arm.overrides[:5] == (
            f"target={SURROGATE}",
            "slots.count=1",
            "stop.evaluations=null",
            "stop.train_seconds=2400",
            'env.EVO_SURROGATE_SECONDS="0.05"',
        )
    assert plan.arms[1].overrides[5:] == ("mode=population", "population.size=4")
    assert list(plan.seed_list) == [0, 1]
    later = load_bench(write(tmp_path, BENCH.replace("seeds: 2", "seeds: 3\n    first_seed: 5")))
    assert list(later.seed_list) == [5, 6, 7]
    assert [d.name for d in run_dirs(tmp_path, later)["ratchet"]] == ["ratchet-seed5", "ratchet-seed6", "ratchet-seed7"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("seeds: 2", "seeds: 1"), "line 2: key 'seeds' must be an integer >= 2, got 1"),
        (("seeds: 2", "sedes: 2"), "line 2: unknown key 'sedes' (did you mean 'seeds'?)"),
        (("base: BASE", "base: nowhere.yaml"), "key 'base' names 'nowhere.yaml', which is not a file"),
        (("mode=ratchet]", "mode=greedy]"), "arms[0] (ratchet): override 'mode=greedy': key 'mode' must be one of"),
        (("population.size=4", "population.tournament=9"), "arms[1] (population): override 'population.tournament"),
        (("{name: population,", "{name: ratchet,"), "arms[1]: the name 'ratchet' is used twice"),
        (("{name: ratchet, overrides", "{overrides"), "line 7: key 'arms[0].name' is required"),
        (("target=TARGET", "target=/nowhere"), "target directory '/nowhere' not found"),
    ],
)
def test_a_bad_bench_file_is_one_line_naming_what_is_wrong(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = write(tmp_path, BENCH.replace(*change))
    with pytest.raises(EvoError) as info:
        load_bench(path)
    text = str(info.value)
    assert "\n" not in text and message in text and str(path) in text


SWEEP = """\
    base: BASE
    seeds: 2
    overrides: [mode=population, stop.evaluations=8, target=TARGET]
    space:
      - {key: population.size, values: [2, 4]}
      - {key: population.tournament, values: [2, 4]}
      - {key: early_stop.alpha, values: [0.05]}
    """


def test_a_grid_sweep_takes_every_combination_and_skips_those_the_config_refuses(tmp_path: Path) -> None:
    plan = load_sweep(write(tmp_path, SWEEP, "sweep.yaml"))
    assert plan.kind == "sweep" and plan.seeds == 2
    assert [arm.name for arm in plan.arms] == [
        "size=2 tournament=2 alpha=0.05",
        "size=4 tournament=2 alpha=0.05",
        "size=4 tournament=4 alpha=0.05",
    ]
    assert plan.arms[2].overrides == (
        "mode=population",
        "stop.evaluations=8",
        f"target={SURROGATE}",
        "population.size=4",
        "population.tournament=4",
        "early_stop.alpha=0.05",
    )
    assert len(plan.skipped) == 1
    assert plan.skipped[0].startswith("size=2 tournament=4 alpha=0.05: ")
    assert "'population.tournament' must be <= population.size (2), got 4" in plan.skipped[0]


def test_a_random_sweep_draws_within_its_ranges_and_repeats_for_the_same_seed(tmp_path: Path) -> None:
    text = """\
        base: BASE
        method: random
        samples: 6
        sample_seed: 3
        overrides: [stop.evaluations=8, target=TARGET]
        space:
          - {key: population.size, low: 4, high: 32, log: true, integer: true}
          - {key: early_stop.delta, low: 0.5, high: 3}
          - {key: population.crossover_rate, values: [0.0, 0.5]}
        """
    first = load_sweep(write(tmp_path, text, "random.yaml"))
    again = load_sweep(write(tmp_path, text, "random.yaml"))
    other = load_sweep(write(tmp_path, text.replace("sample_seed: 3", "sample_seed: 4"), "random.yaml"))
    assert first == again and first != other
    assert 2 <= len(first.arms) <= 6
    for arm in first.arms:
        values = dict(o.split("=", 1) for o in arm.overrides[2:])
        assert 4 <= int(values["population.size"]) <= 32
        assert 0.5 <= float(values["early_stop.delta"]) <= 3
        assert values["population.crossover_rate"] in ("0.0", "0.5")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("space: [{key: population.size, low: 2, high: 8}]", "a grid needs listed values"),
        ("space: [{key: population.size}]", "give either values or low and high"),
        ("method: random\nspace: [{key: population.size, values: [4, 8]}]", "key 'samples' must be set"),
        ("space: [{key: population.size, values: [1, 2]}]", "1 valid setting(s), at least 2 are needed"),
        ("space: [{key: population.sise, values: [4, 8]}]", "did you mean 'population.size'"),
    ],
)
def test_a_bad_sweep_file_is_one_line_naming_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, f"base: BASE\noverrides: [target=TARGET]\n{text}\n", "sweep.yaml")
    with pytest.raises(EvoError) as info:
        load_sweep(path)
    assert "\n" not in str(info.value) and message in str(info.value)


def evo(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "evo", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def individuals(run_dir: Path) -> int:
    if not (run_dir / "ledger.sqlite").is_file():
        return 0
    with Ledger(run_dir / "ledger.sqlite") as ledger:
        return len(ledger.all())


def test_a_bench_killed_with_sigkill_is_finished_by_resume_at_equal_compute(tmp_path: Path) -> None:
    path = write(tmp_path, BENCH)
    root = tmp_path / "runs" / "bench"
    process = evo("bench", str(path), "--jobs", "2", cwd=tmp_path)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and max(map(individuals, (root / "runs").glob("*")), default=0) < 3:
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)  # the coordinator only: its joblib workers are orphaned, still searching
    process.wait()
    resumed = evo("resume", str(root), cwd=tmp_path)
    output = resumed.communicate(timeout=600)[0]
    assert resumed.returncode == 0, output
    assert "left running by the previous session" in output
    assert not with_env("EVO_BENCH", str(root.resolve()))
    plan = load_bench(path)
    dirs = run_dirs(root, plan)
    baselines = {}
    for arm, runs in dirs.items():
        assert len(runs) == 2
        for seed, run_dir in enumerate(runs):
            run = load_run(run_dir)
            assert run.mode == arm
            assert all(i.is_finished for i in run.individuals)
            spent = sum(i.budget_seconds for i in run.individuals)
            assert 2400 <= spent < 2400 + 300  # the limit, overshot by at most the one candidate in flight
            baselines.setdefault(seed, set()).add(run.baseline.metric)
    assert all(len(metrics) == 1 for metrics in baselines.values())  # seed k: the same baseline run in every arm
    assert baselines[0] != baselines[1]
    report = (root / "report" / "report.md").read_text()
    assert "| ratchet |" in report and "| population |" in report
    assert (root / "report" / "report.html").is_file()


def test_searches_claim_distinct_shares_and_wait_while_all_are_taken(tmp_path: Path) -> None:
    with _claimed_share(tmp_path, 2) as first, _claimed_share(tmp_path, 2) as second:
        assert {first, second} == {0, 1}
        got: list[int] = []
        waiter = threading.Thread(target=lambda: got.append(claim_once(tmp_path)))
        waiter.start()
        waiter.join(0.6)
        assert waiter.is_alive() and not got  # both shares are held: the third search waits
    waiter.join(5)
    assert got == [0]


def claim_once(root: Path) -> int:
    with _claimed_share(root, 2) as share:
        return share


def test_a_share_of_the_cores_is_a_near_equal_disjoint_slice() -> None:
    cores = list(range(10))
    slices = [_share_of(cores, k, 3) for k in range(3)]
    assert slices == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert _share_of([0, 1], 1, 4) == [0, 1]  # fewer cores than searches: they share them all


def test_a_search_session_takes_the_gpus_it_is_handed(tmp_path: Path) -> None:
    config = load_config(BASE, [f"runs_dir={tmp_path}", "slots.count=1", "slots.gpus=['0']"])
    paths = RunPaths(start(config))
    assert session_config(paths).slots.gpus == ("0",)
    assert session_config(paths, ("6",)).slots.gpus == ("6",)
    with pytest.raises(EvoError, match="2 GPU\\(s\\) given for 1 slot"):
        session_config(paths, ("6", "7"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("gpus: ['0', '1']\njobs: 3", "key 'jobs' (3) must be at most the number of gpus (2)"),
        ("gpus: ['0', '1']\noverrides: [target=TARGET, slots.count=2]", "so slots.count must be 1 (got 2)"),
    ],
)
def test_gpus_in_a_bench_file_are_checked(tmp_path: Path, change: str, message: str) -> None:
    text = f"base: BASE\n{change}\narms: [{{name: a, overrides: []}}, {{name: b, overrides: [mode=ratchet]}}]\n"
    if "overrides:" not in change:
        text += "overrides: [target=TARGET]\n"
    with pytest.raises(EvoError, match=re.escape(message)):
        load_bench(write(tmp_path, text))
