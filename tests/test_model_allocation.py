"""Several models, chosen by results (`llm.allocation`): the bandit's rule on synthetic records, each model's record
read from a run's ledger, and real searches against a fake endpoint serving a model whose edits help and one whose
edits hurt, where the bandit moves the calls to the first while fixed weights keep their shares."""

from __future__ import annotations

import ast
import importlib.util
import random
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from evo.config import ModelConfig, load_config
from evo.operators import ModelStats
from evo.operators.llm.allocation import choose_model
from evo.reporting.facts import operator_outcomes
from evo.reporting.run_data import RunData, load_run
from evo.reporting.run_report import write_run_report
from evo.search import Coordinator, start
from evo.search.model_stats import model_stats
from population.individual import Individual
from population.ledger import Event

from .conftest import REPO
from .fake_openai import Completion, FakeOpenAI

SURROGATE = REPO / "benchmarks" / "surrogate"
GOOD, BAD = "good-model", "bad-model"


def shares(models: tuple[ModelConfig, ...], stats: dict[str, ModelStats], draws: int = 4000) -> dict[str, float]:
    picks = Counter(choose_model(models, "bandit", stats, random.Random(seed)).name for seed in range(draws))
    return {m.name: picks[m.name] / draws for m in models}


def test_with_no_results_the_bandit_follows_the_weights_and_a_seed_gives_one_choice() -> None:
    models = (ModelConfig("a", weight=1.0), ModelConfig("b", weight=3.0), ModelConfig("c", weight=4.0))
    assert shares(models, {}) == pytest.approx({"a": 0.125, "b": 0.375, "c": 0.5}, abs=0.025)
    record = {"a": ModelStats(5, 4, 2, 1, 0.0, 900), "b": ModelStats(3, 3, 0, 0, 0.0, 600)}
    picks = [choose_model(models, "bandit", record, random.Random(seed)).name for seed in range(50)]
    assert picks == [choose_model(models, "bandit", record, random.Random(seed)).name for seed in range(50)]
    assert [choose_model(models, "weights", record, random.Random(s)) for s in range(50)] == [
        random.Random(s).choices(models, weights=[1.0, 3.0, 4.0])[0] for s in range(50)
    ]  # fixed weights draw as before: recorded searches replay


def test_results_outweigh_the_prior_and_cost_counts() -> None:
    models = (ModelConfig("good", weight=1.0), ModelConfig("bad", weight=3.0))
    evidence = {"good": ModelStats(10, 10, 6, 0, 0.0, 10_000), "bad": ModelStats(10, 8, 0, 2, 0.0, 10_000)}
    assert shares(models, evidence)["good"] > 0.95
    # Equal records, but one model spends four times the tokens per proposal: the cheaper one gets most calls.
    even = {"good": ModelStats(10, 10, 5, 0, 0.0, 4_000), "bad": ModelStats(10, 10, 5, 0, 0.0, 16_000)}
    assert shares((ModelConfig("good"), ModelConfig("bad")), even)["good"] > 0.8
    # With prices, cost is the unit and tokens no longer matter.
    priced = tuple(ModelConfig(m.name, prompt_price=1.0) for m in models)
    costly = {"good": ModelStats(10, 10, 5, 0, 0.04, 4_000), "bad": ModelStats(10, 10, 5, 0, 0.01, 16_000)}
    assert shares(priced, costly)["bad"] > 0.8


def individual(ident: str, parents: tuple[str, ...], metric: float | None, model: str | None, **extra: Any):
    status = extra.pop("status", "ok" if metric is not None else "crash")
    return Individual(ident, parents, "llm-mutation", model, metric=metric, status=status, **extra)


def test_each_models_record_is_read_from_the_ledger() -> None:
    individuals = [
        individual("0000", (), 1.0, None),
        individual("0001", ("0000",), 0.9, "a", cost=0.5, prompt_tokens=100, completion_tokens=10),  # improved
        individual("0002", ("0001",), 0.95, "a", prompt_tokens=100),  # worse than its parent 0001
        individual("0003", ("0000",), None, "b", prompt_tokens=50),  # crashed
        individual("0004", ("0001",), 0.8, "b", confirmed=False),  # refused by confirmation: no improvement
        individual("0005", ("0001",), None, "b", status="running"),  # not finished: spent, no outcome yet
    ]
    failures = [
        {"operator": "llm-mutation", "model": "a", "prompt_tokens": 30, "completion_tokens": 5, "cost": 0.25},
        {"operator": "param", "cost": 0.0},  # no model: left out
    ]
    stats = model_stats(individuals, failures, "minimize")
    assert stats == {"a": ModelStats(3, 2, 1, 1, 0.75, 245), "b": ModelStats(3, 2, 0, 0, 0.0, 50)}


# ------------------------------------------------------------------------------------------------ searches

prepare_spec = importlib.util.spec_from_file_location("surrogate_prepare", SURROGATE / "prepare.py")
assert prepare_spec is not None and prepare_spec.loader is not None
prepare = sys.modules["surrogate_prepare"] = importlib.util.module_from_spec(prepare_spec)  # dataclasses need it there
prepare_spec.loader.exec_module(prepare)
CONSTANT = re.compile(r"^([A-Z_]+) = ([^#\n]+?)(\s+#[^\n]*)?$", re.MULTILINE)


def parent_constants(body: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """Constant name -> (its whole line, its value) in the first file the prompt shows (the parent's)."""
    text = "\n".join(m["content"] for m in body["messages"] if m["role"] == "user")
    code = text.split("```python\n", 1)[1].split("\n```", 1)[0]
    return {m.group(1): (m.group(0), ast.literal_eval(m.group(2))) for m in CONSTANT.finditer(code)}


def moves(values: dict[str, Any]) -> list[dict[str, Any]]:
    """The surrogate's constants after each one-step change its landscape accepts."""
    steps = [
        ("LEARNING_RATE", values["LEARNING_RATE"] * 2),
        ("LEARNING_RATE", values["LEARNING_RATE"] / 2),
        ("BATCH_SIZE", values["BATCH_SIZE"] * 2),
        ("BATCH_SIZE", values["BATCH_SIZE"] // 2),
        ("DEPTH", values["DEPTH"] + 1),
        ("DEPTH", values["DEPTH"] - 1),
        ("WIDTH", values["WIDTH"] * 2),
        ("WIDTH", values["WIDTH"] // 2),
        ("WARMUP_FRAC", round(values["WARMUP_FRAC"] + 0.05, 2)),
        ("WARMDOWN_FRAC", round(values["WARMDOWN_FRAC"] + 0.1, 2)),
        ("WARMDOWN_FRAC", round(values["WARMDOWN_FRAC"] - 0.1, 2)),
        ("WEIGHT_DECAY", round(values["WEIGHT_DECAY"] + 0.05, 2)),
        *(("OPTIMIZER", o) for o in ("adamw", "muon", "sgd") if o != values["OPTIMIZER"]),
    ]
    return [{**values, name: value} for name, value in steps if accepted({**values, name: value})]


def accepted(values: dict[str, Any]) -> bool:
    try:
        return prepare.expected_val_bpb(values) < 2.0  # not diverged (NaN compares false)
    except ValueError:
        return False


class Models:
    """The fake endpoint's two models: GOOD makes a one-step change, most of the time one that lowers the surrogate's
    expected val_bpb (drawn at random, so children rarely repeat); BAD one that diverges or makes it clearly worse."""

    def __init__(self) -> None:
        self.rng = random.Random(0)
        self.asked: list[str] = []  # the model of each first-round request, in order

    def __call__(self, body: dict[str, Any]) -> Completion:
        model = body["model"]
        if len(body["messages"]) <= 2:  # not a repair round
            self.asked.append(model)
        constants = parent_constants(body)
        values = {name: value for name, (_, value) in constants.items()}
        if model == GOOD:
            now = prepare.expected_val_bpb(values)
            helping = [m for m in moves(values) if prepare.expected_val_bpb(m) < now - 0.005]
            pool = helping if helping and self.rng.random() < 0.6 else moves(values)  # a good model, not an oracle
            name, value = next((k, v) for k, v in self.rng.choice(pool).items() if v != values[k])
        elif self.rng.random() < 0.5:
            name, value = "LEARNING_RATE", values["LEARNING_RATE"] * self.rng.uniform(200, 400)  # diverges
        else:
            name, value = "WEIGHT_DECAY", round(self.rng.uniform(1.0, 2.0), 4)
        line = constants[name][0]
        comment = line[len(line.split("#")[0].rstrip()) :]
        new = f"{name} = " + (f'"{value}"' if isinstance(value, str) else repr(value)) + comment
        answer = f"DESCRIPTION: set {name} to {value}\nRATIONALE: a try.\n<<<<<<< SEARCH\n{line}\n=======\n{new}\n"
        return Completion(answer + ">>>>>>> REPLACE\n")


def allocation_run(
    tmp_path: Path, fake: FakeOpenAI, allocation: str, seed: int, evaluations: int = 20
) -> tuple[list[str], Path]:
    """A search of `evaluations` on the surrogate: the model each proposal asked, in order, and the run's folder."""
    models = Models()
    fake.answer_with(models)
    config = load_config(
        REPO / "configs" / "surrogate.yaml",
        [
            f"runs_dir={tmp_path / allocation / str(seed)}",
            f"target={SURROGATE}",
            "env={EVO_SURROGATE_SECONDS: '0.02'}",
            "slots.count=1",
            "slots.ahead=0",  # one proposal at a time: each sees every result before it, and the run replays exactly
            f"stop.evaluations={evaluations}",
            "population.size=4",
            "population.crossover_rate=0",
            f"seed={seed}",
            "llm.learnings_every=1000",
            f"llm.allocation={allocation}",
            f"llm.models=[{{name: {GOOD}, base_url: '{fake.base_url}', weight: 1}},"
            f" {{name: {BAD}, base_url: '{fake.base_url}', weight: 3}}]",
        ],
    )
    root = start(config)
    Coordinator(root).run()
    return models.asked, root


def good_shares(asked: list[str]) -> tuple[float, float]:
    """The good model's share of the calls in the first half of the run and in the second."""
    half = len(asked) // 2
    first, second = asked[:half], asked[half:]
    return first.count(GOOD) / len(first), second.count(GOOD) / len(second)


# Sizes: 20 evaluations, weights 1 (good) to 3 (bad). On seeds 0-9 the bandit's good share went from 0.11-0.75 in
# the first half to 0.73-1.00 in the second (at least 0.13 higher on every seed), while fixed weights gave it 0.00-0.50
# in either half and 0.10-0.42 overall. A run replays exactly (one slot, nothing proposed ahead), so these hold as
# measured.


def test_the_bandit_moves_calls_to_the_model_whose_children_improve(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    asked, root = allocation_run(tmp_path, fake_openai, "bandit", seed=0)
    first, second = good_shares(asked)
    assert second > 0.5 and second >= first + 0.1, (first, second, asked)
    run = load_run(root)
    outcomes = operator_outcomes([run])
    good, bad = outcomes[f"model {GOOD}"], outcomes[f"model {BAD}"]
    assert good.children > bad.children and good.beat_parent > bad.beat_parent == 0
    assert good.tokens > 0 and bad.tokens > 0
    report = write_run_report(run, tmp_path / "report").read_text()
    assert f"model {GOOD}" in report and "failed proposals" in report and "allocated by bandit" in report


def test_fixed_weights_keep_their_shares(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    asked, _ = allocation_run(tmp_path, fake_openai, "weights", seed=0)
    first, second = good_shares(asked)
    assert first <= 0.5 and second <= 0.5 and 0.05 <= asked.count(GOOD) / len(asked) <= 0.45, (first, second)


def test_the_report_counts_each_models_failed_proposals_and_spend() -> None:
    individuals = (
        individual("0000", (), 1.0, None),
        individual("0001", ("0000",), 0.9, "a", cost=0.5, prompt_tokens=100, completion_tokens=10),
        individual("0002", ("0000",), None, "b", prompt_tokens=50),
    )
    failed = {"operator": "llm-mutation", "model": "b", "prompt_tokens": 30, "cost": 0.25}
    events = (Event(1, 0.0, "proposal_failed", failed), Event(2, 0.0, "proposal_failed", {"operator": "param"}))
    run = RunData(Path("run"), "run", "population", "val_bpb", "minimize", 300.0, None, individuals, events)
    outcomes = {k: (o.children, o.beat_parent, o.failed, o.tokens, o.cost) for k, o in operator_outcomes([run]).items()}
    assert outcomes == {
        "model a": (1, 1, 0, 110, 0.5),
        "model b": (1, 0, 1, 80, 0.25),
        "operator llm-mutation": (2, 1, 1, 190, 0.75),
        "operator param": (0, 0, 1, 0, 0.0),
    }
