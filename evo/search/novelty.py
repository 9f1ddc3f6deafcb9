"""The novelty gate: no child is evaluated twice.

A child's code is normalised before it is compared: each Python file as its syntax tree (comments, formatting and
docstrings gone), other files as text. A child whose normal form equals that of an individual already proposed in the
run (or, through the run's memory, evaluated by an earlier run on the target) is a duplicate: evaluating it would
spend a budget on a result the search already has. With `novelty.tolerance` > 0, near-duplicates are caught too: the
same code up to numbers that each differ by at most that relative amount (a learning rate of 0.0030 against 0.00301).
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evo.operators.base import Proposal, parse_python
from evo.search.memory import Memory, memory_for
from evo.search.session import RunSession
from population.individual import Individual

_NUMBER_MARK = "<number>"


@dataclass(frozen=True)
class NormalForm:
    exact: str  # digest of the whole normal form
    shape: str  # digest of the normal form with every number replaced by one mark
    numbers: tuple[float, ...]  # the numbers, in order

    def to_json(self) -> dict[str, Any]:
        return {"exact": self.exact, "shape": self.shape, "numbers": list(self.numbers)}

    @classmethod
    def from_json(cls, data: Any) -> NormalForm | None:
        try:
            return cls(str(data["exact"]), str(data["shape"]), tuple(float(x) for x in data["numbers"]))
        except (KeyError, TypeError, ValueError):
            return None


def normal_form(code: Mapping[str, str]) -> NormalForm:
    exact, shape, numbers = hashlib.sha256(), hashlib.sha256(), []
    for name in sorted(code):
        text = code[name]
        dump = text
        if name.endswith(".py"):
            try:
                tree = _without_docstrings(parse_python(text))
            except SyntaxError:
                tree = None
            if tree is not None:
                dump = ast.dump(tree, annotate_fields=False)
                found = [n for n in ast.walk(tree) if _is_number(n)]
                numbers += [float(n.value) for n in found]  # type: ignore[attr-defined]
                for node in found:
                    node.value = _NUMBER_MARK  # type: ignore[attr-defined]
                shape.update(f"{name}\0{ast.dump(tree, annotate_fields=False)}\0".encode())
            else:
                shape.update(f"{name}\0{text}\0".encode())
        else:
            shape.update(f"{name}\0{text}\0".encode())
        exact.update(f"{name}\0{dump}\0".encode())
    return NormalForm(exact.hexdigest(), shape.hexdigest(), tuple(numbers))


@dataclass
class Gate:
    """Every normal form the run has seen, with the id it was first seen under."""

    tolerance: float = 0.0
    _exact: dict[str, str] = field(default_factory=dict)
    _shapes: dict[str, list[tuple[np.ndarray, str]]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self._exact)

    def add(self, form: NormalForm, ident: str) -> None:
        self._exact.setdefault(form.exact, ident)
        if self.tolerance > 0:
            self._shapes.setdefault(form.shape, []).append((np.asarray(form.numbers, dtype=float), ident))

    def twin(self, form: NormalForm) -> str | None:
        """The id of a seen individual `form` duplicates (or nearly, within the tolerance), or None."""
        if (ident := self._exact.get(form.exact)) is not None:
            return ident
        if self.tolerance <= 0:
            return None
        numbers = np.asarray(form.numbers, dtype=float)
        for seen, ident in self._shapes.get(form.shape, ()):
            scale = np.maximum(np.abs(seen), np.abs(numbers))
            if np.all(np.abs(seen - numbers) <= self.tolerance * scale):
                return ident
        return None


def _is_number(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) in (int, float)


def _without_docstrings(tree: ast.Module) -> ast.Module:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body:
            first = body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return tree


@dataclass
class Novelty:
    """The run's gate, filled from its own individuals and its memory's earlier attempts, and what it tells memory."""

    gate: Gate
    memory: Memory | None
    forms: dict[str, NormalForm] = field(default_factory=dict)  # this run's ids -> normal forms
    earlier: int = 0  # attempts known from earlier runs
    shown: tuple[dict[str, Any], ...] = ()  # the most recent of them, for the operator's prompt
    enabled: bool = True  # novelty.enabled: off, duplicates are evaluated (forms are still kept for memory)

    @classmethod
    def open(cls, session: RunSession) -> Novelty:
        config = session.config
        memory = memory_for(config, session.target, session.paths.root)
        novelty = cls(Gate(config.novelty.tolerance), memory, enabled=config.novelty.enabled)
        for individual in session.individuals.values():
            if individual.commit:
                novelty.admit(normal_form(session.store.code(individual.commit)), individual.id)
        earlier = novelty.memory.earlier() if novelty.memory is not None else []
        for record in earlier:
            if (form := NormalForm.from_json(record.get("form"))) is not None:
                novelty.gate.add(form, f"{record.get('name', '?')}/{record.get('id', '?')}")
        novelty.earlier = len(earlier)
        novelty.shown = tuple(earlier[len(earlier) - config.memory.shown :]) if config.memory.shown else ()
        return novelty

    def check(self, code: Mapping[str, str]) -> tuple[NormalForm, str | None]:
        """`code`'s normal form, and the individual it duplicates (None when it is new, or the gate is off)."""
        form = normal_form(code)
        return form, self.gate.twin(form) if self.enabled else None

    def admit(self, form: NormalForm, ident: str) -> None:
        self.forms[ident] = form
        self.gate.add(form, ident)

    def finished(self, individual: Individual, by_id: Mapping[str, Individual]) -> None:
        """Tell memory about a finished child."""
        if self.memory is None or not individual.parents or individual.id not in self.forms:
            return
        parent = by_id.get(individual.parents[0])
        self.memory.record(individual, parent, self.forms[individual.id].to_json())


def duplicate_of(proposal: Proposal, twin: str, retries: int) -> Proposal:
    """The failed proposal a child becomes when its operator, asked again `retries` times, still proposed a twin."""
    error = f"a duplicate of {twin} (asked again {retries} time(s)): nothing new to evaluate"
    usage = proposal.usage
    return Proposal(None, proposal.description, "", proposal.operator, proposal.model, usage, error, "duplicate")


def remember(novelty: Novelty, session: RunSession, notes: Path) -> None:
    """At a session's start: record how many earlier attempts memory holds, and start a new run's notes from the
    latest an earlier run wrote."""
    session.ledger.set_meta("memory_attempts", novelty.earlier)
    if novelty.memory is not None and not notes.exists() and (text := novelty.memory.learnings()):
        notes.write_text(text)
