"""TSS-anchored promoter windows from a genome and its annotation.

Window of a gene (0-based half-open, + strand coordinates): on the + strand
``[tss - upstream, tss + downstream)``; on the - strand ``[tss + 1 - downstream, tss + 1 + upstream)``,
reverse-complemented, so ``sequence`` always reads 5'->3' on the gene's strand and ends (``downstream=0``)
with the base just before the TSS. This is exactly ``bedtools flank -s -l upstream -r 0`` on the gene
(or transcript) interval followed by ``bedtools getfasta -s``, upper-cased.
"""

from __future__ import annotations

import bisect
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from florabert.errors import InputError
from florabert.genome.annotation import Annotation, Gene, read_annotation
from florabert.genome.fasta import iter_fasta, reverse_complement
from florabert.io import atomic_path

EDGES = ("drop", "pad")
COLUMNS = ("species", "gene_id", "chrom", "strand", "tss", "start", "end", "sequence")
SCHEMA = pa.schema([
    ("species", pa.string()), ("gene_id", pa.string()), ("chrom", pa.string()), ("strand", pa.string()),
    ("tss", pa.int64()), ("start", pa.int64()), ("end", pa.int64()), ("sequence", pa.string()),
])


@dataclass
class PromoterSet:
    """Promoters (a pyarrow Table with :data:`COLUMNS`) and what happened to every gene read."""

    table: pa.Table
    species: str
    genes_read: int
    dropped: Counter = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    duplicate_sequences: int = 0  # promoters whose sequence equals an earlier one of this species

    @property
    def written(self) -> int:
        return self.table.num_rows

    def summary(self) -> dict:
        return {"species": self.species, "genes_read": self.genes_read, "written": self.written,
                "dropped": dict(sorted(self.dropped.items())),
                "duplicate_sequences": self.duplicate_sequences}


def species_from_path(path: str | Path) -> str:
    """Default species label: the FASTA file name without its extensions."""
    name = Path(path).name
    for ext in (".gz", ".bgz", ".fa", ".fasta", ".fna", ".fas"):
        name = name.removesuffix(ext)
    return name


def _window(gene: Gene, upstream: int, downstream: int) -> tuple[int, int]:
    if gene.strand == "+":
        return gene.tss - upstream, gene.tss + downstream
    return gene.tss + 1 - downstream, gene.tss + 1 + upstream


class _Neighbours:
    """Gene intervals of one chromosome, to cut a window where it runs into another gene."""

    def __init__(self, intervals: list[tuple[int, int, str]]):
        self.by_start = sorted(intervals)
        self.starts = [iv[0] for iv in self.by_start]
        self.by_end = sorted(intervals, key=lambda iv: iv[1])
        self.ends = [iv[1] for iv in self.by_end]
        self.max_len = max((e - s for s, e, _ in intervals), default=0)

    def clip(self, gene: Gene, lo: int, hi: int) -> tuple[int, int]:
        """Cut the upstream part of ``[lo, hi)`` at the nearest other gene; returns the new window."""
        if gene.strand == "+":
            # other genes that start before the TSS and reach into the window pull ``lo`` up to their end
            first = bisect.bisect_left(self.starts, lo - self.max_len)
            last = bisect.bisect_left(self.starts, gene.tss)
            for _s, e, gid in self.by_start[first:last]:
                if gid != gene.gene_id and e > lo:
                    lo = min(max(lo, e), gene.tss)
            return lo, hi
        tss_end = gene.tss + 1
        first = bisect.bisect_right(self.ends, tss_end)
        last = bisect.bisect_right(self.ends, hi + self.max_len)
        for s, _e, gid in self.by_end[first:last]:
            if gid != gene.gene_id and s < hi:
                hi = max(min(hi, s), tss_end)
        return lo, hi


def extract_promoters(
    genome: str | Path,
    annotation: str | Path | Annotation,
    *,
    species: str | None = None,
    upstream: int = 1000,
    downstream: int = 0,
    feature: str = "gene",
    biotype: str | None = "protein_coding",
    id_attribute: str | None = None,
    edge: str = "drop",
    clip_neighbors: bool = False,
) -> PromoterSet:
    """Promoter of every annotated gene: ``upstream`` bases 5' of the TSS (+ ``downstream`` after it).

    genome: FASTA (plain, gzip or bgzip). annotation: GFF3/GTF path (read with ``feature``, ``biotype``,
    ``id_attribute``, see :func:`read_annotation`) or an already read :class:`Annotation`.
    edge: "drop" genes whose window runs off a sequence end (counted as ``off_edge``) or "pad" them with
    N on the side that ran off, keeping the full length (``start``/``end`` then give the part inside the
    sequence). clip_neighbors: cut the upstream part where it runs into another annotated gene (either
    strand, any biotype); such promoters are shorter and still end at the TSS; a TSS inside another gene
    leaves nothing (``clipped_empty``).

    Genes on sequences absent from the FASTA are dropped (``missing_chrom``); when that is every gene,
    InputError. Output rows keep the annotation's order; ``sequence`` is upper case.
    """
    if edge not in EDGES:
        raise ValueError(f"edge must be one of {EDGES}, not {edge!r}")
    if upstream < 0 or downstream < 0 or upstream + downstream == 0:
        raise ValueError("upstream and downstream must be >= 0 and not both 0")
    ann = annotation if isinstance(annotation, Annotation) else read_annotation(
        annotation, feature=feature, biotype=biotype, id_attribute=id_attribute)
    species = species or species_from_path(genome)
    result = PromoterSet(table=SCHEMA.empty_table(), species=species, genes_read=ann.n_read,
                         dropped=Counter(ann.dropped), warnings=list(ann.warnings))

    by_chrom: dict[str, list[int]] = {}
    for i, g in enumerate(ann.genes):
        by_chrom.setdefault(g.chrom, []).append(i)
    rows: list[tuple | None] = [None] * len(ann.genes)
    found: set[str] = set()
    for chrom, seq in iter_fasta(genome):
        idx = by_chrom.get(chrom)
        if not idx:
            continue
        found.add(chrom)
        neighbours = _Neighbours(ann.intervals.get(chrom, [])) if clip_neighbors else None
        n = len(seq)
        for i in idx:
            gene = ann.genes[i]
            if gene.end > n:
                result.dropped["outside_sequence"] += 1
                continue
            lo, hi = _window(gene, upstream, downstream)
            if neighbours is not None:
                lo, hi = neighbours.clip(gene, lo, hi)
                if (gene.tss - lo if gene.strand == "+" else hi - gene.tss - 1) <= 0:
                    result.dropped["clipped_empty"] += 1
                    continue
            left_pad, right_pad = max(0, -lo), max(0, hi - n)
            if left_pad or right_pad:
                if edge == "drop":
                    result.dropped["off_edge"] += 1
                    continue
                lo, hi = max(lo, 0), min(hi, n)
            s = seq[lo:hi].upper()
            s = b"N" * left_pad + s + b"N" * right_pad
            if gene.strand == "-":
                s = reverse_complement(s)
            rows[i] = (gene.gene_id, chrom, gene.strand, gene.tss, lo, hi, s.decode("ascii"))

    missing = [c for c in by_chrom if c not in found]
    if missing:
        n_missing = sum(len(by_chrom[c]) for c in missing)
        if not found:
            raise InputError(ann.path, f"none of its sequence names ({_examples(missing)}) is in {genome}")
        result.dropped["missing_chrom"] += n_missing
        result.warnings.append(f"{n_missing} genes on {len(missing)} sequences missing from the FASTA "
                               f"({_examples(missing)})")
    kept = [r for r in rows if r is not None]
    cols = list(zip(*kept, strict=True)) if kept else [[] for _ in range(7)]
    fields = list(SCHEMA)[1:]
    result.table = pa.Table.from_arrays(
        [pa.array([species] * len(kept), pa.string()),
         *(pa.array(c, f.type) for c, f in zip(cols, fields, strict=True))],
        schema=SCHEMA,
    )
    # how these promoters were cut, kept in the Parquet metadata so that a model trained on them can cut
    # new ones the same way (florabert predict --genome --annotation)
    window = {"upstream": upstream, "downstream": downstream, "feature": ann.feature, "biotype": ann.biotype,
              "id_attribute": ann.id_attribute, "edge": edge, "clip_neighbors": clip_neighbors}
    result.table = result.table.replace_schema_metadata({b"florabert_window": json.dumps(window).encode()})
    seqs = result.table.column("sequence").to_pylist()
    result.duplicate_sequences = len(seqs) - len(set(seqs))
    return result


def window_settings(table: pa.Table) -> dict:
    """The window options a promoter table was made with ({} when unknown, e.g. from a .tsv)."""
    meta = table.schema.metadata or {}
    return json.loads(meta[b"florabert_window"]) if b"florabert_window" in meta else {}


def _examples(names: list[str], k: int = 3) -> str:
    more = f", ... {len(names) - k} more" if len(names) > k else ""
    return ", ".join(names[:k]) + more


def write_promoters(table: pa.Table, out: str | Path) -> Path:
    """Write promoters as .parquet, .tsv or .fa/.fasta/.fna (chosen by extension), atomically."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".parquet", ".tsv", ".fa", ".fasta", ".fna"):
        raise InputError(out, "output must end in .parquet, .tsv or .fa/.fasta/.fna")
    with atomic_path(out) as tmp:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, tmp, compression="zstd")
        else:
            cols = {name: table.column(name).to_pylist() for name in table.column_names}
            with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
                if suffix == ".tsv":
                    fh.write("\t".join(table.column_names) + "\n")
                    for row in zip(*cols.values(), strict=True):
                        fh.write("\t".join(map(str, row)) + "\n")
                else:
                    for gid, chrom, lo, hi, strand, sp, seq in zip(
                        cols["gene_id"], cols["chrom"], cols["start"], cols["end"], cols["strand"],
                        cols["species"], cols["sequence"], strict=True,
                    ):
                        fh.write(f">{gid} {chrom}:{lo}-{hi}({strand}) species={sp}\n{seq}\n")
    return out


def read_promoters(path: str | Path) -> pa.Table:
    """Read a promoter table written by :func:`write_promoters` (.parquet or .tsv)."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file not found")
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path)
    if path.suffix.lower() == ".tsv":
        import pyarrow.csv as pcsv

        return pcsv.read_csv(path, parse_options=pcsv.ParseOptions(delimiter="\t"))
    raise InputError(path, "promoter table must be .parquet or .tsv")
