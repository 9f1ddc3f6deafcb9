"""The run configuration: shipped configs load, overrides reach nested values, and every mistake is one clear line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from evo.bench.plan import load_bench, load_sweep
from evo.config import BudgetConfig, LLMSection, ModelConfig, RunConfig, dump_config, load_config
from evo.errors import EvoError
from evo.evaluation import EvalSettings
from evo.execution import LocalExecutor
from evo.operators.factory import make_operators
from evo.search.session import RUN_MARK, candidate_settings

SHIPPED = sorted((Path(__file__).resolve().parent.parent / "configs").glob("*.yaml"))
PLANS = [p for p in SHIPPED if p.stem.startswith(("bench-", "sweep-"))]  # `evo bench` / `evo sweep` files
CONFIGS = [p for p in SHIPPED if p not in PLANS]

# Line numbers below refer to this file: keep its layout when editing.
BASE = """\
name: trial
mode: population
stop:
  evaluations: 10
population:
  size: 6
  tournament: 2
budget:
  seconds: 30
slots:
  count: 2
llm:
  models:
    - name: m
      weight: 2
"""


def write(tmp_path: Path, text: str = BASE, name: str = "trial.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def error(path: Path, overrides: tuple[str, ...] = ()) -> str:
    with pytest.raises(EvoError) as info:
        load_config(path, overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_shipped_config_loads_and_round_trips(path: Path, tmp_path: Path):
    config = load_config(path)
    assert config.name == path.stem
    assert load_config(write(tmp_path, dump_config(config), "dumped.yaml")) == config


@pytest.mark.parametrize("path", PLANS, ids=[p.name for p in PLANS])
def test_every_shipped_bench_and_sweep_file_resolves_into_valid_arms(path: Path):
    plan = load_sweep(path) if path.stem.startswith("sweep-") else load_bench(path)
    assert plan.name == path.stem and len(plan.arms) >= 2 and not plan.skipped
    if plan.kind == "sweep":
        assert len(plan.arms) >= 12  # what issue 6 asks a shipped sweep to cover


def test_the_shipped_configs_cover_each_setting_the_readme_promises():
    names = {p.stem for p in CONFIGS}
    assert {"quickstart", "ratchet", "population", "gpu-ratchet", "gpu-population", "surrogate"} <= names
    quick = load_config(CONFIGS[0].parent / "quickstart.yaml")
    assert (quick.mode, quick.target, quick.budget.seconds, quick.budget.clock) == ("population", "target", 15, "cpu")
    assert (quick.slots.count, quick.stop.evaluations, quick.env) == (1, 24, {"EVO_CORPUS": "pystdlib"})
    pop = quick.population
    assert (pop.size, pop.tournament, pop.crossover_rate, pop.elitism) == (6, 2, 0.2, 1)
    gpu = load_config(CONFIGS[0].parent / "gpu-population.yaml")
    assert len(gpu.slots.gpus) == gpu.slots.count and gpu.budget.clock == "wall"
    assert load_config(CONFIGS[0].parent / "surrogate.yaml").target == "benchmarks/surrogate"


def test_unset_keys_take_their_defaults_and_the_name_is_the_file_stem(tmp_path: Path):
    config = load_config(write(tmp_path, "stop: {wall_seconds: 60}\n", "my-run.yaml"))
    assert config.name == "my-run"
    assert (config.target, config.mode, config.seed, config.runs_dir, config.env) == (
        "target",
        "population",
        0,
        "runs",
        {},
    )
    assert config.budget.seconds == 300.0 and config.budget.clock == "wall" and config.budget.memory_mb is None
    assert config.slots.count == 1 and config.slots.threads is None and config.slots.gpus == ()
    assert config.population.initial_mutants is None and config.llm.models == ()
    assert config.llm.cassette_mode == "off"


def test_overrides_reach_nested_values_lists_nulls_and_env(tmp_path: Path):
    config = load_config(
        write(tmp_path),
        [
            "population.size=16",
            "budget.clock=cpu",
            "budget.memory_mb=4000",
            "budget.memory_mb=null",  # the last override of a key wins
            "stop.wall_seconds=3600",
            "slots.gpus=['0', '1']",
            "llm.models=[{name: a}, {name: b, base_url: 'http://x/v1'}]",
            "env.EVO_SEQ_LEN=128",
            "llm.cassette_mode=off",  # YAML reads a bare off as false; the only false-like choice is taken back
            "seed = 7",
        ],
    )
    assert config.population.size == 16 and config.population.tournament == 2
    assert config.budget.clock == "cpu" and config.budget.memory_mb is None and config.budget.seconds == 30.0
    assert config.stop.evaluations == 10 and config.stop.wall_seconds == 3600.0
    assert config.slots.gpus == ("0", "1") and config.seed == 7
    assert config.llm.models == (ModelConfig("a"), ModelConfig("b", base_url="http://x/v1"))
    assert config.env == {"EVO_SEQ_LEN": "128"} and config.llm.cassette_mode == "off"


def test_an_int_is_a_fine_float_and_numbers_in_env_become_strings(tmp_path: Path):
    config = load_config(write(tmp_path, "stop: {cost: 3}\nbudget: {seconds: 5}\nenv: {EVO_SEQ_LEN: 64}\n"))
    assert isinstance(config.budget.seconds, float) and config.stop.cost == 3.0
    assert config.env == {"EVO_SEQ_LEN": "64"}


@pytest.mark.parametrize(
    ("replace", "with_", "line", "expected"),
    [
        (
            "  tournament: 2",
            "  tournament: three",
            7,
            "key 'population.tournament' must be an integer >= 2, got 'three'",
        ),
        ("  tournament: 2", "  tournament: 7", 7, "key 'population.tournament' must be <= population.size (6), got 7"),
        ("population:", "popluation:", 5, "unknown key 'popluation' (did you mean 'population'?)"),
        ("  seconds: 30", "  secnds: 30", 9, "unknown key 'budget.secnds' (did you mean 'budget.seconds'?)"),
        ("  seconds: 30", "  seconds: 0", 9, "key 'budget.seconds' must be a number > 0, got 0"),
        ("  seconds: 30", "  seconds: true", 9, "key 'budget.seconds' must be a number > 0, got true"),
        ("  seconds: 30", "  clock: gpu", 9, "key 'budget.clock' must be 'wall' or 'cpu', got 'gpu'"),
        ("  seconds: 30", "  startup_grace: -1", 9, "key 'budget.startup_grace' must be a number >= 0, got -1"),
        ("  seconds: 30", "  memory_mb: 0", 9, "key 'budget.memory_mb' must be null or a number > 0, got 0"),
        ("  count: 2", "  count: 0", 11, "key 'slots.count' must be an integer >= 1 or 'auto', got 0"),
        ("  count: 2", "  count: 1.5", 11, "key 'slots.count' must be an integer >= 1 or 'auto', got 1.5"),
        ("  count: 2", "  threads: 0", 11, "key 'slots.threads' must be null or an integer >= 1, got 0"),
        (
            "  count: 2",
            "  count: 2\n  gpus: ['0']",
            12,
            "key 'slots.gpus' must have one entry per slot (slots.count is 2), got 1",
        ),
        ("  count: 2", "  gpus: '0,1'", 11, "key 'slots.gpus' must be a list of non-empty strings, got '0,1'"),
        ("  evaluations: 10", "  evaluations: 0", 4, "key 'stop.evaluations' must be null or an integer >= 1, got 0"),
        ("  evaluations: 10", "  evaluations: null", 4, "key 'stop' must set at least one of evaluations, "),
        ("  evaluations: 10", "  cost: 0", 4, "key 'stop.cost' must be null or a number > 0, got 0"),
        ("  size: 6", "  size: 1", 6, "key 'population.size' must be an integer >= 2, got 1"),
        (
            "  size: 6",
            "  size: 6\n  crossover_rate: 1.5",
            7,
            "key 'population.crossover_rate' must be a number in [0, 1]",
        ),
        (
            "  size: 6",
            "  size: 6\n  elitism: 6",
            7,
            "key 'population.elitism' must be <= population.size - 1 (5), got 6",
        ),
        ("  size: 6", "  size: 6\n  islands: 0", 7, "key 'population.islands' must be an integer >= 1, got 0"),
        ("  size: 6", "  size: 6\n  migrants: 9", 7, "key 'population.migrants' must be <= population.size - 1 (5)"),
        ("mode: population", "mode: evolve", 2, "key 'mode' must be one of 'ratchet', 'batched-ratchet',"),
        ("name: trial", "name: a/b", 1, "key 'name' must be a directory name (no slashes), got 'a/b'"),
        ("name: trial", "env: [EVO_CORPUS]", 1, "key 'env' must be a mapping of environment variable names to values"),
        ("      weight: 2", "      weight: 0", 15, "key 'llm.models[0].weight' must be a number > 0, got 0"),
        ("    - name: m", "    - base_url: x", 14, "key 'llm.models[0].name' is required"),
        ("llm:", "llm:\n  temperature: 3", 13, "key 'llm.temperature' must be a number in [0, 2], got 3"),
        ("llm:", "llm:\n  retries: -1", 13, "key 'llm.retries' must be an integer >= 0, got -1"),
        ("llm:", "llm:\n  cassette_mode: replay", 13, "key 'llm.cassette' must name a file when llm.cassette_mode"),
        ("llm:", "llm:\n  cassette_mode: tape", 13, "key 'llm.cassette_mode' must be one of 'off', 'record', 'replay'"),
        ("llm:", "llm:\n  cassette: ''", 13, "key 'llm.cassette' must be null or a non-empty string, got ''"),
        ("budget:\n  seconds: 30", "budget: 30", 8, "key 'budget' must be a mapping of settings, got 30"),
        ("  count: 2", "  count: 2\n  count: 3", 12, "key 'slots.count' is written twice (first on line 11)"),
    ],
)
def test_each_mistake_is_one_line_naming_the_file_line_and_key(
    tmp_path: Path, replace: str, with_: str, line: int, expected: str
):
    assert replace in BASE
    path = write(tmp_path, BASE.replace(replace, with_, 1))
    message = error(path)
    assert message.startswith(f"{path}, line {line}: "), message
    assert expected in message


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("budget.secnds=3", "override 'budget.secnds=3': unknown key 'budget.secnds' (did you mean 'budget.seconds'?)"),
        ("x", "override 'x': expected KEY=VALUE"),
        ("=3", "override '=3': expected KEY=VALUE"),
        ("population.size=big", "override 'population.size=big': key 'population.size' must be an integer >= 2"),
        ("population.tournament=7", "override 'population.tournament=7': key 'population.tournament' must be <= "),
        ("slots.gpus=[0, 1]", "key 'slots.gpus[0]' must be a non-empty string, got 0"),
        ("llm.models.0.name=x", "key 'llm.models' has no key '0': set it whole (llm.models=...)"),
        ("llm.models=[{weight: 1}]", "override 'llm.models=[{weight: 1}]': key 'llm.models[0].name' is required"),
        ("budget.clock=off", "must be 'wall' or 'cpu', got false (YAML reads a bare yes, no, on or off as true"),
        ("budget.seconds=[", "override 'budget.seconds=[': the value is not valid YAML"),
    ],
)
def test_a_bad_override_is_named_in_one_line(tmp_path: Path, override: str, expected: str):
    assert expected in error(write(tmp_path), (override,))


@pytest.mark.parametrize(
    ("where", "key"),
    [
        ("file", "llm.models[0].api_key"),
        ("override", "llm.api_key"),
        ("override", "llm.models[0].api_key"),
        ("override", "env.OPENAI_API_KEY"),
    ],
)
def test_an_api_key_in_the_config_is_refused_and_the_variable_asked_for(tmp_path: Path, where: str, key: str):
    if where == "file":
        path, overrides = write(tmp_path, BASE + "      api_key: sk-secret\n"), ()
    else:
        value = "[{name: m, api_key: sk-secret}]" if "[0]" in key else "sk-secret"
        path, overrides = write(tmp_path), (f"{key.split('[')[0]}={value}",)
    message = error(path, overrides)
    assert f"key {key!r} would put an API key in the config" in message
    assert "api_key_env" in message and "sk-secret" not in message  # an error message must not leak the key
    if where == "file":
        assert message.startswith(f"{path}, line 16: ")


def test_file_level_problems_are_one_line_too(tmp_path: Path):
    assert error(write(tmp_path, "a: [1\n")).startswith(f"{tmp_path / 'trial.yaml'}, line 2: not valid YAML")
    assert "expected a mapping of keys to values at the top level" in error(write(tmp_path, "- 1\n"))
    assert error(tmp_path / "missing.yaml") == f"config file {str(tmp_path / 'missing.yaml')!r} not found"
    assert error(write(tmp_path, "seed: 1\n")).startswith(f"{tmp_path / 'trial.yaml'}: key 'stop' must set")


def test_dump_round_trips_every_kind_of_value(tmp_path: Path):
    config = load_config(
        write(tmp_path),
        ["slots.gpus=['0', '1']", "llm.cassette=tape.jsonl", "llm.cassette_mode=replay", "env.EVO_CORPUS=synthetic"],
    )
    text = dump_config(config)
    assert "# training seconds per candidate on the budget clock" in text
    assert load_config(write(tmp_path, text, "resolved.yaml")) == config


def test_a_candidates_settings_carry_the_runs_budget_and_the_executor_adds_each_slots_share(tmp_path: Path):
    config = load_config(
        write(tmp_path),
        ["slots.gpus=['2', '3']", "budget.memory_mb=512", "budget.clock=cpu", "seed=5", "env.EVO_CORPUS=synthetic"],
    )
    settings = candidate_settings(config, "run-1")
    assert settings == EvalSettings(
        budget=BudgetConfig(30.0, "cpu", 60.0, 60.0, 512.0),
        seed=5,
        device="auto",
        env={"EVO_CORPUS": "synthetic"},
        marks={RUN_MARK: "run-1"},
    )
    assert candidate_settings(config, "run-1", seed=9).seed == 9
    assert settings.hard_limit == 150.0
    executor = LocalExecutor(config.slots, cores=16)
    assert executor.placement(1) == {"threads": 8, "gpus": "3"}
    executor.close()
    one = LocalExecutor(RunConfig().slots, cores=1)
    assert one.placement(0) == {"threads": 1, "gpus": None}
    one.close()


def test_the_llm_section_is_what_the_client_takes_and_a_cassette_lives_in_the_run(tmp_path: Path):
    config = load_config(
        write(tmp_path),
        [
            "llm.models=[{name: m, base_url: 'http://h/v1', api_key_env: KEY, prompt_price: 1, completion_price: 2}]",
            "llm.temperature=0.3",
            "llm.retries=1",
            "llm.backoff=0.5",
            "llm.cassette=llm.cassette.jsonl",
            "llm.cassette_mode=replay",
        ],
    )
    assert config.llm.models == (ModelConfig("m", "http://h/v1", "KEY", 1.0, 1.0, 2.0),)
    assert config.llm.models[0].cost(1_000_000, 500_000) == pytest.approx(2.0)
    assert (config.llm.temperature, config.llm.retries, config.llm.backoff) == (0.3, 1, 0.5)
    run_dir = tmp_path / "runs" / "trial"
    with pytest.raises(EvoError, match=f"cassette {run_dir / 'llm.cassette.jsonl'} not found"):
        make_operators(config.llm, run_dir)
    absolute = LLMSection(cassette=str(tmp_path / "tape.jsonl"), cassette_mode="replay")
    with pytest.raises(EvoError, match=f"cassette {tmp_path / 'tape.jsonl'} not found"):
        make_operators(absolute, run_dir)
