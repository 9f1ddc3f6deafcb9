"""The knowledge loop: every N evaluations the LLM condenses the run's attempts into a short note, `learnings.md`,
which later prompts carry, so iteration 200 starts smarter than iteration 20."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evo.config import LLMSection, ModelConfig
from evo.operators.base import Attempt, Context, Usage
from evo.operators.llm.client import Chat, LLMFailure, Spend
from evo.operators.llm.prompts import learnings_prompt
from evo.operators.llm.tokens import answer_room

SYSTEM = "You keep a research team's lab notes: short, factual, with numbers."
NOTES_TOKENS = 512  # the least room the notes (under 250 words) are given


@dataclass
class Learnings:
    path: Path  # learnings.md in the run directory
    chat: Chat
    model: ModelConfig
    settings: LLMSection
    spend: Spend
    every: int  # evaluations between rewrites (llm.learnings_every)

    @property
    def text(self) -> str:
        return self.path.read_text() if self.path.is_file() else ""

    def due(self, evaluations: int) -> bool:
        return evaluations > 0 and evaluations % self.every == 0

    def update(self, attempts: Sequence[Attempt], context: Context) -> tuple[Usage, str]:
        """Rewrite the notes from the attempts since the last rewrite; on failure keep the old notes.

        Returns the usage spent and an error ("" on success)."""
        messages = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": learnings_prompt(self.text, attempts, context)},
        ]
        budget = answer_room(messages, self.settings)
        if budget < min(NOTES_TOKENS, self.settings.max_tokens):
            return Usage(), f"the notes prompt does not fit llm.context_tokens={self.settings.context_tokens}"
        try:
            self.spend.check()
            reply = self.chat.complete(self.model, messages, dataclasses.replace(self.settings, max_tokens=budget))
        except LLMFailure as exc:
            self.spend.add(exc.usage)
            return exc.usage, str(exc)
        self.spend.add(reply.usage)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(reply.text.strip() + "\n")
        os.replace(tmp, self.path)  # a kill mid-write leaves the old notes, never half of the new
        return reply.usage, ""
