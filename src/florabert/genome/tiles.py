"""Windows tiled over an assembly without annotation, for pre-training on more DNA (as GPN pre-trains).

Each tile is ``sum(window lengths of the layout)`` bases of the genome, read on the + strand and (with
``strands="both"``) on the - strand, reverse-complemented; the tile is split into the layout's windows in
order, so a tiled row has the shape of an annotated gene's row (``gene_id`` = ``chrom:start-end(strand)``,
``tss`` = the tile's first base on its strand). Tiles start every ``stride`` bases (default: the tile length,
no overlap); tiles with more than ``max_n`` of N (or other non-ACGT letters) are dropped (``too_many_n``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from florabert.errors import FloraBertError
from florabert.genome.annotation import Gene
from florabert.genome.fasta import iter_fasta, reverse_complement
from florabert.genome.promoters import PromoterSet, _table
from florabert.layout import Layout

STRANDS = ("both", "+")


def tile_genome(fasta: str | Path, *, species: str, layout: Layout | None = None, stride: int | None = None,
                max_n: float = 0.1, strands: str = "both") -> PromoterSet:
    """Rows of tiles over every sequence of ``fasta`` in the shape of ``layout`` (default: FloraBERT's 1 kb)."""
    layout = layout or Layout()
    if strands not in STRANDS:
        raise FloraBertError(f"strands must be one of {', '.join(STRANDS)}, not {strands!r}")
    if not 0 <= max_n <= 1:
        raise FloraBertError(f"max_n must be a fraction between 0 and 1, not {max_n}")
    lengths = [w.length for w in layout.windows]
    total = sum(lengths)
    stride = stride or total
    if stride < 1:
        raise FloraBertError(f"stride must be at least 1, not {stride}")
    rows, dropped, read = [], Counter(), 0
    for chrom, seq in iter_fasta(fasta):
        for lo in range(0, len(seq) - total + 1, stride):
            hi = lo + total
            region = seq[lo:hi].upper()
            read += 1
            bad = total - sum(region.count(b) for b in (b"A", b"C", b"G", b"T"))
            if bad > max_n * total:
                dropped["too_many_n"] += 1
                continue
            for strand in ("+", "-") if strands == "both" else ("+",):
                s = region if strand == "+" else reverse_complement(region)
                cut, off = [], 0
                for n in lengths:
                    w_lo, w_hi = (lo + off, lo + off + n) if strand == "+" else (hi - off - n, hi - off)
                    cut.append((s[off:off + n], w_lo, w_hi))
                    off += n
                gene = Gene(f"{chrom}:{lo}-{hi}({strand})", chrom, lo, hi, strand, lo if strand == "+" else hi - 1)
                rows.append((gene, cut))
    if not rows:
        raise FloraBertError(f"{fasta}: no tile of {total} bases with at most {max_n:.0%} N")
    result = PromoterSet(table=_table(rows, species, layout), species=species, genes_read=read, dropped=dropped)
    seqs = result.table.column("sequence").to_pylist()
    result.duplicate_sequences = len(seqs) - len(set(seqs))
    return result
