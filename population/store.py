"""The store: one git commit per individual, its git parents its parents' commits, so lineage *is* the commit graph.

The repository is bare: commits are built from blobs and trees written straight into the object database, never from
a working tree or the shared index, so what is committed is exactly the code handed in, byte for byte, whatever
happened between calls. Humans browse it with `git -C <run>/git log --graph --all` or `git worktree add`.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from io import BytesIO
from pathlib import Path

import git
from git.db import GitCmdObjectDB
from git.index.typ import BaseIndexEntry
from git.objects import Blob, Commit
from gitdb.base import IStream
from gitdb.db import LooseObjectDB

from population.errors import PopulationError
from population.individual import Individual

TAG_PREFIX = "ind/"
_IDENTITY = ("evo", "evo@localhost")  # the repo's own identity: commits work without a global git config
_FILE_MODE = 0o100644


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
        self._actor = git.Actor(*_IDENTITY)

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
        try:
            parent_commits = [self.repo.commit(sha) for sha in parents]
        except (ValueError, git.BadName):
            raise StoreError(f"individual {individual_id}: a parent commit is not in {self.path}: {parents}") from None
        tree = self._tree(code)
        tag = TAG_PREFIX + individual_id
        ref = git.TagReference(self.repo, f"refs/tags/{tag}")
        if ref.is_valid():  # one ref's file, not a listing of every tag
            existing = ref.commit
            if existing.tree.binsha == tree.binsha and [p.hexsha for p in existing.parents] == list(parents):
                return existing.hexsha
            raise StoreError(f"{self.path}: tag {tag} already names a different commit ({existing.hexsha[:12]})")
        commit = Commit.create_from_tree(
            self.repo, tree, message, parent_commits=parent_commits, head=False, author=self._actor,
            committer=self._actor,
        )  # fmt: skip
        git.Reference.create(self.repo, f"refs/tags/{tag}", commit, logmsg=None)  # written directly: no `git tag`
        return commit.hexsha

    def _tree(self, code: Mapping[str, str]) -> git.Tree:
        """Write `code` as blobs and a tree into the object database, through a throwaway index file so the
        repository's own index (and any working tree) is never read or touched."""
        entries = []
        for name in sorted(code):
            data = code[name].encode("utf-8")
            stream = self.repo.odb.store(IStream(Blob.type, len(data), BytesIO(data)))
            entries.append(BaseIndexEntry((_FILE_MODE, stream.binsha, 0, name)))
        handle, scratch = tempfile.mkstemp(prefix="index-", dir=self.repo.git_dir)
        os.close(handle)
        os.unlink(scratch)  # an absent file is an empty index
        try:
            index = git.IndexFile(self.repo, file_path=scratch)
            index.add(entries, write=False)
            return index.write_tree()
        finally:
            if os.path.exists(scratch):
                os.unlink(scratch)

    def code(self, sha: str) -> dict[str, str]:
        """The files of a commit, byte for byte as committed."""
        return {
            item.path: item.data_stream.read().decode("utf-8")
            for item in self.repo.commit(sha).tree.traverse()
            if isinstance(item, Blob)
        }

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
