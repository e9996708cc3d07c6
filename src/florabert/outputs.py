"""The ``--out`` rule, one for every command: nothing florabert did not write is ever lost.

- A directory output is built in a hidden staging folder beside ``--out`` and moved into place only when
  complete, with a marker file (``.florabert.json``) naming the command that wrote it.
- ``--out`` that does not exist, is empty, or holds an earlier output of the same command: replaced
  atomically (the old one is removed only once the new one is in place).
- ``--out`` holding anything else (files florabert did not write, another command's output): refused with
  one line. ``--force`` writes into it instead, replacing only same-named files and deleting nothing.
- ``--out`` that is (or contains) the working directory, or a symbolic link, is never renamed: files are
  written into it as with ``--force``.
- A file output (``promoters``, ``predict``) replaces an existing file only when it is a florabert output
  (Parquet with florabert metadata, a TSV with a ``gene_id`` column, a promoter FASTA) or with
  ``--force``; a directory in its place is always refused.
- Training runs (``pretrain``, ``finetune``) train in ``.NAME.partial`` beside ``--out``: a crashed or
  killed run leaves it for ``--resume``; a run without ``--resume`` starts that folder afresh. A complete
  earlier model at ``--out`` (hours of work) is never replaced unless ``--force`` is given.
- One writer per ``--out``: a command takes ``.NAME.lock`` beside ``--out`` (its pid, host and start time)
  for as long as it runs; a second command for the same ``--out`` stops with one line. A lock whose process
  is gone (killed) is stale: the next command takes it over and removes the staging folders the dead one
  left behind.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from florabert.errors import FloraBertError

MARKER = ".florabert.json"


class OutputError(FloraBertError):
    """An ``--out`` that cannot be written without losing something."""


def marker(path: str | Path) -> dict:
    """The marker of a florabert output directory ({} when there is none or it is unreadable)."""
    try:
        doc = json.loads((Path(path) / MARKER).read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def write_marker(directory: Path, command: str, **extra) -> None:
    from florabert import __version__

    (directory / MARKER).write_text(json.dumps({"command": command, "florabert": __version__, **extra}) + "\n")


_HELD: dict[Path, Path] = {}  # --out -> its lock file, held by this process


def lock_path(out: str | Path) -> Path:
    out = Path(out)
    return out.parent / f".{out.name}.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def hold_lock(out: str | Path, command: str) -> None:
    """Take ``out``'s lock for the rest of this process (released at exit, or by :func:`release_lock`). Another
    live florabert process holding it: OutputError. A stale lock (its process is gone, on this host) is taken
    over, and the staging folders its process left beside ``out`` are removed."""
    out = Path(out).absolute()
    if out in _HELD:
        return
    lock = lock_path(out)
    lock.parent.mkdir(parents=True, exist_ok=True)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "command": command, "started": time.time()}
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                owner = json.loads(lock.read_text())
            except (OSError, ValueError):
                owner = {}
            pid = owner.get("pid")
            stale = owner.get("host") == me["host"] and isinstance(pid, int) and not _alive(pid)  # killed
            if not owner:
                try:
                    age = time.time() - lock.stat().st_mtime
                except FileNotFoundError:  # released meanwhile
                    continue
                if age < 10:  # being written right now
                    time.sleep(0.2)
                    continue
                stale = True  # empty for 10 s: its process died between creating and writing it
            if stale:
                lock.unlink(missing_ok=True)
                _remove_stale_staging(out)
                continue
            when = time.strftime("%H:%M:%S", time.localtime(owner.get("started", 0)))
            who = (f"`florabert {owner.get('command', '?')}`, pid {owner.get('pid', '?')} on "
                   f"{owner.get('host', '?')}")
            raise OutputError(f"{out}: another florabert run is writing it ({who}, since {when}); wait for it, "
                              f"or remove {lock} if that run is gone") from None
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(me) + "\n")
        _HELD[out] = lock
        return
    raise OutputError(f"{lock}: could not take the lock of {out}")


def release_lock(out: str | Path) -> None:
    lock = _HELD.pop(Path(out).absolute(), None)
    if lock is not None:
        lock.unlink(missing_ok=True)


@atexit.register
def release_all_locks() -> None:
    """Release every lock this process holds (at exit, and after each CLI command)."""
    for out in list(_HELD):
        release_lock(out)


def _remove_stale_staging(out: Path) -> None:
    """Staging a killed run left behind: folders ``.NAME.<random>.partial`` / ``.NAME.<random>.old`` and a file
    output's half-written ``.NAME.<random>.tmp``; a training run's ``.NAME.partial`` stays, for ``--resume``."""
    for p in out.parent.glob(f".{out.name}.*"):
        if p.is_dir() and p.name != f".{out.name}.partial" and p.name.endswith((".partial", ".old")):
            shutil.rmtree(p, ignore_errors=True)
        elif p.is_file() and p.name.endswith(".tmp"):
            p.unlink(missing_ok=True)


def _holds_cwd(path: Path) -> bool:
    try:
        cwd = Path.cwd().resolve()
    except OSError:
        return False
    resolved = path.resolve()
    return resolved == cwd or resolved in cwd.parents or resolved == Path.home().resolve()


def _visible(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if p.name != MARKER)


def claim_dir(out: str | Path, command: str, *, force: bool = False, lock: bool = True) -> str:
    """Check that ``command`` may write directory ``out`` and take its lock (``lock``; the other ranks of a
    distributed run write into the folder rank 0 holds); returns the mode: ``"replace"`` (build beside, then
    swap in) or ``"merge"`` (write files into it, deleting nothing). Raises OutputError otherwise."""
    out = Path(out)
    if lock:
        hold_lock(out, command)
    if out.is_symlink():
        if not out.is_dir():
            raise OutputError(f"{out}: is a link to something that is not a directory")
        return "merge" if force or not _visible(out) or marker(out).get("command") == command else _refuse(
            out, command)
    if not out.exists():
        return "replace"
    if not out.is_dir():
        raise OutputError(f"{out}: exists and is a file, not a directory; choose another --out")
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(f"{out}: directory is not writable")
    owner = marker(out).get("command")
    if owner == command or not _visible(out):
        return "merge" if _holds_cwd(out) else "replace"
    if force:
        return "merge"
    return _refuse(out, command, owner)


def _refuse(out: Path, command: str, owner: str | None = None) -> str:
    visible = _visible(out)
    what = (f"holds the output of `florabert {owner}`" if owner
            else f"holds files florabert did not write ({', '.join(visible[:3])}"
                 f"{', ...' if len(visible) > 3 else ''})")
    raise OutputError(f"{out}: {what}; choose another --out, or add --force to write `florabert {command}`'s "
                      "files into it (nothing else there is deleted)")


@contextlib.contextmanager
def output_dir(out: str | Path, command: str, *, force: bool = False, keep: tuple[str, ...] = ()
               ) -> Iterator[Path]:
    """Claim ``out`` for ``command`` (see :func:`claim_dir`) and yield a staging directory to write into. When
    the block succeeds the staging directory becomes ``out`` (or, in merge mode, its files move into
    ``out``); when it fails nothing reaches ``out``. ``keep``: entries of an earlier output of the same
    command carried over into the new one when the new one lacks them (e.g. a download cache)."""
    out = Path(out)
    mode = claim_dir(out, command, force=force)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        yield staging
        write_marker(staging, command)
        if mode == "replace" and out.exists():
            for name in keep:
                if (out / name).exists() and not (staging / name).exists():  # linked: the old output stays whole
                    _link_copy(out / name, staging / name)
        move_into_place(staging, out, mode)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        release_lock(out)


def _link_copy(src: Path, dst: Path) -> None:
    """``src`` copied to ``dst`` as hard links where the file system allows (no bytes copied)."""
    def link(a, b):
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    if src.is_dir():
        shutil.copytree(src, dst, copy_function=link)
    else:
        link(src, dst)


def merge_into(src: Path, dst: Path) -> None:
    """Move every file under ``src`` to the same place under ``dst``, replacing same-named files only."""
    dst.mkdir(parents=True, exist_ok=True)
    for item in sorted(src.rglob("*")):
        target = dst / item.relative_to(src)
        if item.is_dir():
            if target.exists() and not target.is_dir():
                raise OutputError(f"{target}: is a file where florabert writes a directory; nothing moved there")
            target.mkdir(exist_ok=True)
        elif target.is_dir() and not target.is_symlink():
            raise OutputError(f"{target}: is a directory where florabert writes a file; not replaced")
        else:
            os.replace(item, target)


_FASTA_HEADER = re.compile(r">\S+ \S+:-?\d+-\d+\([+-]\) species=")


def is_florabert_file(path: str | Path) -> bool:
    """True for files florabert writes: Parquet with florabert metadata, a TSV with a ``gene_id`` column
    (promoter tables, predictions), a promoter FASTA (``>ID chrom:start-end(strand) species=``)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    if not head:
        return True  # an empty file holds nothing to lose
    if head[:4] == b"PAR1":
        try:
            import pyarrow.parquet as pq

            meta = pq.read_schema(path).metadata or {}
        except Exception:
            return False
        return any(k.startswith(b"florabert") for k in meta)
    first = head.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r")
    return "gene_id" in first.split("\t") or bool(_FASTA_HEADER.match(first))


def claim_file(out: str | Path, *, force: bool = False) -> Path:
    """Check that a file output may be (re)written at ``out``; raises OutputError otherwise."""
    out = Path(out)
    hold_lock(out, "write")
    if out.is_dir():
        raise OutputError(f"{out}: is a directory; --out takes a file name here")
    if out.exists() and not force and not is_florabert_file(out):
        raise OutputError(f"{out}: exists and was not written by florabert; choose another --out, or add --force "
                          "to replace it")
    if not os.access(out.parent if out.parent.exists() else Path.cwd(), os.W_OK):
        raise OutputError(f"{out.parent}: directory is not writable")
    return out


def run_dir(out: str | Path, command: str, *, resume: bool = False, force: bool = False) -> tuple[Path, str]:
    """Where a training run writes while it runs, and how it ends (see :func:`finish_run`).

    Returns ``(work, mode)``: ``work`` is ``.NAME.partial`` beside ``out`` (kept after a crash or kill, for
    ``--resume``; emptied when a run starts without it). Raises OutputError for an ``out`` this command may
    not write, and :class:`RunComplete` when ``resume`` is asked of a finished run."""
    out = Path(out)
    work = out.parent / f".{out.name}.partial"
    if resume and not work.exists():
        done = marker(out)
        if done.get("command") == command and done.get("complete"):
            raise RunComplete(f"{out}: this run is complete ({done.get('steps', '?')} steps); nothing to "
                              "resume, nothing changed")
        raise OutputError(f"{out}: --resume given but there is no unfinished run to resume ({work} does not "
                          "exist)")
    mode = claim_dir(out, command, force=force)
    done = marker(out)
    if not resume and not force and done.get("command") == command and done.get("complete"):
        raise OutputError(f"{out}: holds a complete model from an earlier `florabert {command}` "
                          f"({done.get('steps', '?')} steps); add --force to replace it (the old one is removed "
                          "only once the new one is in place), or choose another --out")
    if not resume and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    owner = marker(work).get("command")
    if owner is None:
        write_marker(work, command, complete=False)
    elif owner != command:
        raise OutputError(f"{work}: an unfinished run of `florabert {owner}`, not of `florabert {command}`")
    return work, mode


class RunComplete(FloraBertError):
    """``--resume`` of a run that has already finished: nothing to do (exit code 0)."""


def finish_run(work: Path, out: str | Path, command: str, mode: str, *, steps: int | None = None,
               drop: tuple[str, ...] = ()) -> None:
    """Move a finished training run from ``work`` to ``out`` (replacing an earlier run of the same command
    atomically, or writing into ``out`` in merge mode); ``drop``: entries of ``work`` not kept."""
    out = Path(out)
    for name in drop:
        p = work / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    write_marker(work, command, complete=True, steps=steps)
    if mode == "replace":  # a staging name first: a kill after it leaves no complete run posing as resumable
        final = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
        os.replace(work, final / "run")
        work = final / "run"
    move_into_place(work, out, mode)
    shutil.rmtree(work.parent if mode == "replace" else work, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    import ctypes

    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    return fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def move_into_place(new: Path, out: Path, mode: str) -> None:
    """``new`` (a finished output folder) becomes ``out``: in ``replace`` mode by one atomic exchange where the
    OS has it (``new`` then holds the earlier ``out``, for the caller to remove), else by renames (an earlier
    ``out`` is removed only once ``new`` is in place); in ``merge`` mode file by file (:func:`merge_into`)."""
    if mode == "merge":
        merge_into(new, out)
    elif out.exists() and not out.is_symlink() and _exchange(new, out):
        return
    elif out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
        os.replace(out, old / "x")
        os.replace(new, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, out)


__all__ = ["MARKER", "OutputError", "RunComplete", "claim_dir", "claim_file", "finish_run", "is_florabert_file",
           "marker", "merge_into", "output_dir", "run_dir",
           "write_marker"]
