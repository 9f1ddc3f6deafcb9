"""The run and bench reports: real surrogate searches (two modes x two seeds, made once) rendered to Markdown, HTML and
PNGs; the pairwise verdicts on synthetic result sets; hand-built runs for the edge cases; and the HTML as headless
Chromium renders it."""

from __future__ import annotations

import base64
import html
import itertools
import json
import math
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as PlotFigure
from matplotlib.image import imread
from matplotlib.text import Text

from evo.config import RunConfig, load_config
from evo.errors import EvoError
from evo.reporting import figures
from evo.reporting.bench_report import pairwise, write_bench_report
from evo.reporting.document import Figure
from evo.reporting.facts import final_value, operator_outcomes, run_figures
from evo.reporting.figures import ancestry, progress_figure, step_on_grid
from evo.reporting.run_data import PEER_FILE, RunData, load_run
from evo.reporting.run_report import write_run_report
from evo.search import Coordinator, start
from population.individual import Individual
from population.ledger import Ledger

from .conftest import REPO

SURROGATE = REPO / "benchmarks" / "surrogate"
MODES, SEEDS = ("ratchet", "population"), (1, 2)
PNG = b"\x89PNG\r\n\x1a\n"


def surrogate_config(runs_dir: Path, *extra: str) -> RunConfig:
    return load_config(
        REPO / "configs" / "surrogate.yaml",
        [
            f"runs_dir={runs_dir}",
            f"target={SURROGATE}",
            "env={EVO_SURROGATE_SECONDS: '0.05'}",
            "slots.count=1",
            "stop.evaluations=12",
            "population.size=4",
            "population.crossover_rate=0.5",
            "early_stop.enabled=true",  # so the reports have pruned candidates and saved compute to show
            "calibration.runs=3",
            *extra,
        ],
    )


@pytest.fixture(scope="module")
def arms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[RunData]]:
    """Two modes x two seeds of real offline searches on the surrogate target (about 20 s in all)."""
    base = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("OPENAI_API_KEY", raising=False)
        patch.delenv("OPENAI_BASE_URL", raising=False)
        patch.setenv("EVO_CACHE_DIR", str(base / "cache"))
        result: dict[str, list[RunData]] = {}
        for mode, seed in itertools.product(MODES, SEEDS):
            root = start(surrogate_config(base / mode, f"mode={mode}", f"seed={seed}"))
            Coordinator(root).run()
            result.setdefault(mode, []).append(load_run(root))
    return result


@pytest.fixture(scope="module")
def bench(arms: dict[str, list[RunData]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    return write_bench_report(arms, out, "Ratchet against population", ["Every run had 12 evaluations."])


def tables(markdown: str) -> Iterator[tuple[str, list[list[str]]]]:
    """(the heading above it, its body rows split into cells) for each Markdown table."""
    lines, heading = markdown.splitlines(), ""
    for k, line in enumerate(lines):
        if line.startswith("#"):
            heading = line.lstrip("# ")
        elif line.startswith("|") and k + 1 < len(lines) and lines[k + 1].startswith("|-"):
            yield heading, [cells(row) for row in itertools.takewhile(lambda row: row.startswith("|"), lines[k + 2 :])]


def cells(row: str) -> list[str]:
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


def table(markdown: str, heading: str) -> list[list[str]]:
    return next(rows for title, rows in tables(markdown) if title == heading)


def figure_links(markdown: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)


def embedded(page: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)]


def assert_figures(report: Path, count: int) -> None:
    """`count` figures: each Markdown link is a valid PNG in the report directory, embedded byte for byte in the
    HTML, and nothing half-written (a temporary file) is left behind."""
    links = figure_links(report.read_text())
    assert len(links) == count
    pngs = [report.parent / link for link in links]
    for png in pngs:
        assert png.read_bytes().startswith(PNG) and imread(png).shape[0] > 50
    assert embedded((report.parent / "report.html").read_text()) == [png.read_bytes() for png in pngs]
    assert not [p for p in report.parent.iterdir() if p.name.startswith(".")]


def individual(id: str, parents: tuple[str, ...] = (), metric: float | None = 1.0, **fields: object) -> Individual:
    fields = {"status": "ok", "finished": float(id), "budget_seconds": 300.0, **fields}
    return Individual(id, parents, metric=metric, **fields)  # type: ignore[arg-type]


def synthetic(*individuals: Individual, optimum: float | None = None) -> RunData:
    return RunData(Path("."), "synthetic", "population", "val_bpb", "minimize", 300.0, optimum, individuals, ())


# ------------------------------------------------------------------------------------------------ the bench report


def test_the_bench_report_ranks_every_arm_and_compares_every_pair(bench: Path, arms: dict[str, list[RunData]]) -> None:
    markdown = bench.read_text()
    ranking = table(markdown, "Ranking")
    assert sorted(row[1] for row in ranking) == sorted(arms)
    medians = [float(row[3].split()[0]) for row in ranking]
    assert medians == sorted(medians)  # best (lowest val_bpb) first
    for row in ranking:
        regret, low, high = (float(x) for x in re.findall(r"[-\d.e]+", row[4]))
        assert 0 < low <= regret <= high  # the surrogate declares its optimum, so regret is shown and positive
        assert row[2] == "2" and row[7] == "12"  # seeds, evaluations per run
        observed, curse = float(row[5]), float(row[6])  # the surrogate answers held-out values: its expected hook
        assert curse == pytest.approx(float(row[3].split()[0]) - observed, abs=0.02)
    pairs = table(markdown, "Pairwise comparisons")
    assert len(pairs) == math.comb(len(arms), 2)
    assert all(
        row[-1] in ("no significant difference", *(f"{a} better than {b}" for a, b in itertools.permutations(arms, 2)))
        for row in pairs
    )
    for heading in ("Compute saved by early termination", "Statuses", "LLM tokens and cost"):
        assert sorted(row[0] for row in table(markdown, heading)) == sorted(arms)
    statuses = {row[0]: [int(n) for n in row[1:]] for row in table(markdown, "Statuses")}
    assert all(sum(counts) == 24 for counts in statuses.values())  # 12 evaluations x 2 seeds
    assert "offline operators: no LLM calls" in markdown
    operators = table(markdown, "Operators and models")
    assert {row[0] for row in operators} == set(arms) and all(row[1].startswith("operator ") for row in operators)
    assert "Every run had 12 evaluations." in markdown and "known optimum 1.00297" in markdown


def test_the_bench_report_draws_and_embeds_every_figure(bench: Path, arms: dict[str, list[RunData]]) -> None:
    assert_figures(bench, 2 + 2 * len(arms))  # best so far, distributions, and a progress + lineage per arm
    names = {link for link in figure_links(bench.read_text())}
    assert {"best_so_far.png", "final_distribution.png", "progress_ratchet.png", "lineage_population.png"} <= names
    page = (bench.parent / "report.html").read_text()
    assert page.count("<table>") == len(list(tables(bench.read_text()))) and page.count("<figcaption>") == len(names)


def test_a_bench_report_needs_a_run_to_report() -> None:
    with pytest.raises(EvoError, match="no run has started yet"):
        write_bench_report({"ratchet": [], "population": []}, Path("unused"), "bench")


def test_sweep_settings_as_arms_and_a_run_without_results(tmp_path: Path) -> None:
    done = [synthetic(individual("0000", metric=1.2), individual("0001", ("0000",), m)) for m in (1.1, 1.15)]
    live = synthetic(individual("0000", metric=None, status="running", finished=None))
    arms = {"size=4 tournament=2": done, "size=4 tournament=2!": [done[0], live], "later": []}  # one slug for two
    report = write_bench_report(arms, tmp_path, "sweep")
    markdown = report.read_text()
    ranking = table(markdown, "Ranking")
    assert [row[1:3] for row in ranking] == [
        ["size=4 tournament=2!", "2 (1 without a result)"],
        ["size=4 tournament=2", "2"],
        ["later", "0"],
    ]
    assert ranking[0][3].startswith("1.1 [1.1, 1.1]") and ranking[1][3].startswith("1.125 [1.1, 1.15]")
    assert [row[-1] for row in table(markdown, "Pairwise comparisons")] == ["too few runs to compare"] * 3
    assert "later: no run has started yet." in markdown
    links = figure_links(markdown)
    assert {"progress_size-4-tournament-2.png", "progress_size-4-tournament-2-2.png"} <= set(links)
    assert_figures(report, 6)


# ------------------------------------------------------------------------------------------------ statistics


def test_the_pairwise_table_calls_a_known_difference() -> None:
    rng = np.random.default_rng(11)
    right = 0
    for _ in range(200):
        finals = {"ratchet": list(rng.normal(3.2, 0.1, 8)), "population": list(rng.normal(3.0, 0.1, 8))}  # 2 sd apart
        (pair,) = pairwise(finals, "minimize", resamples=200)
        right += pair.verdict == "population better than ratchet"
    assert right / 200 >= 0.9


def test_the_pairwise_table_rarely_calls_a_difference_between_equal_arms() -> None:
    rng = np.random.default_rng(12)
    trials, alpha = 400, 0.05
    called = sum(
        pairwise({"a": list(rng.normal(3, 0.1, 8)), "b": list(rng.normal(3, 0.1, 8))}, "minimize", alpha, 200)[
            0
        ].verdict
        != "no significant difference"
        for _ in range(trials)
    )
    assert called / trials <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / trials)


def test_holm_adjusts_across_pairs_and_small_arms_are_not_compared() -> None:
    rng = np.random.default_rng(13)
    finals = {"a": list(rng.normal(1, 0.1, 8)), "b": list(rng.normal(1.1, 0.1, 8)), "c": list(rng.normal(2, 0.1, 8))}
    pairs = pairwise({**finals, "lonely": [1.0]}, "maximize", resamples=200)
    assert [(p.a, p.b) for p in pairs] == list(itertools.combinations([*finals, "lonely"], 2))
    tested = [p for p in pairs if p.comparison is not None]
    assert len(tested) == 3 and all(p.p_holm >= p.comparison.p_value for p in tested)  # type: ignore[union-attr]
    assert min(p.p_holm for p in tested) == pytest.approx(3 * min(p.comparison.p_value for p in tested))  # type: ignore[union-attr]
    assert {p.verdict for p in pairs if "lonely" in (p.a, p.b)} == {"too few runs to compare"}
    assert next(p for p in pairs if (p.a, p.b) == ("a", "c")).verdict == "c better than a"  # maximize: higher wins


# ------------------------------------------------------------------------------------------------ the run report


def test_a_finished_run_report(arms: dict[str, list[RunData]], tmp_path: Path) -> None:
    run = arms["population"][0]
    report = write_run_report(run, tmp_path / "report")
    markdown = report.read_text()
    summary = dict(row for row in table(markdown, "Summary"))  # type: ignore[misc]
    assert "WARNING: val_bpb is read from what each candidate prints" in markdown  # the surrogate does not attest
    assert summary["mode"] == "population" and "known optimum 1.00297" in summary["regret"]
    assert re.match(r"[\d.]+ -> [\d.]+: gain [\d.e-]+", summary["baseline -> best"])
    assert "used" in summary["budget seconds"] and summary["LLM"] == "offline operators: no LLM calls"
    assert {key: summary[key] for key in ("population size", "tournament size", "crossover rate", "elitism")} == {
        "population size": "4 per island",  # surrogate_config's overrides, over configs/surrogate.yaml
        "tournament size": "2",
        "crossover rate": "0.5",
        "elitism": "1 best never replaced",
    }
    assert summary["islands"] == "1" and summary["slots"] == "1 at once, 1 CPU thread each"
    assert summary["budget clock"] == "wall (elapsed seconds)"
    top = table(markdown, "Top 10 individuals")
    assert [row[0] for row in top] == [str(k) for k in range(1, len(top) + 1)] and 1 <= len(top) <= 10
    values = [float(row[2]) for row in top]
    assert values == sorted(values)
    assert_figures(report, 3)


def test_the_summary_shows_the_settings_of_each_kind_of_run(arms: dict[str, list[RunData]], tmp_path: Path) -> None:
    assert dict(arms["ratchet"][0].settings) == {
        "slots": "1 at once, 1 CPU thread each",
        "budget clock": "wall (elapsed seconds)",
    }
    islands = ("population.islands=3", "population.migrants=2", "population.migration_every=7", "population.elitism=0")
    root = start(
        surrogate_config(tmp_path / "runs", *islands, "budget.clock=cpu", "slots.count=2", "slots.threads=null")
    )
    with Ledger(root / "ledger.sqlite"):
        pass  # an empty run: the settings come from its config
    summary = dict(row for row in table(write_run_report(load_run(root), root / "report").read_text(), "Summary"))  # type: ignore[misc]
    assert summary["islands"] == "3 (2 migrants every 7 evaluations)" and summary["elitism"] == "0 best never replaced"
    assert summary["slots"] == "2 at once, the CPU cores split evenly"
    assert summary["budget clock"] == "cpu (the candidate's CPU seconds)"
    (root / PEER_FILE).write_text(json.dumps({"name": "optuna-tpe", "pruner": "median"}))
    peer = load_run(root)
    assert peer.mode == "optuna-tpe" and dict(peer.settings) == {
        "optuna-tpe pruner": "median",  # a peer's own settings, not the population's it does not use
        "slots": "2 at once, the CPU cores split evenly",
        "budget clock": "cpu (the candidate's CPU seconds)",
    }


def test_a_live_run_with_only_a_running_baseline(tmp_path: Path) -> None:
    root = start(surrogate_config(tmp_path / "runs"))
    with Ledger(root / "ledger.sqlite") as ledger:
        ledger.add(Individual("0000", operator="baseline", description="baseline", status="running"))
    report = write_run_report(load_run(root), root / "report")
    markdown = report.read_text()
    assert "No individual has finished with a metric yet" in markdown and "1 running" in markdown
    assert_figures(report, 0)


def test_a_run_with_only_a_baseline(tmp_path: Path) -> None:
    report = write_run_report(synthetic(individual("0000", metric=1.2), optimum=1.0), tmp_path)
    summary = dict(row for row in table(report.read_text(), "Summary"))  # type: ignore[misc]
    assert summary["baseline -> best"].endswith("gain 0 (0.00%)") and summary["regret"].startswith("0.2 ")
    assert "Lineage of the best individual of synthetic, 0000 (1.2): the baseline itself." in report.read_text()
    assert_figures(report, 3)


def test_a_maximizing_run_with_failures(tmp_path: Path) -> None:
    run = replace(
        synthetic(
            individual("0000", metric=0.5),
            individual("0001", ("0000",), None, status="crash"),
            individual("0002", ("0000",), None, status="pruned", budget_seconds=100.0, saved_seconds=200.0),
            individual("0003", ("0000",), 0.7),
            individual("0004", ("0003",), 0.6),
            individual("0005", ("0003",), None, status="running", finished=None, budget_seconds=0.0),
        ),
        direction="maximize",
    )
    report = write_run_report(run, tmp_path)
    markdown = report.read_text()
    summary = dict(row for row in table(markdown, "Summary"))  # type: ignore[misc]
    assert summary["best"].startswith("0.7 (0003") and "gain 0.2 (40.00%)" in summary["baseline -> best"]
    assert summary["individuals"] == "3 ok, 1 crash, 1 pruned, 1 running"
    assert "1,300 used, 200 saved by early termination (1 pruned)" in summary["budget seconds"]
    assert [row[1] for row in table(markdown, "Top 10 individuals")] == ["0003", "0004", "0000"]
    assert "1 pruned and 1 failed" in markdown and "The run is live" in markdown
    assert_figures(report, 3)


def test_text_from_an_llm_is_escaped(tmp_path: Path) -> None:
    evil = "<script>alert(1)</script> | <img src=x onerror=alert(2)>"
    run = synthetic(individual("0000", metric=1.2), individual("0001", ("0000",), 1.1, description=evil, model="m"))
    report = write_run_report(run, tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert "<script>alert" not in page and "<img src=x" not in page and html.escape(evil) in page
    top = table(report.read_text(), "Top 10 individuals")
    assert len(top[0]) == len(top[1]) == 6  # the "|" did not split the description's cell


def test_a_bad_run_directory_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(EvoError, match=re.escape(str(tmp_path / "nope"))) as error:
        load_run(tmp_path / "nope")
    assert "\n" not in str(error.value)


# ------------------------------------------------------------------------------------------------ building blocks


def test_best_so_far_is_a_step_function_held_after_the_run_ends() -> None:
    values = step_on_grid([(300.0, 1.2), (600.0, 1.1)], np.array([0.0, 299.0, 300.0, 450.0, 600.0, 5000.0]))
    assert np.isnan(values[:2]).all() and list(values[2:]) == [1.2, 1.2, 1.1, 1.1]
    assert np.isnan(step_on_grid([], np.array([1.0]))).all()


def test_lineage_follows_both_parents_of_a_crossover() -> None:
    run = synthetic(
        individual("0000"),
        individual("0001", ("0000",)),
        individual("0002", ("0001",)),
        individual("0003", ("0000",)),
        individual("0004", ("0002", "0003")),
        individual("0005", ("0000",)),
    )
    assert ancestry(run, "0004") == {"0000": 0, "0001": 1, "0002": 2, "0003": 1, "0004": 3}


def lineage_caption(run: RunData, out: Path) -> str:
    return next(
        b.caption
        for b in run_figures(run, "it", out, "run")
        if isinstance(b, Figure) and b.caption.startswith("Lineage")
    )


def test_the_lineage_caption_counts_generations_back_to_the_baseline(tmp_path: Path) -> None:
    chain = synthetic(*(individual(f"{k:04d}", (f"{k - 1:04d}",) if k else (), 1.0 - k / 10) for k in range(5)))
    assert lineage_caption(chain, tmp_path).endswith(
        "0004 (0.6): 5 individuals over 4 generations back to the baseline, 0 of them crossovers."
    )
    crossover = synthetic(
        individual("0000", metric=1.0),
        individual("0001", ("0000",), 0.9),
        individual("0002", ("0001",), 0.8),
        individual("0003", ("0000",), 0.95),
        individual("0004", ("0002", "0003"), 0.7),  # generation 3: its longer side is 0000 -> 0001 -> 0002
        individual("0005", ("0000",), 0.99),  # not an ancestor
    )
    assert lineage_caption(crossover, tmp_path).endswith(
        "0004 (0.7): 5 individuals over 3 generations back to the baseline, 1 of them a crossover."
    )


def test_progress_labels_stay_inside_the_axes_and_the_legend_off_the_points(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """New bests at both edges and in a cluster, each with a long description: every label is drawn whole inside
    the axes and on no other, and the legend lies outside the axes."""
    long = "param: WARMDOWN_FRAC 0.39 -> 0.65, WARMUP_FRAC 0.0 -> 0.044, LEARNING_RATE 1e-3 -> 2e-3"
    metrics = [1.2, 1.25, 1.1, *[1.15] * 20, 1.09, 1.085, 1.15, 1.08, 1.079, 1.0785]
    run = synthetic(*(individual(f"{k:04d}", (), m, description=f"{k} {long}") for k, m in enumerate(metrics)))
    saved: list[PlotFigure] = []
    monkeypatch.setattr(figures, "save", lambda figure, path: saved.append(figure) or path)
    for direction in ("minimize", "maximize"):
        mirrored = replace(
            run,
            direction=direction,
            individuals=tuple(
                replace(i, metric=(1 if direction == "minimize" else -1) * i.metric) for i in run.individuals
            ),
        )
        progress_figure(mirrored, tmp_path / "progress.png")
    for figure in saved:
        canvas = FigureCanvasAgg(figure)
        canvas.draw()
        renderer = canvas.get_renderer()
        (ax,) = figure.axes
        frame = ax.get_window_extent(renderer)
        boxes = [Text.get_window_extent(note, renderer) for note in ax.texts]  # the words, not the leader lines
        assert len(boxes) == 7  # one per new best
        assert all(frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1 for b in boxes)
        assert not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))
        (legend,) = figure.legends
        assert not legend.get_window_extent(renderer).overlaps(frame)


def test_operator_outcomes_count_beating_the_better_parent_and_new_bests() -> None:
    run = synthetic(
        individual("0000", metric=1.0),
        individual("0001", ("0000",), 0.9, operator="llm-mutation", model="m"),  # better than parent, new best
        individual("0002", ("0000",), 0.95, operator="llm-mutation", model="m"),  # better than parent only
        individual("0003", ("0001", "0002"), 0.92, operator="merge"),  # beats 0002, not 0001: not better
        individual("0004", ("0001",), None, operator="merge", status="crash"),
    )
    outcomes = {key: (o.children, o.ok, o.beat_parent, o.new_best) for key, o in operator_outcomes([run]).items()}
    assert outcomes == {"model m": (2, 2, 2, 1), "operator llm-mutation": (2, 2, 2, 1), "operator merge": (2, 1, 0, 0)}


# ------------------------------------------------------------------------------------------------ in a browser

PROBE = """<script>
window.addEventListener("load", () => {
  const found = [...document.images].map((img) => {
    const box = img.getBoundingClientRect();
    return {complete: img.complete, width: img.naturalWidth, area: box.width * box.height};
  });
  const out = document.createElement("pre");
  out.id = "evo-probe";
  out.textContent = JSON.stringify(found);
  document.body.appendChild(out);
});
</script>"""


def test_the_html_report_renders_in_headless_chromium(bench: Path, tmp_path: Path) -> None:
    browser = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    if browser is None:
        pytest.skip("no headless Chromium: install it with `apt-get install chromium` (Debian) to run this test")
    probe = bench.parent / "probe.html"
    probe.write_text((bench.parent / "report.html").read_text().replace("</body>", PROBE + "</body>"))
    flags = "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking"
    flags += " --disable-component-update --disable-sync --virtual-time-budget=10000 --dump-dom"
    command = [browser, *flags.split(), f"--user-data-dir={tmp_path / 'profile'}", probe.as_uri()]
    try:
        dom = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    finally:
        probe.unlink()
    found = re.search(r'<pre id="evo-probe">(.*?)</pre>', dom, re.S)
    assert found, f"the probe did not run; Chromium printed: {dom[-500:]}"
    images = json.loads(html.unescape(found.group(1)))
    assert len(images) == len(figure_links(bench.read_text())) == 6
    assert all(img["complete"] and img["width"] > 0 and img["area"] > 0 for img in images)


def test_a_lucky_observed_best_is_ranked_by_its_held_out_value(tmp_path: Path) -> None:
    """Arm "lucky" saw the better observed values but its picks hold up worse on held-out values than "steady"'s:
    the ranking, the verdicts and the winner's curse column follow the held-out values."""

    def run(observed: float, held: float, seed: int) -> RunData:
        record = individual("0000", metric=observed + 0.3)
        best = individual("0001", ("0000",), metric=observed)
        return replace(synthetic(record, best, optimum=1.0), name=f"r{seed}", heldout=held, heldout_source="test")

    arms = {
        "lucky": [run(1.00 + 0.001 * k, 1.10 + 0.001 * k, k) for k in range(5)],
        "steady": [run(1.05 + 0.001 * k, 1.06 + 0.001 * k, k) for k in range(5)],
    }
    observed_order = sorted(arms, key=lambda a: min(final_value(r) for r in arms[a]))
    assert observed_order == ["lucky", "steady"]
    markdown = write_bench_report(arms, tmp_path, "curse").read_text()
    ranking = table(markdown, "Ranking")
    assert [row[1] for row in ranking] == ["steady", "lucky"]  # held-out order, the opposite of the observed one
    assert float(ranking[1][6]) == pytest.approx(0.1)  # lucky's winner's curse: held-out minus observed
    assert "held-out value (test)" in markdown
    assert "steady has the best median held-out result" in markdown
