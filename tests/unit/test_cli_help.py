"""The command line's help reads like its peers': no Python type names, examples on every
command, the exit codes and shell completion on the top page, and the CLI contract's commands
all there."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from payrecon.cli import app

runner = CliRunner()


def commands(group: typer.Typer, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [(*prefix, c.name or c.callback.__name__) for c in group.registered_commands]  # type: ignore[union-attr]
    for sub in group.registered_groups:
        assert sub.name is not None
        assert sub.typer_instance is not None
        found += commands(sub.typer_instance, (*prefix, sub.name))
    return found


ALL = commands(app)


def help_of(*words: str) -> str:
    result = runner.invoke(app, [*words, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    return result.output


def test_the_cli_contract_commands_are_all_there() -> None:
    names = {" ".join(c) for c in ALL}
    assert {
        "db upgrade", "import contract-owners", "import customers", "import invoices", "ingest",
        "parse", "export", "demo", "api", "worker", "beat", "sandbox", "schedules", "trigger",
        "token", "status",
    } <= names  # fmt: skip


@pytest.mark.parametrize("words", [(), ("db",), ("import",), *ALL], ids=" ".join)
def test_help_shows_no_python_type_names(words: tuple[str, ...]) -> None:
    text = help_of(*words)
    assert not re.search(r"<(bool|str|int|float|Path|list\[[^\]]*\])>", text), text
    assert not re.search(r"\{[a-z_]+\}", text), text  # Typer's {file} for a required argument


@pytest.mark.parametrize("words", ALL, ids=" ".join)
def test_every_command_has_examples(words: tuple[str, ...]) -> None:
    text = help_of(*words)
    assert "Examples" in text
    assert f"$ payrecon {' '.join(words)}" in text


def test_the_top_page_documents_exit_codes_and_completion() -> None:
    text = " ".join(help_of().split())
    assert "Exit codes: 0 done; 1 input refused" in text
    assert "2 usage" in text
    assert "--install-completion" in text


def test_import_says_it_loads_contract_owners_too() -> None:
    assert "contract owners" in help_of("import").lower()


@pytest.mark.parametrize("words", [("db", "upgrade"), ("import", "customers"), ("ingest",),
                                   ("demo",), ("status",), ("trigger",)], ids=" ".join)  # fmt: skip
def test_summary_commands_take_quiet_and_json(words: tuple[str, ...]) -> None:
    text = help_of(*words)
    assert "--quiet" in text
    assert "--json" in text


def test_a_usage_error_exits_2() -> None:
    assert runner.invoke(app, ["ingest"]).exit_code == 2
    assert runner.invoke(app, ["no-such-command"]).exit_code == 2
