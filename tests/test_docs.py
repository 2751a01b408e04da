"""The documentation agrees with the code (Myelin documentation; no spec section).

The layer table of docs/architecture.md is the ALLOWED table of test_architecture.py; every
``myelin`` command line shown in the README and docs/ names a real subcommand and real options;
every YAML example of docs/operations.md is a valid configuration without warnings; every
relative link of the README and docs/ points to a file that exists.
"""

import argparse
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from myelin.cli import build_parser
from myelin.config import Report, parse_config
from tests.test_architecture import ALLOWED

REPO = Path(__file__).resolve().parent.parent
DOCS = sorted((REPO / "docs").glob("*.md"))
PAGES = [REPO / "README.md", *DOCS]

_TABLE_ROW = re.compile(r"^\|\s*(`[^|]+`)\s*\|\s*([^|]+?)\s*\|$")
_CODE = re.compile(r"`([^`]+)`")
# A command position: a line, a code span, a path (.venv/bin/myelin), a pipe or a prompt.
_COMMAND = re.compile(r"(?:^|[`/]|[|$] )myelin ([a-z][a-z-]*)((?:\s+[^\s|`]+)*)")
_OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z-]*)")
_YAML_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _names(cell: str) -> set[str]:
    return set(_CODE.findall(cell))


def architecture_table(text: str) -> dict[str, set[str]]:
    """The "part | may import from myelin" table: each part and what it may import."""
    table: dict[str, set[str]] = {}
    for line in text.splitlines():
        match = _TABLE_ROW.match(line.strip())
        if match is None:
            continue
        parts, allowed = match.groups()
        if allowed == "everything":
            imports = {"*"}
        elif allowed == "nothing":
            imports = set()
        else:
            imports = _names(allowed)
        for part in _names(parts):
            table[part] = imports
    return table


def test_architecture_table_is_the_allowed_table() -> None:
    table = architecture_table((REPO / "docs" / "architecture.md").read_text(encoding="utf-8"))
    expected = {
        part: imports for part, imports in ALLOWED.items() if part not in {"__init__", "__main__"}
    }
    assert table == expected


def test_architecture_table_parser_sees_a_difference() -> None:
    table = architecture_table("| `core` | `storage` |\n| `app`, `cli` | everything |\n")
    assert table == {"core": {"storage"}, "app": {"*"}, "cli": {"*"}}


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            choices: dict[str, argparse.ArgumentParser] = action.choices
            return choices
    raise AssertionError("the myelin parser has no subcommands")


def command_problems(text: str) -> list[str]:
    """Every ``myelin SUBCOMMAND --option`` in ``text`` naming something the CLI lacks."""
    commands = _subcommands()
    problems: list[str] = []
    for line in text.splitlines():
        for match in _COMMAND.finditer(line):
            name, rest = match.groups()
            if name not in commands:
                problems.append(f"unknown subcommand: myelin {name}")
                continue
            known = commands[name]._option_string_actions
            problems += [
                f"myelin {name} has no option {option}"
                for option in _OPTION.findall(rest)
                if option not in known
            ]
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_commands_shown_exist(page: Path) -> None:
    assert command_problems(page.read_text(encoding="utf-8")) == []


def test_command_check_sees_wrong_commands() -> None:
    text = (
        "run `myelin migrate --config x --dry-run`, then\n.venv/bin/myelin start\n"
        "ruff check myelin tests\n$ myelin version\n"
    )
    assert command_problems(text) == [
        "myelin migrate has no option --dry-run",
        "unknown subcommand: myelin start",
    ]


def _yaml_examples(text: str) -> list[Any]:
    return [yaml.safe_load(block) for block in _YAML_BLOCK.findall(text)]


@pytest.mark.parametrize(
    "example",
    _yaml_examples((REPO / "docs" / "operations.md").read_text(encoding="utf-8")),
    ids=lambda e: ",".join(e) if isinstance(e, dict) else "?",
)
def test_operations_yaml_examples_are_valid(example: Any, tmp_path: Path) -> None:
    assert isinstance(example, dict)
    report = Report()
    parse_config({"server_name": "example.org", **example}, tmp_path, report)
    assert report.warnings == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_exist(page: Path) -> None:
    missing = [
        target
        for target in _LINK.findall(page.read_text(encoding="utf-8"))
        if "://" not in target
        and not target.startswith("#")
        and not (page.parent / target.split("#", 1)[0]).exists()
    ]
    assert missing == []
