"""Every TSS, exon-exon junction and gene body of a GFF3/GTF annotation, whatever the biotype: what labels must
hold against the whole annotation (``florabert tasks``), where the gene table (:mod:`florabert.genome.annotation`)
keeps one transcript per protein-coding gene. Positions 0-based, + strand."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

from florabert.genome.annotation import (
    Annotation,
    _gene_id,
    _gtf_exon_parts,
    _gtf_fill_from_exons,
    _parse_gff3_attrs,
    _parse_gtf_attrs,
    _scan,
    _tss,
    detect_format,
)
from florabert.genome.genemodel import merge


@dataclass
class Landmarks:
    """Every TSS, exon-exon junction and gene body of an annotation, whatever the biotype (see
    :func:`read_landmarks`); positions 0-based, + strand, per chromosome."""

    tss: dict[str, list[int]]  # first transcribed base of every gene and every transcript, sorted
    junctions: dict[str, set[int]]  # every exon boundary inside a transcript: intron [a, b) gives a and b
    sites: list[tuple[str, int, str, str, str]]  # (chrom, boundary, strand, "donor"|"acceptor", gene id)
    bodies: dict[str, list[tuple[int, int]]]  # every gene's [start, end), sorted by start
    counts: dict[str, int] = field(default_factory=dict)  # genes, transcripts, junctions read


def read_landmarks(path: str | Path, *, format: str | None = None) -> Landmarks:
    """The TSS of every gene and transcript (mRNA, lnc_RNA, tRNA, pseudogenic transcripts, ...), the exon-exon
    junctions of every transcript (UTR introns included; a transcript without exon rows uses its CDS pieces)
    and every gene body, for labels that must hold against the whole annotation (``florabert tasks``)."""
    path = Path(path)
    fmt = format or detect_format(path)
    parse_attrs = _parse_gtf_attrs if fmt == "gtf" else _parse_gff3_attrs
    scan = _scan(path, fmt, parse_attrs, want_tx=True, parse_tx=True, cds=True, exons=True)
    genes, transcripts = scan.genes, scan.transcripts
    if fmt == "gtf":
        ann = Annotation(path=str(path), format=fmt, genes=[])
        _gtf_fill_from_exons(genes, scan.gene_order, transcripts, scan.cds_tx, scan.gtf_exons, ann, want_tx=True)
        exon_parts = _gtf_exon_parts(scan.gtf_exons, {}, transcripts)
    else:
        exon_parts = scan.exon_parts
    tss: dict[str, set[int]] = {}
    bodies: dict[str, list[tuple[int, int]]] = {}
    for key in scan.gene_order:
        chrom, start, end, strand = genes[key][:4]
        tss.setdefault(chrom, set()).add(_tss(start, end, strand))
        bodies.setdefault(chrom, []).append((start, end))
    junctions: dict[str, set[int]] = {}
    sites = []
    for tid, (chrom, start, end, strand, _attrs, _type, parent) in transcripts.items():
        tss.setdefault(chrom, set()).add(_tss(start, end, strand))
        gid = (_gene_id(genes[parent][4], None, fmt) if parent in genes else None) or parent or tid
        pieces = merge(exon_parts.get(tid) or scan.cds_parts.get(tid) or [])
        for (_, a), (b, _) in itertools.pairwise(pieces):  # intron [a, b)
            junctions.setdefault(chrom, set()).update((a, b))
            left, right = ("donor", "acceptor") if strand == "+" else ("acceptor", "donor")
            sites += [(chrom, a, strand, left, gid), (chrom, b, strand, right, gid)]
    return Landmarks({c: sorted(v) for c, v in tss.items()}, junctions, sites,
                     {c: sorted(v) for c, v in bodies.items()},
                     {"genes": len(scan.gene_order), "transcripts": len(transcripts),
                      "junctions": sum(len(v) for v in junctions.values())})


__all__ = ["Landmarks", "read_landmarks"]
