"""The scaling study's report: a search's pick scored on held-out values over time, time to reach the sequential
ratchet's final value, speed-ups with intervals, and the population tested against each peer at the same N."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from evo.bench import runner as bench
from evo.bench.plan import load_bench
from evo.config import load_config
from evo.evaluation import load_target
from evo.evaluation.hooks import hook
from evo.reporting.document import Figure, Table, write_document
from evo.reporting.run_data import load_run
from evo.reporting.scaling import Search, Study, blocks, peer_tests, read_search, speed_up
from evo.search import Coordinator, start
from population.store import GitStore

from .conftest import REPO

HOUR = 3600.0


def _search(mode: str, workers: int, *picks: tuple[float, float]) -> Search:
    return Search(mode, workers, f"{mode}@{workers}", tuple(picks))


def _study(reach: float, seeds: int = 6) -> Study:
    """Sequential ratchets ending at regret 0.01 after 8 h; a population at 16 workers reaching 0.01 after `reach`
    hours and 0.001 by the end; an asynchronous ratchet at 16 that ends at 0.005."""
    ratchets = [_search("ratchet", 1, (0.1 * HOUR, 0.1), (7 * HOUR + k, 0.01 + 1e-4 * (k - 2))) for k in range(seeds)]
    population = [
        _search("population", 16, (0.1 * HOUR, 0.1), (reach * HOUR, 0.01), (2 * HOUR, 0.001 + 1e-5 * k))
        for k in range(seeds)
    ]
    greedy = [_search("async-ratchet", 16, (0.1 * HOUR, 0.1), (HOUR, 0.005 + 1e-5 * k)) for k in range(seeds)]
    return Study("toy", 8 * HOUR, {"ratchet@1": ratchets, "population@16": population, "async-ratchet@16": greedy})


def test_a_pick_is_scored_from_the_moment_it_is_picked() -> None:
    search = _search("population", 4, (100.0, 0.5), (400.0, 0.2))
    assert math.isinf(search.regret_at(99.0))
    assert search.regret_at(100.0) == 0.5 and search.regret_at(399.0) == 0.5 and search.regret_at(1e9) == 0.2
    assert search.reached(0.3) == 400.0 and search.reached(0.5) == 100.0 and math.isinf(search.reached(0.1))


def test_speed_up_is_the_study_length_over_the_median_time_to_the_ratchets_final_value() -> None:
    study = _study(reach=1.0)
    assert study.target == pytest.approx(0.01 + 0.5e-4)  # the median of the ratchets' finals
    fast = speed_up(study, "population", 16)
    assert fast is not None and fast.value == pytest.approx(8.0) and fast.reached == fast.runs == 6
    assert fast.low <= 8.0 <= fast.high
    assert speed_up(_study(reach=4.0), "population", 16).value == pytest.approx(2.0)
    assert speed_up(study, "best-of-n", 16) is None  # an arm the study did not run


def test_a_mode_that_never_reaches_the_ratchets_value_has_no_speed_up() -> None:
    study = _study(reach=1.0)
    never = Study("toy", study.seconds, {**study.arms, "best-of-n@16": [_search("best-of-n", 16, (HOUR, 0.05))] * 6})
    slow = speed_up(never, "best-of-n", 16)
    assert slow is not None and math.isinf(slow.median_hours) and slow.value == 0 and slow.reached == 0


def test_the_population_is_tested_against_each_peer_with_holm() -> None:
    found = peer_tests(_study(reach=1.0))
    pairs = {(t.comparison.a, t.comparison.b): t for t in found}
    assert set(pairs) == {("population@16", "async-ratchet@16"), ("population@16", "ratchet@1")}
    for t in found:
        assert t.comparison.advantage > 0 and t.p_holm >= t.comparison.p_value  # Holm never lowers a p-value
        assert t.verdict == "population@16 better"  # 6 vs 6 with no overlap: p = 0.002, Holm 0.004
    few = peer_tests(_study(reach=1.0, seeds=3))  # 3 vs 3 cannot reach p < 0.05 after Holm
    assert all(t.verdict == "no significant difference" for t in few)


def test_the_report_has_figures_tables_and_findings(tmp_path: Path) -> None:
    section = blocks(_study(reach=1.0), tmp_path, "Scaling: toy")
    figures = [b for b in section if isinstance(b, Figure)]
    assert len(figures) == 2 and all(f.path.is_file() and f.path.stat().st_size > 10_000 for f in figures)
    tables = {b.headers[0]: b for b in section if isinstance(b, Table)}
    speed = {row[0]: row for row in tables["arm"].rows}
    assert speed["population@16"][3] == "8.0x" and speed["ratchet@1"][3] == "1x (the reference)"
    assert "N=16: lowest median regret population" in section[2].text
    page = (tmp_path / "report.html").parent / "report.html"
    write_document(section, "toy", tmp_path)
    assert "Holm" in page.read_text()


def test_a_real_runs_picks_are_scored_on_the_targets_expected_value(tmp_path: Path) -> None:
    config = load_config(
        REPO / "configs" / "ideas.yaml",
        [f"runs_dir={tmp_path}", "slots.count=4", "stop.evaluations=null", "stop.wall_seconds=3000", "seed=3"],
    )
    root = start(config)
    Coordinator(root).run()
    run = load_run(root)
    search = read_search(run, 4, with_children=True)
    target = load_target(config.target)
    expected = hook(target, "expected")
    by_id = {i.id: i for i in run.individuals}
    with GitStore(root / "git", target.editable) as store:
        for (at, regret), (when, pick) in zip(search.picks, run.picks, strict=True):
            value = expected(store.code(by_id[pick].commit), 300.0, {**target.env, **config.env})
            assert at == when and regret == pytest.approx(value - run.optimum) and regret >= 0
    assert len(search.children) == sum(1 for i in run.individuals if i.parents)
    assert search.regret_at(3000) < search.picks[0][1]  # the search improved on the baseline


def test_a_bench_of_worker_counts_gets_the_scaling_section_in_its_report(tmp_path: Path) -> None:
    path = tmp_path / "bench-scaling.yaml"
    path.write_text(
        f"base: {REPO / 'configs' / 'ideas.yaml'}\nseeds: 2\njobs: 1\nruns_dir: {tmp_path / 'runs'}\n"
        "overrides: [stop.wall_seconds=1800, stop.evaluations=null]\n"
        "arms:\n  - {name: seq, overrides: [mode=ratchet, slots.count=1]}\n"
        "  - {name: pop, overrides: [mode=population, slots.count=4]}\n"
    )
    root = bench.create(load_bench(path))
    report = bench.run_plan(root, on_line=lambda _: None)
    text = report.read_text()
    assert "## Scaling with workers" in text and "population@4 | ratchet@1" in text
    assert (report.parent / "report.html").read_text().count("Scaling with workers") == 1
    assert (report.parent / "scaling-regret.png").is_file() and (report.parent / "scaling-speedup.png").is_file()
    single = bench.create(dataclasses.replace(load_bench(path), name="single", arms=load_bench(path).arms[:1]))
    assert "Scaling" not in bench.run_plan(single, on_line=lambda _: None).read_text()  # one worker count: no study
