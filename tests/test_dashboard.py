"""The dashboard's data and guards (`evo serve`): every page's API on a finished surrogate run and on one being
written while it is read, the read-only promise, and the security rules (paths, tokens, loopback names)."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the dashboard's packages: pip install -e '.[serve]'")

from fastapi.testclient import TestClient

from evo.config import load_config
from evo.dashboard.app import create_app
from evo.dashboard.server import answering
from evo.search import Coordinator, start
from evo.stopping import load_noise
from evo.stopping.audit import audit_line
from population.individual import rank_key
from population.ledger import Ledger
from population.store import GitStore

from .conftest import REPO

SURROGATE = REPO / "benchmarks" / "surrogate"
HOSTILE = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"> & "quotes"'


def surrogate_overrides(runs: Path, evaluations: int, seconds: float, *more: str) -> list[str]:
    return [
        f"runs_dir={runs}",
        f"target={SURROGATE}",
        f"env={{EVO_SURROGATE_SECONDS: '{seconds}'}}",
        f"stop.evaluations={evaluations}",
        "population.size=4",
        "early_stop.enabled=true",
        "calibration.runs=3",
        *more,
    ]


def finished_surrogate_run(runs: Path) -> Path:
    """A finished population search with early termination (so noise model, pruned and watched events) whose
    first child's description is hostile markup, as an LLM might write."""
    root = start(load_config(REPO / "configs" / "surrogate.yaml", surrogate_overrides(runs, 14, 0.3)))
    Coordinator(root).run()
    with Ledger(root / "ledger.sqlite") as ledger:
        child = next(i for i in ledger.all() if i.parents)
        ledger.update(replace(child, description=HOSTILE, rationale=f"because {HOSTILE}"))
    return root


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("dashboard") / "runs"
    os.environ["EVO_CACHE_DIR"] = str(runs.parent / "cache")
    try:
        return finished_surrogate_run(runs)
    finally:
        del os.environ["EVO_CACHE_DIR"]


@pytest.fixture
def client(finished: Path) -> Iterator[TestClient]:
    with TestClient(create_app(finished.parent), base_url="http://127.0.0.1") as client:
        yield client


def ledger_of(root: Path) -> tuple[list, list]:
    with Ledger(root / "ledger.sqlite", readonly=True) as ledger:
        return ledger.all(), ledger.events()


def test_the_index_lists_the_run_with_its_best(client: TestClient, finished: Path) -> None:
    individuals, _ = ledger_of(finished)
    best = min((i for i in individuals if i.is_parent_eligible), key=lambda i: rank_key(i, "minimize"))
    entries = client.get("/api/runs").json()["entries"]
    assert [e["path"] for e in entries] == [finished.name]
    assert entries[0]["individuals"] == len(individuals) and entries[0]["live"] is False
    assert entries[0]["best"] == {"id": best.id, "text": f"{best.metric:.6f}"}


def test_progress_matches_the_ledger(client: TestClient, finished: Path) -> None:
    individuals, _ = ledger_of(finished)
    progress = client.get("/api/progress", params={"path": finished.name}).json()
    assert progress["individuals"] == len(individuals) and progress["live"] is False
    assert sum(progress["counts"].values()) == len(individuals)
    assert progress["counts"]["pruned"] == sum(i.status == "pruned" for i in individuals) > 0
    assert progress["compute"]["used"] == pytest.approx(sum(i.budget_seconds for i in individuals))
    assert progress["compute"]["saved"] == pytest.approx(sum(i.saved_seconds for i in individuals))
    assert progress["compute"]["saved"] > 0
    best = min((i for i in individuals if i.is_parent_eligible), key=lambda i: rank_key(i, "minimize"))
    assert progress["best"]["id"] == best.id and progress["best"]["text"] == f"{best.metric:.6f}"
    ranked = sorted((i for i in individuals if i.is_parent_eligible), key=lambda i: rank_key(i, "minimize"))
    assert [t["id"] for t in progress["top"]] == [i.id for i in ranked[:10]]
    curve = progress["best_by_compute"]
    assert curve["y"] == sorted(curve["y"], reverse=True) and curve["y"][-1] == best.metric
    assert curve["x"] == sorted(curve["x"]) and curve["x"][-1] <= progress["compute"]["used"] + 1e-6
    assert progress["best_by_wall"]["id"][-1] == best.id
    assert max(progress["slots"]["y"]) <= 2 and progress["slots"]["y"][-1] == 0  # 2 slots, all done
    trained = progress["compute"]["used"] / progress["budget"]  # the run's training in whole budgets
    assert progress["early_termination"] == audit_line(ledger_of(finished)[1], trained)
    assert "decisions to stop" in progress["early_termination"]


def test_the_lineage_has_every_individual_and_its_parents(client: TestClient, finished: Path) -> None:
    individuals, _ = ledger_of(finished)
    lineage = client.get("/api/lineage", params={"path": finished.name}).json()
    nodes = {n["id"]: n for n in lineage["nodes"]}
    assert set(nodes) == {i.id for i in individuals}
    for individual in individuals:
        node = nodes[individual.id]
        assert node["parents"] == list(individual.parents) and node["status"] == individual.status
        assert node["generation"] == 1 + max((nodes[p]["generation"] for p in individual.parents), default=-1)


def test_an_individual_has_its_diffs_curve_stop_log_and_evaluations(client: TestClient, finished: Path) -> None:
    individuals, events = ledger_of(finished)
    by_id = {i.id: i for i in individuals}
    pruned = next(e.data for e in events if e.kind == "pruned")
    me = by_id[pruned["individual"]]
    page = client.get("/api/individual", params={"path": finished.name, "id": me.id}).json()
    editable = ("train.py",)
    with GitStore(finished / "git", editable) as store:
        expected = [{"parent": p, "diff": store.diff(me.commit, by_id[p].commit)} for p in me.parents]
    assert page["diffs"] == expected and all(d["diff"].startswith("--- a/") for d in expected)
    assert page["curve"] == [list(point) for point in me.curve] and page["status"] == "pruned"
    stop = page["stop"]
    assert stop["kind"] == "pruned" and stop["reference"] == pruned["reference"]
    assert stop["fraction"] == pruned["fraction"] and stop["at"] == pytest.approx(pruned["fraction"] * 300.0)
    assert stop["llr"] >= stop["threshold"] > 0
    assert stop["reference_curve"] == [list(point) for point in by_id[pruned["reference"]].curve]
    log = (finished / "individuals" / me.id / "log.txt").read_text(errors="replace").splitlines()
    assert page["log"].splitlines() == log[-len(page["log"].splitlines()) :] and page["log"]
    with Ledger(finished / "ledger.sqlite", readonly=True) as ledger:
        seeds = [e.seed for e in ledger.evaluations(me.id)]
    assert [e["seed"] for e in page["evaluations"]] == seeds
    hostile = next(i for i in individuals if i.parents and i.description == HOSTILE)
    text = client.get("/api/individual", params={"path": finished.name, "id": hostile.id}).json()
    assert text["description"] == HOSTILE  # data stays data: the page puts it in as text (the browser test checks)
    missing = client.get("/api/individual", params={"path": finished.name, "id": "9999"})
    assert missing.status_code == 404 and "no individual" in missing.text


def test_the_noise_model_is_the_calibrations(client: TestClient, finished: Path) -> None:
    model = load_noise(finished / "noise.json")
    noise = client.get("/api/noise", params={"path": finished.name}).json()["noise"]
    assert noise["summary"] == model.summary() and noise["sd"] == list(model.sd) and noise["seeds"] == [1, 2, 3]


def test_pages_carry_no_run_text_and_forbid_inline_scripts(client: TestClient, finished: Path) -> None:
    for url in ("/", f"/run?path={finished.name}"):
        page = client.get(url)
        assert page.status_code == 200 and "<script>window" not in page.text
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
        assert page.headers["x-content-type-options"] == "nosniff"
    scripts = re.findall(r'<script src="([^"]+)"', client.get(f"/run?path={finished.name}").text)
    assert scripts and all(client.get(src).status_code == 200 for src in scripts)


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under a run but SQLite's shared-memory files (which any reader may create): name -> content hash."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.name.endswith(("-shm", "-wal"))
    }


def test_reading_every_page_writes_nothing(finished: Path) -> None:
    before = tree_digest(finished)
    with TestClient(create_app(finished.parent), base_url="http://127.0.0.1") as client:
        ids = [n["id"] for n in client.get("/api/lineage", params={"path": finished.name}).json()["nodes"]]
        for url in ("/", "/api/runs", f"/run?path={finished.name}", f"/api/progress?path={finished.name}"):
            assert client.get(url).status_code == 200
        for ident in ids:
            assert client.get("/api/individual", params={"path": finished.name, "id": ident}).status_code == 200
        assert client.post("/api/runs").status_code == 405
    assert tree_digest(finished) == before


@pytest.mark.parametrize(
    "path", ["..", "../..", "runs/../..", "/etc", "../runs", "escape", "not-a-run", "escape/ledger.sqlite"]
)
def test_paths_outside_the_runs_directory_are_refused(finished: Path, path: str) -> None:
    outside = finished.parent.parent / "outside"
    outside.mkdir(exist_ok=True)
    (finished.parent / "not-a-run").mkdir(exist_ok=True)
    if not (finished.parent / "escape").exists():
        (finished.parent / "escape").symlink_to(finished.parent.parent)  # a link out of the root
    with TestClient(create_app(finished.parent), base_url="http://127.0.0.1") as client:
        for url in ("/run", "/api/progress", "/api/lineage", "/api/noise", "/bench", "/api/bench"):
            answer = client.get(url, params={"path": path})
            assert answer.status_code == 403, (url, path, answer.text)
        assert client.get("/api/individual", params={"path": path, "id": "0000"}).status_code == 403
        assert client.get("/static/../app.py").status_code == 404


def test_a_token_guards_every_request_when_set(finished: Path) -> None:
    app = create_app(finished.parent, token="s3cret-token", loopback=False)
    with TestClient(app, base_url="http://192.0.2.7") as client:  # any host name: a non-loopback bind
        assert client.get("/api/runs").status_code == 401
        assert client.get("/", params={"token": "wrong"}).status_code == 401
        assert client.get("/api/runs", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
        first = client.get("/", params={"token": "s3cret-token"})
        assert first.status_code == 200 and first.cookies.get("evo_token") == "s3cret-token"
        assert client.get("/api/runs").status_code == 200  # the cookie carries it on


def test_a_loopback_bind_answers_loopback_names_only(finished: Path) -> None:
    with TestClient(create_app(finished.parent), base_url="http://evil.example") as client:
        assert client.get("/api/runs").status_code == 403  # a rebound name: refused
    for host in ("localhost", "127.0.0.1", "[::1]"):
        with TestClient(create_app(finished.parent), base_url=f"http://{host}:8765") as client:
            assert client.get("/api/runs").status_code == 200


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(root: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    """`evo serve` in a child process; returns it and the address it printed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "evo", "serve", str(root), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"(http://\S+)", line)
    assert match, line
    return process, match.group(1)


def wait_until_up(url: str) -> None:
    assert answering(url), f"{url}: never answered"


def test_a_non_loopback_bind_without_a_token_gets_one_and_refuses_requests_without_it(finished: Path) -> None:
    import httpx

    port = free_port()
    process, address = serve(finished.parent, "--host", "0.0.0.0", "--port", str(port))
    try:
        token = address.split("token=")[1]
        assert len(token) >= 24
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base)
        assert httpx.get(f"{base}/api/runs").status_code == 401
        assert httpx.get(f"{base}/api/runs", params={"token": token}).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)


def offline_env(cache: Path) -> dict[str, str]:
    """A child search's environment: no LLM endpoint (the offline operators), its own calibration cache."""
    env = {**os.environ, "EVO_CACHE_DIR": str(cache)}
    env.pop("OPENAI_API_KEY", None)
    env.pop("OPENAI_BASE_URL", None)
    return env


def live_search(runs: Path, cache: Path, evaluations: int, seconds: float) -> subprocess.Popen[str]:
    """`evo run` of a surrogate search named "live" in a child process, offline; its output in live-search.log
    beside `runs`."""
    env = offline_env(cache)
    overrides = surrogate_overrides(runs, evaluations, seconds, "name=live", "slots.count=2")
    with (runs.parent / "live-search.log").open("w") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "evo", "run", str(REPO / "configs" / "surrogate.yaml"), *overrides],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO,
            env=env,
        )


def test_a_run_being_written_is_read_consistently_and_the_coordinator_is_not_held_up(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    search = live_search(runs, tmp_path / "cache", 30, 0.4)
    seen: list[int] = []
    live_seen = False
    with TestClient(create_app(runs), base_url="http://127.0.0.1") as client:
        while search.poll() is None:
            if not (runs / "live" / "ledger.sqlite").is_file():
                time.sleep(0.1)
                continue
            progress = client.get("/api/progress", params={"path": "live"})
            lineage = client.get("/api/lineage", params={"path": "live"})
            if progress.status_code != 200:  # the run directory exists before its ledger has tables
                assert "not an evo ledger" in progress.text or "no ledger" in progress.text, progress.text
                continue
            data, nodes = progress.json(), {n["id"]: n for n in lineage.json()["nodes"]}
            assert sum(data["counts"].values()) == data["individuals"]
            assert all(p in nodes for n in nodes.values() for p in n["parents"])
            ok = [n["metric"] for n in nodes.values() if n["status"] == "ok" and n["metric"] is not None]
            if data["best"] is not None and len(nodes) == data["individuals"]:
                assert data["best"]["value"] in ok
            live_seen |= data["live"] is True
            seen.append(data["individuals"])
            time.sleep(0.05)
        assert search.wait() == 0, (tmp_path / "live-search.log").read_text()[-3000:]
        final = client.get("/api/progress", params={"path": "live"}).json()
    individuals, _ = ledger_of(runs / "live")
    assert live_seen and final["live"] is False and final["individuals"] == len(individuals)
    assert len(set(seen)) >= 5, "the run grew while it was read"
    assert seen == sorted(seen)


def test_evo_run_serve_starts_the_dashboard_beside_the_search_and_stops_it_after(tmp_path: Path) -> None:
    import httpx

    port, runs = free_port(), tmp_path / "runs"
    env = offline_env(tmp_path / "cache")
    config = [str(REPO / "configs" / "surrogate.yaml"), *surrogate_overrides(runs, 16, 0.4, "name=served")]
    search = subprocess.Popen(
        [sys.executable, "-m", "evo", "run", *config, "--serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
        env=env,
    )
    seen = []
    while search.poll() is None:
        try:
            answer = httpx.get(f"http://127.0.0.1:{port}/api/runs", timeout=2)
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        seen.append([(e["path"], e.get("live")) for e in answer.json()["entries"]])
        time.sleep(0.2)
    assert search.wait() == 0
    assert ("served", True) in [entry for entries in seen for entry in entries]
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/api/runs", timeout=2)  # stopped with the search


def test_a_bench_page_lists_its_arms_and_serves_its_report_while_it_runs(tmp_path: Path) -> None:
    from .test_bench import BENCH, write

    bench_file = write(tmp_path, BENCH)
    env = offline_env(tmp_path / "cache")
    bench = subprocess.Popen(
        [sys.executable, "-m", "evo", "bench", str(bench_file), "--jobs", "1"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    runs = tmp_path / "runs"
    while not (runs / "bench" / "plan.json").is_file():
        assert bench.poll() is None
        time.sleep(0.1)
    versions, started = set(), []
    with TestClient(create_app(runs), base_url="http://127.0.0.1") as client:
        assert [(e["path"], e["kind"]) for e in client.get("/api/runs").json()["entries"]] == [("bench", "bench")]
        while bench.poll() is None:
            data = client.get("/api/bench", params={"path": "bench"}).json()
            assert [arm["name"] for arm in data["arms"]] == ["ratchet", "population"]
            started.append(sum(run["started"] for arm in data["arms"] for run in arm["runs"]))
            versions.add(data["version"])
            time.sleep(0.3)
        assert bench.wait() == 0
        data = client.get("/api/bench", params={"path": "bench"}).json()
        report = client.get("/bench/report", params={"path": "bench"})
    assert started == sorted(started) and started[-1] <= 4 and len(versions) > 1
    for arm in data["arms"]:
        for run in arm["runs"]:
            assert run["started"] and run["individuals"] > 0 and run["path"].startswith("bench/runs/")
    assert report.status_code == 200 and "<td>ratchet</td>" in report.text and "<td>population</td>" in report.text
    assert report.headers["content-security-policy"].startswith("default-src 'none'")


def test_evo_run_serve_on_a_taken_port_says_so_and_searches_anyway(tmp_path: Path) -> None:
    env = offline_env(tmp_path / "cache")
    config = [str(REPO / "configs" / "surrogate.yaml"), *surrogate_overrides(tmp_path / "runs", 3, 0.1, "name=taken")]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "evo", "run", *config, "--serve", "--port", str(port)],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=env,
            timeout=300,
        )
    assert done.returncode == 0, done.stderr
    assert f"no dashboard: port {port} is taken" in done.stderr
    assert len(ledger_of(tmp_path / "runs" / "taken")[0]) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/no/such/dir"], "/no/such/dir: no such directory to serve"),
        (["--port", "70000"], "--port 70000: not a port (1-65535)"),
    ],
)
def test_bad_serve_input_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "evo", "serve", *args], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [f"evo: error: {message}"]
