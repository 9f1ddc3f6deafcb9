"""LLM mutation and crossover (the operator contract): prompt, answer, edits, one bounded repair round, a checked
child."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass

from evo.config import LLMSection, ModelConfig
from evo.operators.base import Context, Parent, Proposal, Usage, child_problem
from evo.operators.constant_checks import broken_assert
from evo.operators.llm.allocation import choose_model
from evo.operators.llm.client import Chat, LLMFailure, Message, Spend
from evo.operators.llm.edits import apply_answer, extract_description
from evo.operators.llm.fit import fit_request
from evo.operators.llm.prompts import repair_prompt


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
        model = choose_model(self.models, self.settings.allocation, context.model_stats, random.Random(context.seed))
        request = fit_request(parents, context, self.settings)
        if isinstance(request, str):
            return self._failed(model, Usage(), request, "context")
        messages: list[Message] = list(request.messages)
        base = dict(parents[0].code)
        usage = Usage()
        problem = ""
        for _ in range(self.repair_rounds + 1):
            budget = request.budget(messages, self.settings)
            if budget < request.least:  # only after a round: the first always fits
                return self._failed(model, usage, f"no valid child: {problem} (no room left for a repair round)")
            try:
                self.spend.check()
                reply = self.chat.complete(model, messages, dataclasses.replace(self.settings, max_tokens=budget))
            except LLMFailure as exc:
                self.spend.add(exc.usage)
                return self._failed(model, usage + exc.usage, str(exc), exc.kind)
            self.spend.add(reply.usage)
            usage = usage + reply.usage
            edit = apply_answer(reply.text, base, context.editable)
            child = {**base, **edit.code} if edit.code is not None else None
            problem = edit.error or child_problem(base, child or {}, context)
            if child is not None and not problem:  # an assert of the file the child fails (and its parent passes)
                problem = broken_assert(base, child, context.locked_code) or ""
            if child is not None and not problem:
                description, rationale = extract_description(reply.text)
                return Proposal(
                    child, description or f"{self.name}: unnamed edit", rationale, self.name, model.name, usage
                )
            messages += [
                {"role": "assistant", "content": reply.text},
                {"role": "user", "content": repair_prompt(problem, request.whole_file)},
            ]
        return self._failed(model, usage, f"no valid child after {self.repair_rounds} repair round(s): {problem}")

    def _failed(self, model: ModelConfig, usage: Usage, reason: str, failure: str = "child") -> Proposal:
        return Proposal(None, "", "", self.name, model.name, usage, error=reason, failure=failure)
