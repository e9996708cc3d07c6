"""GFF3/GTF -> gene table.

This is the one place where the 1-based, inclusive GFF/GTF coordinates are converted: every
``start``/``end`` leaving this module is 0-based half-open (``start = gff_start - 1``, ``end = gff_end``).

Gene ids (``id_attribute=None``): GTF -> ``gene_id``; GFF3 -> the first of ``gene_id`` (Ensembl Plants),
``locus_tag`` (RefSeq/EMBL, e.g. the AGI code AT1G01010), ``ID`` with a leading ``gene:`` (Ensembl) or
``gene-`` (RefSeq) removed (MaizeGDB ids are plain ``ID``), then ``Name``. With these defaults the GFF3
and GTF of one RefSeq/Ensembl release give the same ids.

Transcript choice (``feature="mRNA"|"transcript"``), one per gene: a transcript tagged canonical
(``Ensembl_canonical``, ``MANE Select``, ``canonical``) if there is one, else the longest genomic span,
ties broken by the most upstream TSS, then by transcript id.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from florabert.errors import InputError
from florabert.io import iter_lines, open_binary, reading_errors

FEATURES = ("gene", "mRNA", "transcript")

# Feature types (column 3) that are genes in the GFF3 dialects we meet (SO terms + Ensembl's).
_GENE_TYPES = {"gene", "pseudogene", "ncRNA_gene", "protein_coding_gene", "transposable_element_gene",
               "miRNA_gene", "rRNA_gene", "tRNA_gene", "snoRNA_gene", "snRNA_gene", "lncRNA_gene"}
# Biotype implied by the type itself when no attribute says it.
_TYPE_BIOTYPE = {"protein_coding_gene": "protein_coding", "pseudogene": "pseudogene",
                 "ncRNA_gene": "ncRNA", "transposable_element_gene": "transposable_element"}
_BIOTYPE_KEYS = ("gene_biotype", "biotype", "gene_type")
# Child types of a gene that are parts, not transcripts.
_PART_TYPES = {"exon", "CDS", "five_prime_UTR", "three_prime_UTR", "intron", "start_codon",
               "stop_codon", "UTR", "5UTR", "3UTR", "Selenocysteine"}
_CANONICAL_TAGS = ("Ensembl_canonical", "MANE Select", "MANE_Select", "canonical")
_STRANDS = (b"+", b"-", b".", b"?")
# a key starts after a separator (the lookbehind): without it a long unquoted run is tried from each of its
# characters, quadratic in the line's length (a 200,000-character attribute took minutes)
_GTF_ATTR = re.compile(r'\s*(?<![^\s;"])([^\s;"]+)\s+(?:"([^"]*)"|([^;\s]+))\s*;?')


@dataclass(frozen=True, slots=True)
class Gene:
    """One gene. ``start``/``end``: 0-based half-open on the + strand; ``tss``: 0-based position of the
    first transcribed base (``start`` on +, ``end - 1`` on -) of the gene or of its chosen transcript."""

    gene_id: str
    chrom: str
    start: int
    end: int
    strand: str
    tss: int
    biotype: str | None = None
    transcript_id: str | None = None
    # coding sequence (read with cds=True): the [start, end) pieces of the chosen transcript's CDS, or of the
    # gene's transcript with the longest CDS, sorted by start (+ strand coordinates); () when none
    cds: tuple[tuple[int, int], ...] = ()
    # gene-model features (read with gene_model=True): values of florabert.genome.genemodel.GENE_MODEL_COLUMNS
    model: tuple[int, ...] = ()


@dataclass
class Annotation:
    """Result of :func:`read_annotation`."""

    path: str
    format: str  # "gff3" | "gtf"
    genes: list[Gene]  # kept genes, in file order
    # Every gene-like interval of the file (any biotype), per chromosome: (start, end, gene_id), used to
    # clip promoter windows at neighbouring genes.
    intervals: dict[str, list[tuple[int, int, str]]] = field(default_factory=dict)
    n_read: int = 0  # gene features read
    feature: str = "gene"  # how it was read (see read_annotation)
    biotype: str | None = "protein_coding"
    id_attribute: str | None = None
    dropped: Counter = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)


def detect_format(path: str | Path) -> str:
    """'gtf' or 'gff3', from the file name, else from the first data row's attribute syntax."""
    name = Path(path).name.lower().removesuffix(".gz").removesuffix(".bgz")
    if name.endswith(".gtf"):
        return "gtf"
    if name.endswith((".gff", ".gff3")):
        return "gff3"
    with open_binary(path) as fh, reading_errors(path):
        for raw in fh:
            if raw.startswith(b"#") or not raw.strip():
                continue
            cols = raw.rstrip(b"\r\n").split(b"\t")
            if len(cols) == 9:
                return "gtf" if re.match(rb'\s*\S+\s+"', cols[8]) else "gff3"
            break
    raise InputError(path, "cannot tell GFF3 from GTF: name it .gff3/.gff/.gtf (optionally .gz)")


def _parse_gff3_attrs(text: str) -> dict[str, str]:
    attrs = {}
    for item in text.split(";"):
        key, sep, value = item.partition("=")
        if sep:
            key = key.strip()
            attrs[key] = unquote(value) if "%" in value else value
    return attrs


def _parse_gtf_attrs(text: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for m in _GTF_ATTR.finditer(text):
        key, value = m.group(1), m.group(2) if m.group(2) is not None else m.group(3)
        if key == "tag" and "tag" in attrs:  # GTF repeats `tag`; keep them all
            attrs["tag"] += "," + value
        else:
            attrs.setdefault(key, value)
    return attrs


def _gene_id(attrs: dict[str, str], id_attribute: str | None, fmt: str) -> str | None:
    if id_attribute:
        return attrs.get(id_attribute)
    if fmt == "gtf":
        return attrs.get("gene_id")
    for key in ("gene_id", "locus_tag"):
        if attrs.get(key):
            return attrs[key]
    if attrs.get("ID"):
        return attrs["ID"].removeprefix("gene:").removeprefix("gene-")
    return attrs.get("Name")


def _biotype(attrs: dict[str, str], ftype: str) -> str | None:
    for key in _BIOTYPE_KEYS:
        if attrs.get(key):
            return attrs[key]
    return _TYPE_BIOTYPE.get(ftype)


def _is_canonical(attrs: dict[str, str]) -> bool:
    tags = attrs.get("tag", "") + "," + attrs.get("Ensembl_canonical", "")
    return any(t in tags for t in _CANONICAL_TAGS) or attrs.get("is_canonical") == "true"


def _is_mrna(ftype: str, attrs: dict[str, str], has_cds: bool) -> bool:
    if ftype == "mRNA" or has_cds:
        return True
    kind = attrs.get("transcript_biotype") or attrs.get("transcript_type") or attrs.get("gbkey") or ""
    return kind in ("protein_coding", "mRNA")


def _tss(start: int, end: int, strand: str) -> int:
    return start if strand == "+" else end - 1


def read_annotation(
    path: str | Path,
    *,
    feature: str = "gene",
    biotype: str | None = "protein_coding",
    id_attribute: str | None = None,
    format: str | None = None,
    cds: bool = False,
    gene_model: bool = False,
) -> Annotation:
    """Read the genes of a GFF3 or GTF file (plain/gzip/bgzip).

    feature: "gene" (TSS = gene start), "mRNA" or "transcript" (TSS = start of one chosen transcript,
    see the module docstring). biotype: keep genes whose biotype attribute equals it (``None`` or
    ``"all"``: keep every gene); when the file states no biotype at all the filter is skipped with a
    warning. Genes without a strand or with a repeated id are dropped and counted in ``dropped``.

    Raises InputError naming file and line for rows without 9 tab-separated columns, non-numeric or
    non-positive coordinates, start > end, or a strand other than + - . ?.

    cds: also read the coding sequences (``Gene.cds``): the chosen transcript's with ``feature`` mRNA or
    transcript, else the gene's transcript with the longest CDS (ties: transcript id).

    gene_model: also compute the gene-model features (``Gene.model``, :mod:`florabert.genome.genemodel`):
    exons, UTRs, introns and isoforms of the chosen transcript (with ``feature`` gene: the gene's canonical
    or longest mRNA), the gene's span and its neighbours. Reads every exon row (slower on big files).
    """
    if feature not in FEATURES:
        raise ValueError(f"feature must be one of {FEATURES}, not {feature!r}")
    path = Path(path)
    fmt = format or detect_format(path)
    parse_attrs = _parse_gtf_attrs if fmt == "gtf" else _parse_gff3_attrs
    want_tx = feature != "gene"
    # transcripts are read to pick one, to find the gene of each CDS, or to describe the gene model
    parse_tx = want_tx or cds or gene_model
    scan = _scan(path, fmt, parse_attrs, want_tx=want_tx, parse_tx=parse_tx, cds=cds or gene_model,
                 exons=gene_model)
    return _assemble(scan, path, fmt, feature=feature, biotype=biotype, id_attribute=id_attribute, cds=cds,
                     gene_model=gene_model)


@dataclass
class _Scan:
    """What the row pass of :func:`read_annotation` keeps: gene rows (key -> [chrom, start, end, strand, attrs,
    type, line, duplicate lines...], in file order), transcript rows (id -> [chrom, start, end, strand, attrs,
    type, parent gene key]), transcripts with a CDS, GTF exon rows, and CDS pieces per transcript."""

    genes: dict[str, list]
    gene_order: list[str]
    transcripts: dict[str, list]
    cds_tx: set[str]
    gtf_exons: list[tuple]
    cds_parts: dict[str, list[tuple[int, int]]]
    cds_gene: dict[str, str]
    want_tx: bool
    parse_tx: bool
    exon_parts: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # GFF3, with exons=True


# Over 80 lines on purpose: the row loop of a 10-million-row GFF: one tight loop on bytes, kept inline for speed
# (bytes, decoded only for kept rows).
def _scan(path: Path, fmt: str, parse_attrs, *, want_tx: bool, parse_tx: bool, cds: bool,
          exons: bool = False) -> _Scan:
    """The row pass: checks every row (InputError with the line) and keeps the rows :func:`_assemble` needs."""
    cds_parts: dict[str, list[tuple[int, int]]] = {}  # transcript id -> CDS pieces
    exon_parts: dict[str, list[tuple[int, int]]] = {}  # GFF3 transcript id -> exon pieces (GTF: gtf_exons)
    cds_gene: dict[str, str] = {}  # GTF: transcript id -> gene_id, from the CDS rows themselves

    # gene key -> [chrom, start, end, strand, attrs, ftype, lineno]; key = raw ID (GFF3) or gene_id (GTF)
    genes: dict[str, list] = {}
    gene_order: list[str] = []
    anonymous = 0
    # transcript id -> [chrom, start, end, strand, attrs, ftype, parent gene key]
    transcripts: dict[str, list] = {}
    cds_tx: set[str] = set()
    gtf_exons: list[tuple] = []  # GTF exon/CDS rows, as bytes: (chrom, start, end, strand, attrs, type)
    lineno = 0
    gene_types = {b"gene"} if fmt == "gtf" else {t.encode() for t in _GENE_TYPES}
    part_types = {t.encode() for t in _PART_TYPES}
    # Works on bytes and decodes only the rows it keeps: most rows are exons/CDS, checked and skipped.
    with open_binary(path) as fh, reading_errors(path, lambda: lineno):
        for lineno, raw in enumerate(iter_lines(fh), 1):
            if raw[:1] == b"#":
                if raw.startswith(b"##FASTA"):
                    break
                continue
            cols = raw.split(b"\t")
            if len(cols) != 9:
                if not raw.strip():
                    continue
                raise InputError(path, f"expected 9 tab-separated columns, found {len(cols)}", line=lineno)
            bchrom, _, btype, s, e, _, bstrand, _, battr = cols
            try:
                start, end = int(s) - 1, int(e)  # the one 1-based -> 0-based conversion
            except ValueError:
                raise InputError(path, f"start/end must be integers, found {s.decode(errors='replace')!r}/"
                                 f"{e.decode(errors='replace')!r}", line=lineno) from None
            if start < 0:
                raise InputError(path, f"start must be >= 1, found {start + 1}", line=lineno)
            if start >= end:
                raise InputError(path, f"start {start + 1} is greater than end {end}", line=lineno)
            if bstrand not in _STRANDS:
                raise InputError(path, f"strand must be + - . or ?, found {bstrand.decode(errors='replace')!r}",
                                 line=lineno)
            is_gene = btype in gene_types
            if not is_gene:
                if fmt == "gtf" and btype != b"transcript":
                    if btype == b"exon" or (want_tx and btype == b"CDS"):
                        gtf_exons.append((bchrom, start, end, bstrand, battr, btype))  # decoded if needed
                    if cds and btype in (b"CDS", b"stop_codon"):  # GTF's CDS leaves the stop codon out
                        attrs = _parse_gtf_attrs(battr.decode("utf-8"))
                        tid = attrs.get("transcript_id") or f"{attrs.get('gene_id')}.t"
                        cds_parts.setdefault(tid, []).append((start, end))
                        cds_gene[tid] = attrs.get("gene_id", "")
                    continue
                if not parse_tx or (btype in part_types and btype != b"CDS" and not (exons and btype == b"exon")):
                    continue
            chrom, ftype, strand = bchrom.decode(), btype.decode(), bstrand.decode()
            attr_text = battr.decode("utf-8")

            if is_gene:
                attrs = parse_attrs(attr_text)
                key = attrs.get("gene_id") if fmt == "gtf" else attrs.get("ID")
                if not key:
                    anonymous += 1
                    key = f"\0anon{anonymous}"
                if key in genes:
                    genes[key].append(lineno)  # remembered to report the duplicate
                    continue
                genes[key] = [chrom, start, end, strand, attrs, ftype, lineno]
                gene_order.append(key)
            elif fmt == "gtf":
                if ftype == "transcript":
                    attrs = parse_attrs(attr_text)
                    tid = attrs.get("transcript_id") or f"{attrs.get('gene_id')}.t"
                    transcripts[tid] = [chrom, start, end, strand, attrs, ftype, attrs.get("gene_id")]
            elif parse_tx and ftype not in _PART_TYPES:
                attrs = parse_attrs(attr_text)
                parent = attrs.get("Parent", "").split(",")[0]
                if parent:
                    tid = attrs.get("ID") or f"{parent}.t{len(transcripts)}"
                    transcripts[tid] = [chrom, start, end, strand, attrs, ftype, parent]
            elif parse_tx and ftype == "CDS":
                parent = attr_text.partition("Parent=")[2].split(";")[0]
                parents = [unquote(p) for p in parent.split(",")]
                cds_tx.update(parents)
                if cds:
                    for p in parents:
                        cds_parts.setdefault(p, []).append((start, end))
            elif ftype == "exon":  # only kept with exons=True
                for p in attr_text.partition("Parent=")[2].split(";")[0].split(","):
                    exon_parts.setdefault(unquote(p), []).append((start, end))
    return _Scan(genes, gene_order, transcripts, cds_tx, gtf_exons, cds_parts, cds_gene, want_tx, parse_tx,
                 exon_parts)


def _assemble(scan: _Scan, path: Path, fmt: str, *, feature: str, biotype, id_attribute, cds: bool,
              gene_model: bool = False) -> Annotation:
    """The gene pass: one :class:`Gene` per kept gene (biotype, id, strand, chosen transcript, CDS), with the
    drop counts and warnings."""
    genes, gene_order, transcripts, cds_tx = scan.genes, scan.gene_order, scan.transcripts, scan.cds_tx
    cds_parts, cds_gene, want_tx, parse_tx = scan.cds_parts, scan.cds_gene, scan.want_tx, scan.parse_tx
    ann = Annotation(path=str(path), format=fmt, genes=[], feature=feature, biotype=biotype,
                     id_attribute=id_attribute)
    if fmt == "gtf":
        _gtf_fill_from_exons(genes, gene_order, transcripts, cds_tx, scan.gtf_exons, ann, want_tx=want_tx)

    by_gene: dict[str, list[str]] = {}
    if parse_tx:
        for tid, tx in transcripts.items():
            by_gene.setdefault(tx[6], []).append(tid)
    exon_parts = scan.exon_parts
    if gene_model and fmt == "gtf":
        exon_parts = _gtf_exon_parts(scan.gtf_exons, by_gene, transcripts)
    cds_by_gene: dict[str, list[str]] = {}  # gene key -> transcripts with a CDS
    for tid in cds_parts:
        key = cds_gene.get(tid) or (transcripts[tid][6] if tid in transcripts else None)
        if key is not None:
            cds_by_gene.setdefault(key, []).append(tid)

    any_biotype = any(_biotype(genes[k][4], genes[k][5]) for k in gene_order)
    filter_biotype = biotype not in (None, "", "all")
    if filter_biotype and not any_biotype:
        ann.warnings.append(f"{path.name}: no gene states a biotype; --biotype {biotype} was not applied")
        filter_biotype = False

    seen_ids: set[str] = set()
    spans: list[tuple[int, int]] = []  # the gene row's [start, end) of every kept gene
    for key in gene_order:
        chrom, start, end, strand, attrs, ftype, first_line, *dup_lines = genes[key]
        ann.n_read += 1
        gid = _gene_id(attrs, id_attribute, fmt)
        ann.intervals.setdefault(chrom, []).append((start, end, gid or key))
        if dup_lines:
            ann.dropped["duplicate_id"] += len(dup_lines)
            ann.warnings.append(f"{path}:{dup_lines[0]}: gene {key!r} already defined at line {first_line}; "
                                "kept the first")
        btype = _biotype(attrs, ftype)
        if filter_biotype and btype != biotype:
            ann.dropped["biotype"] += 1
            continue
        if not gid:
            ann.dropped["no_id"] += 1
            continue
        if gid in seen_ids:
            ann.dropped["duplicate_id"] += 1
            continue
        if strand not in ("+", "-"):
            ann.dropped["no_strand"] += 1
            continue
        tid = None
        if want_tx:
            candidates = [t for t in by_gene.get(key, [])
                          if feature == "transcript" or _is_mrna(transcripts[t][5], transcripts[t][4],
                                                                  t in cds_tx)]
            if not candidates:
                ann.dropped["no_transcript"] += 1
                continue
            tid = _pick_transcript(candidates, transcripts)
            chrom, start, end, strand = transcripts[tid][:4]
        seen_ids.add(gid)
        coding = _coding(tid, cds_by_gene.get(key, []), cds_parts) if cds else ()
        model = _structure(key, tid, by_gene, transcripts, exon_parts, cds_parts, cds_tx,
                           (genes[key][1], genes[key][2]), strand) if gene_model else ()
        ann.genes.append(Gene(gid, chrom, start, end, strand, _tss(start, end, strand), btype, tid, coding,
                              model))
        spans.append((genes[key][1], genes[key][2]))
    if gene_model:
        _add_neighbours(ann, genes, gene_order, spans)
    return ann


def _structure(key, tid, by_gene, transcripts, exon_parts, cds_parts, cds_tx, gene_span, strand) -> tuple:
    """The gene-model features of gene ``key`` without the neighbour ones (added by :func:`_add_neighbours`):
    isoforms, then :func:`~florabert.genome.genemodel.transcript_structure` of transcript ``tid`` (or the
    gene's canonical/longest mRNA), then the gene's span."""
    from florabert.genome.genemodel import transcript_structure

    tids = by_gene.get(key, [])
    mrnas = [t for t in tids if _is_mrna(transcripts[t][5], transcripts[t][4], t in cds_tx)]
    if tid is None and (mrnas or tids):
        tid = _pick_transcript(mrnas or tids, transcripts)
    span = (transcripts[tid][1], transcripts[tid][2]) if tid is not None else gene_span
    parts = transcript_structure(strand, exon_parts.get(tid, ()), cds_parts.get(tid, ()), span)
    return (max(len(mrnas or tids), 1), *parts, gene_span[1] - gene_span[0])


def _add_neighbours(ann: Annotation, genes: dict, gene_order: list[str], spans: list[tuple[int, int]]) -> None:
    """Append the neighbour features to every kept gene's ``model``: its gene row ``spans[i]`` against every
    gene of the file (any biotype)."""
    from dataclasses import replace

    from florabert.genome.genemodel import Neighbours

    per_chrom: dict[str, list[tuple[int, int, str]]] = {}
    for key in gene_order:
        chrom, start, end, strand = genes[key][:4]
        per_chrom.setdefault(chrom, []).append((start, end, strand))
    index = {c: Neighbours(v) for c, v in per_chrom.items()}
    for i, (g, (start, end)) in enumerate(zip(ann.genes, spans, strict=True)):
        ann.genes[i] = replace(g, model=(*g.model, *index[g.chrom].features(start, end, g.strand)))


def _gtf_exon_parts(gtf_exons, by_gene, transcripts) -> dict[str, list[tuple[int, int]]]:
    """GTF exon rows -> transcript id -> exon pieces (adding transcripts the file lists only through exons)."""
    parts: dict[str, list[tuple[int, int]]] = {}
    for bchrom, start, end, bstrand, battr, btype in gtf_exons:
        if btype != b"exon":
            continue
        # exon rows are kept as bytes by the row pass; an undecodable byte cannot name a kept gene
        attrs = _parse_gtf_attrs(battr.decode("utf-8", errors="replace"))
        tid = attrs.get("transcript_id") or f"{attrs.get('gene_id')}.t"
        parts.setdefault(tid, []).append((start, end))
        if tid not in transcripts and attrs.get("gene_id"):
            gene = attrs["gene_id"]
            transcripts[tid] = [bchrom.decode(errors="replace"), start, end, bstrand.decode(), attrs, "transcript",
                                gene]
            by_gene.setdefault(attrs["gene_id"], []).append(tid)
        elif tid in transcripts:
            tx = transcripts[tid]
            tx[1], tx[2] = min(tx[1], start), max(tx[2], end)
    return parts


def _coding(tid: str | None, tids: list[str], parts: dict[str, list[tuple[int, int]]]) -> tuple:
    """The CDS pieces of transcript ``tid`` when it has some, else of the longest CDS among ``tids``."""
    if tid is None or tid not in parts:
        if not tids:
            return ()
        tid = min(tids, key=lambda t: (-sum(e - s for s, e in parts[t]), t))
    merged: list[list[int]] = []
    for s, e in sorted(set(parts[tid])):  # touching pieces (a GTF CDS and its stop codon) become one
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return tuple((s, e) for s, e in merged)


def _pick_transcript(tids: list[str], transcripts: dict[str, list]) -> str:
    def rank(tid: str):
        _chrom, start, end, strand, attrs, *_ = transcripts[tid]
        upstream = start if strand == "+" else -end
        return (not _is_canonical(attrs), -(end - start), upstream, tid)

    return min(tids, key=rank)


def _gtf_fill_from_exons(genes, gene_order, transcripts, cds_tx, exons, ann, *, want_tx: bool) -> None:
    """GTF files may omit gene and/or transcript rows: derive their extents from exons (and CDS)."""
    derive_tx = not transcripts and (want_tx or not genes)
    for bchrom, start, end, bstrand, battr, btype in exons:
        if btype != b"CDS" and not derive_tx:
            continue
        attrs = _parse_gtf_attrs(battr.decode("utf-8", errors="replace"))  # see _gtf_exon_parts
        chrom, strand = bchrom.decode(errors="replace"), bstrand.decode()
        if btype == b"CDS":
            cds_tx.add(attrs.get("transcript_id", ""))
            continue
        if derive_tx:
            tid = attrs.get("transcript_id") or ""
            tx = transcripts.get(tid)
            if tx is None:
                transcripts[tid] = [chrom, start, end, strand, attrs, "transcript", attrs.get("gene_id")]
            else:
                tx[1], tx[2] = min(tx[1], start), max(tx[2], end)
    if genes:
        return
    if transcripts:
        ann.warnings.append(f"{ann.path}: no gene rows; gene extents derived from transcripts/exons")
    for tx in transcripts.values():
        chrom, start, end, strand, attrs, _, gid = tx
        g = genes.get(gid)
        if g is None:
            genes[gid] = [chrom, start, end, strand, dict(attrs), "gene", 0]
            gene_order.append(gid)
        else:
            g[1], g[2] = min(g[1], start), max(g[2], end)
