"""The store: one git commit per individual, its git parents its parents' commits, so lineage *is* the commit graph.

The repository is bare: commits are built from blobs and trees written straight into the object database, never from
a working tree or the shared index, so what is committed is exactly the code handed in, byte for byte, whatever
happened between calls. Humans browse it with `git -C <run>/git log --graph --all` or `git worktree add`.
"""

from __future__ import annotations

import difflib
import os
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from io import BytesIO
from pathlib import Path

import git
from git.db import GitCmdObjectDB
from gitdb.base import IStream
from gitdb.db import LooseObjectDB

from population.errors import PopulationError
from population.individual import Individual

TAG_PREFIX = "ind/"
_IDENTITY = ("evo", "evo@localhost")  # the repo's own identity: commits work without a global git config
_FILE_MODE = 0o100644
_CACHED = 1024  # commits whose files stay in memory


class _ObjectDB(GitCmdObjectDB):
    """Reads through git itself, as GitPython advises; writes loose objects in-process (zlib and an atomic rename),
    since `git hash-object` for every blob, tree and commit costs a process each: most of a simulated search's time."""

    def store(self, istream: IStream) -> IStream:
        return LooseObjectDB.store(self, istream)


class StoreError(PopulationError):
    """The store's path is not a usable repository, or a commit would break the store's invariants."""


class GitStore:
    """The run's git repository of individuals; see the module docstring."""

    def __init__(self, path: str | Path, editable: Sequence[str]) -> None:
        self.path = Path(path)
        self.editable = tuple(editable)
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(f"{self.path}: exists and is not a git repository (a file)")
        if self.path.exists() and any(self.path.iterdir()):
            try:
                self.repo = git.Repo(self.path, odbt=_ObjectDB)
            except (git.InvalidGitRepositoryError, git.NoSuchPathError):
                raise StoreError(f"{self.path}: exists and is not a git repository") from None
        else:
            self.repo = git.Repo.init(self.path, bare=True, mkdir=True, odbt=_ObjectDB)
        reader = self.repo.config_reader("repository")
        if not (reader.has_option("user", "name") and reader.has_option("user", "email")):
            with self.repo.config_writer() as config:
                config.set_value("user", "name", _IDENTITY[0])
                config.set_value("user", "email", _IDENTITY[1])
        self._commits: set[str] = set()  # commits known to exist
        self._code: dict[str, dict[str, str]] = {}  # sha -> files, the most recent _CACHED

    def close(self) -> None:
        """Stop gitpython's long-lived `git cat-file` helpers."""
        self.repo.close()

    def __enter__(self) -> GitStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def commit(self, individual_id: str, code: Mapping[str, str], parents: Sequence[str], message: str) -> str:
        """Commit exactly `code` (editable file name -> text) with `parents` (commit shas, in order: a crossover's
        two make a merge commit) and tag it `ind/<id>`. Committing the same individual again with the same tree and
        parents returns the existing commit, so a coordinator that died between commit and ledger write can redo it.
        """
        unknown = sorted(set(code) - set(self.editable))
        if unknown:
            raise StoreError(
                f"individual {individual_id}: {', '.join(unknown)} not editable ({', '.join(self.editable)})"
            )
        missing = [sha for sha in parents if not self._has_commit(sha)]
        if missing:
            raise StoreError(f"individual {individual_id}: a parent commit is not in {self.path}: {parents}")
        tree = self._tree({tuple(name.split("/")): text.encode("utf-8") for name, text in code.items()})
        tag = TAG_PREFIX + individual_id
        existing = self._tagged(tag)
        if existing is not None:
            old = self.repo.commit(existing)
            if old.tree.binsha == tree and [p.hexsha for p in old.parents] == list(parents):
                return existing
            raise StoreError(f"{self.path}: tag {tag} already names a different commit ({existing[:12]})")
        stamp = b"%s <%s> %d +0000" % (_IDENTITY[0].encode(), _IDENTITY[1].encode(), int(time.time()))
        header = b"tree %s\n" % tree.hex().encode() + b"".join(b"parent %s\n" % sha.encode() for sha in parents)
        body = header + b"author %s\ncommitter %s\n\n%s" % (stamp, stamp, message.encode("utf-8"))
        sha = self._write(b"commit", body).hex()
        self._commits.add(sha)
        self._remember(sha, dict(code))
        _write_atomic(self.path / "refs" / "tags" / tag, f"{sha}\n", self.path)  # a loose ref, as `git tag` writes it
        return sha

    def _tree(self, files: Mapping[tuple[str, ...], bytes]) -> bytes:
        """Write files (path parts -> bytes) as blobs and trees, nested as their paths are; the root tree's sha.
        Entries sort as git sorts them: a folder as its name followed by '/'."""
        folders: dict[str, dict[tuple[str, ...], bytes]] = {}
        entries: list[tuple[bytes, bytes, bytes]] = []  # (sort key, mode, sha)
        for parts, data in files.items():
            if len(parts) == 1:
                entries.append((parts[0].encode(), b"%o" % _FILE_MODE, self._write(b"blob", data)))
            else:
                folders.setdefault(parts[0], {})[parts[1:]] = data
        for name, content in folders.items():
            entries.append((name.encode() + b"/", b"40000", self._tree(content)))
        return self._write(
            b"tree", b"".join(b"%s %s\0%s" % (mode, key.rstrip(b"/"), sha) for key, mode, sha in sorted(entries))
        )

    def _write(self, kind: bytes, data: bytes) -> bytes:
        """Store one object (blob, tree or commit) as git would, and return its binary sha."""
        return self.repo.odb.store(IStream(kind, len(data), BytesIO(data))).binsha

    def _has_commit(self, sha: str) -> bool:
        if sha not in self._commits:
            try:
                self.repo.commit(sha)
            except (ValueError, git.BadName):
                return False
            self._commits.add(sha)
        return True

    def _tagged(self, tag: str) -> str | None:
        """The commit a tag names, or None: its loose ref file, else (after a `git gc`) git's own lookup."""
        loose = self.path / "refs" / "tags" / tag
        if loose.exists():
            return loose.read_text().strip()
        if not (self.path / "packed-refs").exists():
            return None
        ref = git.TagReference(self.repo, f"refs/tags/{tag}")
        return ref.commit.hexsha if ref.is_valid() else None

    def code(self, sha: str) -> dict[str, str]:
        """The files of a commit, byte for byte as committed (a commit never changes, so recent ones are cached:
        parents are read again and again)."""
        if sha not in self._code:
            tree = self.repo.commit(sha).tree
            self._remember(
                sha, {i.path: i.data_stream.read().decode("utf-8") for i in tree.traverse() if i.type == "blob"}
            )
        return dict(self._code[sha])

    def _remember(self, sha: str, code: dict[str, str]) -> None:
        if len(self._code) >= _CACHED:
            del self._code[next(iter(self._code))]
        self._code[sha] = code

    def parents(self, sha: str) -> tuple[str, ...]:
        return tuple(parent.hexsha for parent in self.repo.commit(sha).parents)

    def diff(self, sha: str, against: str | None = None) -> str:
        """Unified diff from `against` (default: the first parent; the empty tree for the baseline) to `sha`. Made
        here rather than by `git diff`, so a user's diff configuration cannot change what an operator sees."""
        if against is None:
            parents = self.parents(sha)
            before = self.code(parents[0]) if parents else {}
        else:
            before = self.code(against)
        after = self.code(sha)
        chunks = []
        for name in sorted({*before, *after}):
            old, new = before.get(name), after.get(name)
            if old == new:
                continue
            chunks.extend(
                difflib.unified_diff(
                    (old or "").splitlines(keepends=True),
                    (new or "").splitlines(keepends=True),
                    fromfile=f"a/{name}" if old is not None else "/dev/null",
                    tofile=f"b/{name}" if new is not None else "/dev/null",
                )
            )
        return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in chunks)

    def move_branch(self, name: str, sha: str) -> None:
        """Point branch `name` at `sha` (the ratchet's incumbent): a ref move, no checkout."""
        self.repo.create_head(name, self.repo.commit(sha), force=True)

    def branch(self, name: str) -> str | None:
        return self.repo.heads[name].commit.hexsha if name in self.repo.heads else None

    def drop_tag(self, individual_id: str) -> None:
        """Forget an individual's commit (its tag goes; git's gc may later collect the commit)."""
        self.repo.delete_tag(f"{TAG_PREFIX}{individual_id}")

    def tags(self) -> dict[str, str]:
        """Individual id -> commit sha, for every `ind/<id>` tag."""
        return {
            tag.name[len(TAG_PREFIX) :]: tag.commit.hexsha for tag in self.repo.tags if tag.name.startswith(TAG_PREFIX)
        }

    def check(self, individuals: Iterable[Individual]) -> list[str]:
        """Every disagreement between the ledger's individuals and the repository, one line each (empty: consistent).
        An individual without a commit is fine unless a tag exists for it (a commit the ledger never heard of)."""
        rows = list(individuals)
        commits = {row.id: row.commit for row in rows}
        tags = self.tags()
        problems = []
        for row in rows:
            if not row.commit:
                if row.id in tags:
                    problems.append(f"{row.id}: tag {TAG_PREFIX}{row.id} exists but the ledger has no commit")
                continue
            try:
                git_parents = self.parents(row.commit)
            except (ValueError, git.BadName):
                problems.append(f"{row.id}: commit {row.commit[:12]} is missing from the repository")
                continue
            if row.id not in tags:
                problems.append(f"{row.id}: no tag {TAG_PREFIX}{row.id}")
            elif tags[row.id] != row.commit:
                problems.append(
                    f"{row.id}: tag {TAG_PREFIX}{row.id} names {tags[row.id][:12]}, ledger {row.commit[:12]}"
                )
            expected = tuple(commits.get(parent, "") for parent in row.parents)
            if git_parents != expected:
                problems.append(
                    f"{row.id}: git parents {_short(git_parents)} differ from its ledger parents "
                    f"{', '.join(row.parents) or '(none)'} ({_short(expected)})"
                )
        for individual_id in sorted(set(tags) - set(commits)):
            problems.append(f"{individual_id}: tag {TAG_PREFIX}{individual_id} has no individual in the ledger")
        return problems


def _short(shas: Iterable[str]) -> str:
    return "[" + ", ".join(sha[:12] or "?" for sha in shas) + "]"


def _write_atomic(path: Path, text: str, scratch_dir: Path) -> None:
    """Write `path` whole or not at all: a temporary file in `scratch_dir` (on the same file system, but outside
    refs/, where a half-written file left by a kill would read as a broken ref) renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(prefix="ref-", dir=scratch_dir)
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        os.replace(scratch, path)
    finally:
        if os.path.exists(scratch):
            os.unlink(scratch)
