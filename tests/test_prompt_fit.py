"""The LLM prompt fits the model's context: autoresearch's train.py in an 8k window, with room for the answer.

Tokens are counted with evo's stated conservative estimate (`evo.operators.llm.tokens`: a token per digit, ceil(bytes
/ 3) for the rest, a line's indentation counted as one byte); requests go through the real `openai` client to the fake
server on 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from evo.config import LLMSection, ModelConfig
from evo.operators.base import Attempt, Context, Parent
from evo.operators.llm.client import OpenAIChat, Spend
from evo.operators.llm.directions import research_directions
from evo.operators.llm.fit import Request, fit_request
from evo.operators.llm.learnings import Learnings
from evo.operators.llm.operator import LLMOperator
from evo.operators.llm.prompts import TRIM_ORDER
from evo.operators.llm.tokens import estimate_tokens, messages_tokens, whole_file_tokens

from .conftest import REPO
from .fake_openai import Completion, FakeOpenAI

DATA = REPO / "tests" / "data" / "autoresearch"
TRAIN = (DATA / "train.py").read_text()
PROGRAM = (DATA / "program.md").read_text()
CONTEXT_8K = LLMSection(timeout=5.0, retries=0)  # the defaults: an 8,192-token context, 1,024 tokens of answer
LOOP = ["git", "results.tsv", "run.log", "uv run", "NEVER STOP", "LOOP FOREVER", "branch", "tail -n", "kill it"]
DIRECTIONS = ["What you CAN do", "What you CANNOT do", "lowest val_bpb", "Simplicity criterion", "VRAM"]


def context(**changes: object) -> Context:
    """A run well under way: directions, notes, a full table of attempts and a crash with its log, earlier runs'
    attempts, an inspiration with its diff, the best so far and the noise."""
    attempts = tuple(Attempt(f"idea {i}", "ok", 1.0 - i / 1000, -0.001, id=f"{i + 1:04d}") for i in range(11))
    log = "\n".join(f"  File train.py, line {400 + i}, in a frame of the loop that ran out of memory" for i in range(8))
    crash = Attempt("double the width", "crash", None, None, log + "\ntorch.OutOfMemoryError: CUDA out of memory")
    earlier = tuple(Attempt(f"old idea {i}", "ok", 1.0, 0.001, id=f"before/{i:04d}") for i in range(6))
    diff = "\n".join(
        ["--- a/train.py", "+++ b/train.py", "@@ -1,9 +1,9 @@", *[f"-X{i} = 1\n+X{i} = 2" for i in range(9)]]
    )
    base = Context(
        program=PROGRAM,
        editable=("train.py",),
        locked=("prepare.py", "program.md", "pyproject.toml"),
        attempts=(*attempts, crash),
        learnings="Helped: a higher matrix LR. Hurt: a deeper model. " * 8,
        seed=7,
        earlier=earlier,
        inspirations=(Attempt("a wider MLP", "ok", 0.99, -0.002, id="0009", diff=diff),),
        best=attempts[-1],
        noise="Differences in val_bpb under 0.004 are noise.",
        dynamics={"p1": "loss 3.2 at 10%, 1.1 at 100%; num_steps 953"},
    )
    return dataclasses.replace(base, **changes)


def parent(train: str = TRAIN) -> Parent:
    return Parent("p1", {"train.py": train}, 0.9979, "ok", "a higher matrix LR, warmdown over the last half " * 4)


def operator(fake: FakeOpenAI, settings: LLMSection = CONTEXT_8K) -> LLMOperator:
    return LLMOperator("llm-mutation", 1, OpenAIChat(), (ModelConfig("m", base_url=fake.base_url),), settings, Spend())


def constant_line(text: str) -> str:
    """A module-level UPPERCASE assignment: never left out of a view, so a SEARCH may always quote it."""
    return next(line for line in text.splitlines() if re.match(r"[A-Z][A-Z0-9_]* = ", line))


def test_autoresearch_fits_an_8k_context_with_room_for_the_answer_and_its_edit_lands_in_the_whole_file(
    fake_openai: FakeOpenAI,
):
    assert estimate_tokens(TRAIN) > 6000  # most of the window: the file alone nearly fills it
    old = constant_line(TRAIN)
    new = old.replace(" = ", " = 2 * ", 1)
    fake_openai.script(
        Completion(f"DESCRIPTION: scale it\ntrain.py\n<<<<<<< SEARCH\n{old}\n=======\n{new}\n>>>>>>> REPLACE")
    )
    proposal = operator(fake_openai).propose([parent()], context())
    assert proposal.ok, proposal.error
    assert proposal.code["train.py"] == TRAIN.replace(old, new, 1)  # applied to the file, not to the view sent
    body = fake_openai.chat_requests[0].body
    assert messages_tokens(body["messages"]) + body["max_tokens"] <= 8192
    assert body["max_tokens"] >= 1024
    prompt = body["messages"][1]["content"]
    assert "lines not shown" in prompt  # some function bodies left out: the file does not fit whole beside the rest
    directions = prompt.split("# The file to edit")[0]
    assert all(d in directions for d in DIRECTIONS)
    assert not [word for word in LOOP if word.lower() in directions.lower()]


def test_agent_loop_instructions_are_dropped_and_a_program_without_them_is_kept_as_it_is():
    directions = research_directions(PROGRAM)
    assert all(d in directions for d in DIRECTIONS)
    assert not [word for word in LOOP if word.lower() in directions.lower()]
    assert "## Setup" not in directions and "## Output format" not in directions
    assert estimate_tokens(directions) < estimate_tokens(PROGRAM) / 2
    own = (REPO / "target" / "program.md").read_text()  # evo's own target: directions written for the operator
    assert research_directions(own) == own


def test_the_answer_budget_scales_with_the_file_and_a_whole_file_too_large_for_the_context_is_asked_as_edits(
    fake_openai: FakeOpenAI,
):
    settings = dataclasses.replace(CONTEXT_8K, whole_file=True, max_tokens=16384, context_tokens=32768)
    small = (REPO / "target" / "train.py").read_text()
    budgets = []
    for text in (small, small + "\n" + small):
        request = fit_request([parent(text)], context(), settings)
        assert isinstance(request, Request) and request.whole_file
        budgets.append(request.budget(request.messages, settings))
        assert budgets[-1] == whole_file_tokens(text) >= 1.1 * estimate_tokens(text)
    assert budgets[1] > 1.9 * budgets[0]
    fake_openai.script(Completion("DESCRIPTION: same\n```python\n" + small.replace("DEPTH = 4", "DEPTH = 3") + "```"))
    assert operator(fake_openai, settings).propose([parent(small)], context()).ok
    assert fake_openai.chat_requests[0].body["max_tokens"] == budgets[0]
    assert "complete new train.py" in fake_openai.chat_requests[0].body["messages"][0]["content"]

    tight = dataclasses.replace(settings, context_tokens=8192)  # autoresearch's file cannot come back whole in 8k
    request = fit_request([parent()], context(), tight)
    assert isinstance(request, Request) and not request.whole_file
    assert "SEARCH/REPLACE" in request.messages[0]["content"]


SECTIONS = {  # how each stage of TRIM_ORDER shows in a prompt that still has it
    "inspirations": "# Strong individuals of other lineages",
    "earlier runs": "# Earlier runs on this target",
    "crash logs": "# Log tail of the crashed attempt",
    "recent attempts": "# Recent attempts",
    "learnings": "# What this run has learned so far",
    "parents' notes": "Its last change:",
    "function bodies": "",  # present until bodies are left out
    "research directions": "# Research directions",
}


def _stages_trimmed(prompt: str) -> int:
    present = [("lines not shown" not in prompt) if not mark else mark in prompt for mark in SECTIONS.values()]
    trimmed = present.index(True) if True in present else len(present)
    assert all(present[trimmed:]), f"trimmed out of order: {dict(zip(TRIM_ORDER, present, strict=True))}"
    return trimmed


def test_trimming_follows_the_stated_order_and_never_drops_the_file():
    assert tuple(SECTIONS) == TRIM_ORDER
    settings = dataclasses.replace(CONTEXT_8K, min_answer_tokens=1024, context_tokens=20000)
    first = fit_request([parent()], context(), settings)
    assert isinstance(first, Request) and _stages_trimmed(first.messages[1]["content"]) == 0
    seen = []
    for window in range(messages_tokens(first.messages) + 1024, 0, -50):
        request = fit_request([parent()], context(), dataclasses.replace(settings, context_tokens=window))
        if isinstance(request, str):
            break
        assert messages_tokens(request.messages) + 1024 <= window
        assert constant_line(TRAIN) in request.messages[1]["content"]
        seen.append(_stages_trimmed(request.messages[1]["content"]))
    assert seen == sorted(seen) and set(seen) == set(range(len(TRIM_ORDER) + 1))


def test_a_file_too_large_for_the_context_is_a_one_line_failure_and_nothing_is_sent(fake_openai: FakeOpenAI):
    huge = TRAIN * 3
    proposal = operator(fake_openai).propose([parent(huge)], context())
    assert not proposal.ok and proposal.failure == "context"
    assert "\n" not in proposal.error and "llm.context_tokens=8192" in proposal.error
    assert fake_openai.chat_requests == []


def test_a_repair_round_is_skipped_when_the_context_has_no_room_left_for_it(fake_openai: FakeOpenAI):
    rambling = "DESCRIPTION: many things\n" + "I would change several parts of the model at once. " * 60
    fake_openai.script(Completion(rambling))
    proposal = operator(fake_openai).propose([parent()], context())
    assert not proposal.ok and "no room left for a repair round" in proposal.error
    assert len(fake_openai.chat_requests) == 1


def test_the_notes_request_leaves_room_for_its_answer(fake_openai: FakeOpenAI, tmp_path: Path):
    fake_openai.script(Completion("- helped: a higher LR"))
    settings = dataclasses.replace(CONTEXT_8K, context_tokens=2048)
    notes = Learnings(
        tmp_path / "learnings.md", OpenAIChat(), ModelConfig("m", base_url=fake_openai.base_url), settings, Spend(), 5
    )
    usage, error = notes.update(context().attempts, context())
    assert error == "" and usage.calls == 1
    body = fake_openai.chat_requests[0].body
    assert body["max_tokens"] >= 512 and messages_tokens(body["messages"]) + body["max_tokens"] <= 2048


def test_the_file_view_depends_on_the_parent_alone_so_calls_on_it_share_their_prefix():
    """Bodies are left out only once every changing part is trimmed, in an order drawn from the file's text: another
    call's attempts, notes or seed do not change the view (an endpoint's prompt cache reuses the prefix)."""
    first = fit_request([parent()], context(), CONTEXT_8K)
    later = context(attempts=context().attempts[:3], seed=99, avoid="Your last answer duplicated 0003.")
    second = fit_request([parent()], later, CONTEXT_8K)
    assert isinstance(first, Request) and isinstance(second, Request)
    a, b = first.messages[1]["content"], second.messages[1]["content"]
    assert "lines not shown" in a and a != b
    end = a.index("```\n", a.index("```python")) + 4
    assert a[:end] == b[:end] and first.messages[0] == second.messages[0]
    child = parent(TRAIN.replace(constant_line(TRAIN), constant_line(TRAIN) + "  # a child's change"))
    third = fit_request([child], context(), CONTEXT_8K)
    assert isinstance(third, Request) and "a child's change" in third.messages[1]["content"]
