"""Applying model answers (`evo.operators.llm.edits`): a corpus of real-looking answers (tests/answers/), and the
matcher's rules one by one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from evo.operators.base import Context, child_problem
from evo.operators.llm.edits import EditOutcome, apply_answer, extract_description, find_matches
from evo.operators.llm.whole_file import surface_names

ANSWERS = Path(__file__).resolve().parent / "answers"
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load((ANSWERS / "expected.yaml").read_text())
# A snapshot of target/train.py: the corpus quotes its lines, so it must not move when the target is edited.
PARENT = (ANSWERS / "parent-train.py.txt").read_text()
CONTEXT = Context(program="", editable=("train.py",), locked=("prepare.py",))


def read_answer(name: str) -> str:
    return (ANSWERS / name).read_bytes().decode()  # bytes: keep the CRLF case's line endings as the model sent them


def apply(answer: str, files: dict[str, str] | None = None, editable: tuple[str, ...] = ("train.py",)) -> EditOutcome:
    return apply_answer(answer, files if files is not None else {"train.py": PARENT}, editable)


def block(search: str, replace: str, name: str = "") -> str:
    head = f"{name}\n" if name else ""
    return f"{head}<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


# --------------------------------------------------------------------------------------------------------------------
# The corpus
# --------------------------------------------------------------------------------------------------------------------


def test_corpus_is_complete() -> None:
    answers = {p.name for p in ANSWERS.glob("*.md")}
    assert answers == set(EXPECTED)
    assert len(answers) >= 20


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_answer(name: str) -> None:
    want = EXPECTED[name]
    answer = read_answer(name)
    out = apply(answer)
    if want["outcome"] == "error":
        assert not out.ok and out.code is None
        assert want["error"] in out.error
        assert "\n" not in out.error
        return
    assert out.ok, out.error
    assert out.code is not None and set(out.code) == {"train.py"}
    child = out.code["train.py"]
    for fragment in want.get("contains", []):
        assert fragment in child, fragment
    for fragment in want.get("absent", []):
        assert fragment not in child, fragment
    assert out.blocks == want.get("blocks", 0)
    assert out.fuzzy == want.get("fuzzy", 0)
    assert out.whole_file == want.get("whole_file", False)
    assert child_problem({"train.py": PARENT}, out.code, CONTEXT) is None
    if "description" in want:
        assert extract_description(answer)[0] == want["description"]
    if "rationale_starts" in want:
        assert extract_description(answer)[1].startswith(want["rationale_starts"])


def test_surface_names_of_a_file_that_does_not_parse() -> None:
    names = surface_names(
        "import os, sys as system\nfrom x import (\n    A,\n    B as C,\n)\nX, Y = 1, 2\nZ: int = 3\n"
        "def f(:\nclass K(\n  W = 1\nif X == 1:\n"
    )
    assert names == {"os", "system", "A", "C", "X", "Y", "Z", "f", "K"}


def test_crlf_case_really_has_crlf() -> None:
    assert "\r\n" in read_answer("21-crlf-line-endings.md")


# --------------------------------------------------------------------------------------------------------------------
# The matcher
# --------------------------------------------------------------------------------------------------------------------

FILE = ["def f():", "    x = 1", "    y = 2", "", "def g():", "    x = 1", "    return x", ""]


def test_find_exact_wins_over_looser_levels() -> None:
    assert find_matches(FILE, ["    y = 2"]) == (0, [2], 0)


def test_find_reports_every_exact_place() -> None:
    assert find_matches(FILE, ["    x = 1"]) == (0, [1, 5], 0)


def test_find_ignores_trailing_whitespace() -> None:
    assert find_matches(FILE, ["    y = 2   "]) == (1, [2], 0)
    assert find_matches(["a = 1  "], ["a = 1"]) == (1, [0], 0)


def test_find_uniform_indentation_shift_both_ways() -> None:
    assert find_matches(FILE, ["x = 1", "return x"]) == (2, [5], 4)
    assert find_matches(FILE, ["        x = 1", "        return x"]) == (2, [5], -4)


def test_find_rejects_non_uniform_shift() -> None:
    assert find_matches(FILE, ["def g():", "x = 1"]) is None


def test_find_shift_keeps_blank_lines_blank() -> None:
    assert find_matches(FILE, ["y = 2", "", "def g():"]) is None  # `def g()` is not shifted like `y = 2`
    assert find_matches(["    a", "", "    b"], ["a", "", "b"]) == (2, [0], 4)


def test_find_nothing() -> None:
    assert find_matches(FILE, ["z = 3"]) is None


def test_replace_is_reindented_with_the_shift() -> None:
    files = {"m.py": "class A:\n    def f(self):\n        return 1\n"}
    out = apply(block("def f(self):\n    return 1", "def f(self):\n    y = 2\n    return y"), files, ("m.py",))
    assert out.code == {"m.py": "class A:\n    def f(self):\n        y = 2\n        return y\n"}
    assert out.fuzzy == 1


def test_ambiguous_at_a_loose_level_is_an_error() -> None:
    files = {"m.py": "a = 1 \nb = 2\na = 1  \n"}
    out = apply(block("a = 1", "a = 3"), files, ("m.py",))
    assert "matches 2 places in m.py" in out.error


def test_not_found_quotes_the_first_line() -> None:
    out = apply(block("LR = 3e-3\nMUON_LR = 0.5", "LR = 4e-3"))
    assert out.error.startswith("SEARCH block 1 not found in train.py: 'LR = 3e-3 ...'")


def test_blocks_apply_in_order_and_the_first_failure_is_reported() -> None:
    good = block("DEPTH = 4                 # number of transformer blocks", "DEPTH = 5")
    out = apply(good + "\n" + block("NO_SUCH = 1", "NO_SUCH = 2"))
    assert "SEARCH block 2 not found" in out.error and out.code is None


def test_crlf_parent_keeps_its_line_endings() -> None:
    files = {"m.py": "a = 1\r\nb = 2\r\n"}
    out = apply(block("b = 2", "b = 3"), files, ("m.py",))
    assert out.code == {"m.py": "a = 1\r\nb = 3\r\n"}


def test_empty_search_fills_an_empty_file() -> None:
    out = apply(block("", "X = 1", name="new.py"), {"train.py": PARENT}, ("train.py", "new.py"))
    assert out.code == {"new.py": "X = 1\n"}


def test_marker_lengths_outside_five_to_nine_are_not_markers() -> None:
    answer = "<<<< SEARCH\nLR = 1e-3\n====\nLR = 2e-3\n>>>> REPLACE\n"
    assert not apply(answer).ok


def test_replace_without_search_is_an_error() -> None:
    out = apply("LR = 2e-3\n>>>>>>> REPLACE\n")
    assert "without a '<<<<<<< SEARCH'" in out.error


def test_missing_replace_before_next_search_is_an_error() -> None:
    answer = "<<<<<<< SEARCH\na\n=======\nb\n<<<<<<< SEARCH\nc\n=======\nd\n>>>>>>> REPLACE\n"
    assert "SEARCH block 1 has no '>>>>>>> REPLACE'" in apply(answer).error


# --------------------------------------------------------------------------------------------------------------------
# File names and multi-file targets
# --------------------------------------------------------------------------------------------------------------------

TWO = {"model.py": "WIDTH = 64\n", "train.py": "LR = 0.1\n"}
EDITABLE = ("model.py", "train.py")


@pytest.mark.parametrize(
    "label",
    ["train.py", "train.py:", "`train.py`", "**train.py**", "### train.py", "File: train.py", "target/train.py"],
)
def test_file_name_line_forms(label: str) -> None:
    out = apply(f"{label}\n```python\n" + block("LR = 0.1", "LR = 0.2") + "```\n", dict(TWO), EDITABLE)
    assert out.code == {"train.py": "LR = 0.2\n"}, out.error


def test_fence_info_names_the_file() -> None:
    out = apply("```python train.py\n" + block("LR = 0.1", "LR = 0.2") + "```\n", dict(TWO), EDITABLE)
    assert out.code == {"train.py": "LR = 0.2\n"}


def test_unnamed_block_edits_the_first_editable_file_then_follows_the_last_name() -> None:
    answer = block("WIDTH = 64", "WIDTH = 96") + block("LR = 0.1", "LR = 0.3", name="train.py")
    answer += block("LR = 0.3", "LR = 0.4")  # no name: still train.py
    out = apply(answer, dict(TWO), EDITABLE)
    assert out.code == {"model.py": "WIDTH = 96\n", "train.py": "LR = 0.4\n"}


def test_dotted_prose_is_not_a_file_name() -> None:
    out = apply("**torch.compile**\n" + block("LR = 1e-3                 # AdamW peak learning rate", "LR = 2e-3"))
    assert out.ok, out.error


def test_unknown_file_is_refused_like_a_locked_one() -> None:
    out = apply(block("x = 1", "x = 2", name="utils.py"))
    assert out.error == "SEARCH block 1 edits locked file 'utils.py' (only train.py may change)"


def test_unchanged_files_are_left_out_of_code() -> None:
    out = apply(block("LR = 0.1", "LR = 0.5", name="train.py"), dict(TWO), EDITABLE)
    assert out.code == {"train.py": "LR = 0.5\n"}


# --------------------------------------------------------------------------------------------------------------------
# Whole files, diffs, prose
# --------------------------------------------------------------------------------------------------------------------


def test_whole_file_needs_most_of_the_parents_names() -> None:
    assert "snippets cannot be placed" in apply("```python\nimport os\nDEPTH = 2\n```\n").error
    start, end = PARENT.index("def orthogonalize"), PARENT.index("def make_optimizers")
    without_muon = PARENT[:start] + PARENT[end:]  # drops two of the parent's ~40 top-level names
    out = apply(f"```python\n{without_muon}```\n")
    assert out.whole_file and out.code == {"train.py": without_muon}


def test_complete_but_broken_whole_file_is_left_to_child_problem() -> None:
    broken = PARENT.replace("DEPTH = 4 ", "DEPTH = (4 ")
    out = apply(f"```python\n{broken}```\n")
    assert out.whole_file and out.code == {"train.py": broken}
    assert "does not parse" in (child_problem({"train.py": PARENT}, out.code, CONTEXT) or "")


def test_whole_file_identical_to_parent_is_an_error() -> None:
    assert "unchanged" in apply(f"```python\n{PARENT}```\n").error


def test_whole_file_picks_the_editable_file_it_replaces() -> None:
    files = {"model.py": "import torch\nWIDTH = 64\nDEPTH = 2\n", "train.py": "import os\nLR = 0.1\nSTEPS = 10\n"}
    out = apply("```python\nimport os\nLR = 0.2\nSTEPS = 10\n```\n", files, ("model.py", "train.py"))
    assert out.code == {"train.py": "import os\nLR = 0.2\nSTEPS = 10\n"} and out.whole_file


def test_diff_without_headers_is_recognised() -> None:
    answer = "@@ -1,3 +1,3 @@\n-LR = 1e-3\n+LR = 2e-3\n"
    assert apply(answer).error == "answer is a unified diff; SEARCH/REPLACE blocks are expected"


def test_prose_mentioning_a_constant_is_still_prose() -> None:
    out = apply("I would try this.\nLR = 3e-3 might help, as would a warmdown.\n")
    assert "prose only" in out.error


def test_answer_cut_off_while_thinking() -> None:
    answer = "<think>\nMaybe:\n" + block("LR = 1e-3                 # AdamW peak learning rate", "LR = 2e-3")
    assert "inside its reasoning" in apply(answer).error


def test_empty_answer() -> None:
    assert "prose only" in apply("").error


# --------------------------------------------------------------------------------------------------------------------
# DESCRIPTION / RATIONALE
# --------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("DESCRIPTION: Raise LR\nRATIONALE: It is low.\n", ("Raise LR", "It is low.")),
        ("**DESCRIPTION:** Raise `LR`\n**RATIONALE:** It is **low**.\n", ("Raise LR", "It is low.")),
        ("**Description**: Raise LR\n\n**Rationale**: One.\nTwo.\n\nMore prose.", ("Raise LR", "One. Two.")),
        ("### Description\nRaise LR\n### Rationale\nIt is low.\n```python\nx\n```", ("Raise LR", "It is low.")),
        ("RATIONALE: only why\n<<<<<<< SEARCH\n", ("", "only why")),
        ("Just some blocks.", ("", "")),
        ("<think>DESCRIPTION: draft</think>\nDESCRIPTION: final\r\nRATIONALE: r\r\n", ("final", "r")),
    ],
)
def test_extract_description(answer: str, expected: tuple[str, str]) -> None:
    assert extract_description(answer) == expected
