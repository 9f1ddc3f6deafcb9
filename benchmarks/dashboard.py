"""The dashboard (`evo serve`): how fast a big run's page loads, and whether an open page slows the search it watches.

Targets: the run page of a 2,000-individual run shows its data (best value, best-so-far chart; the lineage's points
once scrolled to) in under 1 s on 2 cores; a page left open on a live run makes no measurable change to the
coordinator's time per individual.

Both use real searches: population mode on the surrogate target with the simulated executor (candidates run
in-process on a virtual clock, so a run is all coordinator), 8 slots, no LLM endpoint (the offline operators).
Pages are loaded by headless Chromium (Debian's `chromium`, driven by Playwright), each in a fresh browser context.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import psutil
from playwright.sync_api import Browser, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from scipy import stats

from benchmarks.results import write_section
from evo.dashboard.server import answering
from population.ledger import Ledger

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), "/usr/bin/chromium")
BASE = ["executor.kind=simulated", "slots.count=8", "memory.enabled=false"]  # every run the same search
VIEWPORT = {"width": 1400, "height": 900}  # a laptop's window: the lineage is below the fold
SMALL = 0.05  # "no measurable change": the difference's 95% interval holds 0 and stays within 5% of the bare mean
NAVIGATION = "performance.getEntriesByType('navigation').map((e) => e.toJSON())[0]"
RESOURCES = "performance.getEntriesByType('resource').map((e) => e.toJSON())"


def env_for(tmp: Path) -> dict[str, str]:
    env = {**os.environ, "EVO_CACHE_DIR": str(tmp / "cache"), "PYTHONUNBUFFERED": "1"}
    env.pop("OPENAI_API_KEY", None)
    env.pop("OPENAI_BASE_URL", None)
    return env


def search(runs: Path, name: str, evaluations: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    overrides = [f"runs_dir={runs}", f"name={name}", *BASE, f"stop.evaluations={evaluations}"]
    command = [sys.executable, "-m", "evo", "run", str(REPO / "configs" / "surrogate.yaml"), *overrides]
    runs.mkdir(parents=True, exist_ok=True)
    with (runs.parent / f"{name}.log").open("wb") as log:
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def finish(process: subprocess.Popen[bytes], runs: Path, name: str) -> None:
    if process.wait() != 0:
        sys.exit(f"evo run {name} failed:\n{(runs.parent / f'{name}.log').read_text()[-3000:]}")


def individuals(root: Path) -> int:
    with Ledger(root / "ledger.sqlite", readonly=True) as ledger:
        return len(ledger.all())


@contextmanager
def serving(runs: Path, env: dict[str, str]) -> Iterator[tuple[str, psutil.Process]]:
    """`evo serve` on a free loopback port; yields its address and its process."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "evo", "serve", str(runs), "--port", str(port)]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        match = re.search(r"(http://\S+?)/?\s", line)
        if not match:
            sys.exit(f"evo serve printed no address: {line!r}")
        threading.Thread(target=process.stdout.read, daemon=True).start()  # type: ignore[union-attr]  # drain the rest
        address = match.group(1)
        answering(address)
        yield address, psutil.Process(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:  # closes the browser on the way out
        yield playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])


def api_times(address: str, path: str, repeats: int = 5) -> list[dict[str, Any]]:
    """Each API call the run page makes, from one keep-alive client as a browser would: the first `/api/progress` of
    a fresh server (it loads the run), then each call `repeats` times warm."""
    with httpx.Client(base_url=address, timeout=120) as client:
        client.get("/")  # the connection, opened before any timing

        def timed(label: str, name: str, params: dict[str, str], times: int) -> dict[str, Any]:
            seconds = []
            for _ in range(times):
                start = time.perf_counter()
                response = client.get(f"/api/{name}", params=params)
                seconds.append(time.perf_counter() - start)
                response.raise_for_status()
            return {
                "label": label,
                "median": statistics.median(seconds),
                "max": max(seconds),
                "bytes": len(response.content),
                "wire": response.num_bytes_downloaded,
                "json": response.json(),
            }

        rows = [timed("`/api/progress`, cold (loads the run)", "progress", {"path": path}, 1)]
        best = rows[0]["json"]["best"]
        for name in ("progress", "lineage", "individual", "noise"):
            params = {"path": path, "id": best["id"] if best else "0000"} if name == "individual" else {"path": path}
            rows.append(timed(f"`/api/{name}`", name, params, repeats))
    return rows


def visit(page: Page, url: str, errors: list[str]) -> tuple[float, float]:
    """Seconds from `goto` until the page shows the run's data in view (the best value and the best-so-far chart;
    the page draws a chart once it comes into view), and until the lineage, scrolled to at once, has its points."""
    start = time.perf_counter()
    page.goto(url)
    try:
        expect(page.locator("#best-value")).not_to_have_text("-", timeout=120_000)
        page.wait_for_selector("#chart-best-compute .scatterlayer .js-line", state="attached", timeout=120_000)
        shown = time.perf_counter() - start
        page.locator("#lineage").scroll_into_view_if_needed()
        page.wait_for_selector("#lineage .scatterlayer .point", state="attached", timeout=120_000)
    except (PlaywrightTimeout, AssertionError):
        best, error = page.locator("#best-value").text_content(), page.locator("#error").text_content()
        sys.exit(f"{url}: not drawn after 120 s; best {best!r}, error {error!r}, console {errors}")
    return shown, time.perf_counter() - start


def load_once(browser: Browser, url: str) -> dict[str, Any]:
    """A fresh context's first visit (nothing cached in the browser), with the browser's own timings, then a second
    visit in the same context (Plotly from the browser's cache, as for someone coming back)."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    try:
        shown, lineage = visit(page, url, errors)
        out = {"seconds": shown, "lineage_seconds": lineage, **timing(page)}
        again, again_lineage = visit(page, url, errors)
        points = page.locator("#lineage .point").count()
        return out | {"again": again, "again_lineage": again_lineage, "points": points, "errors": errors}
    finally:
        context.close()


def timing(page: Page) -> dict[str, float]:
    """The browser's own clock (ms since navigation start): the document, its load event, the first API answers."""
    navigation = page.evaluate(NAVIGATION) or {}
    out = {"document": navigation.get("responseEnd", math.nan), "loaded": navigation.get("loadEventEnd", math.nan)}
    for entry in page.evaluate(RESOURCES):
        for key in ("plotly", "progress", "lineage"):
            if key in entry["name"] and key not in out:
                out[key] = entry["responseEnd"]
                if key == "plotly":
                    out["plotly_bytes"] = entry.get("encodedBodySize", 0)
    return out


def page_load(args: argparse.Namespace, tmp: Path, env: dict[str, str]) -> str:
    runs = tmp / "runs"
    print(f"building a run of {args.individuals} evaluations ...", flush=True)
    start = time.perf_counter()
    finish(search(runs, "big", args.individuals, env), runs, "big")
    built = time.perf_counter() - start
    count = individuals(runs / "big")
    print(f"built in {built:.0f} s: {count} individuals in its ledger", flush=True)
    with serving(runs, env) as (address, _):
        calls = api_times(address, "big")
    for call in calls:
        print(f"  {call['label']}: median {1000 * call['median']:.0f} ms, {call['bytes']:,} bytes", flush=True)
    with serving(runs, env) as (address, _), chromium() as browser:
        warm = browser.new_page()  # Chromium's first page (fonts, renderer) in a context of its own; no server call
        warm.set_content("<p>warm-up</p><svg><text x='10' y='20'>1.234567</text></svg>")
        warm.close()
        loads = []
        for k in range(args.loads):
            loads.append(load_once(browser, f"{address}/run?path=big"))
            x = loads[-1]
            print(f"  load {k}: {x['seconds']:.3f} s (lineage {x['lineage_seconds']:.3f} s), again {x['again']:.3f} s")
    rows = "\n".join(
        f"| {k}{' (server cold)' if k == 0 else ''} | **{x['seconds']:.3f}** | {x['lineage_seconds']:.3f} | "
        f"{x['again']:.3f} | {x['again_lineage']:.3f} | "
        + " | ".join(f"{x.get(key, math.nan):.0f}" for key in ("document", "plotly", "loaded", "progress", "lineage"))
        + f" | {x['points']} |"
        for k, x in enumerate(loads)
    )
    later = [x["seconds"] for x in loads[1:]]
    summary = f"later loads: median **{statistics.median(later):.3f} s**, max {max(later):.3f} s" if later else ""
    again = [x["again"] for x in loads]
    summary += f"; again with Plotly cached: median **{statistics.median(again):.3f} s**, max {max(again):.3f} s"
    drawn = [x["lineage_seconds"] for x in loads[1:]] or [loads[0]["lineage_seconds"]]
    summary += f"; the lineage's {count} points drawn after a median {statistics.median(drawn):.3f} s"
    api = "\n".join(
        f"| {c['label']} | {1000 * c['median']:.1f} | {1000 * c['max']:.1f} | {c['bytes']:,} | {c['wire']:,} |"
        for c in calls
    )
    errors = sorted({e for load in loads for e in load["errors"]})
    plotly_kb = loads[0].get("plotly_bytes", 0) / 1024
    return (
        f"**Page load.** A run of {count} individuals (`stop.evaluations={args.individuals}`, built in {built:.0f} s), "
        f"its page loaded {args.loads} times by one Chromium process (started, and one local page shown, before), "
        "each in a fresh browser context: nothing cached in the browser (its HTTP cache starts empty, so Plotly's "
        f"bundle, {plotly_kb:,.0f} KB on the wire, is fetched and compiled every time); only the server's cache of "
        "the loaded run is warm after the first load. Window 1400 x 900; the page draws a chart once it comes into "
        "view. Times from `page.goto`: until the best value is shown and the best-so-far chart drawn (what is in "
        "view), and until the lineage (scrolled to at once) has its points. The browser's own clock (ms since "
        "navigation start, first visit) says where it went; then the same page again in the same context (Plotly "
        "from the browser's cache, the server's cache warm).\n\n"
        "| load | data in view (s) | lineage drawn (s) | again: in view (s) | again: lineage (s) | document (ms) | "
        "Plotly fetched (ms) | load event (ms) | progress answered (ms) | lineage answered (ms) | points drawn |\n"
        f"{'|---' * 11}|\n"
        f"{rows}\n\n"
        f"First load (the server reads the ledger): **{loads[0]['seconds']:.3f} s**; {summary}. Target: under 1 s."
        + (f" Errors in the page: {'; '.join(errors)}." if errors else " No script or console error.")
        + "\n\nThe API on its own (one keep-alive `httpx` client; a fresh server's first `/api/progress`, then 5 calls "
        "of each): time to the whole answer and its size (decoded, and gzipped on the wire).\n\n"
        "| call | median (ms) | max (ms) | bytes | bytes on the wire |\n|---|---|---|---|---|\n"
        f"{api}"
    )


def cpu_seconds(roots: list[psutil.Process]) -> dict[int, float]:
    """CPU seconds (user and system) used so far by each of these processes and their descendants, by pid."""
    seen = {}
    for process in [*roots, *(c for root in roots if root.is_running() for c in root.children(recursive=True))]:
        with suppress(psutil.Error):
            times = process.cpu_times()
            seen[process.pid] = times.user + times.system
    return seen


def one_run(
    runs: Path, name: str, args: argparse.Namespace, env: dict[str, str], watch: tuple[str, Browser] | None
) -> dict[str, float]:
    """One search; `watch` (address, browser) opens its page as soon as it exists. Wall and CPU per individual
    of the `evo run` process, and the CPU the server and the browser used meanwhile."""
    context, before = None, {}
    roots = psutil.Process().children()  # `evo serve` and Playwright's driver (Chromium below it); no search yet
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = search(runs, name, args.evaluations, env)
    if watch is not None:
        address, browser = watch
        while not all((runs / name / f).is_file() for f in ("ledger.sqlite", "config.yaml")):
            if process.poll() is not None:
                sys.exit(f"evo run {name} ended before its run directory existed")
            time.sleep(0.01)
        before = cpu_seconds(roots)
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        page.goto(f"{address}/run?path={name}")
    finish(process, runs, name)
    wall = time.perf_counter() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = 0.0
    if context is not None:
        after = cpu_seconds(roots)
        used = sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())
        context.close()
    count = individuals(runs / name)
    cpu = children.ru_utime + children.ru_stime - children_before.ru_utime - children_before.ru_stime
    return {"ms": 1000 * wall / count, "cpu_ms": 1000 * cpu / count, "n": count, "wall": wall, "dashboard": used}


def mean_interval(values: list[float]) -> tuple[float, float]:
    """The mean and the half-width of its 95% t-interval (nan from one value)."""
    if len(values) < 2:
        return statistics.fmean(values), math.nan
    return statistics.fmean(values), stats.t.ppf(0.975, len(values) - 1) * stats.sem(values)


def verdict(bare: list[float], watched: list[float]) -> tuple[str, str]:
    """The difference (with the page minus without) with its paired 95% interval (pair k: two runs back to back, so
    the machine's drift cancels), and what it means in words."""
    diff, base = statistics.fmean(watched) - statistics.fmean(bare), statistics.fmean(bare)
    if len(bare) < 2:
        return f"{diff:+.2f} ms (no interval from one pair)", "too few pairs for a verdict (run at least 2)"
    low, high = stats.ttest_rel(watched, bare).confidence_interval(0.95)
    shown = f"{diff:+.2f} ms ({100 * diff / base:+.1f}%), 95% interval [{low:+.2f}, {high:+.2f}] ms"
    if low <= 0 <= high and max(-low, high) <= SMALL * base:
        return shown, f"no measurable change: the interval holds 0 and any effect is within {100 * SMALL:.0f}%"
    if low <= 0 <= high:
        return shown, f"no significant change, but up to {100 * high / base:+.1f}% is not ruled out (more pairs)"
    if low > 0:
        return shown, (
            f"a measurable slowdown of {diff:.2f} ms per individual ({100 * diff / base:+.1f}%): the browser and the "
            "server share the machine's cores with the coordinator"
        )
    return shown, "faster with the page open, by more than the noise: an order or drift effect, not a real gain"


def coordinator(args: argparse.Namespace, tmp: Path, env: dict[str, str]) -> str:
    runs = tmp / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict[str, float]]] = {"without": [], "with": []}
    with serving(runs, env) as (address, _), chromium() as browser:
        finish(search(runs, "warmup", min(args.evaluations, 40), env), runs, "warmup")  # warms the caches
        for pair in range(args.pairs):
            order = ("without", "with") if pair % 2 == 0 else ("with", "without")
            for arm in order:
                watch = (address, browser) if arm == "with" else None
                result = one_run(runs, f"pair{pair}-{arm}", args, env, watch)
                results[arm].append(result)
                print(
                    f"  pair {pair} {arm:7} the page: {result['n']:.0f} individuals in {result['wall']:.1f} s, "
                    f"{result['ms']:.1f} ms wall / {result['cpu_ms']:.1f} ms CPU per individual, "
                    f"dashboard CPU {result['dashboard']:.1f} s",
                    flush=True,
                )
    rows = "\n".join(
        f"| {pair} | {arm} | {r['n']:.0f} | {r['wall']:.1f} | {r['ms']:.1f} | {r['cpu_ms']:.1f} "
        f"| {r['dashboard']:.1f} |"
        for pair in range(args.pairs)
        for arm in ("without", "with")
        for r in [results[arm][pair]]
    )
    bare, watched = ([r["ms"] for r in results[arm]] for arm in ("without", "with"))
    arms = []
    for arm, values in (("without the page", bare), ("with the page", watched)):
        mean, half = mean_interval(values)
        arms.append(f"{arm}: **{mean:.2f} ms** ± {half:.2f}")
    shown, words = verdict(bare, watched)
    dashboard = statistics.fmean(r["dashboard"] / r["wall"] for r in results["with"])
    return (
        f"**The coordinator with the page open.** The same search, {args.evaluations} evaluations, {args.pairs} "
        f"pair{'s' if args.pairs != 1 else ''} of runs without and with a Chromium page open on the run page "
        "(opened as soon as the run's ledger exists; while the run is live it polls every 3 s, redraws the charts in "
        "view whenever the ledger grew, and the lineage at most every 10 s; the server reads a changed ledger at most "
        "every 2 s), on the simulated executor, where the coordinator is the only work (the worst case: in a real "
        "search it waits on training), the order alternating from pair to pair (without first in even "
        "pairs, with first in odd ones), after one warm-up run. `evo serve` and the browser "
        "stay up throughout (idle without a page). Per individual: the `evo run` process's wall time (start to exit, "
        "report included) and its CPU time, over the individuals in its ledger; the last column is the CPU the "
        "server and the browser used during the run.\n\n"
        "| pair | page | individuals | wall (s) | wall ms / individual | CPU ms / individual | dashboard CPU (s) |\n"
        f"|---|---|---|---|---|---|---|\n{rows}\n\n"
        f"Mean wall ms per individual (95% interval): {'; '.join(arms)}. Difference (with minus without, "
        "paired by pair): "
        f"**{shown}**. Verdict: **{words}**. While open, the server and the browser used "
        f"{100 * dashboard:.0f}% of one core on average. Target: no measurable change."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--individuals", type=int, default=2000, help="evaluations in the run whose page is loaded")
    parser.add_argument("--loads", type=int, default=5, help="page loads (the first with the server's cache cold)")
    parser.add_argument("--pairs", type=int, default=8, help="pairs of runs without and with the page open")
    parser.add_argument("--evaluations", type=int, default=800, help="evaluations in each of those runs")
    parser.add_argument("--no-write", action="store_true", help="print the section, leave RESULTS.md alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="evo-dashboard-bench-") as name:
        tmp = Path(name)
        env = env_for(tmp)
        print("page load:", flush=True)
        load = page_load(args, tmp / "load", env)
        print("coordinator with and without the page:", flush=True)
        beside = coordinator(args, tmp / "beside", env)
    body = (
        "Population mode on the surrogate target, simulated executor (candidates in-process on a virtual clock: the "
        "run is all coordinator), 8 slots, no LLM endpoint, no memory of earlier runs (so every run is the same "
        f"search); headless Chromium driven by Playwright. Nothing else ran.\n\n{load}\n\n{beside}"
    )
    print(body)
    if not args.no_write:
        write_section(
            "dashboard", "The dashboard: page load and an open page beside a search (`benchmarks/dashboard.py`)", body
        )


if __name__ == "__main__":
    main()
