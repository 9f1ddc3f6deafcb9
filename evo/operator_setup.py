"""Choosing the operators for a run: LLM ones when an endpoint (or a cassette) is configured, else offline ones.

The choice is announced in one line, which names the model and endpoint but never a key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from evo.cassette import RecordingChat, ReplayChat
from evo.learnings import Learnings
from evo.llm import CallSettings, Chat, ModelSpec, OpenAIChat, Spend
from evo.llm_operators import LLMOperator
from evo.merge_crossover import MergeCrossover
from evo.operator import Operator
from evo.param_mutation import ParamMutation

DEFAULT_MODEL = "gpt-4o-mini"


@dataclass(frozen=True)
class LLMConfig:
    models: tuple[
        ModelSpec, ...
    ] = ()  # empty: one model named by EVO_MODEL (or DEFAULT_MODEL) if the env has an endpoint
    call: CallSettings = field(default_factory=CallSettings)
    max_cost: float | None = None  # stop calling once this much was spent
    max_tokens: int | None = None  # stop calling once this many tokens were used
    learnings_every: int = 10  # evaluations between rewrites of learnings.md
    cassette: Path | None = None  # record to / replay from this file
    cassette_mode: str = "off"  # "off", "record" or "replay"


@dataclass(frozen=True)
class Operators:
    mutation: Operator
    crossover: Operator
    learnings: Learnings | None
    spend: Spend
    notice: str  # one line telling the user which operators run


def make_operators(config: LLMConfig, run_dir: Path) -> Operators:
    spend = Spend(config.max_cost, config.max_tokens)
    env_endpoint = bool(os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"))
    models = config.models or (ModelSpec(os.environ.get("EVO_MODEL") or DEFAULT_MODEL),)
    if config.cassette_mode == "replay" and config.cassette is not None:
        chat: Chat = ReplayChat(config.cassette)
        notice = f"LLM operators replay cassette {config.cassette} (no endpoint is called)"
    elif config.models or env_endpoint:
        chat = OpenAIChat()
        if config.cassette_mode == "record" and config.cassette is not None:
            chat = RecordingChat(chat, config.cassette)
        notice = "LLM operators: " + ", ".join(_describe(m) for m in models)
    else:
        notice = (
            "no LLM endpoint configured (set OPENAI_API_KEY or OPENAI_BASE_URL, or llm.models in the config): "
            "using the offline operators param and merge"
        )
        return Operators(ParamMutation(), MergeCrossover(), None, spend, notice)
    return Operators(
        LLMOperator("llm-mutation", 1, chat, models, config.call, spend),
        LLMOperator("llm-crossover", 2, chat, models, config.call, spend),
        Learnings(run_dir / "learnings.md", chat, models[0], config.call, spend, config.learnings_every),
        spend,
        notice,
    )


def _describe(model: ModelSpec) -> str:
    endpoint = model.base_url or os.environ.get("OPENAI_BASE_URL") or "the OpenAI API"
    return f"{model.name} at {endpoint} (key from ${model.api_key_env})"
