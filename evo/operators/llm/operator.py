"""LLM mutation and crossover (the operator contract): prompt, answer, edits, one bounded repair round, a checked
child."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from evo.config import LLMSection, ModelConfig
from evo.operators.base import Context, Parent, Proposal, Usage, child_problem
from evo.operators.llm.client import Chat, LLMFailure, Message, Spend, choose_model
from evo.operators.llm.edits import apply_answer, extract_description
from evo.operators.llm.prompts import crossover_prompt, mutation_prompt, repair_prompt, system_prompt


@dataclass
class LLMOperator:
    """One parent (mutation) or two (crossover); the child is an edit of the first parent's files."""

    name: str  # "llm-mutation" or "llm-crossover"
    arity: int
    chat: Chat
    models: tuple[ModelConfig, ...]
    settings: LLMSection
    spend: Spend
    repair_rounds: int = 1

    def propose(self, parents: Sequence[Parent], context: Context) -> Proposal:
        if len(parents) != self.arity:
            raise ValueError(f"{self.name} takes {self.arity} parent(s), got {len(parents)}")
        model = choose_model(self.models, random.Random(context.seed))
        request = mutation_prompt(parents[0], context) if self.arity == 1 else crossover_prompt(*parents, context)
        messages: list[Message] = [
            {"role": "system", "content": system_prompt(context)},
            {"role": "user", "content": request},
        ]
        base = dict(parents[0].code)
        usage = Usage()
        for _ in range(self.repair_rounds + 1):
            try:
                self.spend.check()
                reply = self.chat.complete(model, messages, self.settings)
            except LLMFailure as exc:
                self.spend.add(exc.usage)
                return self._failed(model, usage + exc.usage, str(exc), exc.kind)
            self.spend.add(reply.usage)
            usage = usage + reply.usage
            edit = apply_answer(reply.text, base, context.editable)
            child = {**base, **edit.code} if edit.code is not None else None
            problem = edit.error or child_problem(base, child or {}, context)
            if child is not None and not problem:
                description, rationale = extract_description(reply.text)
                return Proposal(
                    child, description or f"{self.name}: unnamed edit", rationale, self.name, reply.model, usage
                )
            messages += [
                {"role": "assistant", "content": reply.text},
                {"role": "user", "content": repair_prompt(problem)},
            ]
        return self._failed(model, usage, f"no valid child after {self.repair_rounds} repair round(s): {problem}")

    def _failed(self, model: ModelConfig, usage: Usage, reason: str, failure: str = "child") -> Proposal:
        return Proposal(None, "", "", self.name, model.name, usage, error=reason, failure=failure)
