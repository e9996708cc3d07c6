"""Fetch genome files named by URL into a cache: verified, resumable, skipped when already there.

Supported: http(s) and ftp (``urllib``), ``file://`` URLs and plain paths. An interrupted download leaves
``<name>.part``; the next call continues it (HTTP ``Range``; a server that ignores it restarts the file).
"""

from __future__ import annotations

import hashlib
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from florabert.errors import FloraBertError, InputError

_CHUNK = 1 << 20


def is_url(location: str) -> bool:
    return urllib.parse.urlparse(str(location)).scheme in ("http", "https", "ftp", "file")


def sha256sum(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def cache_name(url: str) -> str:
    """A stable file name for a URL: a short hash (distinct URLs never collide) + the URL's base name."""
    base = Path(urllib.parse.urlparse(url).path).name or "download"
    return f"{hashlib.sha1(url.encode()).hexdigest()[:10]}-{base}"


def _copy_from(src, dst: Path, offset: int, total: int | None, progress: Callable | None) -> None:
    with open(dst, "ab" if offset else "wb") as out:
        done = offset
        for block in iter(lambda: src.read(_CHUNK), b""):
            out.write(block)
            done += len(block)
            if progress:
                progress(done, total)


def fetch(location: str, cache: str | Path, *, sha256: str | None = None,
          progress: Callable[[int, int | None], None] | None = None) -> Path:
    """Return a local path for ``location`` (a path or URL), downloading a URL into ``cache`` first.

    A cached file is reused (and re-verified when ``sha256`` is given); a ``.part`` file is resumed.
    Raises FloraBertError on a network failure or checksum mismatch (the bad file is set aside as
    ``.bad`` so the next run downloads again).
    """
    parsed = urllib.parse.urlparse(str(location))
    if parsed.scheme not in ("http", "https", "ftp", "file"):
        path = Path(location)
        if not path.exists():
            raise InputError(path, "file not found")
        _verify(path, sha256, location)
        return path
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / cache_name(str(location))
    if target.exists():
        _verify(target, sha256, location)
        return target
    part = target.with_name(target.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    try:
        if parsed.scheme == "file":
            src_path = Path(urllib.request.url2pathname(parsed.path))
            if not src_path.exists():
                raise InputError(src_path, "file not found (from a file:// URL)")
            total = src_path.stat().st_size
            offset = offset if offset <= total else 0
            with open(src_path, "rb") as src:
                src.seek(offset)
                _copy_from(src, part, offset, total, progress)
        else:
            request = urllib.request.Request(str(location))
            if offset:
                request.add_header("Range", f"bytes={offset}-")
            with urllib.request.urlopen(request, timeout=60) as resp:
                status = getattr(resp, "status", 200)
                if offset and status != 206:
                    offset = 0  # the server ignored Range: start over
                length = resp.headers.get("Content-Length")
                total = int(length) + offset if length else None
                _copy_from(resp, part, offset, total, progress)
    except (urllib.error.URLError, OSError) as exc:
        if isinstance(exc, InputError):
            raise
        raise FloraBertError(f"{location}: download failed ({exc}); run again to resume") from None
    part.replace(target)
    _verify(target, sha256, location)
    return target


def _verify(path: Path, sha256: str | None, location: str) -> None:
    if not sha256:
        return
    got = sha256sum(path)
    if got != sha256.lower():
        if is_url(location):  # a cached download is set aside; a user's own file is left where it is
            shutil.move(path, path.with_name(path.name + ".bad"))
        raise FloraBertError(f"{location}: sha256 mismatch (expected {sha256}, got {got})")
