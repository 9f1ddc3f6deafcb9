"""Writes one benchmark's section of benchmarks/RESULTS.md, with the command that produced it.

Each script owns one section (between HTML comment markers) and replaces only that, so scripts can be rerun in any
order and the file keeps every figure next to the command that measured it.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = "# Benchmark results\n\nEach section is written by the script named in it; rerun the command to refresh it.\n"


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def write_section(key: str, title: str, body: str) -> None:
    """Replace (or append) the section `key` of RESULTS.md with `body`, stamped with the command and machine."""
    command = shlex.join(["python", *sys.orig_argv[1:]])  # as typed, e.g. `python -m benchmarks.overhead`
    section = (
        f"<!-- {key} -->\n## {title}\n\n"
        f"Command: `{command}`  \nMeasured {time.strftime('%Y-%m-%d')} on {machine()}.\n\n{body.strip()}\n"
        f"<!-- /{key} -->\n"
    )
    text = RESULTS.read_text() if RESULTS.exists() else HEADER
    pattern = re.compile(rf"<!-- {re.escape(key)} -->.*?<!-- /{re.escape(key)} -->\n", re.DOTALL)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text)
    print(f"wrote section '{key}' of {RESULTS}")
