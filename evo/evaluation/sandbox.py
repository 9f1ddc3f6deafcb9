"""A sandbox for candidate code, where the platform has one: the filesystem read-only except the candidate's
workspace and scratch folder, no network unless the target declares `network: true`, and its own process namespace.

The sandbox is bubblewrap (`bwrap`), and only bubblewrap. It needs no root (it uses unprivileged user namespaces where
it is not root), mounts the whole filesystem read-only in one recursive bind and remounts every submount read-only
too, and passes inherited descriptors (the result channel) through. A fallback built on util-linux `unshare` would
have to do the same by hand in a shell inside the namespaces: walk the mount table and remount each mount read-only
(recursive read-only binds need util-linux 2.39's mount_setattr), re-bind /dev and the writable folders, mount a
procfs; that is bubblewrap rewritten without its review, for hosts where one `apt-get install bubblewrap` is the fix.
A network-only fallback would leave the ledger and the user's files writable, the part that matters most. So where
bwrap is missing or cannot run, evo says so once and runs candidates as before (`auto`), or refuses (`required`).

What the candidate keeps: every file readable (its interpreter, evo's cache of prepared data), /dev bound through
writable (GPU device nodes, /dev/shm for data loaders) with CUDA_VISIBLE_DEVICES as evo set it, and the network when
the target asks for it. Its own pid namespace hides the coordinator from it: it can neither signal nor ptrace evo,
nor read evo's environment (which holds the API keys the candidate's own environment is stripped of). evo still finds
and kills the whole tree from outside, where the namespace's processes keep their pids, process group and cookie.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from evo.errors import EvoError

# Processes between the one evo starts and the candidate's own main process: bwrap, then its init in the new pid
# namespace (which reaps orphans), then the candidate.
GENERATIONS = 2
_PROBE_SECONDS = 30.0
_lock = threading.Lock()  # evaluations start on several threads: one probe and one notice per process


def sandbox_prefix(mode: str, writable: Sequence[Path], network: bool) -> tuple[str, ...]:
    """The command prefix that runs a candidate sandboxed with only `writable` folders writable, or () where `mode`
    is "off" or the sandbox is unavailable under "auto" (said once on stderr); unavailable under "required" raises."""
    if mode == "off":
        return ()
    with _lock:
        why = unavailable()
        if why and mode == "auto":
            _say_unsandboxed(why)
    if why and mode == "required":
        raise EvoError(f"executor.sandbox is required but candidates cannot be sandboxed here: {why}")
    return () if why else _bwrap_prefix(writable, network)


def scratch_env(scratch: Path) -> dict[str, str]:
    """A candidate's temporary files and compile caches (torch.compile's Triton kernels, which default to ~/.triton)
    go to its scratch folder: everything else is read-only inside the sandbox."""
    return {"TMPDIR": str(scratch), "TRITON_CACHE_DIR": str(scratch / "triton")}


@functools.cache
def unavailable() -> str:
    """Why candidates cannot be sandboxed here ("" where they can), found once per process by sandboxing `true` the
    way candidates are: a kernel or a container may forbid the namespaces bwrap needs."""
    if sys.platform != "linux":
        return f"bubblewrap needs Linux, this is {sys.platform}"
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (apt-get install bubblewrap, dnf install bubblewrap)"
    with tempfile.TemporaryDirectory(prefix="evo-sandbox-") as tmp:
        command = [*_bwrap_prefix([Path(tmp)], network=False), "true"]
        try:
            probe = subprocess.run(command, capture_output=True, text=True, timeout=_PROBE_SECONDS)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bwrap could not run: {exc}"
    if probe.returncode != 0:
        lines = (probe.stderr or probe.stdout).strip().splitlines()
        return f"bwrap fails here: {lines[-1] if lines else f'exit {probe.returncode}'}"
    return ""


@functools.cache
def _say_unsandboxed(why: str) -> None:
    print(
        f"evo: candidates run without a sandbox, able to write your files and reach the network: {why}"
        " (set executor.sandbox: off to accept this quietly, required to refuse)",
        file=sys.stderr,
        flush=True,
    )


def _bwrap_prefix(writable: Sequence[Path], network: bool) -> tuple[str, ...]:
    binds = [arg for path in writable for arg in ("--bind", str(path), str(path))]
    return (
        shutil.which("bwrap") or "bwrap",
        *("--ro-bind", "/", "/"),  # recursive: every mount below / comes along, read-only
        *("--dev-bind", "/dev", "/dev"),
        *binds,
        "--unshare-pid",
        *("--proc", "/proc"),  # that namespace's own: the host's /proc would show evo's environment
        *(() if network else ("--unshare-net",)),
        "--die-with-parent",
        "--",
    )
