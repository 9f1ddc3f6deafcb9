"""Reading, rewriting and inferring domains for a train.py's UPPERCASE constants."""

from __future__ import annotations

import ast
import textwrap

import pytest

from evo.operators.knobs import Condition, condition_of, is_active
from evo.operators.train_constants import (
    Domain,
    constants_by_name,
    domain_of,
    format_value,
    literal_value,
    read_constants,
    rewrite,
)
from tests.conftest import REPO

TARGET = (REPO / "target" / "train.py").read_text()
SURROGATE = (REPO / "benchmarks" / "surrogate" / "train.py").read_text()


def test_reads_the_default_targets_constants() -> None:
    constants = constants_by_name(TARGET)
    assert list(constants) == [
        "DEPTH", "WIDTH", "N_HEAD", "MLP_RATIO", "BATCH_SIZE", "OPTIMIZER", "LR", "MUON_LR",
        "WEIGHT_DECAY", "WARMUP_FRAC", "WARMDOWN_FRAC", "GRAD_CLIP", "EVAL_BATCH_SIZE",
    ]  # fmt: skip
    assert "ADAM_BETAS" not in constants  # a tuple: skipped
    assert {n: c.value for n, c in constants.items()} == {
        "DEPTH": 4, "WIDTH": 128, "N_HEAD": 4, "MLP_RATIO": 4, "BATCH_SIZE": 16, "OPTIMIZER": "adamw",
        "LR": 1e-3, "MUON_LR": 0.02, "WEIGHT_DECAY": 0.0, "WARMUP_FRAC": 0.02, "WARMDOWN_FRAC": 0.0,
        "GRAD_CLIP": 1.0, "EVAL_BATCH_SIZE": 64,
    }  # fmt: skip
    for c in constants.values():
        assert TARGET[c.start : c.end] == c.source
        assert TARGET.splitlines()[c.line - 1].startswith(f"{c.name} = {c.source}")
    assert constants["LR"].source == "1e-3"
    assert constants["LR"].comment == "AdamW peak learning rate"
    assert constants["OPTIMIZER"].source == '"adamw"'
    assert domain_of(constants["OPTIMIZER"]) == Domain("choice", choices=("adamw", "muon"), declared=True)
    assert all(type(c.value) is int for n, c in constants.items() if n in {"DEPTH", "WIDTH", "EVAL_BATCH_SIZE"})


def test_reads_the_surrogate_targets_constants_and_listed_choices() -> None:
    constants = constants_by_name(SURROGATE)
    assert list(constants) == [
        "LEARNING_RATE", "BATCH_SIZE", "DEPTH", "WIDTH", "WARMUP_FRAC", "WARMDOWN_FRAC", "WEIGHT_DECAY", "OPTIMIZER",
    ]  # fmt: skip
    assert constants["LEARNING_RATE"].value == 1e-3
    assert constants["WARMDOWN_FRAC"].value == 0.3
    assert constants["OPTIMIZER"].comment == "one of: adamw, muon, sgd"
    assert domain_of(constants["OPTIMIZER"]).choices == ("adamw", "muon", "sgd")
    assert domain_of(constants["WIDTH"]) == Domain("pow2", 64, 1024)
    assert domain_of(constants["LEARNING_RATE"]).kind == "log"


def test_rewrite_changes_only_the_value_tokens() -> None:
    constants = constants_by_name(TARGET)
    new = rewrite(TARGET, {"LR": "2.4e-3", "DEPTH": "8", "OPTIMIZER": '"muon"'})
    lr, depth, opt = constants["LR"], constants["DEPTH"], constants["OPTIMIZER"]
    expected = (
        TARGET[: depth.start] + "8" + TARGET[depth.end : opt.start] + '"muon"' + TARGET[opt.end : lr.start] + "2.4e-3"
    ) + TARGET[lr.end :]
    assert new == expected
    assert new.splitlines()[lr.line - 1] == "LR = 2.4e-3                 # AdamW peak learning rate"
    reread = constants_by_name(new)
    assert (reread["LR"].value, reread["DEPTH"].value, reread["OPTIMIZER"].value) == (2.4e-3, 8, "muon")
    assert [c.comment for c in reread.values()] == [c.comment for c in constants.values()]
    assert rewrite(TARGET, {}) == TARGET
    with pytest.raises(KeyError, match="ADAM_BETAS"):
        rewrite(TARGET, {"ADAM_BETAS": "(0.9, 0.99)"})


SYNTHETIC = textwrap.dedent(
    """\
    '''A docstring mentioning X = 99.'''
    import math
    X = -3  # an offset
    Y = -2.5e-4
    Z = 1E3  # scale
    GREETING = "héllo"; COUNT = 7  # the comment belongs to the line, not to GREETING
    Q: float = 0.5  # a fraction [0, 0.8]
    B = True
    POS = +2
    T = (1, 2)
    C = 2 * 3
    N = None
    lower = 5
    D = 1
    D = 2
    INF = math.inf


    def f():
        INNER = 3
        return INNER


    if True:
        COND = 4
    """
)


def test_reads_negative_scientific_annotated_and_non_ascii_lines() -> None:
    constants = constants_by_name(SYNTHETIC)
    assert list(constants) == ["X", "Y", "Z", "GREETING", "COUNT", "Q", "B", "POS"]
    values = {n: c.value for n, c in constants.items()}
    assert values == {
        "X": -3,
        "Y": -2.5e-4,
        "Z": 1000.0,
        "GREETING": "héllo",
        "COUNT": 7,
        "Q": 0.5,
        "B": True,
        "POS": 2,
    }
    assert type(values["Z"]) is float and type(values["B"]) is bool
    sources = {n: c.source for n, c in constants.items()}
    assert sources == {
        "X": "-3", "Y": "-2.5e-4", "Z": "1E3", "GREETING": '"héllo"', "COUNT": "7", "Q": "0.5", "B": "True",
        "POS": "+2",
    }  # fmt: skip
    assert all(SYNTHETIC[c.start : c.end] == c.source for c in constants.values())
    assert constants["X"].comment == "an offset"
    assert constants["GREETING"].comment == ""
    assert constants["COUNT"].comment == "the comment belongs to the line, not to GREETING"

    new = rewrite(SYNTHETIC, {"X": "-12", "Y": "-1e-3", "COUNT": "9", "GREETING": '"hé"'})
    assert "X = -12  # an offset\nY = -1e-3\n" in new
    assert 'GREETING = "hé"; COUNT = 9  # the comment' in new
    assert len(new.splitlines()) == len(SYNTHETIC.splitlines())
    assert constants_by_name(new)["Y"].value == -1e-3


def test_read_constants_rejects_source_that_does_not_parse() -> None:
    with pytest.raises(SyntaxError):
        read_constants("X = (\n")


def test_format_value_writes_like_the_original_literal() -> None:
    assert format_value(0.0024123, "0.001") == "0.0024"
    assert format_value(0.0024123, "1e-3") == "2.4e-3"
    assert format_value(0.002, "1e-3") == "2e-3"
    assert format_value(12.5, "1E3", digits=3) == "1.25e1"
    assert format_value(1.0, "0.5") == "1.0"
    assert format_value(0.0, "1e-3") == "0.0"
    assert format_value(-0.25, "-0.5") == "-0.25"
    assert format_value(8, "4") == "8"
    assert format_value(False, "True") == "False"
    assert format_value("muon", '"adamw"') == '"muon"'
    assert format_value("muon", "'adamw'") == "'muon'"
    for value, like in [(3.14159e-7, "1e-3"), (271828.0, "0.5"), (-1.5e12, "-2e3")]:
        assert abs(ast.literal_eval(format_value(value, like)) / value - 1) < 0.05


def test_powers_of_two_written_as_powers_are_read_and_rewritten_in_their_form() -> None:
    text = "A = 2**19  # tokens\nB = 2 ** 4\nC = 1 << 10\nD = 2**0\nE = 3**2\nF = 2**K\nG = 2.0**3\n"
    constants = constants_by_name(text)
    assert {n: (c.value, c.source) for n, c in constants.items()} == {
        "A": (2**19, "2**19"),
        "B": (16, "2 ** 4"),
        "C": (1024, "1 << 10"),
    }
    assert all(type(c.value) is int for c in constants.values())
    assert format_value(2**18, "2**19") == "2**18"
    assert format_value(32, "2 ** 4") == "2 ** 5"
    assert format_value(4096, "1 << 10") == "1 << 12"
    assert format_value(24, "2**4") == "24"  # not a power of two: a plain int
    child = rewrite(text, {"A": format_value(2**20, "2**19")})
    assert child == text.replace("2**19", "2**20", 1)
    assert literal_value("2**20") == 2**20 and literal_value("1 << 3") == 8 and literal_value("-1e-3") == -1e-3
    with pytest.raises(ValueError):
        literal_value("3**2")


def _domain(line: str) -> Domain | None:
    (constant,) = read_constants(line)
    return domain_of(constant)


@pytest.mark.parametrize(
    ("line", "domain"),
    [
        ("DEPTH = 6  # layers", Domain("int", 1, 24)),
        ("WIDTH = 128  # width", Domain("pow2", 32, 512)),
        ("ONE = 1", Domain("int", 1, 4)),
        ("OFFSET = -3", Domain("int", -12, -1)),
        ("ZERO = 0", Domain("int", 0, 4)),
        ("DEPTH = 4  # layers [1, 12]", Domain("int", 1, 12, declared=True)),
        ("WIDTH = 128  # power of two [64, 1024]", Domain("pow2", 64, 1024, declared=True)),
        ("LR = 1e-3", Domain("log", 1e-4, 1e-2)),
        ("EMBED_LR = 0.6", Domain("log", 0.06, 6.0)),
        ("LEARNING_RATE = 3e-4  # peak [1e-5, 1e-2]", Domain("log", 1e-5, 1e-2, declared=True)),
        ("WARMUP_FRAC = 0.02", Domain("linear", 0.0, 1.0)),
        ("WEIGHT_DECAY = 0.0  # decoupled", Domain("linear", 0.0, 1.0)),
        ("ALPHA = 0.3  # probability of a skip", Domain("linear", 0.0, 1.0)),
        ("GAP = 0.0", Domain("linear", 0.0, 1.0)),
        ("GAP = 0.0  # [0, 0.5]", Domain("linear", 0.0, 0.5, declared=True)),
        ("SOFTCAP = 15.0  # logit cap", Domain("log", 1.5, 150.0)),
        ("SHIFT = -0.5", Domain("linear", -5.0, -0.05)),
        ("Q = 0.5  # a fraction [0, 0.8]", Domain("linear", 0.0, 0.8, declared=True)),
        ("FLAG = False", Domain("bool")),
        ('OPT = "adamw"  # "adamw", or "muon"', Domain("choice", choices=("adamw", "muon"), declared=True)),
        ("OPT = 'sgd'  # choices: sgd / adam", Domain("choice", choices=("sgd", "adam"), declared=True)),
        ('NAME = "run"  # the run name', None),
        ('OPT = "lion"  # "adamw", or "muon"', None),
        ('OPT = "adamw"  # "adamw" only', None),
        ("FIXED = 4  # [4, 4]", None),
        ("FIXED = 4  # [3, 3.5]", None),
        # a condition's values are neither choices nor a range
        (
            'SCHED = "cos"  # "cos" or "lin" (used only when OPT == "muon")',
            Domain("choice", choices=("cos", "lin"), declared=True),
        ),
        ("STEPS = 5  # steps (used only when WIDTH in [2, 3])", Domain("int", 1, 20)),
        ('MUON_LR = 0.02  # Muon peak learning rate (used only when OPTIMIZER == "muon")', Domain("log", 2e-3, 0.2)),
        # powers of two written as powers
        ("TOTAL_BATCH_SIZE = 2**19 # ~524K tokens per optimizer step", Domain("pow2", 2**17, 2**21)),
        ("SHIFTED = 1 << 10", Domain("pow2", 256, 4096)),
        ("BATCH = 2**4  # [8, 64]", Domain("pow2", 8, 64, declared=True)),  # the form says "power of two"
        # patterns: uppercase letters whose alphabet the comment declares with X= pairs
        (
            'WINDOW_PATTERN = "SSSL" # sliding window pattern: L=full, S=half context',
            Domain("pattern", 2, 8, choices=("L", "S"), declared=True),
        ),
        ('P = "ABCABCABCABCABCA"  # A=a, B=b, C=c', Domain("pattern", 8, 16, choices=("A", "B", "C"), declared=True)),
        ('WINDOW_PATTERN = "SSSL"  # the attention windows', None),
        ('WINDOW_PATTERN = "SSXL"  # L=full, S=half context', None),  # X is not declared
        ('WINDOW_PATTERN = "LLLL"  # L=full', None),  # a one-letter alphabet has nothing to vary
        ('LABEL = "sssl"  # l=long, s=short', None),
    ],
)
def test_domain_inference(line: str, domain: Domain | None) -> None:
    got = _domain(line)
    if domain is None or got is None:
        assert got == domain
        return
    assert (got.kind, got.choices, got.declared) == (domain.kind, domain.choices, domain.declared)
    assert got.low == pytest.approx(domain.low) and got.high == pytest.approx(domain.high)


def test_domain_contains_respects_type_and_shape() -> None:
    assert Domain("pow2", 2, 16).contains(8) and not Domain("pow2", 2, 16).contains(6)
    assert not Domain("pow2", 2, 16).contains(8.0) and not Domain("pow2", 2, 16).contains(32)
    assert Domain("int", 1, 4).contains(3) and not Domain("int", 1, 4).contains(True)
    assert Domain("log", 0.1, 10.0).contains(2.0) and not Domain("log", 0.1, 10.0).contains(2)
    assert not Domain("linear", 0.0, 1.0).contains(float("nan"))
    assert Domain("choice", choices=("a", "b")).contains("b") and not Domain("choice", choices=("a",)).contains("c")
    pattern = Domain("pattern", 2, 8, choices=("L", "S"))
    assert pattern.contains("SSL") and pattern.contains("LLLLLLLL")
    assert not pattern.contains("SXL") and not pattern.contains("L") and not pattern.contains("SSSSSSSSS")


def test_an_asserted_alphabet_makes_a_pattern_without_a_comment() -> None:
    (constant,) = read_constants('WINDOW_PATTERN = "SSSL"\n')
    assert domain_of(constant) is None
    assert domain_of(constant, alphabets=("AB", "LS")) == Domain("pattern", 2, 8, choices=("L", "S"), declared=True)


ACTIVITY = """OPTIMIZER = "adamw"  # "adamw", or "muon"
EMA = False
HEADS = 4
SCALE = 1.5
NAME = "run"
TUPLE = (1, 2)
"""


@pytest.mark.parametrize(
    ("comment", "active"),
    [
        ("a learning rate", True),
        ('used only when OPTIMIZER == "muon"', False),
        ('(used only when OPTIMIZER == "adamw")', True),
        ("used only when OPTIMIZER == muon", False),  # quotes are optional for strings
        ("Used only when OPTIMIZER == 'adamw'; ignored otherwise", True),
        ('used only when OPTIMIZER != "muon"', True),
        ("used only when OPTIMIZER != adamw", False),
        ('used only when OPTIMIZER in ("muon", "sgd")', False),
        ("used only when OPTIMIZER in (muon, adamw,)", True),
        ("used only when OPTIMIZER not in (adamw)", False),
        ("used only when EMA == True", False),
        ("used only when EMA == false", True),
        ("used only when EMA == 0", False),  # a bool is not the number 0
        ("used only when HEADS == 4", True),
        ("used only when HEADS == 4.0", True),
        ('used only when HEADS == "4"', False),  # a quoted value is a string
        ("used only when HEADS in (2, 8, 16)", False),
        ("used only when SCALE != 1.5", False),
        ("used only when NAME == run", True),
        # malformed, or nothing to check against: ignored, the constant stays active
        ("used only when OPTIMIZER is muon", True),
        ("used only when OPTIMIZER ==", True),
        ("used only when OPTIMIZER in ()", True),
        ("used only when OPTIMIZER in (muon adamw)", True),
        ("used only when optimizer == muon", True),
        ('used only when MISSING == "x"', True),
        ("used only when TUPLE == 1", True),
    ],
)
def test_a_declared_condition_decides_whether_a_constant_is_active(comment: str, active: bool) -> None:
    text = ACTIVITY + f"KNOB = 0.1  # {comment}\n"
    constants = constants_by_name(text)
    assert is_active(constants["KNOB"], constants) is active


def test_conditions_parse_into_the_name_the_values_and_the_sense() -> None:
    def condition(comment: str) -> Condition | None:
        return condition_of(constants_by_name(f"KNOB = 1  # {comment}\n")["KNOB"])

    assert condition('(used only when OPTIMIZER == "muon")') == Condition("OPTIMIZER", ('"muon"',))
    assert condition("used only when A not in ('x', y)") == Condition("A", ("'x'", "y"), negated=True)
    assert condition('used only when A in ("p, q", r)') == Condition("A", ('"p, q"', "r"))
    assert condition("used only when A != -1e-3") == Condition("A", ("-1e-3",), negated=True)
    assert condition("a plain comment") is None and condition("used only when A > 3") is None
