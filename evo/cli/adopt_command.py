"""`evo adopt PATH`: write target.yaml for an autoresearch-shaped directory, saying what evo controls and how."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from evo.errors import EvoError
from evo.evaluation.adopt import adopt
from evo.evaluation.target import SPEC_FILE, load_target

HEADER = "# Written by `evo adopt`: how evo controls this target without editing its locked files. Edit freely.\n"


def add_adopt_command(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser("adopt", help="write target.yaml for an autoresearch checkout (budget, seed, metric)")
    command.add_argument("path", type=Path, help="the target directory, e.g. a clone of karpathy/autoresearch")
    command.add_argument("--force", action="store_true", help="replace an existing target.yaml")


def cmd_adopt(args: argparse.Namespace) -> int:
    root = args.path.resolve()
    if not (root / "train.py").is_file():
        raise EvoError(f"{root}: no train.py to adopt (evo adopt expects an autoresearch-shaped directory)")
    spec_path = root / SPEC_FILE
    if spec_path.is_file() and not args.force:
        raise EvoError(f"{spec_path} exists; pass --force to replace it")
    adoption = adopt(root)
    spec = adoption.spec or {"editable": ["train.py"], "command": "python train.py"}
    spec_path.write_text(HEADER + yaml.safe_dump(spec, sort_keys=False))
    load_target(root)  # what was written must load
    print(f"wrote {spec_path}")
    for line in adoption.lines:
        print(f"  {line}")
    return 0
