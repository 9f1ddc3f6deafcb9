"""Loading a target: defaults that accept an autoresearch checkout, and one-line errors naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from evo.errors import EvoError
from evo.evaluation.parsing import DEFAULT_PROGRESS
from evo.evaluation.target import MetricSpec, load_target


def autoresearch_like(root: Path) -> Path:
    for name in ("train.py", "prepare.py", "program.md", "pyproject.toml", "uv.lock"):
        (root / name).write_text(f"# {name}\n")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/master\n")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "prepare.cpython-311.pyc").write_bytes(b"\0")
    return root


def test_a_directory_without_target_yaml_gets_autoresearch_defaults(tmp_path: Path) -> None:
    target = load_target(autoresearch_like(tmp_path))
    assert target.editable == ("train.py",)
    assert target.command == ("python", "train.py")
    assert target.metric == MetricSpec("val_bpb", "minimize", attested=False)
    assert target.progress == DEFAULT_PROGRESS
    assert sorted(target.locked) == ["prepare.py", "program.md", "pyproject.toml", "uv.lock"]
    assert target.read_program() == "# program.md\n"


def test_target_yaml_values_are_read(tmp_path: Path) -> None:
    root = autoresearch_like(tmp_path)
    (root / "target.yaml").write_text(
        "editable: [train.py, model.py]\ncommand: python train.py --fast\nprepare: python prepare.py\n"
        "metric: {name: accuracy, direction: maximize, attested: true}\nenv: {EVO_CORPUS: synthetic, N: 3}\n"
    )
    (root / "model.py").write_text("")
    target = load_target(root)
    assert target.editable == ("train.py", "model.py")
    assert target.command == ("python", "train.py", "--fast")
    assert target.prepare == ("python", "prepare.py")
    assert target.metric == MetricSpec("accuracy", "maximize", attested=True)
    assert target.env == {"EVO_CORPUS": "synthetic", "N": "3"}
    assert "target.yaml" in target.locked and "model.py" not in target.locked


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("budget: 10\n", "unknown key 'budget'"),
        ("metric: {direction: down}\n", "key 'metric.direction' must be 'minimize' or 'maximize', got 'down'"),
        ("metric: {name: val_bpb, higher: true}\n", "unknown key 'metric.higher'"),
        ("metric: {attested: yes please}\n", "key 'metric.attested' must be true or false"),
        ("editable: [missing.py]\n", "key 'editable' names 'missing.py', which is not a file"),
        ("command: []\n", "key 'command' must be a file name or a list of file names"),
        ("progress: 'loss=(?P<value>.*)'\n", "key 'progress': a progress pattern needs"),
        ("progress: '(?P<value>'\n", "key 'progress':"),
        ("env: [A, B]\n", "key 'env' must be a mapping"),
        ("editable: train.py\n  command: [\n", "line 2: not valid YAML"),
        ("- just\n- a list\n", "expected a mapping of keys to values"),
    ],
)
def test_bad_target_yaml_gets_a_one_line_error_naming_file_and_key(tmp_path: Path, yaml_text: str, message: str):
    root = autoresearch_like(tmp_path)
    (root / "target.yaml").write_text(yaml_text)
    with pytest.raises(EvoError) as caught:
        load_target(root)
    text = str(caught.value)
    assert text.startswith(str(root / "target.yaml"))
    assert message in text
    assert "\n" not in text


def test_a_missing_target_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(EvoError, match="not found"):
        load_target(tmp_path / "nope")
