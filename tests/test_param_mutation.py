"""The offline parameter mutation: every child is a valid, in-domain edit of the parent's constants and nothing else."""

from __future__ import annotations

import ast
import math
import random
from collections import Counter
from functools import lru_cache

import pytest

from evo.operators.base import Context, Parent, Proposal, Usage, child_problem
from evo.operators.knobs import is_active
from evo.operators.param_mutation import ParamMutation
from evo.operators.train_constants import Constant, constants_by_name, domain_of, read_constants, rewrite
from tests.conftest import REPO

TARGET = (REPO / "target" / "train.py").read_text()
SURROGATE = (REPO / "benchmarks" / "surrogate" / "train.py").read_text()


def _propose(text: str, seed: int, operator: ParamMutation | None = None) -> Proposal:
    parent = Parent("p0", {"train.py": text}, metric=1.0, status="ok")
    context = Context(program="", editable=("train.py",), locked=("prepare.py",), seed=seed)
    return (operator or ParamMutation()).propose([parent], context)


def _skeleton(text: str) -> list[str]:
    """The text between the constants' literals: what must not change."""
    pieces, at = [], 0
    for c in read_constants(text):
        pieces.append(text[at : c.start])
        at = c.end
    return [*pieces, text[at:]]


@lru_cache(maxsize=4)
def _masked_ast(text: str) -> str:
    """The module's AST with every top-level constant's value blanked."""
    tree = ast.parse(text)
    names = {c.name for c in read_constants(text)}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id in names:
            node.value = ast.Constant(None)
    return ast.dump(tree)


def _check_child(parent_text: str, proposal: Proposal, compare_ast: bool) -> dict[str, tuple[Constant, Constant]]:
    """Assert everything a param child must satisfy; return the changed constants as (before, after).

    The byte-level skeleton check (the text outside the literals is unchanged) already implies that only constants
    changed; the AST comparison says the same in AST terms but costs ~5 ms, so the thousand-draw tests run it on a
    sample."""
    assert proposal.ok, proposal.error
    assert proposal.operator == "param" and proposal.usage == Usage()
    child = proposal.code["train.py"]
    assert child != parent_text
    after = constants_by_name(child)  # parses the child: a SyntaxError fails the test
    assert _skeleton(child) == _skeleton(parent_text)
    if compare_ast:
        assert _masked_ast(child) == _masked_ast(parent_text)
    before = constants_by_name(parent_text)
    assert list(before) == list(after)
    changed = {n: (before[n], after[n]) for n in before if before[n].value != after[n].value}
    assert 1 <= len(changed) <= 2
    assert proposal.description.startswith("param: ")
    for name, (old, new) in changed.items():
        assert f"{name} {old.source} -> {new.source}" in proposal.description
        domain = domain_of(old)
        assert domain is not None and domain.contains(new.value), (name, new.value, domain)
        assert type(new.value) is type(old.value)
        if domain.kind == "pow2":
            assert new.value >= 2 and new.value & (new.value - 1) == 0
        if domain.kind == "choice":
            assert new.value in domain.choices
        if name.endswith("_FRAC"):
            assert 0.0 <= new.value <= 1.0
        if domain.kind == "log":
            assert old.value / 10 * (1 - 1e-12) <= new.value <= old.value * 10 * (1 + 1e-12)
    assert all(after[n].source == c.source for n, c in before.items() if n not in changed)
    return changed


def test_a_thousand_draws_on_the_default_target_stay_in_their_domains() -> None:
    counts: Counter[str] = Counter()
    sizes: Counter[int] = Counter()
    for seed in range(1000):
        changed = _check_child(TARGET, _propose(TARGET, seed), compare_ast=seed % 25 == 0)
        counts.update(changed.keys())
        sizes[len(changed)] += 1
        if "OPTIMIZER" in changed:
            assert changed["OPTIMIZER"][1].value == "muon"
        if "LR" in changed:
            assert 1e-4 <= changed["LR"][1].value <= 1e-2
        if "DEPTH" in changed:
            assert changed["DEPTH"][1].value in range(1, 13)  # declared in its comment: [1, 12]
    constants = constants_by_name(TARGET)
    mutable = {n for n, c in constants.items() if domain_of(c) is not None and is_active(c, constants)}
    assert set(counts) == mutable  # every active knob gets turned
    assert "MUON_LR" in constants and "MUON_LR" not in counts  # used only when OPTIMIZER == "muon"
    assert sizes[1] > 200 and sizes[2] > 200


def test_a_thousand_draws_on_the_surrogate_target_stay_in_their_domains() -> None:
    optimizers: Counter[str] = Counter()
    turned: set[str] = set()
    for seed in range(1000):
        changed = _check_child(SURROGATE, _propose(SURROGATE, seed), compare_ast=seed % 25 == 0)
        turned |= changed.keys()
        if "OPTIMIZER" in changed:
            optimizers[changed["OPTIMIZER"][1].value] += 1
        if "WIDTH" in changed:
            assert changed["WIDTH"][1].value in {64, 128, 512, 1024}
    assert set(optimizers) == {"muon", "sgd"}
    assert turned == set(constants_by_name(SURROGATE))  # it reports its constants through globals(): all matter


def _changed_over_seeds(text: str, seeds: int = 300) -> Counter[str]:
    counts: Counter[str] = Counter()
    for seed in range(seeds):
        counts.update(_check_child(text, _propose(text, seed), compare_ast=False).keys())
    return counts


def test_a_constant_used_only_under_another_setting_is_turned_only_when_that_setting_holds() -> None:
    assert constants_by_name(TARGET)["OPTIMIZER"].value == "adamw"
    with_adamw = _changed_over_seeds(TARGET)
    assert with_adamw["MUON_LR"] == 0 and with_adamw["OPTIMIZER"] > 0  # the switch itself may still change
    with_muon = _changed_over_seeds(rewrite(TARGET, {"OPTIMIZER": '"muon"'}))
    assert with_muon["MUON_LR"] > 10


@pytest.mark.parametrize(
    "comment", ["used only when OPTIMIZER is muon", "used only when OPTIMIZER in (muon", 'used only when NOPE == "x"']
)
def test_a_malformed_condition_is_ignored_and_the_constant_stays_mutable(comment: str) -> None:
    text = f'OPTIMIZER = "adamw"  # one of: adamw, muon\nMUON_LR = 0.02  # {comment}\n'
    assert _changed_over_seeds(text, seeds=50)["MUON_LR"] > 10


def test_a_file_whose_only_knob_is_inactive_fails_with_a_reason() -> None:
    proposal = _propose('MODE = "a"\nB_LR = 0.1  # (used only when MODE == "b")\n', 0)
    assert not proposal.ok and "no mutable constants in train.py" in proposal.error


def test_same_seed_same_child_and_seeds_vary() -> None:
    first = [_propose(TARGET, seed) for seed in range(50)]
    assert first == [_propose(TARGET, seed) for seed in range(50)]
    assert len({p.code["train.py"] for p in first}) >= 40


def test_leaves_the_global_random_state_alone() -> None:
    random.seed(123)
    expected = random.random()
    random.seed(123)
    _propose(TARGET, 7)
    assert random.random() == expected


def test_writes_values_the_way_the_file_does() -> None:
    text = "LR = 1e-3  # peak\nSCALE = 0.5  # a scale\n"
    for seed in range(200):
        proposal = _propose(text, seed, ParamMutation(max_changes=1))
        (new,) = [c for c in read_constants(proposal.code["train.py"]) if c.source not in {"1e-3", "0.5"}]
        if new.name == "LR":
            mantissa, _, exponent = new.source.partition("e")
            assert exponent and len(mantissa.replace(".", "").replace("-", "")) <= 2, new.source
        else:
            assert "e" not in new.source and math.isclose(float(new.source), float(f"{float(new.source):.2g}"))


def test_a_child_is_valid_for_the_operator_contract() -> None:
    parent = {"train.py": TARGET}
    context = Context(program="", editable=("train.py",), locked=("prepare.py",), seed=3)
    proposal = ParamMutation().propose([Parent("p0", parent, None, "ok")], context)
    assert child_problem(parent, proposal.code, context) is None


@pytest.mark.parametrize(
    "text",
    [
        "print('no constants here')\n",
        'NAME = "run"  # a label, no choices\nBETAS = (0.9, 0.95)\nSTEPS = 2 * 10\n',
        "FIXED = 4  # [4, 4]\n",
        "def broken(:\n",
    ],
)
def test_a_file_without_mutable_constants_fails_with_a_reason(text: str) -> None:
    proposal = _propose(text, 0)
    assert not proposal.ok and proposal.code is None
    assert "no mutable constants in train.py" in proposal.error
