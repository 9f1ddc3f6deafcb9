"""LLM mutation and crossover through the real `openai` client against a fake OpenAI-compatible server on 127.0.0.1.

Every failure mode of an endpoint or an answer must end as a retried success or a failed proposal with a clear
reason, never an exception out of `propose`.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from evo.config import LLMSection, ModelConfig
from evo.operators.base import Attempt, Context, Parent, Proposal, Usage
from evo.operators.factory import make_operators
from evo.operators.llm.cassette import RecordingChat, ReplayChat
from evo.operators.llm.client import OpenAIChat, Spend
from evo.operators.llm.learnings import Learnings
from evo.operators.llm.operator import LLMOperator
from evo.operators.merge_crossover import MergeCrossover
from evo.operators.offline_notes import MAX_WORDS, TITLE, OfflineNotes
from evo.operators.param_mutation import ParamMutation

from .conftest import REPO
from .fake_openai import Completion, EmptyChoices, FakeOpenAI, Hangup, HttpError, Malformed, Slow, Truncated

TRAIN = (REPO / "target" / "train.py").read_text()
FAST = LLMSection(temperature=0.5, max_tokens=2000, timeout=1.0, retries=3, backoff=0.01, max_backoff=0.2)
CONTEXT = Context(
    program="Lower val_bpb within the budget.",
    editable=("train.py",),
    locked=("prepare.py", "program.md", "target.yaml"),
    attempts=(Attempt("raise LR to 3e-3", "ok", 3.1, -0.05), Attempt("depth 8", "crash", None, None, "OOM killed")),
    learnings="Muon helped before.",
    seed=3,
)
PARENT = Parent("p1", {"train.py": TRAIN}, 3.05, "ok", "baseline")


def block(old: str, new: str, file: str = "train.py") -> str:
    return f"{file}\n<<<<<<< SEARCH\n{old}\n=======\n{new}\n>>>>>>> REPLACE\n"


def line(prefix: str) -> str:
    """The whole line of the baseline train.py that starts with `prefix` (SEARCH text matches whole lines)."""
    (found,) = [text for text in TRAIN.splitlines() if text.startswith(prefix)]
    return found


def swap(prefix: str, old: str, new: str) -> str:
    """A block replacing `old` by `new` on the line starting with `prefix`."""
    return block(line(prefix), line(prefix).replace(old, new, 1))


GOOD = "DESCRIPTION: switch to Muon\nRATIONALE: Muon trains small GPTs faster.\n\n" + swap(
    "OPTIMIZER =", '"adamw" ', '"muon"  '
)


def operator(fake: FakeOpenAI, arity: int = 1, spend: Spend | None = None, **models: object) -> LLMOperator:
    model = ModelConfig("fake-model", base_url=fake.base_url, prompt_price=2.0, completion_price=8.0, **models)
    name = "llm-mutation" if arity == 1 else "llm-crossover"
    return LLMOperator(name, arity, OpenAIChat(), (model,), FAST, spend or Spend())


def test_a_mutation_applies_search_replace_and_records_usage_and_cost(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-mutation")
    fake_openai.script(Completion(GOOD, prompt_tokens=1000, completion_tokens=100))
    spend = Spend()
    proposal = operator(fake_openai, spend=spend).propose([PARENT], CONTEXT)
    assert proposal.ok, proposal.error
    assert 'OPTIMIZER = "muon"' in proposal.code["train.py"]
    assert proposal.code["train.py"].count("\n") == TRAIN.count("\n")
    assert (proposal.description, proposal.rationale) == ("switch to Muon", "Muon trains small GPTs faster.")
    assert (proposal.operator, proposal.model) == ("llm-mutation", "fake-model")
    assert (proposal.usage.calls, proposal.usage.prompt_tokens, proposal.usage.completion_tokens) == (1, 1000, 100)
    assert proposal.usage.cost == pytest.approx((1000 * 2.0 + 100 * 8.0) / 1e6)
    assert spend.total == proposal.usage
    sent = fake_openai.chat_requests[0]
    assert sent.authorization == "Bearer sk-test-mutation"
    assert sent.body["model"] == "fake-model" and sent.body["temperature"] == 0.5 and sent.body["max_tokens"] == 2000
    prompt = sent.body["messages"][1]["content"]
    for expected in (
        "Lower val_bpb within the budget.",
        "Muon helped before.",
        "| depth 8 | crash | - | - |",
        "OOM killed",
        "val_bpb = 3.050000",
        'OPTIMIZER = "adamw"',
    ):
        assert expected in prompt
    assert "never edit prepare.py, program.md, target.yaml" in sent.body["messages"][0]["content"]


def test_a_crossover_combines_parents_and_shows_both_diffs(fake_openai: FakeOpenAI):
    ancestor = {"train.py": TRAIN}
    a = Parent("a", {"train.py": TRAIN.replace("\nLR = 1e-3 ", "\nLR = 3e-3 ")}, 3.0, "ok", "LR 3e-3")
    b = Parent("b", {"train.py": TRAIN.replace("\nDEPTH = 4 ", "\nDEPTH = 2 ")}, 2.9, "ok", "depth 2")
    answer = "DESCRIPTION: LR 3e-3 with depth 2\nRATIONALE: both helped.\n" + swap("DEPTH =", "4", "2")
    fake_openai.script(Completion(answer))
    context = Context(**{**CONTEXT.__dict__, "ancestor": ancestor})
    proposal = operator(fake_openai, arity=2).propose([a, b], context)
    assert proposal.ok, proposal.error
    assert "\nLR = 3e-3 " in proposal.code["train.py"] and "\nDEPTH = 2 " in proposal.code["train.py"]
    assert proposal.operator == "llm-crossover"
    prompt = fake_openai.chat_requests[0].body["messages"][1]["content"]
    assert "-LR = 1e-3" in prompt and "+LR = 3e-3" in prompt and "-DEPTH = 4" in prompt and "+DEPTH = 2" in prompt


def test_a_whole_file_answer_is_accepted(fake_openai: FakeOpenAI):
    whole = "DESCRIPTION: halve the batch\n```python\n" + TRAIN.replace("BATCH_SIZE = 16", "BATCH_SIZE = 8 ") + "```\n"
    fake_openai.script(Completion(whole))
    proposal = operator(fake_openai).propose([PARENT], CONTEXT)
    assert proposal.ok, proposal.error
    assert "BATCH_SIZE = 8 " in proposal.code["train.py"]


@pytest.mark.parametrize(
    ("steps", "requests", "error"),
    [
        ([HttpError(429, retry_after=0.05), Completion(GOOD)], 2, ""),
        ([HttpError(500), HttpError(503), Completion(GOOD)], 3, ""),
        ([Slow(3.0), Completion(GOOD)], 2, ""),
        ([Truncated(GOOD), Completion(GOOD)], 2, ""),
        ([Hangup(), Completion(GOOD)], 2, ""),
        ([HttpError(500)] * 4, 4, "HTTP 500 from the endpoint"),
        ([HttpError(401)], 1, "HTTP 401 from the endpoint"),
        ([Malformed()], 1, "malformed response"),
        ([EmptyChoices()], 1, "the endpoint returned no choices"),
        ([Completion(GOOD, finish_reason="length")], 1, "the answer was truncated at max_tokens=2000"),
        ([Completion(None, refusal="I can't help with that.")], 1, "the model refused: I can't help with that."),
        ([Completion("   ")], 1, "the model returned an empty answer"),
        ([Completion("I would try a higher learning rate."), Completion(GOOD)], 2, ""),
        ([Completion("Just prose."), Completion("Still prose.")], 2, "no valid child after 1 repair round(s)"),
        ([Completion(block("import math", "import math as m", "prepare.py"))] * 2, 2, "prepare.py"),
        ([Completion(block(line("OPTIMIZER ="), line("OPTIMIZER =")))] * 2, 2, "the answer changes nothing"),
        ([Completion(swap("DEPTH =", "4", "(4"))] * 2, 2, "does not parse"),
    ],
    ids=[
        "429-retry-after",
        "5xx",
        "timeout",
        "truncated-body",
        "hangup",
        "5xx-exhausted",
        "401",
        "malformed",
        "no-choices",
        "length",
        "refusal",
        "empty",
        "repair-succeeds",
        "prose-twice",
        "locked-file",
        "no-change",
        "syntax-error",
    ],
)
def test_failure_modes_end_as_a_retried_success_or_a_clear_failure(
    fake_openai: FakeOpenAI, steps: list, requests: int, error: str
):
    fake_openai.script(*steps)
    proposal = operator(fake_openai).propose([PARENT], CONTEXT)
    assert len(fake_openai.chat_requests) == requests
    if error:
        assert not proposal.ok and error in proposal.error and "\n" not in proposal.error
    else:
        assert proposal.ok, proposal.error
        assert 'OPTIMIZER = "muon"' in proposal.code["train.py"]
    # every answer that arrived is counted, failed ones included; requests that got no answer cost nothing
    assert proposal.usage.calls == sum(isinstance(step, (Completion, EmptyChoices)) for step in steps[:requests])


@pytest.mark.parametrize(
    ("step", "failure", "fatal"),
    [
        (HttpError(401), "auth", True),
        (HttpError(403), "auth", True),
        (HttpError(404), "model", True),
        (HttpError(400), "request", False),
        (HttpError(500), "unavailable", False),
        (Completion("Just prose."), "child", False),
        (Completion(GOOD, finish_reason="length"), "answer", False),
    ],
)
def test_a_failed_proposal_says_what_failed_and_whether_no_retry_can_help(
    fake_openai: FakeOpenAI, step: object, failure: str, fatal: bool
):
    fake_openai.script(*[step] * 4)
    proposal = operator(fake_openai).propose([PARENT], CONTEXT)
    assert (proposal.ok, proposal.failure, proposal.fatal) == (False, failure, fatal)


def test_a_refused_connection_fails_at_once_as_the_endpoint(monkeypatch: pytest.MonkeyPatch):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    model = ModelConfig("fake-model", base_url=f"http://127.0.0.1:{port}/v1")
    slept: list[float] = []
    chat = OpenAIChat(sleep=slept.append)
    proposal = LLMOperator("llm-mutation", 1, chat, (model,), FAST, Spend()).propose([PARENT], CONTEXT)
    assert (proposal.failure, proposal.fatal, slept) == ("endpoint", True, [])  # no retry, no backoff
    assert proposal.error.startswith("connection error")


def test_a_spent_cap_is_fatal(fake_openai: FakeOpenAI):
    spend = Spend(max_cost=0.0001)
    fake_openai.script(Completion(GOOD, prompt_tokens=1000, completion_tokens=100))
    assert operator(fake_openai, spend=spend).propose([PARENT], CONTEXT).ok
    capped = operator(fake_openai, spend=spend).propose([PARENT], CONTEXT)
    assert (capped.failure, capped.fatal) == ("cap", True)


def test_a_repair_round_sends_the_problem_back(fake_openai: FakeOpenAI):
    fake_openai.script(Completion(block("LR = 5e-3", "LR = 6e-3")), Completion(GOOD))
    proposal = operator(fake_openai).propose([PARENT], CONTEXT)
    assert proposal.ok and proposal.usage.calls == 2
    messages = fake_openai.chat_requests[1].body["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert "could not be used: SEARCH block 1 not found in train.py" in messages[3]["content"]


def test_a_cost_cap_stops_further_calls(fake_openai: FakeOpenAI):
    fake_openai.script(Completion(GOOD, prompt_tokens=1000, completion_tokens=1000), Completion(GOOD))
    spend = Spend(max_cost=0.001)
    assert operator(fake_openai, spend=spend).propose([PARENT], CONTEXT).ok
    second = operator(fake_openai, spend=spend).propose([PARENT], CONTEXT)
    assert not second.ok and second.error.startswith("LLM cost cap reached")
    assert len(fake_openai.chat_requests) == 1


def test_an_ensemble_picks_models_by_weight_and_seed(fake_openai: FakeOpenAI):
    models = (
        ModelConfig("big", base_url=fake_openai.base_url, weight=1.0),
        ModelConfig("small", base_url=fake_openai.base_url, weight=3.0),
    )
    op = LLMOperator("llm-mutation", 1, OpenAIChat(), models, FAST, Spend())
    fake_openai.script(*[Completion(GOOD)] * 40)
    chosen = [op.propose([PARENT], Context(**{**CONTEXT.__dict__, "seed": seed})).model for seed in range(40)]
    assert set(chosen) == {"big", "small"} and 20 <= chosen.count("small") <= 38
    assert [r.body["model"] for r in fake_openai.chat_requests] == chosen


def test_without_an_endpoint_the_offline_operators_run_and_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    operators = make_operators(LLMSection(learnings_every=7), tmp_path)
    assert isinstance(operators.mutation, ParamMutation) and isinstance(operators.crossover, MergeCrossover)
    notes = operators.learnings
    assert isinstance(notes, OfflineNotes) and notes.path == tmp_path / "learnings.md" and notes.every == 7
    assert [notes.due(n) for n in (0, 6, 7, 14)] == [False, False, True, True]
    assert operators.notice.startswith("no LLM endpoint configured") and "\n" not in operators.notice
    assert operators.mutation.propose([PARENT], CONTEXT).ok
    assert notes.text == "" and notes.update(CONTEXT.attempts, CONTEXT) == (Usage(), "")
    assert "- -0.05: raise LR to 3e-3" in notes.text and "- crash: depth 8 — OOM killed" in notes.text
    assert [p.name for p in tmp_path.iterdir()] == ["learnings.md"]  # the temporary file was renamed over it


def test_an_endpoint_in_the_environment_turns_the_llm_on_and_the_key_is_never_written(
    fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    secret = "sk-live-never-write-me-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    monkeypatch.setenv("EVO_MODEL", "fake-model")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    config = LLMSection(cassette="llm.cassette.jsonl", cassette_mode="record", learnings_every=1)
    operators = make_operators(config, run_dir)
    assert operators.notice == f"LLM operators: fake-model at {fake_openai.base_url} (key from $OPENAI_API_KEY)"
    fake_openai.script(Completion(GOOD), HttpError(401), Completion("- Muon helped (3.05 -> 2.9)."))
    assert operators.mutation.propose([PARENT], CONTEXT).ok
    assert not operators.mutation.propose([PARENT], CONTEXT).ok
    assert operators.learnings is not None and operators.learnings.due(1)
    usage, error = operators.learnings.update(CONTEXT.attempts, CONTEXT)
    assert error == "" and usage.calls == 1
    assert operators.learnings.text == "- Muon helped (3.05 -> 2.9).\n"
    assert all(r.authorization == f"Bearer {secret}" for r in fake_openai.chat_requests)
    written = [p for p in run_dir.rglob("*") if p.is_file()]
    assert {p.name for p in written} == {"llm.cassette.jsonl", "learnings.md"}
    assert not [p for p in written if secret in p.read_text()]


def test_a_key_echoed_in_an_endpoint_error_is_redacted(fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch):
    secret = "sk-proj-abcdef0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    fake_openai.script(HttpError(401, message=f"Incorrect API key provided: {secret}. Also sk-proj-****6789."))
    proposal = operator(fake_openai).propose([PARENT], CONTEXT)
    assert proposal.error.startswith("HTTP 401 from the endpoint: ")
    assert proposal.error == "HTTP 401 from the endpoint: Incorrect API key provided: [redacted]. Also [redacted]"
    assert "0123456789" not in proposal.error and "6789" not in proposal.error


def test_learnings_failures_keep_the_old_notes(fake_openai: FakeOpenAI, tmp_path: Path):
    model = ModelConfig("fake-model", base_url=fake_openai.base_url)
    notes = Learnings(tmp_path / "learnings.md", OpenAIChat(), model, FAST, Spend(), every=5)
    (tmp_path / "learnings.md").write_text("old notes\n")
    fake_openai.script(HttpError(400))
    _, error = notes.update(CONTEXT.attempts, CONTEXT)
    assert "HTTP 400" in error and notes.text == "old notes\n"
    assert [notes.due(n) for n in (0, 4, 5, 10)] == [False, False, True, True]
    assert "old notes" in fake_openai.chat_requests[0].body["messages"][1]["content"]


def _notes(tmp_path: Path, *batches: list[Attempt], direction: str = "minimize") -> str:
    notes = OfflineNotes(tmp_path / "learnings.md", every=5)
    context = Context(**{**CONTEXT.__dict__, "direction": direction})
    for batch in batches:
        assert notes.update(batch, context) == (Usage(), "")
    return notes.text


def test_offline_notes_list_what_helped_hurt_and_failed_most_useful_first(tmp_path: Path):
    text = _notes(
        tmp_path,
        [
            Attempt("param: LR 1e-3 -> 2e-3", "ok", 3.0, -0.012),
            Attempt("param: DEPTH 4 -> 12", "ok", 3.3, 0.2),
            Attempt("param: LR 1e-3 -> 5e-3", "ok", 2.9, -0.1),
            Attempt("param: WIDTH 128 -> 130", "ok", 3.1, 0.0),
            Attempt("param: WIDTH 128 -> 4096", "crash", None, None, "step 1\nCUDA out of memory", "exit 1: OOM\nmore"),
            Attempt("param: GRAD_CLIP 1.0 -> 9.0", "pruned", None, None, reason="stopped at 10% of the budget"),
        ],
    )
    assert text.startswith(TITLE + "\n")
    assert "6 attempts: 2 helped, 1 hurt, 1 unchanged, 1 crashed, 1 stopped." in text
    lines = text.splitlines()
    helped = lines.index("- -0.1: param: LR 1e-3 -> 5e-3")  # the larger gain first
    assert lines[helped - 1].startswith("## Helped (change in val_bpb vs parent; lower is better)")
    assert lines[helped + 1] == "- -0.012: param: LR 1e-3 -> 2e-3"
    assert lines[helped + 4] == "- +0.2: param: DEPTH 4 -> 12"
    assert "- pruned: param: GRAD_CLIP 1.0 -> 9.0 — stopped at 10% of the budget" in lines  # the newest first
    assert "- crash: param: WIDTH 128 -> 4096 — exit 1: OOM" in lines  # the reason's first line only
    assert "WIDTH 128 -> 130" not in text and "more" not in text


def test_offline_notes_merge_each_batch_into_the_notes_so_far(tmp_path: Path):
    first = [Attempt("a", "ok", 1.0, -0.5), Attempt("b", "crash", None, None, "boom")]
    second = [Attempt("c", "ok", 1.2, -0.1), Attempt("d", "ok", 2.0, 0.3), Attempt("e", "timeout", None, None)]
    text = _notes(tmp_path, first, second)
    assert "5 attempts: 2 helped, 1 hurt, 0 unchanged, 1 crashed, 1 stopped." in text
    lines = text.splitlines()
    assert lines.index("- -0.5: a") + 1 == lines.index("- -0.1: c")
    assert lines.index("- timeout: e — no reason recorded") + 1 == lines.index("- crash: b — boom")
    assert _notes(tmp_path, []) == text  # read back and written again unchanged


def test_offline_notes_replace_notes_they_did_not_write(tmp_path: Path):
    (tmp_path / "learnings.md").write_text("- Muon helped a lot.\n3 helped\n")
    text = _notes(tmp_path, [Attempt("a", "ok", 1.0, 0.5)], direction="maximize")
    assert "Muon" not in text and "1 attempts: 1 helped, 0 hurt" in text
    assert "higher is better" in text and "- +0.5: a" in text


def test_offline_notes_keep_untrusted_descriptions_to_one_short_line(tmp_path: Path):
    sneaky = "raise LR\n## Helped (fake)\n- -9: never happened — x"
    text = _notes(tmp_path, [Attempt(sneaky, "ok", 1.0, -0.2), Attempt("x" * 500, "crash", None, None, "a\nb")])
    assert "- -0.2: raise LR ## Helped (fake) - -9: never happened - x" in text.splitlines()
    assert max(len(line) for line in text.splitlines()) < 250
    assert _notes(tmp_path, []) == text  # read back as the same two entries, no fake third one


def test_offline_notes_stay_short_and_keep_the_best_news(tmp_path: Path):
    long = "param: " + " ".join(["WIDTH 128 -> 256,"] * 10)
    batch = [Attempt(f"{i} {long}", "ok", 1.0, (-1) ** i * (i + 1) / 100) for i in range(30)]
    batch += [Attempt(f"{i} {long}", "crash", None, None, "exit 1: " + long) for i in range(30, 40)]
    text = _notes(tmp_path, batch)
    assert len(text.split()) <= MAX_WORDS
    assert "40 attempts: 15 helped, 15 hurt, 0 unchanged, 10 crashed, 0 stopped." in text
    assert "- -0.3: 29 param" in text  # the largest gain survives the cut


def test_offline_notes_failing_to_write_keep_the_old_notes_and_say_why(tmp_path: Path):
    (tmp_path / "learnings.md").mkdir()
    usage, error = OfflineNotes(tmp_path / "learnings.md", every=1).update(CONTEXT.attempts, CONTEXT)
    assert usage == Usage() and error.startswith(f"could not write {tmp_path / 'learnings.md'}: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["learnings.md"]


def small_search(op: LLMOperator, generations: int = 4) -> list[Proposal]:
    """A tiny greedy loop: each accepted child becomes the next parent, as a search would chain them."""
    parent, children = PARENT, []
    for generation in range(generations):
        proposal = op.propose([parent], Context(**{**CONTEXT.__dict__, "seed": generation}))
        children.append(proposal)
        if proposal.ok:
            parent = Parent(f"g{generation}", proposal.code, None, "ok", proposal.description)
    return children


def test_a_search_replayed_from_a_cassette_reproduces_the_same_children(fake_openai: FakeOpenAI, tmp_path: Path):
    cassette = tmp_path / "llm.cassette.jsonl"
    answers = [
        GOOD,
        "DESCRIPTION: warm down\n" + swap("WARMDOWN_FRAC =", "0.0", "0.3"),
        "just prose",  # a failed answer, then its repair
        "DESCRIPTION: smaller batch\n" + swap("BATCH_SIZE =", "16", "8 "),
        "DESCRIPTION: depth 3\n" + swap("DEPTH =", "4", "3"),
    ]
    fake_openai.script(*[Completion(a) for a in answers])
    model = (ModelConfig("fake-model", base_url=fake_openai.base_url),)
    recorded = small_search(LLMOperator("llm-mutation", 1, RecordingChat(OpenAIChat(), cassette), model, FAST, Spend()))
    fake_openai.close()
    replayed = small_search(LLMOperator("llm-mutation", 1, ReplayChat(cassette), model, FAST, Spend()))
    assert [p.code for p in replayed] == [p.code for p in recorded]
    assert [p.description for p in replayed] == [p.description for p in recorded]
    assert [p.usage for p in replayed] == [p.usage for p in recorded]
    assert all(p.ok for p in recorded) and len({p.code["train.py"] for p in recorded}) == 4
    extra = LLMOperator("llm-mutation", 1, ReplayChat(cassette), model, FAST, Spend()).propose(
        [PARENT], Context(**{**CONTEXT.__dict__, "seed": 99, "learnings": "something new"})
    )
    assert not extra.ok and "has no recorded answer" in extra.error


def test_a_child_that_breaks_an_assert_of_its_file_is_sent_back_before_it_runs(fake_openai: FakeOpenAI):
    guarded = TRAIN.replace("\nDEPTH = 4", "\nassert WIDTH % N_HEAD == 0\nDEPTH = 4", 1)
    parent = Parent("p1", {"train.py": guarded}, 3.05, "ok", "baseline")
    fake_openai.script(Completion(swap("N_HEAD =", "N_HEAD = 4", "N_HEAD = 3")), Completion(GOOD))
    proposal = operator(fake_openai).propose([parent], CONTEXT)
    assert proposal.ok and proposal.usage.calls == 2 and "N_HEAD = 4" in proposal.code["train.py"]
    repair = fake_openai.chat_requests[1].body["messages"][3]["content"]
    assert "train.py:32: assert WIDTH % N_HEAD == 0 fails (WIDTH=128, N_HEAD=3)" in repair
