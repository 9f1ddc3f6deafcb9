"""The layout rules: the import contracts hold (and a violation fails them), docs/architecture.md names every package
and module as they are, and no module grows past the size a reader takes in at once."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import REPO

DOC = REPO / "docs" / "architecture.md"
MAX_LINES = 400


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the packages under `root`, with the contracts of `root/pyproject.toml`."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    command = [
        sys.executable,
        "-c",
        "import sys; from importlinter.cli import lint_imports_command; lint_imports_command()",
    ]
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=120)


def test_the_import_contracts_hold() -> None:
    done = lint_imports(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 kept, 0 broken" in done.stdout


def test_an_upward_import_and_population_importing_evo_break_the_contracts(tmp_path: Path) -> None:
    for name in ("evo", "population"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    result = tmp_path / "evo" / "evaluation" / "result.py"
    result.write_text(result.read_text() + "\nfrom evo.reporting import stats  # noqa: E402\n")
    record = tmp_path / "population" / "individual.py"
    record.write_text(record.read_text() + "\nimport evo.errors  # noqa: E402\n")
    done = lint_imports(tmp_path)
    assert done.returncode != 0
    assert "1 kept, 2 broken" in done.stdout, done.stdout
    assert "evo.evaluation.result -> evo.reporting.stats" in done.stdout
    assert "population.individual -> evo.errors" in done.stdout


def _rows() -> dict[str, str]:
    """The package tables' rows: package path -> the row's text."""
    rows = {}
    for line in DOC.read_text().splitlines():
        match = re.match(r"\| `((?:evo|population)/[\w/.]*)` \|(.*)\|$", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def test_the_architecture_document_names_every_package_and_module_as_they_are() -> None:
    rows = _rows()
    packages = {f"evo/{p.name}/" for p in (REPO / "evo").iterdir() if (p / "__init__.py").is_file()}
    assert packages == {name for name in rows if name.startswith("evo/") and name.endswith("/")}
    for name, text in rows.items():
        path = REPO / name
        assert path.exists(), f"docs/architecture.md names {name}, which does not exist"
        if path.is_dir():
            named = set(re.findall(r"`([\w/]+\.py)`", text)) - {"__init__.py"}
            present = {str(p.relative_to(path)) for p in path.rglob("*.py") if p.name != "__init__.py"}
            flat = {n.rpartition("/")[2] for n in present}
            assert {n.rpartition("/")[2] for n in named} <= flat, f"{name}: the document names a missing module"
            assert flat <= {n.rpartition("/")[2] for n in named}, f"{name}: a module the document does not name"
    layers = re.search(r"```\n(evo\.cli\n.*?)```", DOC.read_text(), re.DOTALL)
    assert layers is not None
    documented = [line.strip() for line in layers.group(1).strip().splitlines()]
    config = (REPO / "pyproject.toml").read_text()
    assert documented == re.findall(r'^    "([\w. |]+)",$', config, re.MULTILINE)


def test_no_module_is_longer_than_a_reader_takes_in_at_once() -> None:
    sources = [*REPO.glob("evo/**/*.py"), *REPO.glob("population/**/*.py"), *REPO.glob("benchmarks/*.py")]
    long = {str(p.relative_to(REPO)): n for p in sources if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"
