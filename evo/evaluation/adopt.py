"""Adoption: read an autoresearch-shaped directory and decide how evo controls it without editing a locked file.

autoresearch's `train.py` imports its budget (`TIME_BUDGET`) and its evaluation (`evaluate_bpb`) from the locked
`prepare.py`, and seeds itself (`torch.manual_seed(42)`), so evo's `EVO_TIME_BUDGET` and `EVO_SEED` would be ignored
and its printed metric believed. Adoption finds these through the AST and writes them as target.yaml's `launch`
section: evo's launcher (evo/evaluation/launcher.py) then sets the budget, takes the seeds and attests the
evaluation's return value. What it cannot control it says, and the target says too (`fixed_budget`, `seeded`).

A directory without target.yaml is adopted in memory when it loads (when its locked code fixes anything);
`evo adopt PATH` writes the same settings down for the user to read and edit.
"""

from __future__ import annotations

import ast
import operator
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evo.errors import EvoError

SCRIPT = "train.py"
# Seed calls the launcher can take over (by the called attribute's dotted tail); any other `*seed*` call cannot be.
# Calls that download at run time (autoresearch fetches its flash-attention kernel with `kernels.get_kernel`).
DOWNLOADS = re.compile(r"\b(get_kernel|hf_hub_download|snapshot_download|from_pretrained)\(")
CONTROLLED_SEEDS = ("torch.manual_seed", "cuda.manual_seed", "cuda.manual_seed_all", "random.seed")


@dataclass
class Adoption:
    spec: dict[str, Any] = field(default_factory=dict)  # target.yaml's keys
    lines: list[str] = field(default_factory=list)  # what evo controls and how, a line each


def adopt(root: Path) -> Adoption:
    """How evo controls the target at `root` (nothing for a target that reads evo's settings itself)."""
    script = root / SCRIPT
    if not script.is_file():
        return Adoption()
    text = script.read_text(errors="replace")
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise EvoError(f"{script}: not valid Python (line {exc.lineno}): cannot adopt it") from None
    imports = _locked_imports(tree, root)
    adoption = Adoption()
    launch: dict[str, Any] = {}
    _adopt_budget(adoption, launch, imports, "EVO_TIME_BUDGET" in text)
    _adopt_evaluation(adoption, launch, imports)
    _adopt_seeds(adoption, launch, tree, "EVO_SEED" in text)
    if launch:
        adoption.spec = {"editable": [SCRIPT], "command": f"python {SCRIPT}", **adoption.spec, "launch": launch}
        if launch.get("evaluate"):
            adoption.spec["metric"] = {"name": "val_bpb", "direction": "minimize", "attested": True}
    if downloads := DOWNLOADS.findall(text):
        cache = os.environ.get("HF_HOME") or "~/.cache/huggingface"
        adoption.spec.update(network=True, writable=[cache])
        adoption.lines.append(
            f"network: train.py downloads from the Hugging Face hub ({', '.join(sorted(set(downloads)))}): candidates "
            f"may reach the network and write {cache}; everything else outside their workspace stays read-only"
        )
    if (root / "program.md").is_file():
        adoption.lines.append("directions: program.md (its agent-loop instructions are not sent to the LLM)")
    return adoption


def _locked_imports(tree: ast.Module, root: Path) -> dict[str, tuple[str, ast.Module]]:
    """Names train.py can read from the target's own (locked) modules, by `from M import X` or `import M` then
    `M.X`: name -> (module, the module's AST). The launcher sets module attributes, so both forms see its values."""
    found: dict[str, tuple[str, ast.Module]] = {}
    for node in ast.walk(tree):
        names = [(node.module, alias.name) for alias in node.names] if isinstance(node, ast.ImportFrom) else []
        if isinstance(node, ast.Import):
            names = [(alias.name, None) for alias in node.names]
        for module_name, name in names:
            path = root / f"{(module_name or '').replace('.', '/')}.py"
            if not module_name or not path.is_file() or path.name == SCRIPT:
                continue
            module = ast.parse(path.read_text(errors="replace"))
            for defined in [name] if name else _top_level_names(module):
                found[defined] = (module_name, module)
    return found


def _top_level_names(module: ast.Module) -> list[str]:
    names = [n.name for n in module.body if isinstance(n, ast.FunctionDef)]
    for node in module.body:
        if isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return names


_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def _number(node: ast.expr) -> float | None:
    """A literal number, or + - * / of literal numbers (`5 * 60`); anything else (environment lookups) is None."""
    if isinstance(node, ast.Constant):
        ok = isinstance(node.value, (int, float)) and not isinstance(node.value, bool)
        return float(node.value) if ok else None
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        left, right = _number(node.left), _number(node.right)
        if left is not None and right is not None and not (isinstance(node.op, ast.Div) and right == 0):
            return float(_ARITHMETIC[type(node.op)](left, right))
    return None


def _module_number(module: ast.Module, name: str) -> float | None:
    """The value of a module-level `name = <number>`, or None."""
    for node in module.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return _number(node.value)
    return None


def _adopt_budget(
    adoption: Adoption, launch: dict[str, Any], imports: dict[str, tuple[str, ast.Module]], reads: bool
) -> None:
    if reads:
        return  # train.py reads EVO_TIME_BUDGET itself
    for name, (module, tree) in imports.items():
        if "BUDGET" in name.upper():
            value = _module_number(tree, name)
            if value is None:
                continue
            launch["budget"] = f"{module}.{name}"
            adoption.lines.append(
                f"budget: {module}.{name} ({value:g} s in the locked file) is set to each run's budget by evo's "
                "launcher before train.py starts; no file is edited"
            )
            return
    adoption.lines.append(
        "budget: evo found no budget constant it can set (a locked module's *BUDGET* number that train.py imports); "
        "candidates are killed at evo's budget plus its graces"
    )


def _adopt_evaluation(adoption: Adoption, launch: dict[str, Any], imports: dict[str, tuple[str, ast.Module]]) -> None:
    for name, (module, tree) in imports.items():
        defines = any(isinstance(n, ast.FunctionDef) and n.name == name for n in tree.body)
        if defines and name.startswith("evaluate"):
            launch["evaluate"] = f"{module}.{name}"
            adoption.lines.append(
                f"metric: val_bpb is what the locked {module}.{name} returns, reported to evo on a private channel; "
                "a printed value that disagrees, or a run that never calls it, is invalid"
            )
            return
    adoption.lines.append(
        "WARNING: metric: val_bpb is read from what the candidate prints (no locked evaluation found to attest it): "
        "a candidate can print any value"
    )


def _adopt_seeds(adoption: Adoption, launch: dict[str, Any], tree: ast.Module, reads: bool) -> None:
    if reads:
        return  # train.py reads EVO_SEED itself
    calls = [_dotted(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call) and "seed" in _dotted(n.func).lower()]
    calls = [c for c in calls if c.rpartition(".")[2] in ("manual_seed", "manual_seed_all", "seed", "set_seed")]
    foreign = [c for c in calls if not c.endswith(CONTROLLED_SEEDS)]
    if foreign:
        adoption.spec["seeded"] = False
        adoption.lines.append(
            f"seed: evo cannot set the seed train.py gives {', '.join(sorted(set(foreign)))}: re-runs differ only by "
            "nondeterminism, so calibration and confirmation measure less noise than seeds would give"
        )
        return
    launch["seed"] = True
    shown = ", ".join(sorted(set(calls))) or "no seed call"
    adoption.lines.append(
        f"seed: every RNG (random, numpy, torch) is seeded from evo's seed, and train.py's own seeds ({shown}) are "
        "mixed with it (seed 0 keeps them as written)"
    )


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""
