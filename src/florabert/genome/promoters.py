"""TSS-anchored promoter windows from a genome and its annotation.

Window of a gene (0-based half-open, + strand coordinates): on the + strand
``[tss - upstream, tss + downstream)``; on the - strand ``[tss + 1 - downstream, tss + 1 + upstream)``,
reverse-complemented, so ``sequence`` always reads 5'->3' on the gene's strand and ends (``downstream=0``)
with the base just before the TSS. This is exactly ``bedtools flank -s -l upstream -r 0`` on the gene
(or transcript) interval followed by ``bedtools getfasta -s``, upper-cased. Windows around the gene's 3'
end and several windows per gene: :mod:`florabert.layout`.
"""

from __future__ import annotations

import bisect
import contextlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from florabert.errors import InputError
from florabert.genome.annotation import Annotation, Gene, read_annotation
from florabert.genome.fasta import iter_fasta, reverse_complement
from florabert.genome.genemodel import GENE_MODEL_COLUMNS
from florabert.io import atomic_path
from florabert.layout import SEP, Layout, Window

META_KEY = b"florabert_window"
COLUMNS = ("species", "gene_id", "chrom", "strand", "tss", "start", "end", "sequence")
SCHEMA = pa.schema([
    ("species", pa.string()), ("gene_id", pa.string()), ("chrom", pa.string()), ("strand", pa.string()),
    ("tss", pa.int64()), ("start", pa.int64()), ("end", pa.int64()), ("sequence", pa.string()),
])
# several windows per gene: one [start, end) per window, the sequences joined by "|" in layout order
MULTI_SCHEMA = pa.schema([
    ("species", pa.string()), ("gene_id", pa.string()), ("chrom", pa.string()), ("strand", pa.string()),
    ("tss", pa.int64()), ("tts", pa.int64()), ("start", pa.list_(pa.int64())), ("end", pa.list_(pa.int64())),
    ("sequence", pa.string()),
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
    ambiguous: int = 0  # promoters holding IUPAC ambiguity codes other than N (kept; models read them as N)
    dropped_ids: dict = field(default_factory=dict)  # gene id -> why its windows could not be cut

    @property
    def written(self) -> int:
        return self.table.num_rows

    def summary(self) -> dict:
        return {"species": self.species, "genes_read": self.genes_read, "written": self.written,
                "dropped": dict(sorted(self.dropped.items())),
                "duplicate_sequences": self.duplicate_sequences, "ambiguous": self.ambiguous}


def species_from_path(path: str | Path) -> str:
    """Default species label: the FASTA file name without its extensions."""
    name = Path(path).name
    for ext in (".gz", ".bgz", ".fa", ".fasta", ".fna", ".fas"):
        name = name.removesuffix(ext)
    return name


def _gene_tts(gene: Gene) -> int:
    """0-based + strand position of the gene's (or chosen transcript's) last transcribed base."""
    return gene.end - 1 if gene.strand == "+" else gene.start


class _Neighbours:
    """Gene intervals of one chromosome, to cut a window where it runs into another gene."""

    def __init__(self, intervals: list[tuple[int, int, str]]):
        self.by_start = sorted(intervals)
        self.starts = [iv[0] for iv in self.by_start]
        self.by_end = sorted(intervals, key=lambda iv: iv[1])
        self.ends = [iv[1] for iv in self.by_end]
        self.max_len = max((e - s for s, e, _ in intervals), default=0)

    def clip_left(self, gene_id: str, lo: int, boundary: int) -> int:
        """New ``lo`` for a stretch ``[lo, boundary)`` left of the gene: other genes that start before
        ``boundary`` and reach into it pull ``lo`` up to their end (at most ``boundary``)."""
        first = bisect.bisect_left(self.starts, lo - self.max_len)
        last = bisect.bisect_left(self.starts, boundary)
        for _s, e, gid in self.by_start[first:last]:
            if gid != gene_id and e > lo:
                lo = min(max(lo, e), boundary)
        return lo

    def clip_right(self, gene_id: str, boundary: int, hi: int) -> int:
        """New ``hi`` for a stretch ``[boundary, hi)`` right of the gene: other genes that end after
        ``boundary`` and start inside it pull ``hi`` down to their start (at least ``boundary``)."""
        first = bisect.bisect_right(self.ends, boundary)
        last = bisect.bisect_right(self.ends, hi + self.max_len)
        for s, _e, gid in self.by_end[first:last]:
            if gid != gene_id and s < hi:
                hi = max(min(hi, s), boundary)
        return hi

    def clip(self, gene: Gene, window: Window, lo: int, hi: int) -> tuple[int, int]:
        """Cut the part of ``[lo, hi)`` outside the gene on the landmark's outer side (upstream of a TSS,
        downstream of a TTS) where it runs into another gene; the part inside the gene is kept."""
        outer_left = (window.landmark == "tss") == (gene.strand == "+")
        if outer_left and lo < gene.start:
            lo = self.clip_left(gene.gene_id, lo, min(gene.start, hi))
        elif not outer_left and hi > gene.end:
            hi = self.clip_right(gene.gene_id, max(gene.end, lo), hi)
        return lo, hi


def _cut(seq: bytes, lo: int, hi: int, strand: str, edge: str) -> tuple[bytes, int, int] | None:
    """The window ``[lo, hi)`` of ``seq`` on ``strand`` (upper case; N padding where it runs off an end with
    ``edge="pad"``), and its part inside the sequence; None when it runs off with ``edge="drop"``."""
    n = len(seq)
    left_pad, right_pad = max(0, -lo), max(0, hi - n)
    if left_pad or right_pad:
        if edge == "drop":
            return None
        lo, hi = max(lo, 0), min(hi, n)
    s = b"N" * left_pad + seq[lo:hi].upper() + b"N" * right_pad
    return (reverse_complement(s) if strand == "-" else s), lo, hi


# Over 80 lines on purpose: the streaming loop over chromosomes that cuts every gene's windows (memory = one
# chromosome).
def extract_promoters(
    genome: str | Path,
    annotation: str | Path | Annotation,
    *,
    species: str | None = None,
    upstream: int = 1000,
    downstream: int = 0,
    layout: Layout | str | None = None,
    feature: str = "gene",
    biotype: str | None = "protein_coding",
    id_attribute: str | None = None,
    edge: str = "drop",
    clip_neighbors: bool = False,
    gene_model: bool = True,
) -> PromoterSet:
    """The windows of every annotated gene: ``layout`` (a :class:`~florabert.layout.Layout` or its spec,
    e.g. ``"tss:-1000:+500,tts:-500:+1000"``), else one window of ``upstream`` bases 5' of the TSS (+
    ``downstream`` from it on).

    genome: FASTA (plain, gzip or bgzip). annotation: GFF3/GTF path (read with ``feature``, ``biotype``,
    ``id_attribute``, see :func:`read_annotation`) or an already read :class:`Annotation`; a Layout object
    brings its own cutting options, which then override these keyword arguments.
    edge, per window: "drop" genes with a window running off a sequence end (counted as ``off_edge``) or
    "pad" it with N on the side that ran off, keeping the full length (its ``start``/``end`` then give the
    part inside the sequence). clip_neighbors, per window: cut the part outside the gene on the landmark's
    outer side (upstream of the TSS, downstream of the TTS) where it runs into another annotated gene
    (either strand, any biotype); such windows are shorter and still end (start) at the gene; a window left
    empty drops the gene (``clipped_empty``).

    One TSS window: columns as :data:`COLUMNS`, ``sequence`` the window. Several windows, or a TTS window:
    ``start``/``end`` are lists (one per window), ``sequence`` the windows joined by ``|`` in layout order,
    and a ``tts`` column (0-based position of the last transcribed base) is added. Genes on sequences absent
    from the FASTA are dropped (``missing_chrom``); when that is every gene, InputError. Rows keep the
    annotation's order.

    gene_model: add the gene-model feature columns ``gm_*`` (:mod:`florabert.genome.genemodel`) read from the
    same annotation (the wide path of expression models uses them).
    """
    if isinstance(layout, Layout):
        lay = layout
    else:
        options = {"feature": feature, "biotype": biotype, "id_attribute": id_attribute, "edge": edge,
                   "clip_neighbors": clip_neighbors}
        lay = Layout.parse(layout, **options) if layout else Layout.promoter(upstream, downstream, **options)
    ann = annotation if isinstance(annotation, Annotation) else read_annotation(
        annotation, feature=lay.feature, biotype=lay.biotype, id_attribute=lay.id_attribute,
        cds="cds" in lay.landmarks, gene_model=gene_model)
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
        neighbours = _Neighbours(ann.intervals.get(chrom, [])) if lay.clip_neighbors else None
        for i in idx:
            gene = ann.genes[i]
            if gene.end > len(seq):
                result.dropped["outside_sequence"] += 1
                result.dropped_ids[gene.gene_id] = "outside_sequence"
                continue
            cut = _cut_gene(gene, seq, lay, neighbours)
            if isinstance(cut, str):
                result.dropped[cut] += 1
                result.dropped_ids[gene.gene_id] = cut
                continue
            rows[i] = (gene, cut)

    missing = [c for c in by_chrom if c not in found]
    if missing:
        n_missing = sum(len(by_chrom[c]) for c in missing)
        if not found:
            raise InputError(ann.path, f"none of its sequence names ({_examples(missing)}) is in {genome}")
        result.dropped["missing_chrom"] += n_missing
        result.dropped_ids.update({ann.genes[i].gene_id: "missing_chrom" for c in missing for i in by_chrom[c]})
        result.warnings.append(f"{n_missing} genes on {len(missing)} sequences missing from the FASTA "
                               f"({_examples(missing)})")
    result.table = _table([r for r in rows if r is not None], species, lay)
    if result.table.num_rows == 0:
        why = ", ".join(f"{k} {v:,}" for k, v in sorted(result.dropped.items()) if v) or "none were found"
        raise InputError(ann.path, f"no gene windows to write: {ann.n_read:,} {lay.feature} records of biotype "
                         f"{lay.biotype or 'any'} read; dropped: {why}")
    seqs = result.table.column("sequence").to_pylist()
    result.duplicate_sequences = len(seqs) - len(set(seqs))
    result.ambiguous = count_ambiguous(seqs)
    return result


def _cut_gene(gene: Gene, seq: bytes, lay: Layout, neighbours: _Neighbours | None) -> list | str:
    """[(sequence, lo, hi)] per window of ``gene``, or the reason it is dropped."""
    tts = _gene_tts(gene)
    out = []
    for w in lay.windows:
        if w.landmark == "cds":
            if not gene.cds:
                return "no_cds"
            out.append(_cds_window(seq, gene, w))
            continue
        lo, hi = w.genomic(gene.strand, gene.tss, tts)
        if neighbours is not None:
            lo, hi = neighbours.clip(gene, w, lo, hi)
            if hi <= lo:
                return "clipped_empty"
        cut = _cut(seq, lo, hi, gene.strand, lay.edge)
        if cut is None:
            return "off_edge"
        out.append(cut)
    return out


def _cds_window(seq: bytes, gene: Gene, w: Window) -> tuple[bytes, int, int]:
    """Bases ``w.start``..``w.end - 1`` of the gene's spliced CDS (5'->3' on its strand; fewer when the CDS
    is shorter), and the + strand span [lo, hi) of the genome they come from."""
    pieces = gene.cds if gene.strand == "+" else gene.cds[::-1]
    want, got, parts, span = w.end - w.start, 0, [], []
    skip = w.start
    for s, e in pieces:
        n = e - s
        if skip >= n:
            skip -= n
            continue
        take = min(n - skip, want - got)
        lo, hi = (s + skip, s + skip + take) if gene.strand == "+" else (e - skip - take, e - skip)
        piece = seq[lo:hi].upper()
        parts.append(piece if gene.strand == "+" else reverse_complement(piece))
        span += [lo, hi]
        got, skip = got + take, 0
        if got == want:
            break
    return b"".join(parts), (min(span) if span else 0), (max(span) if span else 0)


def _table(rows: list[tuple[Gene, list]], species: str, lay: Layout) -> pa.Table:
    """The promoter table of ``rows`` (gene, windows cut), with the layout in its metadata."""
    one = len(lay) == 1 and lay.windows[0].landmark == "tss"  # FloraBERT's table; else per-window lists
    schema = SCHEMA if one else MULTI_SCHEMA
    cols: dict[str, list] = {name: [] for name in schema.names}
    for gene, cut in rows:
        cols["species"].append(species)
        cols["gene_id"].append(gene.gene_id)
        cols["chrom"].append(gene.chrom)
        cols["strand"].append(gene.strand)
        cols["tss"].append(gene.tss)
        if not one:
            cols["tts"].append(_gene_tts(gene))
        starts, ends = [lo for _, lo, _ in cut], [hi for _, _, hi in cut]
        cols["start"].append(starts[0] if one else starts)
        cols["end"].append(ends[0] if one else ends)
        cols["sequence"].append(SEP.join(s.decode("ascii") for s, _, _ in cut))
    table = pa.Table.from_pydict(cols, schema=schema)
    if rows and all(len(gene.model) == len(GENE_MODEL_COLUMNS) for gene, _ in rows):
        for j, name in enumerate(GENE_MODEL_COLUMNS):
            table = table.append_column(pa.field(name, pa.int64()), pa.array([g.model[j] for g, _ in rows],
                                                                                pa.int64()))
    # how these windows were cut, kept in the Parquet metadata so that a model trained on them can cut new
    # ones the same way (florabert predict --genome --annotation)
    return table.replace_schema_metadata({META_KEY: json.dumps(lay.to_dict()).encode()})


def table_layout(table: pa.Table) -> Layout | None:
    """The layout a promoter table (or dataset) was cut with; None when unknown (e.g. a .tsv)."""
    return Layout.from_dict(window_settings(table))


def window_coords(table: pa.Table) -> list[list[tuple[int, int]]]:
    """Per row, the [start, end) of each window on the + strand (0-based half-open), for one- and
    multi-window tables alike (a .tsv keeps multi-window coordinates as comma-separated lists)."""
    starts, ends = table.column("start").to_pylist(), table.column("end").to_pylist()
    return [list(zip(_as_list(s), _as_list(e), strict=True)) for s, e in zip(starts, ends, strict=True)]


def _as_list(v) -> list[int]:
    """A window coordinate cell: one number, a list (Parquet) or comma-separated text (.tsv)."""
    if isinstance(v, list):
        return [int(x) for x in v]
    if isinstance(v, str):
        return [int(x) for x in v.split(",")]
    return [int(v)]




def window_settings(table: pa.Table) -> dict:
    """The layout record (:meth:`Layout.to_dict`) a promoter table was made with ({} when unknown, e.g. from a
    .tsv)."""
    meta = table.schema.metadata or {}
    return json.loads(meta[META_KEY]) if META_KEY in meta else {}


def count_ambiguous(seqs) -> int:
    """Sequences holding an IUPAC ambiguity code other than N (R, Y, K, ...); ``|`` between windows is fine."""
    return sum(1 for s in seqs if s.upper().translate(_PLAIN))


_PLAIN = str.maketrans("", "", "ACGTN|")


def _examples(names: list[str], k: int = 3) -> str:
    more = f", ... {len(names) - k} more" if len(names) > k else ""
    return ", ".join(names[:k]) + more


def check_output(out: str | Path, *, force: bool = False) -> Path:
    """``out`` when promoters may be written there: a known extension, and the ``--out`` rule for files
    (:func:`florabert.outputs.claim_file`); call it before the work to fail early."""
    from florabert.outputs import claim_file

    out = Path(out)
    if out.suffix.lower() not in (".parquet", ".tsv", ".fa", ".fasta", ".fna"):
        raise InputError(out, "output must end in .parquet, .tsv or .fa/.fasta/.fna")
    return claim_file(out, force=force)


def write_promoters(table: pa.Table, out: str | Path, *, force: bool = False) -> Path:
    """Write promoters as .parquet, .tsv or .fa/.fasta/.fna (chosen by extension), atomically; an existing
    ``out`` is replaced only when florabert wrote it, or with ``force`` (:func:`florabert.outputs.claim_file`)."""
    out = check_output(out, force=force)
    suffix = out.suffix.lower()
    with _released(out), atomic_path(out) as tmp:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, tmp, compression="zstd")
        else:
            cols = {name: table.column(name).to_pylist() for name in table.column_names}
            with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
                if suffix == ".tsv":
                    fh.write("\t".join(table.column_names) + "\n")
                    for row in zip(*cols.values(), strict=True):
                        fh.write("\t".join(",".join(map(str, v)) if isinstance(v, list) else str(v)
                                           for v in row) + "\n")
                else:
                    _write_fasta(fh, table)
    return out


def _write_fasta(fh, table: pa.Table) -> None:
    """One record per window: ``>gene_id chrom:start-end(strand) species=S`` for one-window tables,
    ``>gene_id|WINDOW ...`` (e.g. ``AT1G01010|tts:-500:+1000``) for each window of a multi-window one."""
    lay = table_layout(table)
    cols = {name: table.column(name).to_pylist() for name in ("gene_id", "chrom", "strand", "species", "sequence")}
    coords = window_coords(table)
    for gid, chrom, strand, sp, seq, wins in zip(cols["gene_id"], cols["chrom"], cols["strand"], cols["species"],
                                                 cols["sequence"], coords, strict=True):
        parts = seq.split(SEP)
        names = [None] if len(parts) == 1 else lay.names if lay else [f"w{i + 1}" for i in range(len(parts))]
        for name, (lo, hi), s in zip(names, wins, parts, strict=True):
            rid = gid if name is None else f"{gid}{SEP}{name}"
            fh.write(f">{rid} {chrom}:{lo}-{hi}({strand}) species={sp}\n{s}\n")


@contextlib.contextmanager
def _released(out: Path):
    """Release ``out``'s lock (taken by :func:`check_output`) once the file is written or the write failed."""
    from florabert.outputs import release_lock

    try:
        yield
    finally:
        release_lock(out)


def read_promoters(path: str | Path) -> pa.Table:
    """Read a promoter table written by :func:`write_promoters` (.parquet or .tsv)."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file not found")
    if path.suffix.lower() == ".parquet":
        from florabert.io import read_parquet

        return read_parquet(path)
    if path.suffix.lower() == ".tsv":
        import pyarrow as pa
        import pyarrow.csv as pcsv

        try:
            return pcsv.read_csv(path, parse_options=pcsv.ParseOptions(delimiter="\t"))
        except (pa.ArrowException, OSError) as exc:
            raise InputError(path, f"not a readable promoter table ({' '.join(str(exc).split())[:160]})") from None
    raise InputError(path, "promoter table must be .parquet or .tsv")
