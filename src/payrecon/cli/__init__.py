"""The `payrecon` command line (Typer, Rich): `commands` defines the commands; `output` prints
summaries (text, `--json`, `--quiet`) and progress bars; `readable` makes the help read well;
`status` renders `payrecon status`."""

from payrecon.cli.commands import app, main

__all__ = ["app", "main"]
