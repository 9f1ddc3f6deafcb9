"""A file's own asserts, evaluated statically: False only where the evaluator can tell, unknown otherwise."""

from __future__ import annotations

import textwrap

import pytest

from evo.operators.constant_checks import asserted_alphabets, broken_assert, broken_by_rewrite, failing_asserts
from evo.operators.train_constants import rewrite

PREPARE = "MAX_SEQ_LEN = 2048  # locked\nEVAL_TOKENS = 40 * 524288\n"
TRAIN = textwrap.dedent(
    """\
    from prepare import MAX_SEQ_LEN
    TOTAL_BATCH_SIZE = 2**19
    DEVICE_BATCH_SIZE = 128

    def main():
        tokens_per_fwdbwd = DEVICE_BATCH_SIZE * MAX_SEQ_LEN
        assert TOTAL_BATCH_SIZE % tokens_per_fwdbwd == 0
    """
)


def _failing(text: str, locked: dict[str, str] | None = None) -> list[str]:
    return list(failing_asserts({"train.py": text}, "train.py", {"prepare.py": PREPARE} if locked is None else locked))


def test_an_assert_reads_the_files_constants_its_assignments_and_the_locked_modules() -> None:
    assert _failing(TRAIN) == []
    child = rewrite(TRAIN, {"DEVICE_BATCH_SIZE": "512"})
    (reason,) = failing_asserts({"train.py": child}, "train.py", {"prepare.py": PREPARE}).values()
    assert reason == (
        "train.py:7: assert TOTAL_BATCH_SIZE % tokens_per_fwdbwd == 0 fails "
        "(TOTAL_BATCH_SIZE=524288, tokens_per_fwdbwd=1048576)"
    )
    assert _failing(child, locked={}) == []  # without prepare.py, MAX_SEQ_LEN is unknown: the assert passes


@pytest.mark.parametrize(
    "source",
    [
        "P = 'SXL'\nassert all(c in 'SL' for c in P)\n",
        "P = 'SSL'\nassert any(c == 'X' for c in P)\n",
        "assert len('ab') == 3\n",
        "A = 1\nassert 0 < A < 1\n",
        "A = 3\nassert A in (1, 2) or A not in (3,)\n",
        "A = -2\nassert (A if A > 0 else -A) == 3\n",
        "assert unknown() and 1 == 2\n",  # one False decides an `and`, whatever the unknown operand
        "assert not 1 << 3 == 8\n",
        "A = 7\nassert A // 2 == 3 and A / 2 == 3.5 and A % 2 == 0\n",
        "X = 'a' + 'b'\nassert X == 'abc'\n",
        "assert all(c in 'SL' for c in 'SSXL' if c != 'S')\n",
    ],
)
def test_what_the_evaluator_can_tell_is_false_fails(source: str) -> None:
    assert len(_failing(source)) == 1


@pytest.mark.parametrize(
    "source",
    [
        "P = 'SSSL'\nassert all(c in 'SL' for c in P)\nassert len(P) == 4 and P != ''\n",
        "assert unknown() or 1 == 2\n",  # unknown, not False
        "class C:\n    def f(self):\n        assert self.n_embd % self.n_head == 0\n",
        "def f(n):\n    assert n > 0\n",  # a parameter
        "X = 1\nX = 2\nassert X == 3\n",  # bound twice
        "X = 1\ndef f():\n    global X\n    X += 1\nassert X == 3\n",
        "X = X + 1\nassert X == 0\n",  # defined in terms of itself
        "assert 2 ** 10**9 > 0\n",  # too large to compute
        "assert 1 / 0 == 1\n",
        "import os\nassert os.sep == '/'\n",
        "from elsewhere import N\nassert N == 3\n",  # not a locked module
        "def len(x):\n    return 0\nassert len('ab') == 2\n",  # a rebound builtin
        "assert 'a' * 3 == 'aa'\n",  # strings only join
        "P = pattern.upper()\nassert all(c in 'SL' for c in P)\n",
        "def f(:\n",
    ],
)
def test_what_the_evaluator_cannot_tell_passes(source: str) -> None:
    assert _failing(source) == []


def test_a_child_is_refused_only_for_an_assert_its_parent_passes() -> None:
    parent, child = {"train.py": TRAIN}, {"train.py": rewrite(TRAIN, {"TOTAL_BATCH_SIZE": "2**17"})}
    locked = {"prepare.py": PREPARE}
    reason = broken_assert(parent, child, locked)
    assert reason is not None and reason.startswith("train.py:7: assert TOTAL_BATCH_SIZE % tokens_per_fwdbwd")
    assert broken_by_rewrite(parent, {"train.py": {"TOTAL_BATCH_SIZE": "2**17"}}, locked) == reason
    assert broken_assert(parent, {"train.py": rewrite(TRAIN, {"TOTAL_BATCH_SIZE": "2**20"})}, locked) is None
    assert broken_assert(child, {"train.py": rewrite(child["train.py"], {"DEVICE_BATCH_SIZE": "256"})}, locked) is None
    # a parent that already fails the assert: a child that fails it too says nothing about the mutation
    assert broken_assert(child, {"train.py": rewrite(child["train.py"], {"TOTAL_BATCH_SIZE": "2**16"})}, locked) is None


def test_the_locked_module_is_read_through_its_own_assignments_and_imports_of_other_files() -> None:
    prepare = "BASE = 1024\nMAX_SEQ_LEN = 2 * BASE\n"
    assert _failing(TRAIN, locked={"prepare.py": prepare}) == []
    assert len(_failing(rewrite(TRAIN, {"DEVICE_BATCH_SIZE": "512"}), locked={"prepare.py": prepare})) == 1
    code = {"train.py": "from model import WIDTH\nassert WIDTH % 64 == 0\n", "model.py": "WIDTH = 100\n"}
    assert len(failing_asserts(code, "train.py", {})) == 1  # the child's own files resolve too


def test_asserts_declare_pattern_alphabets() -> None:
    source = textwrap.dedent(
        """\
        def windows(config):
            pattern = config.window_pattern.upper()
            assert all(c in "SL" for c in pattern)
            assert all(c in "sl" for c in pattern)
            assert all(x in "AB" for c in pattern)
            assert all(c in "XYZ" for c in [w for w in pattern])
        """
    )
    assert asserted_alphabets(source) == ("SL", "XYZ")
