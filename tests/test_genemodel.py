"""Gene-model features (UTRs, introns, isoforms, neighbours) worked out by hand on both strands, GFF3 and GTF."""

import numpy as np
import pytest

from florabert.genome.annotation import read_annotation
from florabert.genome.genemodel import GENE_MODEL_COLUMNS, NO_NEIGHBOUR, model_inputs, transcript_structure

# gene A (+): two isoforms; A.1 has 3 exons (11-20, 31-45, 51-60) and a CDS 16-55 -> 5' UTR 11-15, 3' UTR 56-60
# gene D (-): a lncRNA, exons 61-63 and 67-70, no CDS (a neighbour; dropped by the biotype filter)
# gene B (-): exons 101-110 and 121-150, CDS 105-140 -> 5' UTR 141-150 (the 5' end of a - strand gene is its
#             right end), 3' UTR 101-104, one intron 111-120
# gene C (+): a gene row and nothing else
GFF3 = """##gff-version 3
chr1\tt\tgene\t11\t60\t.\t+\t.\tID=gene-A;gene_biotype=protein_coding
chr1\tt\tmRNA\t11\t60\t.\t+\t.\tID=A.1;Parent=gene-A
chr1\tt\texon\t11\t20\t.\t+\t.\tParent=A.1
chr1\tt\texon\t31\t45\t.\t+\t.\tParent=A.1
chr1\tt\texon\t51\t60\t.\t+\t.\tParent=A.1
chr1\tt\tCDS\t16\t20\t.\t+\t0\tParent=A.1
chr1\tt\tCDS\t31\t45\t.\t+\t0\tParent=A.1
chr1\tt\tCDS\t51\t55\t.\t+\t0\tParent=A.1
chr1\tt\tmRNA\t11\t45\t.\t+\t.\tID=A.2;Parent=gene-A
chr1\tt\texon\t11\t20\t.\t+\t.\tParent=A.2
chr1\tt\texon\t31\t45\t.\t+\t.\tParent=A.2
chr1\tt\tCDS\t16\t20\t.\t+\t0\tParent=A.2
chr1\tt\tCDS\t31\t42\t.\t+\t0\tParent=A.2
chr1\tt\tncRNA_gene\t61\t70\t.\t-\t.\tID=gene-D;gene_biotype=lncRNA
chr1\tt\tlnc_RNA\t61\t70\t.\t-\t.\tID=D.1;Parent=gene-D
chr1\tt\texon\t61\t63\t.\t-\t.\tParent=D.1
chr1\tt\texon\t67\t70\t.\t-\t.\tParent=D.1
chr1\tt\tgene\t101\t150\t.\t-\t.\tID=gene-B;gene_biotype=protein_coding
chr1\tt\tmRNA\t101\t150\t.\t-\t.\tID=B.1;Parent=gene-B
chr1\tt\texon\t101\t110\t.\t-\t.\tParent=B.1
chr1\tt\texon\t121\t150\t.\t-\t.\tParent=B.1
chr1\tt\tCDS\t105\t110\t.\t-\t0\tParent=B.1
chr1\tt\tCDS\t121\t140\t.\t-\t0\tParent=B.1
chr1\tt\tgene\t171\t180\t.\t+\t.\tID=gene-C;gene_biotype=protein_coding
"""


def gtf_from(gff3: str) -> str:
    """The same annotation as GTF (gene, transcript, exon, CDS rows with gene_id/transcript_id)."""
    out = []
    for line in gff3.splitlines():
        if line.startswith("#"):
            continue
        c = line.split("\t")
        attrs = dict(kv.split("=") for kv in c[8].split(";"))
        if "gene_biotype" in attrs:
            gid = attrs["ID"].removeprefix("gene-")
            c[2], c[8] = "gene", f'gene_id "{gid}"; gene_biotype "{attrs["gene_biotype"]}";'
        elif "ID" in attrs:
            tid = attrs["ID"]
            c[2], c[8] = "transcript", f'gene_id "{tid.split(".")[0]}"; transcript_id "{tid}";'
        else:
            tid = attrs["Parent"]
            c[8] = f'gene_id "{tid.split(".")[0]}"; transcript_id "{tid}";'
        out.append("\t".join(c))
    return "\n".join(out) + "\n"


EXPECTED = {  # isoforms, exons, mRNA, CDS, 5' UTR, 3' UTR, introns, longest, first, span, up gap, down gap, up
    # opposite, down opposite
    "A": (2, 3, 35, 25, 5, 5, 15, 10, 10, 50, NO_NEIGHBOUR, 0, 0, 1),
    "B": (1, 2, 40, 26, 10, 4, 10, 10, 10, 50, 20, 30, 1, 0),
    "C": (1, 1, 10, 0, 0, 0, 0, 0, 0, 10, 20, NO_NEIGHBOUR, 1, 0),
}


@pytest.mark.parametrize("fmt", ["gff3", "gtf"])
@pytest.mark.parametrize("feature", ["gene", "mRNA"])
def test_gene_model_features_by_hand(tmp_path, fmt, feature):
    path = tmp_path / f"genes.{fmt}"
    path.write_text(GFF3 if fmt == "gff3" else gtf_from(GFF3))
    ann = read_annotation(path, gene_model=True, feature=feature)
    got = {g.gene_id: dict(zip(GENE_MODEL_COLUMNS, g.model, strict=True)) for g in ann.genes}
    assert sorted(got) == (["A", "B", "C"] if feature == "gene" else ["A", "B"])  # C has no mRNA
    for gid, values in got.items():
        assert values == dict(zip(GENE_MODEL_COLUMNS, EXPECTED[gid], strict=True)), gid


def test_transcript_without_exon_rows_uses_its_cds_and_a_lone_span():
    assert transcript_structure("+", [], [(10, 20), (30, 40)], (0, 50)) == [2, 20, 20, 0, 0, 10, 10, 10]
    assert transcript_structure("-", [], [], (5, 9)) == [1, 4, 0, 0, 0, 0, 0, 0]
    # a 5' UTR split by an intron (minus strand): exonic bases only
    assert transcript_structure("-", [(0, 10), (20, 30), (40, 50)], [(5, 10), (20, 25)], (0, 50))[3] == 15


def test_promoter_table_carries_the_columns(tmp_path):
    from florabert.genome.promoters import extract_promoters

    (tmp_path / "g.gff3").write_text(GFF3)
    (tmp_path / "g.fa").write_text(">chr1\n" + "ACGT" * 60 + "\n")
    table = extract_promoters(tmp_path / "g.fa", tmp_path / "g.gff3", upstream=5, edge="pad").table
    assert table.column("gene_id").to_pylist() == ["A", "B", "C"]
    assert table.column("gm_utr5_length").to_pylist() == [5, 10, 0]
    assert table.column("gm_isoforms").to_pylist() == [2, 1, 1]
    plain = extract_promoters(tmp_path / "g.fa", tmp_path / "g.gff3", upstream=5, edge="pad", gene_model=False)
    assert not any(c.startswith("gm_") for c in plain.table.column_names)


def test_model_inputs_are_log_scaled_and_checked():
    x = model_inputs({"gm_exons": [1, 3], "gm_upstream_opposite": [0, 1]}, ["gm_exons", "gm_upstream_opposite"])
    assert np.allclose(x, [[np.log(2), 0], [np.log(4), 1]])
    with pytest.raises(ValueError, match=r"gm_exons.*row 2"):
        model_inputs({"gm_exons": [1, -3]}, ["gm_exons"])
    with pytest.raises(ValueError, match="not a number"):
        model_inputs({"gm_exons": [1, "many"]}, ["gm_exons"])
