"""Sequences to predict or explain: FASTA and TSV readers that know the model's layout.

A model that reads one window takes one sequence per gene. A model that reads several windows
(:mod:`florabert.layout`) takes, per gene, either one sequence with the windows joined by ``|`` in layout
order, or:

- FASTA: one record per window, named ``ID|WINDOW`` (e.g. ``AT1G01010|tss:-1000:+500``), as
  ``florabert promoters --out x.fa`` writes them;
- TSV/CSV: one column per window, named by the window (``tss:-1000:+500``), next to ``gene_id``.

Every reader yields ``(id, sequence)`` with the windows joined by ``|`` and upper-cased.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from florabert.errors import InputError
from florabert.io import table_rows
from florabert.layout import SEP, Layout


def _needs(layout: Layout) -> str:
    return (f"the model reads {len(layout)} windows ({layout.spec}): give per gene one sequence with the windows "
            f"joined by '{SEP}' in that order, FASTA records named ID{SEP}WINDOW, or TSV columns named by the "
            "windows")


def _fits(path, what: str, part: str, w, line: int | None) -> None:
    """The InputError of a window longer than the layout's window ``w`` (the model would read other bases)."""
    if len(part) > w.end - w.start:
        raise InputError(path, f"{what}: {len(part):,} bases for window {w.spec}, longer than its "
                         f"{w.end - w.start:,} bases; cut the windows as the model's layout says", line=line)


def _check(path, seq: str, what: str, line: int | None = None, layout: Layout | None = None) -> str:
    """``seq`` (windows joined by ``|``) when every window is a non-empty run of nucleotide codes no longer than
    the ``layout``'s window (shorter is allowed: a gene near a sequence end, a short coding sequence); else the
    InputError naming the file, line and record."""
    from florabert.genome.fasta import _IUPAC

    parts = seq.split(SEP)
    if layout is not None and len(parts) == len(layout):
        for w, part in zip(layout.windows, parts, strict=True):
            _fits(path, what, part, w, line)
    for part in parts:
        if not part:
            raise InputError(path, f"{what}: empty sequence", line=line)
        bad = part.encode("ascii", "replace").translate(None, _IUPAC)
        if bad:
            raise InputError(path, f"{what}: invalid character {chr(bad[0])!r} in the sequence (not a nucleotide "
                             "code)", line=line)
    return seq


def fasta_records(path: str | Path, layout: Layout | None = None) -> Iterator[tuple[str, str]]:
    """(record id, SEQUENCE) from a FASTA file; for a multi-window ``layout``, records ``ID|WINDOW`` are
    gathered per ID (each window exactly once, any order)."""
    from florabert.genome.fasta import iter_fasta_records

    multi = layout is not None and len(layout) > 1
    pending: dict[str, dict[str, str]] = {}
    for name, seq, line in iter_fasta_records(path, allow=SEP.encode()):
        s = _check(path, seq.decode("ascii").upper(), f"record {name!r}", line,
                   layout if layout is not None and len(layout) == 1 else None)
        if not multi:
            if SEP in s:
                raise InputError(path, f"record {name!r}: windows joined by {SEP!r}, but the model reads one "
                                 "window", line=line)
            yield name, s
            continue
        if s.count(SEP) == len(layout) - 1 and SEP not in name:
            yield name, _check(path, s, f"record {name!r}", line, layout)
            continue
        gid, _, window = name.rpartition(SEP)
        if not gid or window not in layout.names or SEP in s:
            raise InputError(path, f"record {name!r}: {_needs(layout)}", line=line)
        got = pending.setdefault(gid, {})
        if window in got:
            raise InputError(path, f"record {name!r}: window {window} given twice for {gid}", line=line)
        got[window] = s
        _fits(path, f"record {name!r}", s, layout.windows[layout.names.index(window)], line)
        if len(got) == len(layout):
            yield gid, SEP.join(got[w] for w in layout.names)
            del pending[gid]
    if pending:
        gid, got = next(iter(pending.items()))
        missing = [w for w in layout.names if w not in got]
        raise InputError(path, f"{gid} lacks window(s) {', '.join(missing)} ({len(pending)} incomplete genes)")


def tsv_records(path: str | Path, layout: Layout | None = None) -> Iterator[tuple[str, str]]:
    """(gene_id, SEQUENCE) from a TSV (CSV by extension) with ``gene_id`` (or ``id``) and ``sequence``, or,
    for a multi-window ``layout``, one column per window named by it."""
    path = Path(path)
    multi = layout is not None and len(layout) > 1
    rows = table_rows(path, "," if path.name.lower().endswith(".csv") else "\t")
    header = [h.strip() for h in next(rows, (1, []))[1]]
    if multi and all(w in header for w in layout.names):
        cols = [header.index(w) for w in layout.names]
    elif "sequence" in header:
        cols = [header.index("sequence")]
    else:
        need = _needs(layout) if multi else "needs a 'sequence' column (and 'gene_id' or 'id')"
        raise InputError(path, need, line=1)
    gi = header.index("gene_id") if "gene_id" in header else header.index("id") if "id" in header else None
    for lineno, row in rows:
        if not row:
            continue
        if len(row) != len(header):
            raise InputError(path, f"expected {len(header)} fields, found {len(row)}", line=lineno)
        seq = SEP.join(row[c].strip().upper() for c in cols)
        if multi and seq.count(SEP) != len(layout) - 1:
            raise InputError(path, _needs(layout), line=lineno)
        gid = row[gi].strip() if gi is not None else f"row{lineno - 1}"
        if not gid:
            raise InputError(path, "empty gene id", line=lineno)
        yield gid, _check(path, seq, gid, lineno, layout)


def cut_as_trained(genome, annotation, record: dict):
    """The windows of every gene of ``genome`` cut as a model's training promoters were (``record``: the
    model's ``promoter_window``); a :class:`~florabert.genome.promoters.PromoterSet`."""
    from florabert.genome.promoters import extract_promoters

    return extract_promoters(genome, annotation, layout=Layout.from_dict(record))
