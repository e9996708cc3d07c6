"""What every explain command shares: reading promoters, TSS coordinates, progress bars, figures."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from florabert.errors import FloraBertError, InputError

BASES = "ACGT"


def read_sequences(path: str | Path, genes: list[str] | None = None, limit: int | None = None, layout=None
                   ) -> list[tuple[str, str]]:
    """(id, SEQUENCE) pairs from a promoter table (.parquet/.tsv with gene_id + sequence, as written by
    ``florabert promoters``) or a FASTA file; ``genes`` picks and orders records, ``limit`` keeps the
    first ones. ``layout``: the model's (multi-window inputs, :mod:`florabert.genome.records`)."""
    from florabert.genome.records import fasta_records, tsv_records

    path = Path(path)
    if not path.exists():
        raise InputError(path, "file not found")
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".parquet"):
        from florabert.genome.promoters import read_promoters

        table = read_promoters(path)
        if "sequence" not in table.column_names or "gene_id" not in table.column_names:
            raise InputError(path, "needs gene_id and sequence columns")
        records = zip(table.column("gene_id").to_pylist(),
                      (s.upper() for s in table.column("sequence").to_pylist()), strict=True)
    elif name.endswith((".tsv", ".csv", ".txt")):
        records = tsv_records(path, layout)
    else:
        records = fasta_records(path, layout)
    if genes:
        wanted = dict.fromkeys(genes)
        found = {gid: seq for gid, seq in records if gid in wanted}
        missing = [g for g in wanted if g not in found]
        if missing:
            raise InputError(path, f"gene(s) not found: {', '.join(missing[:5])}"
                             + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
        out = [(g, found[g]) for g in wanted]
    else:
        out = []
        for rec in records:
            if limit is not None and len(out) >= limit:
                break
            out.append(rec)
    if not out:
        raise InputError(path, "no promoters in the file")
    return out[:limit] if limit is not None else out


def parse_region(text: str | None) -> tuple[int, int] | None:
    """``"-500:0"`` -> (-500, 0): TSS-relative positions, start inclusive, end exclusive."""
    if not text:
        return None
    try:
        lo, hi = (int(x) for x in text.split(":"))
    except ValueError:
        raise FloraBertError(f"--region {text!r}: expected START:END, e.g. -500:0") from None
    if lo >= hi:
        raise FloraBertError(f"--region {text!r}: START must be below END")
    return lo, hi


def parse_lengths(text: str) -> list[int]:
    """``"1-6"`` or ``"1,3,6"`` -> sorted list of L-mer lengths."""
    out: set[int] = set()
    try:
        for part in text.split(","):
            if "-" in part:
                a, b = (int(x) for x in part.split("-"))
                out.update(range(a, b + 1))
            else:
                out.add(int(part))
    except ValueError:
        raise FloraBertError(f"--lengths {text!r}: expected e.g. 1-6 or 1,2,4") from None
    if not out or min(out) < 1:
        raise FloraBertError(f"--lengths {text!r}: lengths must be >= 1")
    return sorted(out)


def tss_offset(n: int, downstream: int) -> int:
    """Index of the TSS base (position 0) in a promoter of ``n`` bases cut with ``downstream`` bases."""
    return n - downstream


def model_downstream(config) -> int:
    return int((getattr(config, "promoter_window", None) or {}).get("downstream", 0))


def targets(config) -> list[str]:
    if config.problem_type == "single_label_classification":
        return [f"p_{k}" for k in range(config.num_labels)]
    return list(config.targets)


@contextlib.contextmanager
def progress(total: int, description: str, enabled: bool = True) -> Iterator:
    """A rich progress bar with ETA: ``with progress(n, "..") as advance: advance(k)``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  disable=not enabled, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda k=1: bar.advance(task, k)


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, out: Path, stem: str) -> list[Path]:
    """PNG (150 dpi) + SVG, then close the figure."""
    plt = pyplot()

    paths = [out / f"{stem}.png", out / f"{stem}.svg"]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths


def scores(predictor, sequences: list[str], config) -> np.ndarray:
    """Model outputs to explain: regression outputs as they are (log scale), class probabilities for
    classifiers."""
    values = predictor.predict(sequences)
    if config.problem_type == "single_label_classification":
        e = np.exp(values - values.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)
    return values
