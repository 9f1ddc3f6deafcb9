"""The target's manifest: what the locked evaluation must look like, from a trusted run of the prepare command.

The prepare command (e.g. ``python prepare.py``) runs once per target, locked files and settings, in a fresh copy of
the target that no candidate has touched, and writes a ``{"kind": "manifest", "expect": {...}}`` record to the result
channel. Attested evaluations are checked against ``expect``. The manifest is cached, so later evaluations skip it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evo.errors import EvoError
from evo.evaluation.logcap import CappedLog
from evo.evaluation.process import Limits, run_supervised
from evo.evaluation.target import TargetSpec

PREPARE_LIMIT_SECONDS = 1800.0


def cache_dir() -> Path:
    return Path(os.environ.get("EVO_CACHE_DIR") or Path.home() / ".cache" / "evo")


def load_manifest(
    target: TargetSpec, command_prefix: tuple[str, ...], env: Mapping[str, str], locked_env: Mapping[str, str]
) -> dict[str, Any]:
    """The manifest for this target and these locked settings, from the cache or a fresh trusted prepare run."""
    if target.prepare is None:
        raise EvoError(f"{target.root}: metric.attested needs a 'prepare' command that writes the manifest")
    key_source = json.dumps(
        {
            "locked": dict(target.locked),
            "prepare": target.prepare,
            "env": dict(sorted(locked_env.items())),
            "python": sys.executable,
            "version": sys.version,
        },
        sort_keys=True,
    )
    path = cache_dir() / "manifests" / f"{hashlib.sha256(key_source.encode()).hexdigest()[:32]}.json"
    if path.is_file():
        return json.loads(path.read_text())
    manifest = _run_prepare(target, command_prefix, env)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, path)
    return manifest


def _run_prepare(target: TargetSpec, command_prefix: tuple[str, ...], env: Mapping[str, str]) -> dict[str, Any]:
    assert target.prepare is not None
    with tempfile.TemporaryDirectory(prefix="evo-prepare-") as tmp:
        workspace = Path(tmp) / "target"
        shutil.copytree(target.root, workspace, ignore=shutil.ignore_patterns("__pycache__", ".git"))
        log = CappedLog(Path(tmp) / "prepare.log", 256 * 1024)
        command = (*command_prefix, *target.prepare[1:]) if target.prepare[0] == "python" else target.prepare
        outcome = run_supervised(command, workspace, env, Limits(PREPARE_LIMIT_SECONDS), log, lambda line: False)
        tail = log.tail_text(600).strip().splitlines()
        last = tail[-1] if tail else "no output"
        if outcome.exit_code != 0:
            raise EvoError(
                f"{target.root}: prepare command {' '.join(target.prepare)!r} failed (exit {outcome.exit_code}): {last}"
            )
    manifests = [r.data for r in outcome.records if r.data.get("kind") == "manifest"]
    if not manifests or not isinstance(manifests[-1].get("expect"), dict):
        raise EvoError(
            f"{target.root}: prepare command {' '.join(target.prepare)!r} wrote no manifest record "
            f"with an 'expect' mapping to EVO_RESULT_FD"
        )
    return manifests[-1]
