"""The `florabert` command line: each command parses options and calls one library function.

:mod:`florabert.cli.app` holds the typer app and the entry point; the commands are registered by importing
their modules, one group each (data, training, use, explain, tracks)."""

from florabert.cli import data, explain, tracks, training, use  # noqa: F401 - registers the commands
from florabert.cli.app import app, main, spread_multiple

__all__ = ["app", "main", "spread_multiple"]
