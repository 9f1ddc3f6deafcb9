"""The offline crossover: a three-way merge of two parents against their common ancestor; when that conflicts, the
same merge constant by constant; failing that, uniform crossover of their constants.

Two lineages that improved different parts of train.py should be able to pool their edits without an LLM. `git
merge-file` already knows how to do that line by line, so a clean merge is the child. Edits to neighbouring lines
(two constants declared one under the other) conflict for git but not for the code, so the merge is then done per
UPPERCASE constant on A's text: each constant only one parent changed comes from that parent, and only constants both
changed are drawn (DEAP's `cxUniform`). Measured on the ideas landscape, a child that keeps both parents' changes
beats both parents far more often than a uniform cross, which throws away half of each parent's gains. When even that
child is unusable (or there is no ancestor), every differing constant is drawn; so it is when the novelty gate asks
again after a duplicate (`Context.avoid`), since both merges are deterministic and would repeat the same child.
"""

from __future__ import annotations

import random
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from deap import tools

from evo.operators.base import Code, Context, Parent, Proposal, child_problem
from evo.operators.constant_checks import broken_assert
from evo.operators.train_constants import constants_by_name, rewrite
from population.deap_random import seeded_global_random

_NEW = object()  # a constant the ancestor lacks: both parents differ from it


class MergeCrossover:
    """Merge two parents; see the module docstring."""

    name = "merge"
    arity = 2

    def __init__(self, attempts: int = 16, timeout: float = 30.0) -> None:
        self.attempts = attempts  # uniform-crossover draws before giving up on a new, valid child
        self.timeout = timeout  # seconds one `git merge-file` may take

    def propose(self, parents: Sequence[Parent], context: Context) -> Proposal:
        a, b = parents
        if context.avoid:  # asked again after a duplicate: both merges would give the same child, so draw anew
            why = "asked again after a duplicate"
        elif context.ancestor is None:
            why = "no common ancestor"
        else:
            merged, why = three_way_merge(a.code, b.code, context.ancestor, self.timeout)
            if merged is not None:
                problem = _problem(a, b, merged, context)
                if problem is None:
                    return Proposal(merged, f"merge: combined {_label(a)} + {_label(b)}", operator=self.name)
                why = f"the clean merge is unusable: {problem}"
        rng = random.Random(context.seed)
        if context.ancestor is not None and not context.avoid:
            crossed = uniform_constants(a.code, b.code, context.editable, rng, context.ancestor)
            problem = crossed if isinstance(crossed, str) else _problem(a, b, crossed[0], context)
            if problem is None and not isinstance(crossed, str):
                child, summary = crossed
                return Proposal(child, f"merge: constants merged ({why}): {summary}", operator=self.name)
            why = f"{why}; constants merged: {problem}"
        problem = ""
        for _ in range(self.attempts):
            crossed = uniform_constants(a.code, b.code, context.editable, rng)
            if isinstance(crossed, str):
                problem = crossed
                break
            child, summary = crossed
            problem = _problem(a, b, child, context) or ""
            if not problem:
                return Proposal(child, f"merge: uniform crossover of constants ({why}): {summary}", operator=self.name)
        error = f"{why}; uniform crossover gave no new valid child: {problem}"
        return Proposal(None, "merge: no child", operator=self.name, error=error)


def three_way_merge(a: Code, b: Code, ancestor: Code, timeout: float = 30.0) -> tuple[dict[str, str] | None, str]:
    """Each file of A and B merged against the ancestor's: the merged code, or None and why not."""
    merged: dict[str, str] = {}
    conflicts: list[str] = []
    for name in sorted({*a, *b}):
        ours, theirs, base = a.get(name), b.get(name), ancestor.get(name)
        if ours == theirs or theirs == base:
            text = ours
        elif ours == base:
            text = theirs
        elif ours is None or theirs is None:
            conflicts.append(f"{name}: deleted on one side, changed on the other")
            continue
        else:
            text, problem = merge_file(ours, base or "", theirs, timeout)
            if text is None:
                conflicts.append(f"{name}: {problem}")
                continue
        if text is not None:
            merged[name] = text
    return (None, "merge conflict in " + "; ".join(conflicts)) if conflicts else (merged, "")


def merge_file(ours: str, base: str, theirs: str, timeout: float = 30.0) -> tuple[str | None, str]:
    """`git merge-file -p` on temporary files: the merged text, or None and why (conflicts, or git failing)."""
    with tempfile.TemporaryDirectory(prefix="evo-merge-") as tmp:
        paths = [Path(tmp, name) for name in ("a", "ancestor", "b")]
        for path, text in zip(paths, (ours, base, theirs), strict=True):
            path.write_bytes(text.encode())
        command = ["git", "merge-file", "-p", "-L", "A", "-L", "ancestor", "-L", "B", *map(str, paths)]
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"git merge-file failed: {exc}"
    if done.returncode == 0:
        return done.stdout.decode(), ""
    if 0 < done.returncode < 128:
        return None, f"{done.returncode} conflicting hunk{'s' * (done.returncode > 1)}"
    return None, f"git merge-file failed: {done.stderr.decode(errors='replace').strip()[:200]}"


def uniform_constants(
    a: Code, b: Code, editable: Sequence[str], rng: random.Random, ancestor: Code | None = None
) -> tuple[dict[str, str], str] | str:
    """A's code with each constant whose value differs between A and B taken from A or B by `cxUniform` (indpb 0.5):
    the child and a summary of what came from each, or why there is nothing to cross. Given their `ancestor`, a
    constant only one parent changed comes from that parent, and only the others are drawn."""
    genes: list[tuple[str, str, str, str]] = []  # (file, constant, A's literal, B's literal)
    fixed: list[str | None] = []  # the parent a constant must come from, or None: drawn
    for file in editable:
        if not file.endswith(".py") or file not in a or file not in b:
            continue
        try:
            ours, theirs = constants_by_name(a[file]), constants_by_name(b[file])
            base = constants_by_name(ancestor[file]) if ancestor is not None and file in ancestor else {}
        except SyntaxError:
            continue
        for name, c in ours.items():
            if name in theirs and theirs[name].value != c.value:
                genes.append((file, name, c.source, theirs[name].source))
                old = base[name].value if name in base else _NEW
                fixed.append("B" if old == c.value else "A" if old == theirs[name].value else None)
    if not genes:
        return "the parents' constants do not differ"
    from_a, from_b = ["A"] * len(genes), ["B"] * len(genes)
    if None in fixed:
        with seeded_global_random(rng.getrandbits(64)):
            tools.cxUniform(from_a, from_b, indpb=0.5)
    from_a = [side or drawn for side, drawn in zip(fixed, from_a, strict=True)]
    taken: dict[str, dict[str, str]] = {}
    notes: dict[str, list[str]] = {"A": [], "B": []}
    for (file, name, ours_literal, theirs_literal), source in zip(genes, from_a, strict=True):
        literal = theirs_literal if source == "B" else ours_literal
        if source == "B":
            taken.setdefault(file, {})[name] = literal
        notes[source].append(f"{name} {literal}")
    child = {**a, **{file: rewrite(a[file], literals) for file, literals in taken.items()}}
    summary = "; ".join(f"from {source}: {', '.join(notes[source])}" for source in "AB" if notes[source])
    return child, summary


def _problem(a: Parent, b: Parent, child: Code, context: Context) -> str | None:
    """Why `child` is no valid new child of A and B, or None: among other reasons, an assert of the file it fails
    and A passes (`constant_checks`)."""
    problem = child_problem(a.code, child, context)
    if problem is not None:
        return problem.replace("its parent", "parent A")
    if all(child.get(name, b.code.get(name)) == b.code.get(name) for name in {*b.code, *child}):
        return "the child is identical to parent B"
    return broken_assert(a.code, child, context.locked_code)


def _label(parent: Parent) -> str:
    return f"{parent.id} ({parent.description})" if parent.description else parent.id
