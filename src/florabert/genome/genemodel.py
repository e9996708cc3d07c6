"""Gene-model features: what the annotation says about a gene, as numbers (the wide path's third group).

Computed by :func:`florabert.genome.read_annotation` (``gene_model=True``) for the gene's chosen transcript:
with ``--feature mRNA``/``transcript`` the one the windows come from, else the gene's canonical or longest
mRNA (the same rule). Columns of the promoter table (all integers, bases unless said otherwise):

======================== ==============================================================================
``gm_isoforms``          transcripts annotated for the gene (mRNAs when it has any)
``gm_exons``             exons of the transcript (its CDS pieces when it lists no exons; 1 without either)
``gm_mrna_length``       exonic bases of the transcript (the spliced mRNA)
``gm_cds_length``        coding bases (0 for a transcript without CDS)
``gm_utr5_length``       exonic bases 5' of the CDS (0 without CDS)
``gm_utr3_length``       exonic bases 3' of the CDS (0 without CDS)
``gm_intron_length``     intronic bases in all (UTR introns included)
``gm_intron_longest``    the longest intron (0 without introns)
``gm_intron_first``      the first intron from the TSS, on the gene's strand (0 without introns)
``gm_gene_span``         the gene's genomic span
``gm_upstream_gap``      bases between the gene's 5' end and the nearest other gene 5' of it (any biotype,
                         either strand; 0 when they overlap; :data:`NO_NEIGHBOUR` when none)
``gm_downstream_gap``    the same at the gene's 3' end
``gm_upstream_opposite`` 1 when that 5' neighbour is on the other strand (divergent, head to head: a
                         shared bidirectional promoter region), else 0 (tandem or none)
``gm_downstream_opposite`` 1 when the 3' neighbour is on the other strand (convergent, tail to tail)
======================== ==============================================================================

UTR lengths follow the exons, so a 5' UTR split by an intron counts its exonic bases only. The model reads
the lengths as ln(1 + x) (:func:`model_inputs`), standardized on the training genes like the rest of the
wide path.
"""

from __future__ import annotations

import bisect
import itertools

import numpy as np

GENE_MODEL_COLUMNS = ("gm_isoforms", "gm_exons", "gm_mrna_length", "gm_cds_length", "gm_utr5_length",
                      "gm_utr3_length", "gm_intron_length", "gm_intron_longest", "gm_intron_first",
                      "gm_gene_span", "gm_upstream_gap", "gm_downstream_gap", "gm_upstream_opposite",
                      "gm_downstream_opposite")
BINARY = ("gm_upstream_opposite", "gm_downstream_opposite")
NO_NEIGHBOUR = 100_000  # gap recorded when no other gene lies beyond the gene's end on its chromosome


def merge(pieces) -> list[tuple[int, int]]:
    """Sorted [start, end) pieces with overlapping or touching ones joined."""
    out: list[list[int]] = []
    for s, e in sorted(pieces):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def transcript_structure(strand: str, exons, cds, span: tuple[int, int]) -> list[int]:
    """[exons, mRNA, CDS, 5' UTR, 3' UTR, intron total, longest, first] of one transcript: ``exons`` and
    ``cds`` are [start, end) pieces (+ strand, 0-based); ``span``: the transcript's [start, end), used as its
    one exon when it lists neither exons nor CDS."""
    cds = merge(cds)
    exons = merge(exons) or cds or [span]
    lengths = [e - s for s, e in exons]
    introns = [b[0] - a[1] for a, b in itertools.pairwise(exons)]
    if strand == "-":
        introns = introns[::-1]
    utr5 = utr3 = 0
    if cds:
        lo, hi = cds[0][0], cds[-1][1]
        before = sum(max(0, min(e, lo) - s) for s, e in exons)  # exonic bases left of the CDS
        after = sum(max(0, e - max(s, hi)) for s, e in exons)
        utr5, utr3 = (before, after) if strand == "+" else (after, before)
    return [len(exons), sum(lengths), sum(e - s for s, e in cds), utr5, utr3, sum(introns),
            max(introns, default=0), introns[0] if introns else 0]


class Neighbours:
    """Every gene of one chromosome (start, end, strand), to find each gene's nearest neighbours."""

    def __init__(self, genes: list[tuple[int, int, str]]):
        by_start = sorted(genes)
        self.starts = [g[0] for g in by_start]
        self.left_end, self.left_strand = [], []  # running max of ends over genes sorted by start
        best = (-1, ".")
        for _s, e, strand in by_start:
            best = max(best, (e, strand))
            self.left_end.append(best[0])
            self.left_strand.append(best[1])
        by_end = sorted(genes, key=lambda g: g[1])
        self.ends = [g[1] for g in by_end]
        self.right_start, self.right_strand = [0] * len(by_end), ["."] * len(by_end)
        best = (float("inf"), ".")
        for i in range(len(by_end) - 1, -1, -1):  # running min of starts over genes sorted by end, from the right
            s, _e, strand = by_end[i]
            best = min(best, (s, strand))
            self.right_start[i], self.right_strand[i] = best

    def left(self, start: int) -> tuple[int, str] | None:
        """(gap, strand) of the nearest gene starting left of ``start`` (its end nearest, 0 when overlapping)."""
        i = bisect.bisect_left(self.starts, start) - 1
        return None if i < 0 else (max(0, start - self.left_end[i]), self.left_strand[i])

    def right(self, end: int) -> tuple[int, str] | None:
        """(gap, strand) of the nearest gene ending right of ``end``."""
        i = bisect.bisect_right(self.ends, end)
        return None if i >= len(self.ends) else (max(0, int(self.right_start[i]) - end), self.right_strand[i])

    def features(self, start: int, end: int, strand: str) -> list[int]:
        """[upstream gap, downstream gap, upstream opposite, downstream opposite] of a gene."""
        left, right = self.left(start), self.right(end)
        up, down = (left, right) if strand == "+" else (right, left)
        return [up[0] if up else NO_NEIGHBOUR, down[0] if down else NO_NEIGHBOUR,
                int(bool(up) and up[1] in "+-" and up[1] != strand),
                int(bool(down) and down[1] in "+-" and down[1] != strand)]


def model_inputs(table_columns: dict[str, list], names=GENE_MODEL_COLUMNS) -> np.ndarray:
    """(genes, len(names)) float32 for the model: ln(1 + x) of the lengths and counts, binary ones as they are.
    Raises ValueError naming the column for a negative, missing or non-numeric value."""
    out = np.zeros((len(next(iter(table_columns.values()), [])), len(names)), dtype=np.float64)
    for j, name in enumerate(names):
        try:
            col = np.asarray(table_columns[name], dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"column {name!r}: not a number in every row") from None
        bad = ~np.isfinite(col) | (col < 0)
        if bad.any():
            raise ValueError(f"column {name!r}: row {int(np.flatnonzero(bad)[0]) + 1} has "
                             f"{table_columns[name][int(np.flatnonzero(bad)[0])]!r} (a count or length >= 0)")
        out[:, j] = col if name in BINARY else np.log1p(col)
    return out.astype(np.float32)


__all__ = ["BINARY", "GENE_MODEL_COLUMNS", "NO_NEIGHBOUR", "Neighbours", "merge", "model_inputs",
           "transcript_structure"]
