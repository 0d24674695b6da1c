"""The README tells the truth: every setting, every command with its example, the real test command."""

from __future__ import annotations

import re
from pathlib import Path

from bot.settings import env_variables, required_variables
from commands import load_all

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def settings_rows() -> dict[str, str]:
    rows = re.findall(r"^\| `([A-Z_]+)` \| ([^|]+) \|", README, flags=re.MULTILINE)
    return {name: needed.strip() for name, needed in rows}


def test_every_setting_is_in_the_settings_table_and_nothing_else() -> None:
    assert set(settings_rows()) == env_variables()


def test_required_settings_are_marked_yes() -> None:
    rows = settings_rows()
    assert {name for name, needed in rows.items() if needed == "yes"} == required_variables()


def test_every_command_is_listed_with_its_example() -> None:
    for cmd in load_all().all():
        assert f"/mailcow {cmd.example}".replace("|", "\\|") in README, cmd.name


def test_ci_runs_the_readme_test_command() -> None:
    block = re.search(r"## Tests\n\n```sh\n(.*?)```", README, flags=re.DOTALL)
    assert block is not None
    test_command = block.group(1).strip().splitlines()[-1]
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines
