"""The offline mutation: nudge one or two of the editable file's UPPERCASE constants within their domains.

Without an LLM the search still needs steps a human would take, so this operator turns knobs: numbers move by DEAP's
bounded polynomial mutation (on the exponent for powers of two, on the logarithm for scales such as learning rates),
strings switch to another declared choice, patterns (``"SSSL"``) get one letter replaced, inserted or deleted, and
bools flip. Only the literals change (see `train_constants`), so a child differs from its parent by exactly the values
its description names. Constants that would train the same model are left alone (`knobs`): those whose comment says
they are ``used only when`` a condition that is false in the parent, and those that only feed printouts. A child that
fails one of the file's own asserts its parent passes (`constant_checks`: ``TOTAL_BATCH_SIZE % tokens_per_fwdbwd ==
0``) is redrawn, up to a bound, rather than spent on a run that crashes at startup.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from deap import tools

from evo.operators.base import Context, Parent, Proposal
from evo.operators.constant_checks import broken_by_rewrite
from evo.operators.knobs import mutable_constants
from evo.operators.train_constants import Constant, Domain, Value, format_value, literal_value, rewrite
from population.deap_random import seeded_global_random

_DRAWS = 64  # draws per constant before giving up on it; precision grows every 16 failed draws
_CHILDREN = 16  # children drawn before giving up when each fails an assert of the file


class ParamMutation:
    """Mutate one or two constants of the editable Python files; see the module docstring."""

    name = "param"
    arity = 1

    def __init__(self, eta: float = 5.0, max_changes: int = 2) -> None:
        self.eta = eta  # DEAP's crowding degree: higher keeps a mutant closer to its parent
        self.max_changes = max_changes

    def propose(self, parents: Sequence[Parent], context: Context) -> Proposal:
        parent = parents[0]
        rng = random.Random(context.seed)
        knobs = mutable_constants(parent.code, context.editable, active_only=True)
        if not knobs:
            files = ", ".join(n for n in context.editable if n.endswith(".py")) or "no editable Python file"
            return Proposal(
                None, "param: nothing to mutate", operator=self.name, error=f"no mutable constants in {files}"
            )
        broken = ""
        for _ in range(_CHILDREN):
            changes, notes = self._draw_changes(knobs, rng)
            if not notes:
                return Proposal(None, "param: nothing to mutate", operator=self.name, error="no constant could change")
            broken = broken_by_rewrite(parent.code, changes, context.locked_code)
            if broken is None:
                code = {**parent.code, **{file: rewrite(parent.code[file], lits) for file, lits in changes.items()}}
                return Proposal(code, "param: " + ", ".join(notes), operator=self.name)
        error = f"each of {_CHILDREN} children failed an assert, the last: {broken}"
        return Proposal(None, "param: no child passes the file's asserts", operator=self.name, error=error)

    def _draw_changes(
        self, knobs: list[tuple[str, Constant, Domain]], rng: random.Random
    ) -> tuple[dict[str, dict[str, str]], list[str]]:
        """One draw of one to `max_changes` new literals (file -> constant -> literal) and their notes; none if no
        constant could change."""
        wanted = rng.randint(1, min(self.max_changes, len(knobs)))
        changes: dict[str, dict[str, str]] = {}
        notes: list[str] = []
        several_files = len({file for file, _, _ in knobs}) > 1
        for file, constant, domain in rng.sample(knobs, len(knobs)):
            literal = mutate_literal(constant, domain, rng, self.eta)
            if literal is None:
                continue
            changes.setdefault(file, {})[constant.name] = literal
            notes.append(f"{file}:" * several_files + f"{constant.name} {constant.source} -> {literal}")
            if len(notes) == wanted:
                break
        return changes, notes


def mutate_literal(constant: Constant, domain: Domain, rng: random.Random, eta: float = 5.0) -> str | None:
    """A new literal for `constant`, inside `domain` and different from its value, or None if no draw found one."""
    for draw in range(_DRAWS):
        value = _draw(constant.value, domain, rng, eta)
        literal = format_value(value, constant.source, digits=2 + draw // 16)
        new = literal_value(literal)
        if new != constant.value and domain.contains(new):
            return literal
    return None


def _draw(value: Value, domain: Domain, rng: random.Random, eta: float) -> Value:
    """One mutation of `value` within `domain` (not necessarily different from it)."""
    if domain.kind == "bool":
        return not value
    if domain.kind == "choice":
        return rng.choice([c for c in domain.choices if c != value])
    if domain.kind == "pattern":
        return _edit_pattern(str(value), domain, rng)
    low, high = _encode(domain.low, domain), _encode(domain.high, domain)
    if domain.kind == "pow2":
        low, high = math.ceil(low), math.floor(high)
    gene = min(max(_encode(float(value), domain), low), high)
    with seeded_global_random(rng.getrandbits(64)):
        (mutant,) = tools.mutPolynomialBounded([gene], eta=eta, low=low, up=high, indpb=1.0)
    return _decode(mutant[0], domain)


def _edit_pattern(pattern: str, domain: Domain, rng: random.Random) -> str:
    """`pattern` with one letter inserted, deleted or replaced by another (a replacement where the length bounds
    forbid the other edits), always a different string."""
    edit, at = rng.choice(("insert", "delete", "replace")), rng.randrange(len(pattern))
    if edit == "insert" and len(pattern) < domain.high:
        return pattern[:at] + rng.choice(domain.choices) + pattern[at:]
    if edit == "delete" and len(pattern) > domain.low:
        return pattern[:at] + pattern[at + 1 :]
    return pattern[:at] + rng.choice([c for c in domain.choices if c != pattern[at]]) + pattern[at + 1 :]


def _encode(value: float, domain: Domain) -> float:
    if domain.kind == "log":
        return math.log(value)
    if domain.kind == "pow2":
        return math.log2(value)
    return value


def _decode(gene: float, domain: Domain) -> Value:
    if domain.kind == "log":
        return math.exp(gene)
    if domain.kind == "pow2":
        return 2 ** round(gene)
    if domain.kind == "int":
        return round(gene)
    return gene
