"""The dashboard in a real browser: headless Chromium (Debian's `chromium`, driven by Playwright) loads the run page
of a finished surrogate run and of a live one, and the test reads the rendered DOM. Screenshots land in
test-artifacts/ (or $EVO_TEST_ARTIFACTS)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import REPO
from .test_dashboard import HOSTILE, finished_surrogate_run, free_port, live_search, serve, wait_until_up

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright drives the browser: pip install -e '.[test]'")
CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no headless Chromium: install it with `apt-get install chromium` (Debian)"
)
ARTIFACTS = Path(os.environ.get("EVO_TEST_ARTIFACTS", REPO / "test-artifacts"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("browser") / "runs"
    os.environ["EVO_CACHE_DIR"] = str(runs.parent / "cache")
    try:
        finished_surrogate_run(runs)
    finally:
        del os.environ["EVO_CACHE_DIR"]
    return runs


@pytest.fixture(scope="module")
def server(runs: Path) -> Iterator[str]:
    port = free_port()
    process, address = serve(runs, "--port", str(port))
    try:
        wait_until_up(address)
        yield address.rstrip("/")
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: sync_api.Browser) -> Iterator[sync_api.Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    yield page
    shown = page.locator("#error")
    if shown.count():  # what the page's own scripts caught
        errors += [shown.text_content() or ""] if shown.is_visible() else []
    context.close()
    assert not errors, errors  # no script error, no refused resource (CSP included)


def shot(page: sync_api.Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


def ledger_best(root: Path) -> tuple[str, str]:
    from population.individual import rank_key
    from population.ledger import Ledger

    with Ledger(root / "ledger.sqlite", readonly=True) as ledger:
        best = min((i for i in ledger.all() if i.is_parent_eligible), key=lambda i: rank_key(i, "minimize"))
    return best.id, f"{best.metric:.6f}"


def lineage(page: sync_api.Page) -> None:
    """Scroll to the lineage (charts are drawn once in view) and wait for its nodes."""
    page.locator("#lineage").scroll_into_view_if_needed()
    page.wait_for_selector("#lineage .scatterlayer .point")


def click_node(page: sync_api.Page, ident: str) -> None:
    """A real mouse click where Plotly drew the lineage node `ident`."""
    lineage(page)
    x, y = page.evaluate(
        """(ident) => {
            const chart = document.getElementById("lineage"), box = chart.getBoundingClientRect();
            const xa = chart._fullLayout.xaxis, ya = chart._fullLayout.yaxis;
            for (const trace of chart.data) {
                const k = (trace.customdata || []).indexOf(ident);
                const x = box.left + xa._offset, y = box.top + ya._offset;
                if (k >= 0) return [x + xa.l2p(trace.x[k]), y + ya.l2p(trace.y[k])];
            }
            throw new Error("no node " + ident);
        }""",
        ident,
    )
    page.mouse.click(x, y)


def test_the_finished_runs_page_shows_the_ledgers_best_and_a_clicked_nodes_diff(
    page: sync_api.Page, server: str, runs: Path
) -> None:
    from population.ledger import Ledger
    from population.store import GitStore

    root = runs / "surrogate"
    best_id, best_text = ledger_best(root)
    page.goto(f"{server}/run?path=surrogate")
    sync_api.expect(page.locator("#best-value")).to_have_text(best_text)
    sync_api.expect(page.locator("#best-id")).to_have_text(best_id)
    sync_api.expect(page.locator("#live")).to_have_text("finished")
    with Ledger(root / "ledger.sqlite", readonly=True) as ledger:
        by_id = {i.id: i for i in ledger.all()}
    child = next(i for i in by_id.values() if i.parents and i.description != HOSTILE)
    with GitStore(root / "git", ("train.py",)) as store:
        diff = store.diff(child.commit, by_id[child.parents[0]].commit)
    click_node(page, child.id)
    sync_api.expect(page.locator("#ind-id")).to_have_text(child.id)
    shown = page.locator("#diffs pre").first.text_content() or ""
    assert shown.strip() == diff.strip()
    sync_api.expect(page.locator("#chart-curve .scatterlayer .trace").first).to_be_attached()
    page.locator("#top tbody a", has_text=best_id).click()  # the top table opens an individual too
    sync_api.expect(page.locator("#ind-id")).to_have_text(best_id)
    sync_api.expect(page.locator("#noise-summary")).to_contain_text("3 seeds")
    page.locator("#chart-noise").scroll_into_view_if_needed()
    sync_api.expect(page.locator("#chart-noise .scatterlayer .trace").first).to_be_attached()
    shot(page, "finished-run")


def test_llm_text_renders_as_text(page: sync_api.Page, server: str, runs: Path) -> None:
    from population.ledger import Ledger

    with Ledger(runs / "surrogate" / "ledger.sqlite", readonly=True) as ledger:
        hostile = next(i for i in ledger.all() if i.description == HOSTILE)
    page.goto(f"{server}/run?path=surrogate#{hostile.id}")
    sync_api.expect(page.locator("#ind-description")).to_have_text(HOSTILE)
    sync_api.expect(page.locator("#ind-rationale")).to_have_text(f"because {HOSTILE}")
    lineage(page)
    page.hover("#lineage .scatterlayer .point >> nth=1", force=True)
    assert page.evaluate("window.pwned") is None
    assert page.locator("#individual script, #individual img").count() == 0
    shot(page, "hostile-description")


def test_a_live_runs_page_follows_the_run(page: sync_api.Page, server: str, runs: Path, tmp_path: Path) -> None:
    search = live_search(runs, tmp_path / "cache", 24, 0.6)
    try:
        while not (runs / "live" / "ledger.sqlite").is_file() or not (runs / "live" / "individuals").is_dir():
            assert search.poll() is None, "the search ended before it started"
            time.sleep(0.1)
        page.goto(f"{server}/run?path=live")
        sync_api.expect(page.locator("#live")).to_have_text("live", timeout=20_000)
        first = int(page.locator("#individuals").text_content() or "0")
        sync_api.expect(page.locator("#individuals")).not_to_have_text(str(first), timeout=20_000)  # it polls
        shot(page, "live-run")
        assert search.wait(timeout=120) == 0
        sync_api.expect(page.locator("#live")).to_have_text("finished", timeout=10_000)
        best_id, best_text = ledger_best(runs / "live")
        sync_api.expect(page.locator("#best-value")).to_have_text(best_text, timeout=10_000)
        sync_api.expect(page.locator("#best-id")).to_have_text(best_id)
    finally:
        if search.poll() is None:
            search.kill()
            search.wait()


def test_the_index_lists_the_runs(page: sync_api.Page, server: str) -> None:
    page.goto(server)
    sync_api.expect(page.locator("#runs tbody")).to_contain_text("surrogate")
    page.locator("#runs tbody a", has_text="surrogate").first.click()
    sync_api.expect(page.locator("#best-value")).not_to_have_text("-")
