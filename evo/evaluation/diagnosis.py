"""One hint for a failed baseline, read from the end of its log: the commonest reasons a target cannot run on this
machine (autoresearch needs a CUDA GPU, the `kernels` package and its downloaded data), so the user learns the
cause from the last line instead of the traceback."""

from __future__ import annotations

import re

_MISSING_MODULE = re.compile(r"No module named '([\w.]+)'")
_NO_CUDA = re.compile(
    r"Torch not compiled with CUDA|No CUDA GPUs are available|Found no NVIDIA driver|CUDA driver|"
    r"cuda.*is_available|device_count\(\) == 0|no kernel image|Invalid device|No CUDA",
    re.IGNORECASE,
)
_NO_DATA = re.compile(r"(FileNotFoundError|No such file or directory).*(\.cache|data|tokenizer|shard|parquet)")


def failure_hint(log_tail: str) -> str:
    """A one-line hint for the failure at the end of `log_tail`, or "" when none applies."""
    if missing := _MISSING_MODULE.search(log_tail):
        package = missing.group(1).split(".")[0]
        return (
            f"hint: the target imports {package!r}, which evo's Python lacks: install the target's dependencies into "
            f"the environment evo runs in (e.g. pip install {package})"
        )
    if _NO_CUDA.search(log_tail):
        return (
            "hint: the target needs a CUDA GPU and none is usable here (torch.cuda.is_available() is False): run on a "
            "GPU machine, or point evo at a target that runs on CPU"
        )
    if _NO_DATA.search(log_tail):
        return "hint: the target's data is missing: run its own preparation once (autoresearch: uv run prepare.py)"
    return ""
