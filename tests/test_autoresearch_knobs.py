"""The offline operators on an unmodified autoresearch train.py: they turn the knobs that matter, in their own form,
and never spend a run on a child that breaks the file's batch-size assert."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from evo.evaluation import TargetSpec
from evo.operators.base import Context, Parent, Proposal
from evo.operators.constant_checks import broken_assert
from evo.operators.knobs import mutable_constants
from evo.operators.merge_crossover import MergeCrossover
from evo.operators.param_mutation import ParamMutation
from evo.operators.train_constants import Domain, constants_by_name, literal_value, rewrite
from evo.search.context import locked_python
from tests.conftest import REPO

DATA = REPO / "tests" / "data" / "autoresearch"
TRAIN = (DATA / "train.py").read_text()
LOCKED = {"prepare.py": (DATA / "prepare.py").read_text()}
MAX_SEQ_LEN = 2048  # as the locked prepare.py sets it
_BATCH = ("TOTAL_BATCH_SIZE", "DEVICE_BATCH_SIZE")
KNOBS = {
    "ASPECT_RATIO", "HEAD_DIM", "WINDOW_PATTERN", "TOTAL_BATCH_SIZE", "EMBEDDING_LR", "UNEMBEDDING_LR", "MATRIX_LR",
    "SCALAR_LR", "WEIGHT_DECAY", "WARMUP_RATIO", "WARMDOWN_RATIO", "FINAL_LR_FRAC", "DEPTH", "DEVICE_BATCH_SIZE",
}  # fmt: skip


def _context(seed: int, locked: dict[str, str], ancestor: dict[str, str] | None = None) -> Context:
    return Context(
        program="", editable=("train.py",), locked=("prepare.py",), seed=seed, locked_code=locked, ancestor=ancestor
    )


def _propose(text: str, seed: int, locked: dict[str, str] = LOCKED) -> Proposal:
    return ParamMutation().propose([Parent("p0", {"train.py": text}, 1.0, "ok")], _context(seed, locked))


def _batch_ok(text: str) -> bool:
    """Whether the batch sizes `text` sets pass its assert (read by a regex: parsing 600 children takes seconds)."""
    total, device = (literal_value(re.search(rf"^{name} = (\S+)", text, re.M)[1]) for name in _BATCH)
    return total % (device * MAX_SEQ_LEN) == 0


def test_the_reconstruction_is_autoresearchs_size_and_its_knobs_are_the_ones_that_matter() -> None:
    assert 24_000 <= len(TRAIN.encode()) <= 29_000  # the original is ~26 kB
    constants = constants_by_name(TRAIN)
    assert constants["TOTAL_BATCH_SIZE"].source == "2**19" and constants["TOTAL_BATCH_SIZE"].value == 2**19
    assert constants["H100_BF16_PEAK_FLOPS"].value == 989.5e12
    knobs = {c.name: d for _, c, d in mutable_constants({"train.py": TRAIN}, ["train.py"])}
    assert set(knobs) == KNOBS  # H100_BF16_PEAK_FLOPS only feeds the MFU printouts; ADAM_BETAS is a tuple
    assert knobs["TOTAL_BATCH_SIZE"] == Domain("pow2", 2**17, 2**21)
    assert knobs["WINDOW_PATTERN"] == Domain("pattern", 2, 8, choices=("L", "S"), declared=True)


def test_300_offline_mutations_turn_only_knobs_that_matter_each_in_its_own_form() -> None:
    lines = TRAIN.splitlines()
    total_line = next(i for i, line in enumerate(lines) if line.startswith("TOTAL_BATCH_SIZE = "))
    counts: Counter[str] = Counter()
    for seed in range(300):
        proposal = _propose(TRAIN, seed)
        assert proposal.ok, proposal.error
        child = proposal.code["train.py"]
        before, after = constants_by_name(TRAIN), constants_by_name(child)
        changed = {name for name in before if before[name].source != after[name].source}
        assert 1 <= len(changed) <= 2 and changed <= KNOBS
        assert child == rewrite(TRAIN, {name: after[name].source for name in changed})  # only those literals moved
        total = after["TOTAL_BATCH_SIZE"]
        assert re.fullmatch(r"2\*\*\d+", total.source) and total.value == 2 ** int(total.source[3:])
        assert child.splitlines()[total_line] == lines[total_line].replace("2**19", total.source)
        pattern = after["WINDOW_PATTERN"].value
        assert set(pattern) <= {"S", "L"} and 2 <= len(pattern) <= 8
        assert _batch_ok(child)
        counts.update(changed)
    assert counts["H100_BF16_PEAK_FLOPS"] == 0
    assert counts["TOTAL_BATCH_SIZE"] > 10 and counts["WINDOW_PATTERN"] > 10
    assert set(counts) == KNOBS


def test_a_child_breaking_the_batch_assert_is_redrawn_before_it_runs() -> None:
    # 256 * 2048 == 2**19: a smaller total or a larger device batch breaks `TOTAL_BATCH_SIZE % tokens_per_fwdbwd == 0`
    parent = rewrite(TRAIN, {"DEVICE_BATCH_SIZE": "256"})
    unchecked = [_propose(parent, seed, locked={}) for seed in range(300)]  # without prepare.py the assert is unknown
    assert sum(not _batch_ok(p.code["train.py"]) for p in unchecked) > 10
    for seed in range(300):
        proposal = _propose(parent, seed)
        assert proposal.ok and _batch_ok(proposal.code["train.py"])


def test_the_check_names_the_assert_and_the_values_that_break_it() -> None:
    line = TRAIN.splitlines().index("assert TOTAL_BATCH_SIZE % tokens_per_fwdbwd == 0") + 1
    child = {"train.py": rewrite(TRAIN, {"TOTAL_BATCH_SIZE": "2**17"})}
    assert broken_assert({"train.py": TRAIN}, child, LOCKED) == (
        f"train.py:{line}: assert TOTAL_BATCH_SIZE % tokens_per_fwdbwd == 0 fails "
        "(TOTAL_BATCH_SIZE=131072, tokens_per_fwdbwd=262144)"
    )


def test_a_file_whose_every_draw_breaks_an_assert_fails_with_a_one_line_reason() -> None:
    text = "from prepare import MAX_SEQ_LEN\nTOTAL_BATCH_SIZE = 2**19\nassert TOTAL_BATCH_SIZE == 256 * MAX_SEQ_LEN\n"
    proposal = _propose(text, 0)
    assert not proposal.ok and proposal.code is None and "\n" not in proposal.error
    assert proposal.error.startswith("each of 16 children failed an assert, the last: train.py:3: assert ")
    assert "MAX_SEQ_LEN=2048" in proposal.error


def test_the_merge_refuses_a_child_that_breaks_the_batch_assert() -> None:
    a = Parent("a", {"train.py": rewrite(TRAIN, {"DEVICE_BATCH_SIZE": "256"})}, 1.0, "ok")
    b = Parent("b", {"train.py": rewrite(TRAIN, {"TOTAL_BATCH_SIZE": "2**18"})}, 1.0, "ok")
    # both changes together (256 * 2048 tokens per pass, 2**18 per step) break the assert, so the clean merge is out
    proposal = MergeCrossover().propose([a, b], _context(0, LOCKED, ancestor={"train.py": TRAIN}))
    assert proposal.ok, proposal.error
    assert "the clean merge is unusable: train.py:" in proposal.description
    assert _batch_ok(proposal.code["train.py"])


def test_the_operator_context_carries_the_targets_locked_top_level_python_files(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    for name, text in {"prepare.py": "MAX_SEQ_LEN = 2048\n", "data/tool.py": "X = 1\n", "README.md": "# r\n"}.items():
        (tmp_path / name).write_text(text)
    target = TargetSpec(root=tmp_path, locked={"prepare.py": "", "data/tool.py": "", "README.md": ""})
    assert locked_python(target) == {"prepare.py": "MAX_SEQ_LEN = 2048\n"}
