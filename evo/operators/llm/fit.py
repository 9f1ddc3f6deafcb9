"""A request that fits the model's context (llm.context_tokens), with an answer budget sized to what is asked.

Counted with the conservative estimate of `evo.operators.llm.tokens`, prompt and answer together must fit the
context. The answer asked for decides the budget:

- a whole file (llm.whole_file, one editable file): the file's estimate plus 10% and a margin, when that is within
  llm.max_tokens and the prompt fits beside it with the file whole and the directions kept; else blocks are asked for;
- SEARCH/REPLACE blocks: what the context leaves after the prompt, at most llm.max_tokens; the prompt is trimmed
  until at least llm.min_answer_tokens (or llm.max_tokens, if smaller) is left.

The prompt is trimmed in a fixed order (`prompts.TRIM_ORDER`): the inspirations, the earlier runs, the crash logs, the
recent attempts, the learnings and the parents' notes go first; then function bodies of the file to edit are left out
(`file_view`: never its signatures, docstrings or module-level code, so its knobs always show), as many as it takes;
then the research directions, with bodies left out again if that is still needed. If even that is not enough, there is
no request, only a one-line reason. Bodies are left out only once every changing part is trimmed, and what is left of
those depends on the parent alone, so the file view (and with it the prompt's prefix) is the same for every call on
the same parent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evo.config import LLMSection
from evo.operators.base import Context, Parent
from evo.operators.llm.client import Message
from evo.operators.llm.file_view import elided_view
from evo.operators.llm.prompts import (
    BODIES,
    ELIDED_NOTE,
    TRIM_ORDER,
    Part,
    crossover_parts,
    file_part,
    mutation_parts,
    system_prompt,
)
from evo.operators.llm.tokens import answer_room, estimate_tokens, messages_tokens, whole_file_tokens


@dataclass(frozen=True)
class Request:
    messages: list[Message]
    whole_file: bool  # the answer is asked as the complete file
    least: int  # the budget below which an answer (a repair's too) cannot be asked for
    cap: int  # the most any call's answer is given

    def budget(self, messages: Sequence[Message], settings: LLMSection) -> int:
        """The answer budget for `messages` (this request's, grown by repair rounds): below `least`, none fits."""
        return answer_room(messages, settings, self.cap)


def fit_request(parents: Sequence[Parent], context: Context, settings: LLMSection) -> Request | str:
    """The request for a child of `parents`, fitted to llm.context_tokens, or a one-line reason it cannot fit."""
    if settings.whole_file and len(context.editable) == 1:
        answer = whole_file_tokens(parents[0].code.get(context.editable[0], ""))
        if answer <= settings.max_tokens:
            system = system_prompt(context, whole_file=True)
            parts = request_parts(parents, context, whole_file=True)
            fitted = fit_parts(system, parts, settings.context_tokens - answer, elide=False)
            if fitted is not None:
                return Request(_messages(system, _user(fitted)), True, answer, answer)
    least = min(settings.min_answer_tokens, settings.max_tokens)
    system = system_prompt(context)
    parts = request_parts(parents, context)
    fitted = fit_parts(system, parts, settings.context_tokens - least, elide=True)
    if fitted is None:
        return _no_fit(parts, settings, least)
    return Request(_messages(system, _user(fitted)), False, least, settings.max_tokens)


def request_parts(parents: Sequence[Parent], context: Context, whole_file: bool = False) -> list[Part]:
    """The request's parts before fitting: a mutation's for one parent, a crossover's for two."""
    if len(parents) == 1:
        return mutation_parts(parents[0], context, whole_file)
    return crossover_parts(parents[0], parents[1], context, whole_file)


def fit_parts(system: str, parts: list[Part], room: int, elide: bool) -> list[Part] | None:
    """`parts` trimmed in TRIM_ORDER until they fit `room` tokens beside `system`, or None."""
    for rank in range(len(TRIM_ORDER)):
        if _tokens(system, parts) <= room:
            break
        if rank != BODIES:
            parts = [Part(part.short, kind=part.kind) if part.trim == rank else part for part in parts]
        elif not elide:  # the file must be shown whole, and the directions are worth more than that
            return None
        else:
            parts = _elided(system, parts, room)
    if elide and _tokens(system, parts) > room:  # the directions are gone: the bodies may now be enough
        parts = _elided(system, parts, room)
    return parts if _tokens(system, parts) <= room else None


def _elided(system: str, parts: list[Part], room: int) -> list[Part]:
    """`parts` with function bodies of the largest file left out until they fit `room`, or as they are if leaving
    out every body would not be enough."""
    files = [i for i, part in enumerate(parts) if part.source]
    if not files:
        return parts
    largest = max(files, key=lambda i: len(parts[i].text))
    name, text = parts[largest].source or ("", "")
    view = elided_view(text, _tokens(system, parts) - room + estimate_tokens(ELIDED_NOTE))
    if view is None:
        return parts
    elided = [*parts[:largest], file_part(name, view, elided=True), *parts[largest + 1 :]]
    return elided if _tokens(system, elided) <= room else parts


def _no_fit(parts: list[Part], settings: LLMSection, least: int) -> str:
    name, text = max((part.source for part in parts if part.source), key=lambda f: len(f[1]), default=("", ""))
    size = f"{name} alone is about {estimate_tokens(text)} tokens" if name else "its fixed parts are too long"
    return (
        f"the prompt does not fit llm.context_tokens={settings.context_tokens} with {least} tokens left for the "
        f"answer, even trimmed and with function bodies left out ({size}, estimated); raise llm.context_tokens if "
        "the model allows"
    )


def _tokens(system: str, parts: list[Part]) -> int:
    return messages_tokens(_messages(system, _user(parts)))


def _user(parts: list[Part]) -> str:
    return "\n\n".join(part.text for part in parts if part.text)


def _messages(system: str, user: str) -> list[Message]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]
