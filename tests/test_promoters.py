"""Promoter windows on a 40 bp hand-made chromosome; every expected sequence was worked out by hand.

chr1 (0-based):  0 ACGTACGTAA 10 ccggttAAcc 20 GGGGRYTTTT 30 ACACACACGT 40
chr2:            0 TTTTAAAACCCCGGGG 16
"""

import pytest

from florabert.genome import extract_promoters, read_annotation, read_promoters, write_promoters
from florabert.genome.fasta import read_fasta

# gene -> (strand, tss, start, end, sequence) for upstream=5, downstream=0
EXPECTED = {
    "gPlus": ("+", 15, 10, 15, "CCGGT"),  # soft-masked bases upper-cased
    "gMinus": ("-", 19, 20, 25, "YCCCC"),  # revcomp of GGGGR: IUPAC R -> Y
    "gChr2": ("-", 3, 4, 9, "GTTTT"),  # revcomp of AAAAC
}
PADDED = {
    "gLeft": ("+", 2, 0, 2, "NNNAC"),  # window [-3, 2): 3 N on the 5' side
    "gRight": ("-", 37, 38, 40, "NNNAC"),  # window [38, 43): GT + NNN, reverse-complemented
}


def rows(result):
    t = result.table.to_pylist()
    return {r["gene_id"]: (r["strand"], r["tss"], r["start"], r["end"], r["sequence"]) for r in t}


@pytest.mark.parametrize("annotation", ["tiny.gff3", "tiny.gtf"])
@pytest.mark.parametrize("fasta", ["tiny.fa", "tiny_single_line.fa"])
def test_both_strands_by_hand(data_dir, annotation, fasta):
    result = extract_promoters(data_dir / fasta, data_dir / annotation, species="tiny", upstream=5)
    assert rows(result) == EXPECTED
    assert result.genes_read == 7
    assert dict(result.dropped) == {"biotype": 1, "duplicate_id": 1, "off_edge": 2, "missing_chrom": 1}
    assert result.table.column("species").to_pylist() == ["tiny"] * 3
    from florabert.genome.genemodel import GENE_MODEL_COLUMNS

    assert result.table.column_names == ["species", "gene_id", "chrom", "strand", "tss", "start", "end",
                                         "sequence", *GENE_MODEL_COLUMNS]


def test_edge_pad_keeps_full_length_right_aligned(data_dir):
    result = extract_promoters(data_dir / "tiny.fa", data_dir / "tiny.gff3", upstream=5, edge="pad")
    assert rows(result) == {**EXPECTED, **PADDED}
    assert "off_edge" not in result.dropped


def test_downstream_adds_bases_after_the_tss(data_dir):
    got = rows(extract_promoters(data_dir / "tiny.fa", data_dir / "tiny.gff3", upstream=5, downstream=3))
    assert got["gPlus"][2:] == (10, 18, "CCGGTTAA")  # [10, 18)
    # minus: [17, 25) = AccGGGGR, reverse complement
    assert got["gMinus"][2:] == (17, 25, "YCCCCGGT")


def test_window_equals_genome_slice_for_any_length(data_dir):
    genome = read_fasta(data_dir / "tiny.fa")
    for up in (1, 2, 7, 15):
        for r in extract_promoters(data_dir / "tiny.fa", data_dir / "tiny.gff3", upstream=up).table.to_pylist():
            assert len(r["sequence"]) == up
            assert r["end"] - r["start"] == up
            piece = genome[r["chrom"]][r["start"]:r["end"]].upper().decode()
            if r["strand"] == "-":
                piece = piece[::-1].translate(str.maketrans("ACGTRY", "TGCAYR"))
            assert piece == r["sequence"]


def test_biotype_all_keeps_pseudogene(data_dir):
    got = rows(extract_promoters(data_dir / "tiny.fa", data_dir / "tiny.gff3", upstream=3, biotype="all"))
    assert got["gPseudo"] == ("+", 5, 2, 5, "TTA")  # chr2 [2, 5)


def test_no_biotype_in_file_skips_the_filter_with_a_warning(tmp_path, data_dir):
    gff = tmp_path / "nobiotype.gff3"
    gff.write_text("chr1\tt\tgene\t16\t25\t.\t+\t.\tID=g1\n")
    result = extract_promoters(data_dir / "tiny.fa", gff, upstream=5)
    assert rows(result) == {"g1": EXPECTED["gPlus"]}
    assert any("biotype" in w for w in result.warnings)


@pytest.mark.parametrize("annotation", ["tiny.gff3", "tiny.gtf"])
def test_transcript_feature_picks_longest_then_canonical(tmp_path, data_dir, annotation):
    got = rows(extract_promoters(data_dir / "tiny.fa", data_dir / annotation, upstream=5, feature="mRNA"))
    assert got == {"gPlus": EXPECTED["gPlus"]}  # the other genes have no mRNA
    # tag the shorter transcript (starts at 0-based 17) canonical: its TSS wins
    text = (data_dir / annotation).read_text()
    text = (text.replace("ID=rna-gPlus.2;", "ID=rna-gPlus.2;tag=Ensembl_canonical;")
            .replace('transcript_id "gPlus.2";', 'transcript_id "gPlus.2"; tag "Ensembl_canonical";'))
    tagged = tmp_path / annotation
    tagged.write_text(text)
    got = rows(extract_promoters(data_dir / "tiny.fa", tagged, upstream=5, feature="transcript"))
    assert got["gPlus"] == ("+", 17, 12, 17, "GGTTA")


def test_clip_neighbors_cuts_at_the_nearest_gene(tmp_path, data_dir):
    gff = tmp_path / "clip.gff3"
    gff.write_text(
        "chr1\tt\tgene\t21\t30\t.\t+\t.\tID=A\n"  # [20, 30), TSS 20
        "chr1\tt\tgene\t6\t12\t.\t-\t.\tID=B\n"  # [5, 12), TSS 11
        "chr1\tt\tgene\t24\t28\t.\t+\t.\tID=C\n"  # [23, 28): its TSS lies inside A
    )
    plain = rows(extract_promoters(data_dir / "tiny.fa", gff, upstream=15, edge="pad"))
    assert plain["A"][2:4] == (5, 20)
    clipped = extract_promoters(data_dir / "tiny.fa", gff, upstream=15, clip_neighbors=True)
    got = rows(clipped)
    assert got["A"] == ("+", 20, 12, 20, "GGTTAACC")  # cut where B ends (12)
    assert got["B"][:4] == ("-", 11, 12, 20)  # cut where A starts (20)
    assert "C" not in got and clipped.dropped["clipped_empty"] == 1


def test_gff3_ensembl_style_ids_and_types(tmp_path, data_dir):
    gff = tmp_path / "ensembl.gff3"
    gff.write_text(
        "chr1\tens\tgene\t16\t25\t.\t+\t.\tID=gene:AT1G01010;biotype=protein_coding;gene_id=AT1G01010\n"
        "chr1\tens\tncRNA_gene\t11\t20\t.\t-\t.\tID=gene:AT1G00001;biotype=lncRNA\n"
        "chr2\tmgdb\tgene\t1\t4\t.\t-\t.\tID=Zm00001eb000010;biotype=protein_coding\n"
        "chr1\trefseq\tgene\t33\t38\t.\t-\t.\tID=gene-NAC001;locus_tag=AT1G99999;gene_biotype=protein_coding\n"
    )
    ann = read_annotation(gff, biotype="all")
    assert [g.gene_id for g in ann.genes] == ["AT1G01010", "AT1G00001", "Zm00001eb000010", "AT1G99999"]
    assert [g.biotype for g in ann.genes] == ["protein_coding", "lncRNA", "protein_coding", "protein_coding"]
    assert read_annotation(gff, id_attribute="ID").genes[0].gene_id == "gene:AT1G01010"


def test_gtf_without_gene_rows_derives_genes_from_exons(tmp_path, data_dir):
    gtf = tmp_path / "exons_only.gtf"
    gtf.write_text(
        'chr1\tt\texon\t16\t18\t.\t+\t.\tgene_id "g"; transcript_id "t1";\n'
        'chr1\tt\texon\t20\t25\t.\t+\t.\tgene_id "g"; transcript_id "t1";\n'
    )
    result = extract_promoters(data_dir / "tiny.fa", gtf, upstream=5)
    assert rows(result) == {"g": EXPECTED["gPlus"]}


@pytest.mark.parametrize("suffix", [".parquet", ".tsv"])
def test_write_read_round_trip(tmp_path, data_dir, suffix):
    result = extract_promoters(data_dir / "tiny.fa", data_dir / "tiny.gff3", upstream=5)
    out = write_promoters(result.table, tmp_path / f"p{suffix}")
    back = read_promoters(out).to_pylist()
    assert back == result.table.to_pylist()
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temp files left


def test_write_fasta(tmp_path, data_dir):
    result = extract_promoters(data_dir / "tiny.fa", data_dir / "tiny.gff3", upstream=5)
    out = write_promoters(result.table, tmp_path / "p.fa")
    assert read_fasta(out) == {k: v[4].encode() for k, v in EXPECTED.items()}
    assert out.read_text().splitlines()[0] == ">gPlus chr1:10-15(+) species=tiny"
