"""Choosing the operators for a run: LLM ones when an endpoint (or a cassette) is configured, else offline ones.

The choice is announced in one line, which names the model and endpoint but never a key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from evo.config import LLMSection, ModelConfig
from evo.operators.base import Notes, Operator
from evo.operators.llm.cassette import RecordingChat, ReplayChat
from evo.operators.llm.client import Chat, OpenAIChat, Spend
from evo.operators.llm.learnings import Learnings
from evo.operators.llm.operator import LLMOperator
from evo.operators.merge_crossover import MergeCrossover
from evo.operators.offline_notes import OfflineNotes
from evo.operators.param_mutation import ParamMutation

DEFAULT_MODEL = "gpt-4o-mini"


@dataclass(frozen=True)
class Operators:
    mutation: Operator
    crossover: Operator
    learnings: Notes  # learnings.md: written by the LLM, or from the attempts' numbers by the offline keeper
    spend: Spend
    notice: str  # one line telling the user which operators run
    instant: bool = False  # the offline operators answer at once: nothing to gain by proposing ahead


def make_operators(config: LLMSection, run_dir: Path) -> Operators:
    """The run's operators: `config.models` (or one model named by EVO_MODEL, else DEFAULT_MODEL, when the environment
    names an endpoint); a cassette path is relative to `run_dir`, where learnings.md is kept too (by the offline keeper
    when no LLM runs, so every run has its notes)."""
    spend = Spend(config.max_cost, config.max_tokens_total)
    notes_path = run_dir / "learnings.md"
    env_endpoint = bool(os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"))
    models = config.models or (ModelConfig(os.environ.get("EVO_MODEL") or DEFAULT_MODEL),)
    cassette = run_dir / Path(config.cassette).expanduser() if config.cassette is not None else None
    if config.cassette_mode == "replay" and cassette is not None:
        chat: Chat = ReplayChat(cassette)
        notice = f"LLM operators replay cassette {cassette} (no endpoint is called)"
    elif config.models or env_endpoint:
        chat = OpenAIChat()
        if config.cassette_mode == "record" and cassette is not None:
            chat = RecordingChat(chat, cassette)
        notice = "LLM operators: " + ", ".join(_describe(m) for m in models)
    else:
        notice = (
            "no LLM endpoint configured (set OPENAI_API_KEY or OPENAI_BASE_URL, or llm.models in the config): "
            "using the offline operators param and merge"
        )
        notes = OfflineNotes(notes_path, config.learnings_every)
        return Operators(ParamMutation(), MergeCrossover(), notes, spend, notice, instant=True)
    return Operators(
        LLMOperator("llm-mutation", 1, chat, models, config, spend),
        LLMOperator("llm-crossover", 2, chat, models, config, spend),
        Learnings(notes_path, chat, models[0], config, spend, config.learnings_every),
        spend,
        notice,
    )


def _describe(model: ModelConfig) -> str:
    endpoint = model.base_url or os.environ.get("OPENAI_BASE_URL") or "the OpenAI API"
    return f"{model.name} at {endpoint} (key from ${model.api_key_env})"
