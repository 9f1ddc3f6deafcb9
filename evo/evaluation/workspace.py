"""A candidate's workspace: a fresh copy of the target with the candidate's editable files, locked files checked.

Locked files are verified against the hashes taken when the target loaded, and fingerprinted (content, inode,
ctime) so that any write, replacement or even a modify-then-restore during the run is detected afterwards:
a process cannot set a file's ctime back.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from evo.errors import EvoError
from evo.evaluation.target import TargetSpec, sha256_file


@dataclass(frozen=True)
class Fingerprint:
    sha256: str
    inode: int
    ctime_ns: int


def _fingerprint(path: Path) -> Fingerprint:
    stat = path.stat()
    return Fingerprint(sha256_file(path), stat.st_ino, stat.st_ctime_ns)


def build_workspace(target: TargetSpec, code: Mapping[str, str] | None, dest: Path) -> dict[str, Fingerprint]:
    """Copy the target into `dest` with `code` (editable file -> text) in place; return the locked fingerprints.

    Raises EvoError if `code` names a locked file, or if the target's locked files changed since it loaded.
    """
    code = dict(code or {})
    for name in code:
        if name not in target.editable:
            raise EvoError(
                f"candidate rejected: {name!r} is locked in target {target.root} (editable: "
                f"{', '.join(target.editable)})"
            )
    dest.mkdir(parents=True, exist_ok=True)
    fingerprints = {}
    for name, expected in target.locked.items():
        copy = dest / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(target.root / name, copy)
        fingerprint = _fingerprint(copy)
        if fingerprint.sha256 != expected:
            raise EvoError(f"locked file {target.root / name} changed since the target was loaded")
        fingerprints[name] = fingerprint
    for name in target.editable:
        path = dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name in code:
            path.write_text(code[name])
        else:
            shutil.copy2(target.root / name, path)
    return fingerprints


def touched_locked_files(dest: Path, fingerprints: Mapping[str, Fingerprint]) -> list[str]:
    """The locked files that were written, replaced or removed since the workspace was built."""
    touched = []
    for name, before in fingerprints.items():
        path = dest / name
        if not os.path.isfile(path) or _fingerprint(path) != before:
            touched.append(name)
    return touched
