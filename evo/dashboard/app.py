"""The dashboard's web app (FastAPI): HTML pages that draw with Plotly from the JSON API beside them.

Pages: `/` (every run and bench under the served directory), `/run?path=` (a run's live progress, lineage, one
individual at a time, its noise model), `/bench?path=` (a bench's arms and its report, rebuilt as its runs go on).
The API under `/api/` gives each page's data. Everything is read-only; see `security` for what guards it.
"""

from __future__ import annotations

import atexit
import gzip
import hashlib
import html
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.gzip import GZipMiddleware

from evo.bench.runner import load_plan, run_dirs, write_report
from evo.dashboard import run_view
from evo.dashboard.runs_dir import OutsideRoot, RunsDir, is_live, signature
from evo.dashboard.security import REPORT_POLICY, guard
from evo.errors import EvoError
from evo.reporting.pooled_audit import beside, pooled
from evo.reporting.run_data import RunData, load_run
from population.errors import PopulationError

HERE = Path(__file__).parent
PLOTLY = HERE / "static" / "vendor" / "plotly-basic.min.js"  # see static/vendor/README.md
CACHED = 16  # runs kept loaded (each reloaded only when its ledger changes)
RELOAD = 2.0  # seconds: a live run is read again at most this often


class Cache:
    """Values keyed by a path and rebuilt only when the path's signature changes: polling a quiet run costs a stat."""

    def __init__(self, size: int = CACHED) -> None:
        self.size = size
        self.items: OrderedDict[Path, tuple[str, Any, float]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Path, version: str, build: Callable[[], Any], fresh: float = 0.0) -> Any:
        """The value for `key` at `version`; one built less than `fresh` seconds ago is taken whatever its version
        (a run written many times a second is then reloaded at most once per `fresh`, however many pages poll)."""
        with self.lock:
            hit = self.items.get(key)
            if hit is not None and (hit[0] == version or time.monotonic() - hit[2] < fresh):
                self.items.move_to_end(key)
                return hit[1]
        value = build()
        with self.lock:
            self.items[key] = (version, value, time.monotonic())
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


def create_app(root: Path, token: str | None = None, loopback: bool = True) -> FastAPI:
    """The app serving `root`; `token`: required on every request (a non-loopback bind); `loopback`: only requests
    addressed to this machine's loopback names are answered (DNS rebinding)."""
    runs = RunsDir(root)
    app = FastAPI(title="evo dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    guard(app, token, loopback)
    app.add_middleware(GZipMiddleware, minimum_size=1000)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")  # autoescapes every value put into a page
    loaded = Cache()
    summaries = Cache(1024)
    reports = Cache(4)
    bundles = Cache(1)
    audits = Cache(64)  # the self-audit pooled over runs of one rule: run pages and bench arms
    scratch = Path(tempfile.mkdtemp(prefix="evo-dashboard-"))  # bench reports are built here, never in the runs
    atexit.register(shutil.rmtree, scratch, True)

    def run_at(relative: str) -> tuple[RunData, bool | None]:
        """The run at `relative` and whether it is live."""
        path = resolve(relative, "run")
        live = is_live(path)
        try:
            version = signature(path / "ledger.sqlite", path / "noise.json")
            run = loaded.get(path, version, lambda: load_run(path, readonly=True), fresh=_throttle(live))
        except (EvoError, PopulationError) as exc:
            raise HTTPException(422, f"{relative}: {exc}") from None
        return run, live

    def row_of(path: Path) -> dict[str, Any]:
        """A run's line in the index and in a bench's list (cached like the runs), and whether it is live now."""
        try:
            row = summaries.get(path, signature(path / "ledger.sqlite"), lambda: run_view.summary(path))
        except (EvoError, PopulationError) as exc:
            return {"error": str(exc)}
        return row | {"live": is_live(path)}

    def resolve(relative: str, kind: str) -> Path:
        try:
            return runs.resolve(relative, kind)
        except OutsideRoot as exc:
            raise HTTPException(403, str(exc)) from None

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request) -> Response:
        return templates.TemplateResponse(request, "index.html", {"root": str(runs.root)})

    @app.get("/run", response_class=HTMLResponse)
    def run_page(request: Request, path: str) -> Response:
        resolve(path, "run")
        # The page's first API calls, fetched while the browser still compiles Plotly (the URLs the script asks for).
        preload = [f"/api/{name}?{urlencode({'path': path})}" for name in ("progress", "lineage", "noise")]
        return templates.TemplateResponse(request, "run.html", {"path": path, "preload": preload})

    @app.get("/bench", response_class=HTMLResponse)
    def bench_page(request: Request, path: str) -> Response:
        resolve(path, "bench")
        return templates.TemplateResponse(request, "bench.html", {"path": path})

    @app.get("/api/runs")
    def api_runs() -> dict[str, Any]:
        rows = []
        for entry in runs.entries():
            row: dict[str, Any] = {"path": entry.path, "kind": entry.kind}
            if entry.kind == "run":
                row |= row_of(runs.root / entry.path)
            else:
                row |= _bench_row(runs.root / entry.path)
            rows.append(row)
        return {"root": str(runs.root), "entries": rows}

    @app.get("/api/progress")
    def api_progress(path: str) -> dict[str, Any]:
        run, live = run_at(path)
        folder = _folder_version(run.root.parent)
        together = audits.get(run.root, folder, lambda: beside(run.root), fresh=_throttle(live))
        return run_view.progress(run, live, time.time()) | {"early_termination_pooled": together}

    @app.get("/api/lineage")
    def api_lineage(path: str) -> dict[str, Any]:
        return run_view.lineage(run_at(path)[0])

    @app.get("/api/individual")
    def api_individual(path: str, id: str) -> dict[str, Any]:
        try:
            return run_view.individual(run_at(path)[0], id)
        except KeyError:
            raise HTTPException(404, f"{path}: no individual {id!r}") from None

    @app.get("/api/noise")
    def api_noise(path: str) -> dict[str, Any]:
        return {"noise": run_view.noise(resolve(path, "run"))}

    def plan_of(bench: Path) -> Any:
        try:
            return load_plan(bench)
        except EvoError as exc:
            raise HTTPException(422, str(exc)) from None

    @app.get("/api/bench")
    def api_bench(path: str) -> dict[str, Any]:
        bench = resolve(path, "bench")
        plan = plan_of(bench)
        arms = []
        for arm, dirs in run_dirs(bench, plan).items():
            rows = []
            for directory in dirs:
                relative = directory.resolve().relative_to(runs.root).as_posix()
                started = (directory / "ledger.sqlite").is_file()
                rows.append({"path": relative, "started": started} | (row_of(directory) if started else {}))
            version = signature(*(d / "ledger.sqlite" for d in dirs))
            audit = audits.get(bench / arm, version, lambda dirs=dirs: pooled(dirs), fresh=RELOAD)
            arms.append({"name": arm, "runs": rows, "early_termination": audit})
        return {
            "name": plan.name,
            "kind": plan.kind,
            "seeds": plan.seeds,
            "arms": arms,
            "version": _bench_version(bench, plan),
        }

    @app.get("/bench/report", response_class=HTMLResponse)
    def bench_report(path: str) -> Response:
        bench = resolve(path, "bench")
        plan = plan_of(bench)
        out = scratch / hashlib.sha1(str(bench).encode()).hexdigest()[:16]

        def build() -> str:
            try:
                return write_report(bench, plan, out, readonly=True).with_suffix(".html").read_text()
            except (EvoError, PopulationError) as exc:
                return f"<!DOCTYPE html><p>{html.escape(str(exc))}</p>"

        page = reports.get(bench, _bench_version(bench, plan), build)
        return HTMLResponse(page, headers={"Content-Security-Policy": REPORT_POLICY})

    @app.get("/vendor/plotly.min.js")
    def plotly_js(request: Request) -> Response:  # served from here: the dashboard needs no network
        headers = {"Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}
        if "gzip" not in request.headers.get("accept-encoding", ""):
            return FileResponse(PLOTLY, headers=headers)
        # 1.2 MB: compressed once, not on every request (the middleware leaves an encoded answer alone)
        body = bundles.get(PLOTLY, signature(PLOTLY), lambda: gzip.compress(PLOTLY.read_bytes(), 6))
        return Response(body, media_type="text/javascript", headers=headers | {"Content-Encoding": "gzip"})

    return app


def _bench_row(bench: Path) -> dict[str, Any]:
    try:
        plan = load_plan(bench)
    except EvoError as exc:
        return {"error": str(exc)}
    return {"name": plan.name, "mode": f"{plan.kind}: {len(plan.arms)} arms x {plan.seeds} seeds"}


def _throttle(live: bool | None) -> float:
    """How long a run's cached value is served however its files changed: RELOAD while a coordinator may be writing
    it (None: on another host), none once it has stopped, so a finished run's last state shows at once."""
    return 0.0 if live is False else RELOAD


def _folder_version(folder: Path) -> str:
    """Changes whenever a run in `folder` writes its ledger (a stat per run: what the pooled audit is cached on)."""
    return "|".join(signature(d / "ledger.sqlite") for d in sorted(folder.iterdir()) if d.is_dir())


def _bench_version(bench: Path, plan: Any) -> str:
    return "|".join(signature(d / "ledger.sqlite") for dirs in run_dirs(bench, plan).values() for d in dirs)
