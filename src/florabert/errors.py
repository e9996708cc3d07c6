"""Errors that reach the user as one line (the CLI prints them without a traceback)."""

from __future__ import annotations

from pathlib import Path


class FloraBertError(Exception):
    """Base class: a problem the user can fix (bad input, missing file, bad option)."""


class InputError(FloraBertError):
    """Bad input data, located by file and (where there is one) 1-based line number."""

    def __init__(self, path: str | Path, message: str, *, line: int | None = None, column: str | None = None):
        self.path = str(path)
        self.line = line
        self.column = column
        where = self.path
        if line is not None:
            where += f":{line}"
        if column is not None:
            where += f" (column {column!r})"
        super().__init__(f"{where}: {message}")
