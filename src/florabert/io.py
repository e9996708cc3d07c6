"""File helpers shared by every stage: transparent (b)gzip reading and atomic writes."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from florabert.errors import InputError

_GZIP_MAGIC = b"\x1f\x8b"


def is_gzip(path: str | Path) -> bool:
    """True when the file starts with the gzip magic bytes (plain gzip and bgzip alike)."""
    with open(path, "rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


def is_bgzf(path: str | Path) -> bool:
    """True for a bgzip (BGZF) file: gzip whose first member carries the ``BC`` extra field (htslib needs
    it for random access; plain gzip it cannot seek in)."""
    with open(path, "rb") as fh:
        head = fh.read(18)
    return len(head) == 18 and head[:2] == _GZIP_MAGIC and bool(head[3] & 4) and head[12:14] == b"BC"


try:  # ISA-L's inflate reads the same (b)gzip files about 2x faster than zlib
    from isal import igzip as _gzip
except ImportError:  # pragma: no cover - isal is a dependency, but stay usable without it
    _gzip = gzip

BLOCK = 1 << 22  # bytes per read when scanning whole files


def open_binary(path: str | Path) -> IO[bytes]:
    """Open a plain, gzip or bgzip file for binary reading (bgzip is multi-member gzip).

    Raises InputError when the file is missing or unreadable.
    """
    path = Path(path)
    try:
        if is_gzip(path):
            return _gzip.open(path, "rb")  # decompresses all members of a bgzip file
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, expected a file") from None
    except PermissionError:
        raise InputError(path, "permission denied") from None


def iter_lines(fh: IO[bytes]) -> Iterator[bytes]:
    """Lines of a binary stream without their line end (LF or CRLF), read in large blocks.

    Much faster than iterating a GzipFile line by line; the last line need not end in a newline.
    """
    rest = b""
    while block := fh.read(BLOCK):
        lines = (rest + block).split(b"\n")
        rest = lines.pop()
        for line in lines:
            yield line[:-1] if line[-1:] == b"\r" else line
    if rest:
        yield rest[:-1] if rest[-1:] == b"\r" else rest


@contextlib.contextmanager
def reading_errors(path: str | Path, line_of: Callable[[], int] | None = None) -> Iterator[None]:
    """Turn decompression/IO failures while reading ``path`` into one-line InputErrors.

    ``line_of`` returns the current 1-based line number (for the message), if known.
    """
    try:
        yield
    except (gzip.BadGzipFile, _gzip.BadGzipFile, EOFError, OSError, UnicodeDecodeError) as exc:
        line = line_of() if line_of else None
        if isinstance(exc, EOFError):
            msg = "truncated compressed file (ended before the end-of-stream marker)"
        elif isinstance(exc, UnicodeDecodeError):
            msg = "not a text file (could not decode as UTF-8)"
        else:
            msg = f"unreadable: {exc.strerror or exc}" if isinstance(exc, OSError) else str(exc)
            if isinstance(exc, gzip.BadGzipFile) or "gzip" in str(exc).lower() or "zlib" in str(exc).lower():
                msg = f"corrupt gzip data ({exc})"
        raise InputError(path, msg, line=line) from None


def table_rows(path: str | Path, delimiter: str = "\t") -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of a delimited text table (plain, gzip or bgzip; CRLF accepted). A line the csv
    module cannot split, undecodable bytes or corrupt compressed data: InputError naming the file and line."""
    import csv

    lineno = 0
    with open_text(path) as fh, reading_errors(path, lambda: lineno + 1):
        reader = csv.reader(fh, delimiter=delimiter)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise InputError(path, f"not a well-formed table ({exc})", line=reader.line_num) from None
            lineno = reader.line_num
            yield lineno, row


def open_text(path: str | Path) -> IO[str]:
    """Open a plain/gzip/bgzip file as UTF-8 text with universal newlines (CRLF is accepted)."""
    return io.TextIOWrapper(open_binary(path), encoding="utf-8", newline=None)


def read_yaml(path: str | Path, *, node: bool = False):
    """A YAML file's document (and, with ``node``, its composed node tree, whose marks give line numbers);
    InputError naming the file and line for a missing, unreadable or invalid file."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"unreadable ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        doc = yaml.safe_load(text)
        tree = yaml.compose(text) if node else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(path, f"not valid YAML ({getattr(exc, 'problem', None) or exc})",
                         line=mark.line + 1 if mark else None) from None
    return (doc, tree) if node else doc


def parquet_schema(path: str | Path, *, needs: tuple[str, ...] = ()):
    """The schema of Parquet file ``path`` (read from its footer: cheap), checked to hold the columns
    ``needs``; InputError for a missing, truncated or non-Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found" if not path.exists() else "is not a file")
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(path, f"not a readable Parquet file ({' '.join(str(exc).split())[:160]})") from None
    missing = [c for c in needs if c not in schema.names]
    if missing:
        raise InputError(path, f"no {', '.join(map(repr, missing))} column (columns: "
                         f"{', '.join(schema.names[:8])})")
    return schema


def read_parquet(path: str | Path, *, columns: list[str] | None = None, needs: tuple[str, ...] = ()):
    """A Parquet file as a pyarrow Table; InputError (naming the file) when it cannot be read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet_schema(path, needs=needs)
    try:
        return pq.read_table(path, columns=columns)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(path, f"unreadable Parquet data ({' '.join(str(exc).split())[:160]})") from None


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    Nothing is left behind on failure, and an existing ``path`` is untouched until the new one is complete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; outputs get the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
