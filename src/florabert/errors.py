"""Errors that reach the user as one line (the CLI prints them without a traceback)."""

from __future__ import annotations

from pathlib import Path


class FloraBertError(Exception):
    """Base class: a problem the user can fix (bad input, missing file, bad option)."""


class InputError(FloraBertError):
    """Bad input data, located by file and (where there is one) 1-based line number."""

    def __init__(self, path: str | Path, message: str, *, line: int | None = None, column: str | None = None):
        message = " ".join(str(message).split())  # one line, whatever a library's message held
        self.path = str(path)
        self.line = line
        self.column = column
        where = self.path
        if line is not None:
            where += f":{line}"
        if column is not None:
            where += f" (column {column!r})"
        super().__init__(f"{where}: {message}")
        self.message = message

    def __reduce__(self):  # rebuilt in a parent process (errors raised in worker processes)
        return _rebuild_input_error, (self.path, self.message, self.line, self.column)


def _rebuild_input_error(path, message, line, column):
    return InputError(path, message, line=line, column=column)


MAX_MESSAGE = 400  # characters of an error line; longer ones (a huge value echoed back) are cut


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` on one line, at most ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 25] + f" ... ({len(text):,} characters)"


def describe(exc: BaseException, out: str | None = None) -> str:
    """One line for any exception: florabert's own errors as they are; system errors with the file they are
    about (a full disk that the OS reports without a file name: the command's ``out``); anything else (a
    bug) with its type and a pointer to --debug."""
    import errno
    from concurrent.futures.process import BrokenProcessPool

    if isinstance(exc, FloraBertError):
        return one_line(str(exc))
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT) and not exc.filename and out:
        return one_line(f"{out}: no space left on device while writing it (what was there before is kept; "
                        "free some space and rerun)")
    if isinstance(exc, OSError) and not isinstance(exc, BrokenProcessPool):
        where = f"{exc.filename}: " if exc.filename else ""
        if exc.filename2:
            where = f"{exc.filename} -> {exc.filename2}: "
        return one_line(where + (exc.strerror or str(exc)))
    if isinstance(exc, EOFError):
        return "a file ended early (truncated or corrupt compressed input?); rerun with --debug to see which"
    if isinstance(exc, MemoryError):
        return "out of memory (try a smaller --batch-size or fewer sequences)"
    if isinstance(exc, BrokenProcessPool):
        return "a worker process died (out of memory, or killed); rerun with --workers 1 to see which input"
    return one_line(f"unexpected {type(exc).__name__}: {exc}", 300) + " (a bug: rerun with --debug and report it)"
