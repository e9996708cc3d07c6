"""Genomes in, promoters out: FASTA and GFF3/GTF reading, TSS-anchored promoter windows, corpora."""

from florabert.genome.annotation import Annotation, Gene, read_annotation
from florabert.genome.fasta import iter_fasta, open_indexed, read_fasta, reverse_complement
from florabert.genome.promoters import PromoterSet, extract_promoters, read_promoters, write_promoters

__all__ = [
    "Annotation",
    "Gene",
    "PromoterSet",
    "extract_promoters",
    "iter_fasta",
    "open_indexed",
    "read_annotation",
    "read_fasta",
    "read_promoters",
    "reverse_complement",
    "write_promoters",
]
