"""How a command prints: a summary as text (default), as one JSON document on stdout (`--json`,
for scripts), or not at all (`--quiet`: errors only); progress bars on standard error, only when
it is a terminal and the command is not quiet (with `--json` too: stdout stays the document's)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from payrecon.domain.errors import PayreconError
from payrecon.services.operations.progress import watched_by

Quiet = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print nothing but errors.", show_default=False)
]
AsJson = Annotated[
    bool,
    typer.Option(
        "--json", help="Print the summary as one JSON document on stdout.", show_default=False
    ),
]

err = Console(stderr=True)
out = Console()

# Exit codes, the same for every command (documented in `payrecon --help`).
EXIT_DONE, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


class Output:
    """What one command prints, as its `--quiet` and `--json` ask."""

    def __init__(self, *, quiet: bool = False, as_json: bool = False) -> None:
        self.quiet = quiet
        self.as_json = as_json

    @property
    def text(self) -> bool:
        """Whether human-readable lines are wanted on stdout."""
        return not (self.quiet or self.as_json)

    def line(self, message: str) -> None:
        if self.text:
            out.print(message, highlight=False, soft_wrap=True)

    def document(self, value: Any) -> None:
        """The one JSON document of `--json` (decimals and dates as strings)."""
        if self.as_json:
            sys.stdout.write(json.dumps(value, default=str) + "\n")

    def problem(self, message: str) -> None:
        """An error or a refusal, always shown (on stderr)."""
        # Escaped: a message quotes file contents, which must not be read as console markup.
        err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)

    def fail(self, exc: PayreconError, code: int = EXIT_REFUSED) -> typer.Exit:
        self.problem(exc.message)
        return typer.Exit(code)

    @contextmanager
    def progress(self) -> Iterator[None]:
        """Bars for what the services report while the block runs, when anyone can see them."""
        if self.quiet or not err.is_terminal:
            yield
            return
        columns = (
            SpinnerColumn(),
            TextColumn("{task.description:<36}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=err, transient=False) as bars:
            tasks: dict[str, TaskID] = {}

            def show(stage: str, done: int, total: int | None) -> None:
                if stage not in tasks:
                    tasks[stage] = bars.add_task(stage, total=total)
                bars.update(tasks[stage], completed=done, total=total)

            with watched_by(show):
                yield
            for task in bars.tasks:  # a stage whose total was unknown is complete now
                if task.total is None:
                    bars.update(task.id, total=task.completed)


def fail_usage(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_USAGE)
