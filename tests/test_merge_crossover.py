"""The offline crossover: a clean three-way merge pools both parents' edits; a conflict merges constant by constant,
then falls back to uniform crossover of their constants."""

from __future__ import annotations

import dataclasses

from evo.operators.base import Context, Parent, Proposal, child_problem
from evo.operators.merge_crossover import MergeCrossover, merge_file
from evo.operators.train_constants import constants_by_name, rewrite
from tests.conftest import REPO

ANCESTOR = (REPO / "target" / "train.py").read_text()
CONTEXT = Context(program="", editable=("train.py",), locked=("prepare.py",), ancestor={"train.py": ANCESTOR})
ADDED = "# B: a note far from the constants\n"


def _parent(pid: str, text: str, description: str) -> Parent:
    return Parent(pid, {"train.py": text}, metric=1.0, status="ok", description=description)


def _with_line_added(text: str, before: str, line: str) -> str:
    assert text.count(before) == 1
    return text.replace(before, line + before)


def _propose(a: Parent, b: Parent, seed: int = 0, ancestor: str | None = ANCESTOR) -> Proposal:
    context = dataclasses.replace(CONTEXT, seed=seed, ancestor=None if ancestor is None else {"train.py": ancestor})
    return MergeCrossover().propose([a, b], context)


A_CLEAN = _parent("a1", rewrite(ANCESTOR, {"LR": "2e-3"}), "param: LR 1e-3 -> 2e-3")
B_CLEAN = _parent(
    "b1", _with_line_added(rewrite(ANCESTOR, {"DEPTH": "8"}), "def lr_multiplier", ADDED), "deeper, plus a note"
)
# Both changed LR (a conflict); each also changed other constants, so a uniform child can differ from both.
A_CONFLICT = _parent(
    "a2", rewrite(ANCESTOR, {"LR": "2e-3", "DEPTH": "8", "WARMUP_FRAC": "0.1"}), "A: LR, DEPTH, WARMUP"
)
B_CONFLICT = _parent(
    "b2", rewrite(ANCESTOR, {"LR": "5e-4", "EVAL_BATCH_SIZE": "32", "WEIGHT_DECAY": "0.1"}), "B: LR, EVAL, WD"
)


def test_compatible_parents_merge_into_a_child_with_both_changes() -> None:
    proposal = _propose(A_CLEAN, B_CLEAN)
    assert proposal.ok, proposal.error
    child = proposal.code["train.py"]
    constants = constants_by_name(child)
    assert constants["LR"].value == 2e-3 and constants["DEPTH"].value == 8
    assert ADDED + "def lr_multiplier" in child
    assert child == _with_line_added(rewrite(ANCESTOR, {"LR": "2e-3", "DEPTH": "8"}), "def lr_multiplier", ADDED)
    assert proposal.operator == "merge"
    assert proposal.description == "merge: combined a1 (param: LR 1e-3 -> 2e-3) + b1 (deeper, plus a note)"
    assert child_problem(A_CLEAN.code, proposal.code, CONTEXT) is None
    assert child_problem(B_CLEAN.code, proposal.code, CONTEXT) is None


def test_a_clean_merge_does_not_depend_on_the_seed() -> None:
    assert _propose(A_CLEAN, B_CLEAN, seed=1) == _propose(A_CLEAN, B_CLEAN, seed=2)


def test_asked_again_after_a_duplicate_it_draws_the_constants_instead_of_repeating_the_merge() -> None:
    context = dataclasses.replace(CONTEXT, avoid="Your last answer for this child duplicated 0003.")
    retries = [MergeCrossover().propose([A_CLEAN, B_CLEAN], dataclasses.replace(context, seed=k)) for k in range(8)]
    assert all(r.description.startswith("merge: uniform crossover of constants (asked again") for r in retries)
    assert len({str(r.code) for r in retries if r.ok}) > 1  # drawn anew each time; the clean merge gives one child


def test_merge_file_reports_conflicts() -> None:
    text, why = merge_file(A_CONFLICT.code["train.py"], ANCESTOR, B_CONFLICT.code["train.py"])
    assert text is None and "conflicting hunk" in why


def _check_uniform_child(a: Parent, b: Parent, proposal: Proposal) -> set[str]:
    """Assert the child is A's text with each constant from A or B; return the names taken from B."""
    assert proposal.ok, proposal.error
    child = proposal.code["train.py"]
    assert child_problem(a.code, proposal.code, CONTEXT) is None
    assert child != b.code["train.py"]
    ours, theirs = constants_by_name(a.code["train.py"]), constants_by_name(b.code["train.py"])
    taken = constants_by_name(child)
    from_b = set()
    for name, c in taken.items():
        assert c.source in {ours[name].source, theirs[name].source}
        if ours[name].value != theirs[name].value and c.value == theirs[name].value:
            from_b.add(name)
    # everything but the constants' literals is A's text
    assert rewrite(child, {n: ours[n].source for n in taken}) == a.code["train.py"]
    assert "uniform crossover" in proposal.description
    for name in from_b:
        assert name in proposal.description.split("from B:")[1]
    return from_b


def test_conflicting_parents_merge_constant_by_constant_drawing_only_what_both_changed() -> None:
    seen: set[frozenset[str]] = set()
    for seed in range(20):
        proposal = _propose(A_CONFLICT, B_CONFLICT, seed)
        assert proposal.ok, proposal.error
        assert proposal.description.startswith("merge: constants merged (merge conflict in train.py")
        child = constants_by_name(proposal.code["train.py"])
        # what only one parent changed comes from that parent: both parents' gains are kept
        assert (child["DEPTH"].value, child["WARMUP_FRAC"].value) == (8, 0.1)
        assert (child["EVAL_BATCH_SIZE"].value, child["WEIGHT_DECAY"].value) == (32, 0.1)
        assert child["LR"].value in (2e-3, 5e-4)  # both changed it: drawn
        assert rewrite(proposal.code["train.py"], {n: c.source for n, c in constants_by_name(ANCESTOR).items()}) == (
            ANCESTOR
        )  # nothing but constants differs from the ancestor
        seen.add(frozenset(n for n, c in child.items() if c.value == 5e-4))
    assert seen == {frozenset(), frozenset({"LR"})}  # the one conflict really is drawn


def test_uniform_crossover_draws_every_differing_constant() -> None:
    seen: set[frozenset[str]] = set()
    for seed in range(40):
        proposal = _propose(A_CONFLICT, B_CONFLICT, seed, ancestor=None)
        assert proposal.description.startswith("merge: uniform crossover of constants (no common ancestor)")
        seen.add(frozenset(_check_uniform_child(A_CONFLICT, B_CONFLICT, proposal)))
    differing = {"LR", "DEPTH", "WARMUP_FRAC", "EVAL_BATCH_SIZE", "WEIGHT_DECAY"}
    assert all(0 < len(names) < len(differing) and names <= differing for names in seen)
    assert len(seen) >= 10  # the draws really vary
    assert {"LR"} <= set().union(*seen) and any("LR" not in names for names in seen)


def test_uniform_crossover_is_deterministic_by_seed() -> None:
    runs = [_propose(A_CONFLICT, B_CONFLICT, seed, ancestor=None) for seed in (5, 5, 6)]
    assert runs[0] == runs[1]
    assert [p.code for p in runs[:2]] == [runs[0].code] * 2


def test_without_an_ancestor_it_crosses_constants_and_says_why() -> None:
    proposal = _propose(A_CLEAN, B_CLEAN, seed=3, ancestor=None)
    assert proposal.ok, proposal.error
    assert proposal.description.startswith("merge: uniform crossover of constants (no common ancestor)")
    child = constants_by_name(proposal.code["train.py"])
    # LR and DEPTH differ between the parents; a child different from both takes one from each
    assert {child["LR"].value, child["DEPTH"].value} in ({2e-3, 4}, {1e-3, 8})
    assert ADDED not in proposal.code["train.py"]  # A's text is the base


def test_a_clean_merge_equal_to_a_parent_falls_back() -> None:
    a = _parent("a3", rewrite(ANCESTOR, {"LR": "2e-3", "DEPTH": "8"}), "A")
    b = _parent("b3", ANCESTOR, "B is the ancestor")
    proposal = _propose(a, b, seed=0)
    assert "the clean merge is unusable: the child is identical to parent A" in proposal.description
    assert "constants merged: the child is identical to parent A" in proposal.description
    _check_uniform_child(a, b, proposal)


def test_parents_that_cannot_make_a_new_child_fail_with_a_reason() -> None:
    # they differ only in LR, both changed it: any cross is A or B again
    a = _parent("a4", rewrite(ANCESTOR, {"LR": "2e-3"}), "A")
    b = _parent("b4", rewrite(ANCESTOR, {"LR": "5e-4"}), "B")
    proposal = _propose(a, b)
    assert not proposal.ok and proposal.code is None
    assert "merge conflict in train.py" in proposal.error and "identical to parent" in proposal.error
    same = _propose(a, a)
    assert not same.ok and "constants do not differ" in same.error
