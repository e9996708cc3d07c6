"""Figures and progress shown to the user, shared by every stage: matplotlib without a display, PNG + SVG
files, file-name-safe stems, and progress bars that stay quiet when output is not a terminal."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path


def show_bars() -> bool:
    """Progress bars only where someone watches them: a terminal on stderr (logs and CI stay readable)."""
    return sys.stderr.isatty()


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "florabert"  # the same SVG ids every run: reruns give equal files
    import matplotlib.pyplot as plt

    return plt


def savefig(fig, path: str | Path, **kwargs) -> None:
    """``fig.savefig`` with reproducible files: an SVG carries no creation date (PNG never does)."""
    if str(path).endswith(".svg"):
        kwargs.setdefault("metadata", {"Date": None})
    fig.savefig(path, **kwargs)


def file_stem(gene_id: str) -> str:
    """A file-name-safe stem for a gene id, distinct for distinct ids: kept as is when it is safe, else the
    unsafe characters become ``_`` and a short hash of the id is appended (``a/b`` and ``a_b`` differ)."""
    import hashlib
    import re

    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", gene_id)[:100]
    if safe == gene_id and not safe.startswith("."):
        return safe
    return f"{safe.lstrip('.')}-{hashlib.blake2b(gene_id.encode(), digest_size=4).hexdigest()}"


def save_figure(fig, out: Path, stem: str, *, tight: bool = True) -> list[Path]:
    """PNG (150 dpi) + SVG, then close the figure. ``tight``: cropped to what is drawn (one more layout and draw
    per file); a figure laid out by hand or with constrained layout (done once here, for both files) does
    without."""
    plt = pyplot()

    paths = [out / f"{stem}.png", out / f"{stem}.svg"]
    if fig.get_layout_engine() is not None:
        fig.get_layout_engine().execute(fig)
        fig.set_layout_engine("none")
        tight = False
    crop = {"bbox_inches": "tight"} if tight else {}
    savefig(fig, paths[0], dpi=150, **crop)
    savefig(fig, paths[1], **crop)
    plt.close(fig)
    return paths


@contextlib.contextmanager
def progress(total: int, description: str, enabled: bool = True) -> Iterator:
    """A rich progress bar with ETA: ``with progress(n, "..") as advance: advance(k)``; shown only on a
    terminal (:func:`show_bars`)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  disable=not (enabled and show_bars()), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda k=1: bar.advance(task, k)


__all__ = ["file_stem", "progress", "pyplot", "save_figure", "show_bars"]
