"""The run configuration's schema: a tree of frozen dataclasses, and the one home of every default.

Every field documents itself in one line (`doc` in its metadata, echoed as a comment by `dump_config`) and carries
its range there too, so validation (`evo.config.loader`) is generic over the tree. The engine takes its settings from
these records as they are (the evaluator a `BudgetConfig`, the early-stop test an `EarlyStopConfig`, the LLM client a
`ModelConfig` and the `LLMSection`), so no default is written twice. This module imports nothing of the engine.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


def knob(default: Any, doc: str, **bounds: float) -> Any:
    """A field with its one-line doc and its bounds (`ge`, `gt`, `le`, `lt`), which validation enforces."""
    metadata = {"doc": doc, **bounds}
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class BudgetConfig:
    """What each candidate gets: the same budget for all, so metrics compare."""

    seconds: float = knob(300.0, "training seconds per candidate on the budget clock", gt=0)
    clock: Literal["wall", "cpu"] = knob("wall", "wall (autoresearch's) or cpu (process CPU seconds: steadier)")
    startup_grace: float = knob(60.0, "seconds allowed before training starts (imports, data)", ge=0)
    eval_grace: float = knob(60.0, "seconds allowed after the budget for the final evaluation", ge=0)
    memory_mb: float | None = knob(None, "resident memory limit per candidate in MB (null: none)", gt=0)


@dataclass(frozen=True)
class SlotsConfig:
    """How many candidates run at once, and on what."""

    count: int | Literal["auto"] = knob(
        1, "candidates evaluated at once (auto: as the Ray cluster's resources allow)", ge=1
    )
    threads: int | None = knob(None, "CPU threads per candidate (null: cores // count)", ge=1)
    ahead: int = knob(
        16, "at most this many LLM children proposed ahead of the free slots (hides the LLM's latency)", ge=0
    )
    gpus: tuple[str, ...] = knob((), "CUDA_VISIBLE_DEVICES per slot, one entry per slot (empty: none set)")
    device: Literal["auto", "cpu", "cuda"] = knob("auto", "passed to the target as EVO_DEVICE")


@dataclass(frozen=True)
class ExecutorConfig:
    """Where candidates run: this machine's processes, or a Ray cluster's workers (the executor contract)."""

    kind: Literal["local", "ray", "simulated"] = knob(
        "local",
        "local (subprocesses here), ray (tasks on a Ray cluster) or simulated (a virtual clock: simulated targets)",
    )
    address: str = knob("auto", "ray: the cluster (auto: the one `ray start` made here; host:port; ray://host:port)")
    cpus: float | None = knob(None, "ray: CPUs each candidate claims (null: slots.threads, else 1)", gt=0)
    gpus: float | None = knob(None, "ray: GPUs each candidate claims (null: 1 when slots.device is cuda, else 0)", ge=0)
    retries: int = knob(
        2, "ray: runs again of a candidate whose worker or node died, before it counts as a crash", ge=0
    )
    sandbox: Literal["auto", "off", "required"] = knob(
        "auto",
        "candidates may write only their workspace and reach no network unless the target says network: true (auto:"
        " where bubblewrap works, said once where not; required: refuse to run where not; off)",
    )
    proposal_seconds: float = knob(0.0, "simulated: median seconds a proposal takes (the LLM's answer time)", ge=0)
    proposal_spread: float = knob(0.5, "simulated: spread of that time, the sd of its logarithm", ge=0)


@dataclass(frozen=True)
class StopConfig:
    """The search stops when any limit that is set is reached; at least one must be set."""

    evaluations: int | None = knob(None, "candidates evaluated, the baseline included", ge=1)
    wall_seconds: float | None = knob(None, "wall-clock seconds since the run started", gt=0)
    train_seconds: float | None = knob(None, "budget seconds spent over all candidates", gt=0)
    cost: float | None = knob(None, "LLM spend, in the currency of the price table", gt=0)


@dataclass(frozen=True)
class PopulationConfig:
    """The population mode's knobs (ignored by ratchet and best-of-n)."""

    size: int = knob(8, "individuals kept per island", ge=2)
    initial_mutants: int | None = knob(None, "mutants of the baseline seeding each island (null: size - 1)", ge=0)
    tournament: int = knob(2, "individuals drawn per parent selection; larger is greedier", ge=2)
    crossover_rate: float = knob(0.2, "share of children made by crossover, the rest by mutation", ge=0, le=1)
    elitism: int = knob(1, "best individuals never replaced", ge=0)
    islands: int = knob(1, "independent sub-populations", ge=1)
    migration_every: int = knob(20, "evaluations between migrations across islands", ge=1)
    migrants: int = knob(1, "individuals copied to the next island per migration", ge=1)


@dataclass(frozen=True)
class NoveltyConfig:
    """The gate before evaluation: a child whose code normalises to that of an individual already proposed (this run
    or, through memory, an earlier one) is not evaluated; its operator is asked again."""

    enabled: bool = knob(True, "refuse duplicates before evaluation (off: every child is evaluated, as before)")
    retries: int = knob(
        2, "times an operator is asked again after a duplicate, before the proposal counts as failed", ge=0
    )
    tolerance: float = knob(
        0.0,
        "near-duplicates too: same code but numbers each within this relative difference (0: exact duplicates only)",
        ge=0,
        lt=1,
    )


@dataclass(frozen=True)
class MemoryConfig:
    """What earlier runs on the same target (same locked files and settings) tried: read at the start, extended as
    children finish, shown to the LLM operator and used by the novelty gate."""

    enabled: bool = knob(True, "read and extend the memory of earlier runs on this target")
    path: str | None = knob(None, "the memory's folder (null: <runs_dir>/memory), shared by the runs that use it")
    shown: int = knob(12, "earlier runs' attempts shown to the LLM operator, most recent last", ge=0)


@dataclass(frozen=True)
class CalibrationConfig:
    """The noise model early termination and confirmation need: the baseline trained on several seeds."""

    enabled: bool = knob(False, "measure it even when neither early_stop nor confirm needs it (noise-aware output)")
    runs: int = knob(5, "baseline runs on seeds 1..runs, at the start of the run (or found in the cache)", ge=3)
    probes: int = knob(0, "children of the baseline also trained on those seeds: measures same-seed noise", ge=0)
    file: str | None = knob(None, "a stored noise model (from evo calibrate) to use instead of measuring one")


@dataclass(frozen=True)
class HoldoutConfig:
    """The final check: the best and the baseline re-evaluated on fresh seeds once the search ends, paired."""

    seeds: int = knob(0, "fresh seeds for the check (0: off; the calibration's baseline runs are reused)", ge=0)


@dataclass(frozen=True)
class SprtConfig:
    """A sequential test's error rate and effect size."""

    alpha: float = knob(
        0.05, "chance of a false decision against the candidate (a false stop; a false confirmation)", gt=0, lt=0.5
    )
    delta: float = knob(1.0, "the difference that matters, in delta_units", gt=0)
    delta_units: Literal["noise", "metric"] = knob("noise", "noise (the final metric's seed sd) or metric units")


NOISE_MARGIN = 1.5  # early_stop.margin null: H0 "it would beat its reference by 1.5 noise units", a win worth keeping


@dataclass(frozen=True)
class EarlyStopConfig(SprtConfig):
    """Stops a candidate whose curve is worse than its reference's by delta (one-sided SPRT on calibrated noise)."""

    delta: float = knob(3.0, "how much worse a clear loser's curve is (noise: the curve's seed sds)", gt=0)
    enabled: bool = knob(False, "watch every candidate's curve and stop clear losers")
    reference: Literal["parent", "incumbent"] = knob("parent", "compare with the better parent's curve or the best's")
    warmup: float = knob(0.1, "fraction of the budget before the test looks at the curve", ge=0, lt=1)
    catch_up: float = knob(0.0, "share of the reference's remaining improvement a candidate may still catch up", ge=0)
    margin: float | None = knob(
        None, "H0: its final metric beats the reference's by margin (delta_units; null: NOISE_MARGIN)", ge=0
    )
    drift: float = knob(0.0, "variance (curve sds squared) by which the gap may still drift before the end", ge=0)
    trend: float | None = knob(
        None, "scale (curve sds) of the trend by which a gap may still close (null: measured in the run)", ge=0
    )
    audit: float = knob(
        0.1, "share of decisions to stop that let the candidate run to the end, to measure them", ge=0, le=1
    )
    loosen: bool = knob(True, "when the audit finds more false stops than alpha allows, halve alpha (say so)")
    luck: bool = knob(True, "net of the reference's luck: how much worse its final metric came out than its curve said")


@dataclass(frozen=True)
class ConfirmConfig(SprtConfig):
    """Re-evaluates a would-be new best against the best on fresh seeds until an SPRT decides the gain exceeds delta."""

    enabled: bool = knob(False, "confirm a new best before it replaces the incumbent or enters the elite")
    beta: float = knob(0.2, "chance of rejecting a real gain of delta", gt=0, lt=0.5)
    max_pairs: int = knob(8, "fresh-seed pairs at most; still undecided means not confirmed", ge=1)


@dataclass(frozen=True)
class ModelConfig:
    """One model of the ensemble, as the LLM client takes it."""

    name: str = knob(dataclasses.MISSING, "the model name the endpoint serves")
    base_url: str | None = knob(None, "OpenAI-compatible endpoint (null: OPENAI_BASE_URL, else OpenAI)")
    api_key_env: str = knob("OPENAI_API_KEY", "environment variable holding the key (never the key itself)")
    weight: float = knob(1.0, "share of calls (allocation bandit: the share before any results)", gt=0)
    prompt_price: float = knob(0.0, "currency per million prompt tokens", ge=0)
    completion_price: float = knob(0.0, "currency per million completion tokens", ge=0)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.prompt_price + completion_tokens * self.completion_price) / 1e6


@dataclass(frozen=True)
class LLMSection:
    """The LLM operators; with no models and no endpoint in the environment, evo uses its offline operators."""

    models: tuple[ModelConfig, ...] = knob((), "ensemble (empty: EVO_MODEL at OPENAI_BASE_URL, if set)")
    allocation: Literal["weights", "bandit"] = knob(
        "weights",
        "how models share the calls: weights (fixed shares) or bandit (more calls to the models whose children beat"
        " their parents, per cost, or per token when no model has a price: operators/llm/allocation.py)",
    )
    temperature: float = knob(0.7, "sampling temperature", ge=0, le=2)
    max_tokens: int = knob(4096, "most tokens an answer may use (each call is given what the context leaves)", ge=1)
    context_tokens: int = knob(
        8192, "the model's context window, prompt and answer, counted with evo's conservative estimate", ge=1
    )
    min_answer_tokens: int = knob(
        1024,
        "room an edit answer is always left: the prompt is trimmed to leave it (order: operators/llm/fit.py)",
        ge=1,
    )
    whole_file: bool = knob(False, "ask for the whole file back, not SEARCH/REPLACE blocks, where file and answer fit")
    timeout: float = knob(120.0, "seconds per request", gt=0)
    retries: int = knob(4, "extra attempts after a retryable failure", ge=0)
    backoff: float = knob(1.0, "seconds before the first retry, doubled each time", ge=0)
    max_backoff: float = knob(30.0, "cap on any wait between attempts, Retry-After included", ge=0)
    max_cost: float | None = knob(None, "stop calling the LLM once this much was spent", gt=0)
    max_tokens_total: int | None = knob(None, "stop calling the LLM once this many tokens were used", ge=1)
    learnings_every: int = knob(10, "evaluations between rewrites of learnings.md", ge=1)
    inspirations: int = knob(
        2,
        "strong individuals of other islands (one island: of other lineages) shown with their diffs in each prompt, "
        "each from a lineage of its own (0: off); 2 shows another line's ideas and still leaves an 8k context room "
        "for the file, and they are the first part trimmed when it does not",
        ge=0,
    )
    cassette: str | None = knob(None, "record/replay file, relative to the run directory")
    cassette_mode: Literal["off", "record", "replay"] = knob("off", "off, record (needs an endpoint) or replay")


@dataclass(frozen=True)
class RunConfig:
    """One search: what to evolve, how, with what resources, until when."""

    name: str = knob("", "run directory name under runs_dir (default: the config file's stem)")
    target: str = knob("target", "target directory (train.py, target.yaml, ...)")
    mode: Literal["ratchet", "batched-ratchet", "async-ratchet", "population", "best-of-n"] = knob(
        "population",
        "ratchet (one job at a time), batched-ratchet (rounds of one child per slot), async-ratchet (every free slot"
        " mutates the incumbent), population or best-of-n",
    )
    seed: int = knob(0, "seeds the search and the candidates' EVO_SEED")
    runs_dir: str = knob("runs", "where run directories are made")
    env: Mapping[str, str] = knob({}, "locked settings for every candidate, over the target's env")
    budget: BudgetConfig = field(default_factory=BudgetConfig, metadata={"doc": "per-candidate budget"})
    slots: SlotsConfig = field(default_factory=SlotsConfig, metadata={"doc": "parallel evaluation"})
    executor: ExecutorConfig = field(default_factory=ExecutorConfig, metadata={"doc": "where candidates run"})
    stop: StopConfig = field(default_factory=StopConfig, metadata={"doc": "when the search ends (any limit set)"})
    population: PopulationConfig = field(default_factory=PopulationConfig, metadata={"doc": "population mode"})
    llm: LLMSection = field(default_factory=LLMSection, metadata={"doc": "LLM operators"})
    early_stop: EarlyStopConfig = field(default_factory=EarlyStopConfig, metadata={"doc": "early termination"})
    confirm: ConfirmConfig = field(default_factory=ConfirmConfig, metadata={"doc": "confirmation of a new best"})
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig, metadata={"doc": "the noise model"})
    holdout: HoldoutConfig = field(default_factory=HoldoutConfig, metadata={"doc": "the final check on fresh seeds"})
    novelty: NoveltyConfig = field(default_factory=NoveltyConfig, metadata={"doc": "no child evaluated twice"})
    memory: MemoryConfig = field(default_factory=MemoryConfig, metadata={"doc": "earlier runs on the same target"})
