"""What every explain command shares: reading promoters, TSS coordinates, progress bars, figures."""

from __future__ import annotations

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


def parse_region(text: str | None) -> tuple[str | None, int, int] | None:
    """``"-500:0"`` -> (None, -500, 0): positions relative to the TSS (the windows around it), start inclusive,
    end exclusive; ``"tts:-100:+100"`` -> ("tts", -100, 100): only the windows around that landmark;
    ``"cds:0:+300"``: the first 300 coding bases of a cds window."""
    if not text:
        return None
    parts = text.split(":")
    landmark = parts.pop(0).lower() if len(parts) == 3 else None
    try:
        lo, hi = (int(x) for x in parts)
    except ValueError:
        raise FloraBertError(f"--region {text!r}: expected START:END or LANDMARK:START:END, e.g. -500:0 or "
                             "tts:-100:+100") from None
    if landmark is not None and landmark not in ("tss", "tts", "cds"):
        raise FloraBertError(f"--region {text!r}: the landmark must be tss, tts or cds")
    if lo >= hi:
        raise FloraBertError(f"--region {text!r}: START must be below END")
    return landmark, lo, hi


def as_region(region) -> tuple[str | None, int, int] | None:
    """A region given as ``parse_region`` text, a (start, end) pair or a (landmark, start, end) triple."""
    if isinstance(region, str):
        return parse_region(region)
    if region is not None and len(region) == 2:
        return (None, *region)
    return region


class WindowMap:
    """Where the bases of one gene's sequence (its windows joined by ``|``) lie: window j and position
    relative to that window's landmark (-1 = the base just 5' of it). Positions are counted from each
    window's anchored end, so windows shortened by clipping or truncation line up with full ones."""

    def __init__(self, seq: str, layout):
        self.layout = layout
        self.parts = layout.split(seq)
        self.offsets = np.cumsum([0] + [len(p) + 1 for p in self.parts[:-1]]).tolist()

    def index(self, j: int, rel: int) -> int | None:
        """Index into the joined sequence of window j's base at ``rel`` (None when the window lacks it)."""
        w, n = self.layout.windows[j], len(self.parts[j])
        k = n - (w.end - rel) if w.anchor_right else rel - w.start
        return self.offsets[j] + k if 0 <= k < n else None

    def relative(self, j: int, k: int) -> int:
        """Landmark-relative position of base k (0-based within window j)."""
        w, n = self.layout.windows[j], len(self.parts[j])
        return w.end - (n - k) if w.anchor_right else w.start + k

    def positions(self, j: int) -> range:
        """The landmark-relative positions window j has in this sequence."""
        return range(self.relative(j, 0), self.relative(j, 0) + len(self.parts[j]))


def region_text(region) -> str:
    """A parsed region as the user writes it (``tss:-200:0``)."""
    landmark, lo, hi = region
    return f"{landmark or 'tss'}:{lo:+d}:{hi:+d}".replace(":+0", ":0")


def window_regions(layout, bases_read: list[int], region) -> list[tuple[int, int] | None]:
    """Per window, the positions to explain: by default every base the model reads (the ``bases_read[j]``
    nearest the window's anchor); ``region`` (:func:`parse_region`; without a landmark: the TSS) narrows them to
    the windows around its landmark; None = skip the window. A region no window of the layout can hold is an
    error."""
    out = []
    landmark = None
    if region is not None:
        landmark = region[0] or "tss"
        if landmark not in layout.landmarks:
            raise FloraBertError(f"--region {region_text(region)}: the model reads no {landmark} window (its "
                                 f"windows: {layout.spec})")
    for w, n in zip(layout.windows, bases_read, strict=True):
        lo, hi = (w.end - n, w.end) if w.anchor_right else (w.start, w.start + n)
        if region is not None:
            if w.landmark != landmark:
                out.append(None)
                continue
            lo, hi = max(lo, region[1]), min(hi, region[2])
        out.append((lo, hi) if lo < hi else None)
    if region is not None and all(r is None for r in out):
        windows = ", ".join(w.spec for w in layout.windows if w.landmark == landmark)
        raise FloraBertError(f"--region {region_text(region)} lies outside the bases the model reads of its "
                             f"{landmark} windows ({windows})")
    return out


def position_label(layout, j: int) -> str:
    w = layout.windows[j]
    return f"position relative to the {w.landmark.upper()} (bp; -1 = base just 5' of it)"


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


def targets(config) -> list[str]:
    if config.problem_type == "single_label_classification":
        from florabert.predict import class_names

        return [f"p_{name}" for name in class_names(config)]
    return list(config.targets)


def gene_inputs(predictor, path, ids: list[str], log=None) -> np.ndarray | None:
    """For a model whose wide path reads gene-model features, their model inputs for ``ids``: from the gm_*
    columns of the promoter table ``path``, else (a FASTA, or a table without them) the training average, said
    through ``log``. Explanations keep them fixed: a promoter edit does not change the gene model. None for a
    model without them."""
    if not predictor.gene_features:
        return None
    from florabert.predict import GeneLookup

    path = Path(path)
    if path.suffix.lower() in (".parquet", ".tsv"):
        from florabert.genome.promoters import read_promoters

        table = read_promoters(path)
        if all(c in table.column_names for c in predictor.gene_features):
            return GeneLookup.from_table(predictor, table, path, average_missing=True).rows(ids)
    if log:
        log(f"{path.name} has no gene-model columns: they are kept at the training average")
    return predictor.average_genes(len(ids))


def scores(predictor, sequences: list[str], config, genes: np.ndarray | None = None) -> np.ndarray:
    """Model outputs to explain: regression outputs as they are (log scale), class probabilities for
    classifiers. ``genes``: gene-model inputs per sequence (:func:`gene_inputs`) for a model that reads them."""
    values = predictor.predict(sequences, genes=genes)
    if config.problem_type == "single_label_classification":
        e = np.exp(values - values.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)
    return values
