"""Attested metrics: only the locked evaluation's private records count, checked against the trusted manifest.

A tiny pure-Python target stands in for the GPT target here, so each case runs in well under a second; the
default target's own evaluation is covered in test_default_target.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from evo.config import BudgetConfig
from evo.errors import EvoError
from evo.evaluation import EvalSettings, evaluate
from evo.evaluation.result import Status
from evo.evaluation.target import TargetSpec

PREPARE = """
import hashlib, json, os
DATA = bytes(range(200)) * 5
TOKENS = 1000

def _report(record):
    fd = os.environ.get("EVO_RESULT_FD")
    if fd:
        os.write(int(fd), (json.dumps(record) + "\\n").encode())

def evaluate(score, causal=True):
    _report({"kind": "eval_start"})
    data = DATA[:TOKENS]
    _report({"kind": "eval", "metric": "val_bpb", "value": score, "tokens": len(data),
             "val_digest": hashlib.sha256(data).hexdigest(), "causal": causal,
             "causal_max_diff": 0.0 if causal else 0.5})
    return score

if __name__ == "__main__":
    _report({"kind": "manifest", "expect": {"tokens": TOKENS, "val_digest": hashlib.sha256(DATA[:TOKENS]).hexdigest()},
             "corpus": os.environ.get("EVO_CORPUS", "tiny"), "entropy_floor_bpb": 0.5})
"""

SPEC = "prepare: python prepare.py\nmetric: {attested: true}\nenv: {EVO_CORPUS: tiny}\n"

HONEST = """
import prepare
print("step 00001 (50.0%) | loss: 2.0")
score = prepare.evaluate(1.25)
print("---")
print(f"val_bpb: {score:.6f}")
"""


@pytest.fixture
def attested(make_target: Callable[..., TargetSpec], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TargetSpec:
    monkeypatch.setenv("EVO_CACHE_DIR", str(tmp_path / "cache"))
    return make_target(HONEST, files={"prepare.py": PREPARE}, spec=SPEC)


CPU_CLOCK = {"clock": "cpu", "startup_grace": 0.2, "eval_grace": 20.0}


def run(target: TargetSpec, train: str, tmp_path: Path, budget: dict | None = None, **settings: object):
    """`budget`: BudgetConfig fields over a 1 s budget with 2 s graces; `settings`: EvalSettings fields."""
    budget = BudgetConfig(**{"seconds": 1.0, "startup_grace": 2.0, "eval_grace": 2.0, **(budget or {})})
    return evaluate(target, {"train.py": train}, tmp_path / "run", EvalSettings(budget, threads=1, **settings))


def test_an_honest_candidate_gets_the_attested_value_and_the_manifest_info(attested: TargetSpec, tmp_path: Path):
    result = run(attested, HONEST, tmp_path)
    assert result.status is Status.OK, result.reason
    assert result.metric == 1.25
    assert result.info == {"corpus": "tiny", "entropy_floor_bpb": 0.5}
    assert result.notes == ()
    manifests = list((tmp_path / "cache" / "manifests").glob("*.json"))
    assert len(manifests) == 1


def test_the_manifest_is_cached_per_setting(attested: TargetSpec, tmp_path: Path):
    run(attested, HONEST, tmp_path)
    run(attested, HONEST, tmp_path)
    assert len(list((tmp_path / "cache" / "manifests").glob("*.json"))) == 1
    result = run(attested, HONEST, tmp_path, env={"EVO_CORPUS": "other"})
    assert result.info["corpus"] == "other"
    assert len(list((tmp_path / "cache" / "manifests").glob("*.json"))) == 2


@pytest.mark.parametrize(
    ("train", "reason"),
    [
        (
            'print("---")\nprint("val_bpb: 0.000100")\n',
            "no val_bpb from the locked evaluation (it never ran); printed values are ignored",
        ),
        (
            "import prepare\nprepare.evaluate(1.0)\nprepare.evaluate(0.9)\n",
            "the locked evaluation ran 2 times; exactly one run is allowed",
        ),
        (
            "import prepare\nprepare.TOKENS = 100\nprepare.evaluate(0.5)\n",
            "the locked evaluation ran with tokens=100, expected 1000: its data or token count was changed",
        ),
        (
            "import prepare\nprepare.DATA = bytes(1000)\nprepare.evaluate(0.5)\n",
            "the locked evaluation ran with val_digest=",
        ),
        (
            "import prepare\nprepare.evaluate(0.5, causal=False)\n",
            "the model is not causal: early logits changed by 0.5 when only later tokens changed",
        ),
        ("import prepare\nprepare.evaluate(float('nan'))\n", "val_bpb is nan (non-finite) from the locked evaluation"),
        (
            "import time, prepare\ntime.sleep(3.5)\nprepare.evaluate(0.5)\n",
            "on the wall clock before evaluating; the budget is 1 s (+2 s startup grace)",
        ),
        (
            "import os, json\nos.write(int(os.environ['EVO_RESULT_FD']), b'not json\\n')\n",
            "no val_bpb from the locked evaluation",
        ),
    ],
    ids=["printed-only", "twice", "fewer-tokens", "other-data", "not-causal", "nan", "over-budget", "garbage"],
)
def test_untrustworthy_results_are_invalid(attested: TargetSpec, tmp_path: Path, train: str, reason: str):
    # A long evaluation grace: only the budget plus the startup grace (3 s) judges "over-budget", and a loaded
    # machine must not turn its 3.5 s sleep into a timeout at the hard limit.
    result = run(attested, train, tmp_path, budget={"eval_grace": 10.0})
    assert result.status is Status.INVALID
    assert result.metric is None
    assert reason in result.reason


def test_a_printed_value_that_disagrees_makes_the_candidate_invalid(attested: TargetSpec, tmp_path: Path):
    result = run(attested, HONEST + 'print("---")\nprint("val_bpb: 0.000100")\n', tmp_path)
    assert (result.status, result.metric) == (Status.INVALID, None)  # a candidate that prints a forgery is gaming
    assert result.reason == "printed val_bpb 0.0001 differs from the locked evaluation's 1.25"
    agreeing = run(attested, HONEST + 'print("---")\nprint("val_bpb: 1.250000")\n', tmp_path / "agreeing")
    assert (agreeing.status, agreeing.metric) == (Status.OK, 1.25)


def test_editing_prepare_py_at_run_time_is_invalid_even_if_restored(attested: TargetSpec, tmp_path: Path):
    train = (
        "import os\nsource = open('prepare.py').read()\n"
        "open('prepare.py', 'w').write(source.replace('TOKENS = 1000', 'TOKENS = 1000; DATA = bytes(1000)'))\n"
        "import prepare\nprepare.evaluate(0.01)\nopen('prepare.py', 'w').write(source)\n"
    )
    result = run(attested, train, tmp_path)
    assert result.status is Status.INVALID
    assert result.reason == "locked file prepare.py was modified during the run"


def test_the_cpu_clock_budget_is_checked_on_cpu_seconds(attested: TargetSpec, tmp_path: Path):
    busy = "import time, prepare\nend = time.process_time() + 1.5\nwhile time.process_time() < end: pass\n"
    sleepy = "import time, prepare\ntime.sleep(1.5)\n"
    # a generous eval grace keeps the hard wall limit out of the way on a loaded machine
    over = run(attested, busy + "prepare.evaluate(0.5)\n", tmp_path, budget=CPU_CLOCK)
    assert over.status is Status.INVALID and "on the cpu clock" in over.reason
    fine = run(attested, sleepy + "prepare.evaluate(0.5)\n", tmp_path, budget=CPU_CLOCK)
    assert fine.status is Status.OK, fine.reason


def test_a_failing_prepare_command_is_a_one_line_error(
    make_target: Callable[..., TargetSpec], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("EVO_CACHE_DIR", str(tmp_path / "cache"))
    broken = make_target(HONEST, files={"prepare.py": "raise SystemExit('corpus /data/x not found')\n"}, spec=SPEC)
    with pytest.raises(EvoError, match=r"prepare command 'python prepare.py' failed \(exit 1\): corpus /data/x not"):
        run(broken, HONEST, tmp_path)


def test_a_prepare_without_manifest_is_a_one_line_error(
    make_target: Callable[..., TargetSpec], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("EVO_CACHE_DIR", str(tmp_path / "cache"))
    silent = make_target(HONEST, files={"prepare.py": "print('prepared')\n"}, spec=SPEC)
    with pytest.raises(EvoError, match="wrote no manifest record"):
        run(silent, HONEST, tmp_path)
    assert not os.path.exists(tmp_path / "cache" / "manifests")
