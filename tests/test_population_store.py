"""GitStore: one tagged commit per individual, parents as git parents, code byte for byte, and a consistency check."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from population.individual import Individual
from population.store import GitStore, StoreError

BASE = {"train.py": "LR = 0.01\nDEPTH = 4\n\ndef main():\n    pass\n", "model.py": "WIDTH = 64\n"}


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GitStore]:
    # No global identity anywhere: the store must bring its own.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    with GitStore(tmp_path / "run" / "git", ["train.py", "model.py"]) as opened:
        yield opened


def lineage(store: GitStore) -> dict[str, str]:
    """Baseline, two mutations of it, and their crossover."""
    base = store.commit("0000", BASE, [], "baseline")
    a = store.commit("0001", {**BASE, "train.py": BASE["train.py"].replace("0.01", "0.02")}, [base], "raise LR")
    b = store.commit("0002", {**BASE, "model.py": "WIDTH = 128\n"}, [base], "wider")
    child = {"train.py": BASE["train.py"].replace("0.01", "0.02"), "model.py": "WIDTH = 128\n"}
    x = store.commit("0003", child, [a, b], "cross")
    return {"0000": base, "0001": a, "0002": b, "0003": x}


def test_commits_have_their_parents_as_git_parents(store: GitStore) -> None:
    shas = lineage(store)
    assert store.parents(shas["0000"]) == ()
    assert store.parents(shas["0001"]) == (shas["0000"],)
    assert store.parents(shas["0003"]) == (shas["0001"], shas["0002"])  # a merge commit, in parent order
    log = store.repo.git.log("--format=%H %P", shas["0003"]).splitlines()
    assert f"{shas['0003']} {shas['0001']} {shas['0002']}" in log


def test_every_individual_is_tagged(store: GitStore) -> None:
    shas = lineage(store)
    assert store.tags() == shas
    assert store.repo.tags["ind/0002"].commit.hexsha == shas["0002"]


def test_code_round_trips_byte_for_byte(store: GitStore) -> None:
    tricky = {
        "train.py": "# ünïcode ✓ 模型\r\nX = 1\r\n\ttabs  and trailing spaces   \n\n\n",
        "model.py": "no newline at end",
    }
    sha = store.commit("0000", tricky, [], "tricky")
    assert store.code(sha) == tricky
    empty = store.commit("0001", {"train.py": ""}, [sha], "empty file")
    assert store.code(empty) == {"train.py": ""}  # files absent from `code` are absent from the commit


def test_commit_ignores_whatever_state_lies_around(store: GitStore, tmp_path: Path) -> None:
    base = store.commit("0000", BASE, [], "baseline")
    # A stray index and a stray file where a working tree would be change nothing: the tree is built from `code`.
    (store.path / "index").write_bytes(b"garbage")
    (store.path / "train.py").write_text("STRAY = 1\n")
    child = {**BASE, "train.py": "LR = 0.5\n"}
    sha = store.commit("0001", child, [base], "child")
    assert store.code(sha) == child
    assert store.code(base) == BASE


def test_diff_shows_the_change_against_the_first_parent(store: GitStore) -> None:
    shas = lineage(store)
    diff = store.diff(shas["0001"])
    assert "--- a/train.py\n+++ b/train.py\n" in diff
    assert "-LR = 0.01\n+LR = 0.02\n" in diff
    assert "model.py" not in diff
    assert "WIDTH = 128" in store.diff(shas["0003"]) and "LR" not in store.diff(shas["0003"])  # vs first parent
    assert "+LR = 0.02" in store.diff(shas["0003"], against=shas["0002"])
    baseline = store.diff(shas["0000"])
    assert "--- /dev/null\n+++ b/train.py\n" in baseline and "+DEPTH = 4\n" in baseline
    assert store.diff(shas["0001"], against=shas["0001"]) == ""


def test_move_branch_is_a_ref_move(store: GitStore) -> None:
    shas = lineage(store)
    assert store.branch("incumbent") is None
    store.move_branch("incumbent", shas["0001"])
    assert store.branch("incumbent") == shas["0001"]
    store.move_branch("incumbent", shas["0000"])  # a reset moves it back
    assert store.branch("incumbent") == shas["0000"]


def test_recommit_is_idempotent_but_a_different_commit_is_refused(store: GitStore) -> None:
    base = store.commit("0000", BASE, [], "baseline")
    assert store.commit("0000", BASE, [], "baseline again") == base
    with pytest.raises(StoreError, match="tag ind/0000 already names a different commit"):
        store.commit("0000", {"train.py": "X = 1\n"}, [], "other")
    with pytest.raises(StoreError, match="not editable"):
        store.commit("0001", {"prepare.py": "x"}, [base], "locked")


def test_reopening_keeps_history_and_foreign_directories_are_refused(store: GitStore, tmp_path: Path) -> None:
    shas = lineage(store)
    with GitStore(store.path, ["train.py", "model.py"]) as again:
        assert again.tags() == shas
    other = tmp_path / "notes"
    other.mkdir()
    (other / "a.txt").write_text("hello")
    with pytest.raises(StoreError, match="notes: exists and is not a git repository"):
        GitStore(other, ["train.py"])


def individuals(shas: dict[str, str]) -> list[Individual]:
    parents = {"0000": (), "0001": ("0000",), "0002": ("0000",), "0003": ("0001", "0002")}
    return [Individual(i, parents=parents[i], commit=shas[i], status="ok", metric=1.0) for i in shas]


def test_check_finds_nothing_on_a_consistent_store(store: GitStore) -> None:
    assert store.check(individuals(lineage(store))) == []


def test_check_finds_a_broken_tag_a_missing_commit_and_wrong_parents(store: GitStore) -> None:
    shas = lineage(store)
    rows = individuals(shas)
    # Break the tag of 0002 behind the store's back.
    subprocess.run(
        ["git", "-C", str(store.path), "tag", "-f", "ind/0002", shas["0000"]], check=True, capture_output=True
    )
    problems = store.check(rows)
    assert len(problems) == 1 and problems[0].startswith("0002: tag ind/0002 names")
    # The ledger claims other parents than git records, a commit that does not exist, and misses a tagged one.
    rows[3] = replace(rows[3], parents=("0002", "0001"))
    rows[1] = replace(rows[1], commit="f" * 40)
    rows[0] = replace(rows[0], commit="")
    problems = store.check(rows)
    assert any(p.startswith("0003: git parents") for p in problems)
    assert any(p.startswith("0001: commit ffffffffffff is missing") for p in problems)
    assert any(p.startswith("0000: tag ind/0000 exists but the ledger has no commit") for p in problems)
    assert store.check(rows[:1])[-3:] == [
        "0001: tag ind/0001 has no individual in the ledger",
        "0002: tag ind/0002 has no individual in the ledger",
        "0003: tag ind/0003 has no individual in the ledger",
    ]
