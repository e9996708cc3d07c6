"""Fetch genome files named by URL into a cache: verified, resumable, skipped when already there.

Supported: http(s) and ftp (``urllib``), ``file://`` URLs and plain paths. An interrupted download leaves
``<name>.part`` and ``<name>.part.json`` (the source's size and ETag/Last-Modified); the next call continues
it only when the source is unchanged (HTTP ``Range`` with ``If-Range``; anything else restarts the file).
A download larger than ``max_bytes`` (default 64 GiB, environment ``FLORABERT_MAX_DOWNLOAD_GB``) is refused,
and one that ends shorter than the server announced is discarded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from florabert.errors import FloraBertError, InputError

_CHUNK = 1 << 20


def max_download_bytes() -> int:
    return int(float(os.environ.get("FLORABERT_MAX_DOWNLOAD_GB", "64")) * (1 << 30))


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


def _copy_from(src, dst: Path, offset: int, total: int | None, progress: Callable | None, limit: int,
               location: str) -> None:
    if total is not None and total > limit:
        raise FloraBertError(f"{location}: {total / 2**30:.1f} GiB is more than the download limit "
                             f"({limit / 2**30:.1f} GiB; set FLORABERT_MAX_DOWNLOAD_GB to raise it)")
    with open(dst, "ab" if offset else "wb") as out:
        done = offset
        for block in iter(lambda: src.read(_CHUNK), b""):
            out.write(block)
            done += len(block)
            if done > limit:
                out.close()
                dst.unlink(missing_ok=True)
                raise FloraBertError(f"{location}: larger than the download limit ({limit / 2**30:.1f} GiB; set "
                                     "FLORABERT_MAX_DOWNLOAD_GB to raise it)")
            if progress:
                progress(done, total)
    if total is not None and done != total:
        dst.unlink(missing_ok=True)
        raise FloraBertError(f"{location}: the download ended after {done:,} of {total:,} bytes; run again")


def _resume_offset(part: Path, source: dict, *, verified: bool) -> int:
    """Bytes of ``part`` that may be kept: all of them when it was downloaded from the same, unchanged source
    (recorded in ``<part>.json``) or when the whole file is checked against a sha256 at the end
    (``verified``); else none (the stale part is removed)."""
    meta = part.with_name(part.name + ".json")
    try:
        validators = [v for k, v in source.items() if k != "size"]
        same = part.exists() and (verified or (json.loads(meta.read_text()) == source and any(validators)))
    except (OSError, ValueError):
        same = False
    if not same:
        part.unlink(missing_ok=True)
    meta.write_text(json.dumps(source))
    return part.stat().st_size if same else 0


def _source_record(url: str) -> dict:
    """What identifies the current version of a remote file (HEAD: ETag, Last-Modified, size); {} when the
    server does not say (then a partial download is only resumed when a sha256 checks the result)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=60) as head:
            return {"etag": head.headers.get("ETag"), "last_modified": head.headers.get("Last-Modified"),
                    "size": head.headers.get("Content-Length")}
    except (urllib.error.URLError, OSError, ValueError):
        return {}


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
    limit = max_download_bytes()
    try:
        if parsed.scheme == "file":
            src_path = Path(urllib.request.url2pathname(parsed.path))
            if not src_path.exists():
                raise InputError(src_path, "file not found (from a file:// URL)")
            st = src_path.stat()
            total = st.st_size
            offset = _resume_offset(part, {"size": total, "mtime_ns": st.st_mtime_ns}, verified=bool(sha256))
            offset = offset if offset <= total else 0
            with open(src_path, "rb") as src:
                src.seek(offset)
                _copy_from(src, part, offset, total, progress, limit, location)
        else:
            source = _source_record(str(location))
            offset = _resume_offset(part, source, verified=bool(sha256))
            request = urllib.request.Request(str(location))
            if offset:
                request.add_header("Range", f"bytes={offset}-")
                if source.get("etag") or source.get("last_modified"):
                    request.add_header("If-Range", source.get("etag") or source["last_modified"])
            with urllib.request.urlopen(request, timeout=60) as resp:
                status = getattr(resp, "status", 200)
                if offset and status != 206:
                    offset = 0  # the server ignored Range, or the file changed: start over
                length = resp.headers.get("Content-Length")
                total = int(length) + offset if length else None
                _copy_from(resp, part, offset, total, progress, limit, location)
    except (urllib.error.URLError, OSError) as exc:
        if isinstance(exc, InputError):
            raise
        raise FloraBertError(f"{location}: download failed ({exc}); run again to resume") from None
    part.replace(target)
    part.with_name(part.name + ".json").unlink(missing_ok=True)
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
