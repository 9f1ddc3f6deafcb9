"""Prompts that carry the evidence (issue 19): a real search with the LLM operators on, against the fake
OpenAI-compatible server, and the prompts it received: each attempt's id, parent, operator, description, status,
failure reason, change in noise units and stopped fraction, the best so far, the noise, the parent's training dynamics,
a crash's traceback, the answer format at the end; a static prefix shared byte for byte by consecutive calls; the
endpoint's cached prompt tokens counted into the run's spend."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from evo.config import load_config
from evo.operators.base import Attempt, Context, Parent
from evo.operators.llm.evidence import CRASH_TAIL_LINES, crash_tail
from evo.operators.llm.fit import request_parts
from evo.operators.llm.prompts import REMINDER
from evo.reporting.run_data import load_run
from evo.search import Coordinator, start
from population.ledger import Ledger

from .conftest import REPO
from .fake_openai import Completion, FakeOpenAI

SURROGATE = REPO / "benchmarks" / "surrogate"
TRAIN = (SURROGATE / "train.py").read_text()
IDEAS = [  # one line each, so every answer still applies to whichever parent the ratchet keeps
    ("OPTIMIZER = ", '"adamw"', '"lion" ', "switch to the lion optimizer"),  # prepare.py refuses it: a crash
    ("DEPTH = ", "4", "1", "a single layer"),  # far worse from the start: stopped early
    ("WARMDOWN_FRAC = ", "0.3", "0.5", "longer warmdown"),
    ("WEIGHT_DECAY = ", "0.0", "0.1", "some weight decay"),
    ("WIDTH = ", "256", "512", "double the width"),
    ("LEARNING_RATE = ", "1e-3", "2e-3", "double the learning rate"),
    ("WARMUP_FRAC = ", "0.0", "0.05", "a short warmup"),
]


def answer(prefix: str, old: str, new: str, description: str) -> str:
    (line,) = [text for text in TRAIN.splitlines() if text.startswith(prefix)]
    block = f"train.py\n<<<<<<< SEARCH\n{line}\n=======\n{line.replace(old, new, 1)}\n>>>>>>> REPLACE\n"
    return f"DESCRIPTION: {description}\nRATIONALE: worth a try.\n\n{block}"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], list[str]]:
    """A ratchet on the surrogate with calibration and early termination on, each child from the fake LLM (about
    15 s): the run, and the system and user messages each call sent."""
    base = tmp_path_factory.mktemp("evidence")
    with pytest.MonkeyPatch.context() as patch, FakeOpenAI() as fake:
        patch.delenv("OPENAI_API_KEY", raising=False)
        patch.delenv("OPENAI_BASE_URL", raising=False)
        patch.setenv("EVO_CACHE_DIR", str(base / "cache"))
        fake.cache_prompts().script(*[Completion(answer(*idea)) for idea in IDEAS])
        config = load_config(
            REPO / "configs" / "surrogate.yaml",
            [
                f"runs_dir={base / 'runs'}",
                f"target={SURROGATE}",
                "env={EVO_SURROGATE_SECONDS: '0.4'}",
                "mode=ratchet",
                "slots.count=1",
                f"stop.evaluations={len(IDEAS) + 1}",
                "early_stop.enabled=true",
                "calibration.runs=3",
                "llm.learnings_every=1000",
                f"llm.models=[{{name: fake-model, base_url: '{fake.base_url}'}}]",
            ],
        )
        root = start(config)
        Coordinator(root).run()
        bodies = [request.body["messages"] for request in fake.chat_requests]
    return root, [m[0]["content"] for m in bodies], [m[1]["content"] for m in bodies]


def rows(prompt: str) -> dict[str, list[str]]:
    """The recent-attempts table of a prompt: id -> its cells."""
    table = prompt.split("# Recent attempts (most recent last)\n")[1].split("\n\n")[0].splitlines()[2:]
    return {cells[0]: cells for cells in ([c.strip() for c in row.strip("|").split("|")] for row in table)}


def test_every_prompt_carries_the_evidence_of_the_attempts_before_it(run: tuple[Path, list[str], list[str]]) -> None:
    root, _, prompts = run
    with Ledger(root / "ledger.sqlite") as ledger:
        children = [i for i in ledger.all() if i.parents]
        stopped = {e.data["individual"]: e.data["fraction"] for e in ledger.events("pruned")}
    statuses = {c.status for c in children}
    assert {"crash", "pruned", "ok"} <= statuses, statuses
    last = prompts[-1]
    table = rows(last)
    for child in children[:-1]:  # the last child's result came after the last prompt
        cells = table[child.id]
        assert cells[1:4] == [", ".join(child.parents), child.operator, child.description]
        if child.status == "pruned":
            assert cells[4] == f"pruned at {stopped[child.id]:.0%} of the budget"
            assert cells[7].startswith("stopped at ")
        else:
            assert cells[4] == child.status
        if child.status == "crash":
            assert "OPTIMIZER must be one of" in cells[7]
        if child.status == "ok":
            assert re.fullmatch(r"[-+]\d\.\d{6} \((within the noise|(better|worse) by \d+\.\d noise sd)\)", cells[6])
    assert "# Best so far\n" in last and "# Noise\nDifferences in val_bpb under " in last
    assert re.search(r"Its training: loss [\d.]+ at 10%, .* at 100%; .*num_steps \d+", last)
    crash = next(c for c in children if c.status == "crash")
    tail = last.split(f"# Log tail of the crashed attempt {crash.id}: {crash.description}\n```\n")[1].split("```")[0]
    assert tail.startswith("Traceback (most recent call last)") and "ValueError: OPTIMIZER must be one of" in tail
    assert len(tail.strip().splitlines()) <= CRASH_TAIL_LINES
    assert 'File "train.py", line' in tail and str(root) not in tail  # where the run kept it is noise to the model
    assert "# Strong individuals of other lineages" in last  # a ratchet's other lineages: children it discarded
    for prompt in prompts:
        assert prompt.endswith(REMINDER.format(how=REMINDER_EDITS))


REMINDER_EDITS = "SEARCH/REPLACE blocks naming the file, SEARCH text copied exactly from the file shown above"


def test_consecutive_calls_share_their_static_prefix_byte_for_byte(run: tuple[Path, list[str], list[str]]) -> None:
    _, systems, prompts = run
    assert len(set(systems)) == 1
    same_parent = 0
    for before, after in itertools.pairwise(prompts):
        shared = len(_common_prefix(before, after))
        directions_end = before.index("# The file to edit")
        code_end = before.index("```\n", before.index("```python")) + 4
        assert shared >= directions_end
        if before[:code_end] == after[:code_end]:  # the same parent: the whole file is in the shared prefix
            same_parent += 1
            assert shared >= code_end
    assert same_parent >= 3  # a ratchet mutates its incumbent until a child beats it


def test_the_endpoints_cached_tokens_are_counted_in_the_run(run: tuple[Path, list[str], list[str]]) -> None:
    root, _, _ = run
    with Ledger(root / "ledger.sqlite") as ledger:
        cached = ledger.get_meta("llm_cached_tokens")
    assert cached > 0
    assert load_run(root).cached_tokens == cached


def test_a_long_traceback_keeps_its_first_line_and_its_end_and_a_log_without_one_its_last_lines() -> None:
    frames = "\n".join(f'  File "train.py", line {i}, in step' for i in range(40))
    log = f"step 00001 (1.0%) | loss: 3.2\nTraceback (most recent call last)\n{frames}\nRuntimeError: boom\n"
    tail = crash_tail(log).splitlines()
    assert len(tail) == CRASH_TAIL_LINES
    assert tail[0] == "Traceback (most recent call last)" and tail[-1] == "RuntimeError: boom"
    assert tail[1].startswith("... (") and "loss" not in "\n".join(tail)
    plain = "\n".join(f"line {i}" for i in range(40))
    assert crash_tail(plain).splitlines() == [f"line {i}" for i in range(40 - CRASH_TAIL_LINES, 40)]


def test_earlier_runs_and_inspirations_go_in_the_changing_part_and_are_trimmed_first() -> None:
    earlier = (Attempt("deeper", "crash", None, None, reason="OOM", id="old-run/0004", parents=("old-run/0001",)),)
    inspiration = Attempt("muon", "ok", 0.9, -0.1, id="0007", parents=("0003",), diff="-A = 1\n+A = 2")
    context = Context(
        program="Lower val_bpb.", editable=("train.py",), locked=(), earlier=earlier, inspirations=(inspiration,)
    )
    parts = request_parts([Parent("0005", {"train.py": TRAIN}, 1.0, "ok")], context)
    kinds = [part.kind for part in parts]
    assert kinds.index("file") < kinds.index("earlier runs") < kinds.index("inspirations") < kinds.index("format")
    text = "\n\n".join(part.text for part in parts)
    assert "| old-run/0004 | old-run/0001 | - | deeper | crash | - | - | OOM |" in text
    assert "## 0007: muon (val_bpb = 0.900000; against its parent -0.100000)\n```diff\n-A = 1\n+A = 2\n```" in text
    assert "The noise level is unknown" in text
    ranks = {part.kind: part.trim for part in parts}
    assert ranks["inspirations"] < ranks["earlier runs"] < ranks["parents"] < ranks["directions"]


def _common_prefix(a: str, b: str) -> str:
    n = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return a[:n]
