"""The novelty gate (no child is evaluated twice) and memory across runs (a new search knows what earlier ones on the
same target tried)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evo.config import load_config
from evo.evaluation import load_target
from evo.reporting.run_data import load_run
from evo.reporting.run_report import write_run_report
from evo.search import Coordinator, start
from evo.search.memory import memory_for
from evo.search.novelty import Gate, normal_form
from population.ledger import Ledger

from .conftest import REPO
from .fake_openai import Completion, FakeOpenAI
from .test_search import SURROGATE, answer, consistent, overrides

CONFIG = REPO / "configs" / "surrogate.yaml"


def test_the_normal_form_ignores_comments_formatting_and_docstrings_but_not_code() -> None:
    plain = normal_form({"train.py": "X = 1\ndef f():\n    return 2\n"})
    dressed = normal_form({"train.py": '# knobs\nX=1   # one\n\ndef f():\n    """Two."""\n    return (2)\n'})
    assert plain == dressed
    assert normal_form({"train.py": "X = 2\ndef f():\n    return 2\n"}).exact != plain.exact
    assert normal_form({"train.py": "X = 1\n", "notes.txt": "a"}) != normal_form(
        {"train.py": "X = 1\n", "notes.txt": "b"}
    )


def test_near_duplicates_are_caught_only_within_the_tolerance() -> None:
    base, near, far = ({"train.py": f"LR = {lr}\nDEPTH = 4\n"} for lr in (0.003, 0.00301, 0.0033))
    exact, tolerant = Gate(), Gate(tolerance=0.01)
    for gate in (exact, tolerant):
        gate.add(normal_form(base), "0001")
    assert exact.twin(normal_form(near)) is None and tolerant.twin(normal_form(near)) == "0001"
    assert tolerant.twin(normal_form(far)) is None
    assert tolerant.twin(normal_form({"train.py": "LR = 0.003\nDEPTH = 4\nWIDTH = 8\n"})) is None  # other code


def test_the_same_edit_twice_is_gated_and_the_operator_asked_again(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    same = Completion(answer("LEARNING_RATE = 1e-3", "LEARNING_RATE = 3e-3", "raise the learning rate"))
    other = Completion(answer("LEARNING_RATE = 1e-3", "LEARNING_RATE = 2e-3", "raise it less"))
    fake_openai.script(same, same, other)
    model = f"llm.models=[{{name: fake-model, base_url: '{fake_openai.base_url}'}}]"
    config = load_config(CONFIG, overrides(tmp_path, model, "mode=best-of-n", "stop.evaluations=3"))
    root = start(config)
    Coordinator(root).run()
    with Ledger(root / "ledger.sqlite") as ledger:
        individuals = ledger.all()
        (duplicate,) = ledger.events("duplicate")
    assert [i.description for i in individuals] == ["baseline", "raise the learning rate", "raise it less"]
    assert duplicate.data == {"number": 2, "twin": "0001", "operator": "llm-mutation", "retry": 0}
    asked_again = fake_openai.chat_requests[2].body["messages"][-1]["content"]
    assert "duplicated 0001" in asked_again  # the operator is told which twin it proposed
    consistent(root)  # the twin was never committed nor evaluated
    report = write_run_report(load_run(root), tmp_path / "report").read_text()
    assert "1 duplicate children not evaluated (about 300 budget seconds saved)" in report


def test_a_second_search_knows_the_first_ones_attempts_and_refuses_its_children(tmp_path: Path) -> None:
    config = load_config(
        CONFIG, overrides(tmp_path, "mode=ratchet", "stop.evaluations=4", "llm.learnings_every=2", "name=first")
    )
    first = start(config)
    Coordinator(first).run()
    memory = memory_for(config, load_target(SURROGATE), tmp_path / "another-run")
    assert memory is not None and len(memory.earlier()) == 3  # three children, seen from another run
    second = start(
        load_config(
            CONFIG, overrides(tmp_path, "mode=ratchet", "stop.evaluations=4", "llm.learnings_every=2", "name=second")
        )
    )
    coordinator = Coordinator(second)
    assert (second / "learnings.md").read_text() == memory.learnings() != ""  # it starts from the first run's notes
    coordinator.run()  # the same seed: its operator first proposes exactly the first run's children
    with Ledger(second / "ledger.sqlite") as ledger:
        twins = [e.data["twin"] for e in ledger.events("duplicate")]
        assert int(ledger.get_meta("memory_attempts")) == 3
        firsts = {i.description for i in ledger.all()[1:]}
    assert twins and all(twin.startswith("first/") for twin in twins)
    with Ledger(first / "ledger.sqlite") as ledger:
        assert firsts.isdisjoint(i.description for i in ledger.all()[1:])  # nothing the first run evaluated


@pytest.mark.parametrize("setting", ["memory.enabled=false", "env={EVO_SURROGATE_SECONDS: '0.05', OTHER: '1'}"])
def test_memory_is_off_or_keyed_by_the_targets_locked_settings(tmp_path: Path, setting: str) -> None:
    first = start(load_config(CONFIG, overrides(tmp_path, "mode=ratchet", "stop.evaluations=3", "name=first")))
    Coordinator(first).run()
    second = start(load_config(CONFIG, overrides(tmp_path, "mode=ratchet", "stop.evaluations=3", setting)))
    Coordinator(second).run()
    with Ledger(second / "ledger.sqlite") as ledger:
        assert int(ledger.get_meta("memory_attempts")) == 0 and not ledger.events("duplicate")


def test_a_second_search_with_the_llm_shows_the_first_ones_attempts_in_its_prompts(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    first = start(load_config(CONFIG, overrides(tmp_path, "mode=ratchet", "stop.evaluations=3", "name=first")))
    Coordinator(first).run()
    with Ledger(first / "ledger.sqlite") as ledger:
        tried = [i for i in ledger.all() if i.parents]
    ideas = [("LEARNING_RATE = 1e-3", f"LEARNING_RATE = {k}e-3", f"learning rate {k}e-3") for k in (2, 3)]
    fake_openai.script(*[Completion(answer(*idea)) for idea in ideas])
    model = f"llm.models=[{{name: fake-model, base_url: '{fake_openai.base_url}'}}]"
    second = start(load_config(CONFIG, overrides(tmp_path, model, "mode=best-of-n", "stop.evaluations=3")))
    Coordinator(second).run()
    prompt = fake_openai.chat_requests[0].body["messages"][-1]["content"]
    assert "# Earlier runs on this target" in prompt
    for individual in tried:
        assert f"first/{individual.id}" in prompt and individual.description in prompt
