"""Layouts: parsing, and windows around the TSS and the TTS on the hand-made chromosome, both strands.

chr1 (0-based):  0 ACGTACGTAA 10 ccggttAAcc 20 GGGGRYTTTT 30 ACACACACGT 40
chr2:            0 TTTTAAAACCCCGGGG 16
Genes (0-based half-open): gPlus [15, 25) +, gMinus [10, 20) -, gLeft [2, 8) +, gRight [32, 38) -,
gChr2 chr2 [0, 4) -. Every expected sequence below was worked out by hand.
"""

import pyarrow as pa
import pytest

from florabert.genome import extract_promoters, read_promoters, write_promoters
from florabert.genome.promoters import table_layout, window_coords
from florabert.layout import Layout, LayoutError, Window

LAYOUT = "tss:-2:+3,tts:-3:+2"
# gene -> (start per window, end per window, windows joined by "|")
EXPECTED = {
    "gPlus": ([13, 22], [18, 27], "GTTAA|GGRYT"),  # [13, 18) and [22, 27) read as they are
    "gMinus": ([17, 8], [22, 13], "CCGGT|CGGTT"),  # revcomp of ACCGG and of AACCG
    "gLeft": ([0, 5], [5, 10], "ACGTA|CGTAA"),
    "gRight": ([35, 30], [40, 35], "ACGTG|TGTGT"),  # revcomp of CACGT and of ACACA
}


def by_gene(table):
    return {r["gene_id"]: (r["start"], r["end"], r["sequence"]) for r in table.to_pylist()}


def test_parse_and_spec_round_trip():
    lay = Layout.parse("tss:-1000:+500, TTS:-500:+1000")
    assert lay.spec == "tss:-1000:+500,tts:-500:+1000"
    assert Layout.parse(lay.spec) == lay
    assert Layout.from_dict(lay.to_dict()) == lay
    assert Layout.parse("tss:-1000:0").to_dict()["upstream"] == 1000
    # old records without a layout key give their one TSS window
    old = Layout.from_dict({"upstream": 150, "downstream": 300, "feature": "mRNA"})
    assert old.spec == "tss:-150:+300" and old.feature == "mRNA"
    # anchors: the end nearest the landmark
    assert Layout.parse("tss:-1000:0,tss:0:+300,tts:-500:+1000").anchors_right == [True, False, False]
    assert Layout.parse("tss:-150:+300,tts:-300:0").anchors_right == [True, True]


@pytest.mark.parametrize("text", ["tss:+5:-5", "tss:0:0", "cds:-5:5", "tss:-5", "tss:a:b", "",
                                  "tss:-100:0,tss:-50:+50"])
def test_bad_layouts_are_one_line_errors(text):
    with pytest.raises(LayoutError) as exc:
        Layout.parse(text)
    assert "\n" not in str(exc.value)


def test_window_genomic_matches_the_old_upstream_downstream_window():
    w = Window("tss", -1000, 500)
    assert w.genomic("+", tss=5000, tts=9000) == (4000, 5500)
    assert w.genomic("-", tss=5000, tts=1000) == (4501, 6001)  # old: [tss + 1 - downstream, tss + 1 + upstream)


@pytest.mark.parametrize("annotation", ["tiny.gff3", "tiny.gtf"])
def test_tss_and_tts_windows_both_strands_by_hand(data_dir, annotation):
    result = extract_promoters(data_dir / "tiny.fa", data_dir / annotation, layout=LAYOUT)
    assert by_gene(result.table) == EXPECTED
    assert result.dropped["off_edge"] == 1  # gChr2: its TTS window runs off the start of chr2
    assert result.table.column("tts").to_pylist() == [24, 10, 7, 32]
    assert table_layout(result.table).spec == LAYOUT


def test_edge_pad_pads_the_window_that_runs_off(data_dir):
    got = by_gene(extract_promoters(data_dir / "tiny.fa", data_dir / "tiny.gff3", layout=LAYOUT,
                                    edge="pad").table)
    # gChr2 [0, 4) -: TSS window [1, 6) = TTTAA; TTS window [-2, 3) = NN + TTT, reverse-complemented
    assert got["gChr2"] == ([1, 0], [6, 3], "TTAAA|AAANN")


def test_clip_neighbors_cuts_a_tts_window_at_the_next_gene(data_dir):
    plain = by_gene(extract_promoters(data_dir / "tiny.fa", data_dir / "tiny.gff3", layout="tts:-2:+10",
                                      edge="pad").table)
    clipped = by_gene(extract_promoters(data_dir / "tiny.fa", data_dir / "tiny.gff3", layout="tts:-2:+10",
                                        clip_neighbors=True, edge="pad").table)
    assert plain["gPlus"][:2] == ([23], [35])  # a TTS window: per-window coordinate lists
    assert clipped["gPlus"] == ([23], [32], "GRYTTTTAC")  # gRight starts at 32; the part inside gPlus stays


def test_one_window_layout_is_the_old_promoter_table(data_dir):
    a = extract_promoters(data_dir / "tiny.fa", data_dir / "tiny.gff3", upstream=5, downstream=3)
    b = extract_promoters(data_dir / "tiny.fa", data_dir / "tiny.gff3", layout="tss:-5:+3")
    assert a.table.equals(b.table) and a.table.schema.metadata == b.table.schema.metadata


def test_multi_window_tables_round_trip_and_fasta_names_windows(data_dir, tmp_path):
    table = extract_promoters(data_dir / "tiny.fa", data_dir / "tiny.gff3", layout=LAYOUT).table
    write_promoters(table, tmp_path / "p.parquet")
    back = read_promoters(tmp_path / "p.parquet")
    assert back.equals(table) and table_layout(back).spec == LAYOUT
    write_promoters(table, tmp_path / "p.tsv")
    tsv = read_promoters(tmp_path / "p.tsv")
    assert window_coords(tsv) == window_coords(table)
    assert isinstance(table.column("start").type, pa.ListType)
    write_promoters(table, tmp_path / "p.fa")
    headers = [line for line in (tmp_path / "p.fa").read_text().splitlines() if line.startswith(">")]
    assert headers[:2] == [">gPlus|tss:-2:+3 chr1:13-18(+) species=tiny",
                           ">gPlus|tts:-3:+2 chr1:22-27(+) species=tiny"]


def test_cli_layout_and_bad_layout(run_cli, data_dir, tmp_path):
    out = tmp_path / "p.parquet"
    code, _, err = run_cli("promoters", "--genome", data_dir / "tiny.fa", "--annotation", data_dir / "tiny.gff3",
                           "--layout", LAYOUT, "--out", out)
    assert code == 0, err
    assert by_gene(read_promoters(out)) == EXPECTED
    code, _, err = run_cli("promoters", "--genome", data_dir / "tiny.fa", "--annotation", data_dir / "tiny.gff3",
                           "--layout", "tss:+5:-5", "--out", tmp_path / "bad.parquet")
    assert code == 1 and "START must be below END" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "bad.parquet").exists()


def test_cut_windows_takes_sub_windows_from_their_anchored_end():
    from florabert.layout import cut_windows

    have = Layout.parse("tss:-6:+2,tts:-2:+4")
    seqs = ["AACCGGTT|ACGTAC", "CCGGTT|ACGTAC"]  # the second TSS window was clipped to its 6 3'-most bases
    assert cut_windows(seqs, have, Layout.parse("tss:-2:0")) == ["GG", "GG"]
    assert cut_windows(seqs, have, Layout.parse("tts:0:+3,tss:0:+2")) == ["GTA|TT", "GTA|TT"]
    with pytest.raises(LayoutError, match="not inside"):
        cut_windows(seqs, have, Layout.parse("tss:-10:0"))


CDS_GFF = """##gff-version 3
chr1\tt\tgene\t1\t30\t.\t+\t.\tID=gene-gCod;gene_biotype=protein_coding
chr1\tt\tmRNA\t1\t30\t.\t+\t.\tID=rna-gCod;Parent=gene-gCod
chr1\tt\tCDS\t3\t8\t.\t+\t0\tID=cds-gCod;Parent=rna-gCod
chr1\tt\tCDS\t13\t20\t.\t+\t0\tID=cds-gCod;Parent=rna-gCod
chr1\tt\tgene\t21\t40\t.\t-\t.\tID=gene-gRev;gene_biotype=protein_coding
chr1\tt\tmRNA\t21\t40\t.\t-\t.\tID=rna-gRev;Parent=gene-gRev
chr1\tt\tCDS\t31\t38\t.\t-\t0\tID=cds-gRev;Parent=rna-gRev
chr1\tt\tCDS\t22\t25\t.\t-\t0\tID=cds-gRev;Parent=rna-gRev
chr2\tt\tgene\t1\t10\t.\t+\t.\tID=gene-gNoCDS;gene_biotype=protein_coding
"""


def test_cds_windows_are_spliced_and_read_from_the_start_codon_on_both_strands(data_dir, tmp_path):
    gff = tmp_path / "cds.gff3"
    gff.write_text(CDS_GFF)
    # gCod +: CDS [2, 8) GTACGT + [12, 20) ggttAAcc; gRev -: [30, 38) ACACACAC and [21, 25) GGGR, 3' piece first
    got = by_gene(extract_promoters(data_dir / "tiny.fa", gff, layout="cds:0:+100").table)
    assert got["gCod"] == ([2], [20], "GTACGTGGTTAACC")
    assert got["gRev"] == ([21], [38], "GTGTGTGTYCCC")
    result = extract_promoters(data_dir / "tiny.fa", gff, layout="tss:-2:0,cds:+4:+9", edge="pad")
    got = by_gene(result.table)
    assert got["gCod"][2] == "NN|GTGGT"  # the TSS window runs off the start of chr1: padded
    assert got["gRev"][2] == "NN|GTGTY"
    assert result.dropped["no_cds"] == 1  # gNoCDS
    with pytest.raises(LayoutError, match="START >= 0"):
        Layout.parse("cds:-10:+100")


def test_tiles_over_an_unannotated_assembly_both_strands(data_dir):
    from florabert.genome.fasta import read_fasta, reverse_complement
    from florabert.genome.tiles import tile_genome

    genome = read_fasta(data_dir / "tiny.fa")
    result = tile_genome(data_dir / "tiny.fa", species="tiny", layout=Layout.parse("tss:-6:0"), stride=5)
    rows = result.table.to_pylist()
    # chr1 (40 bp): tiles at 0, 5, ..., 30, less the two holding R/Y (20, 25); chr2 (16 bp): 0, 5, 10; both strands
    assert len(rows) == 2 * (7 - 2 + 3) and result.dropped["too_many_n"] == 2
    for r in rows:
        piece = genome[r["chrom"]][r["start"]:r["end"]].upper()
        assert r["sequence"].encode() == (piece if r["strand"] == "+" else reverse_complement(piece))
    two = tile_genome(data_dir / "tiny.fa", species="tiny", layout=Layout.parse("tss:-4:0,tts:0:+6"),
                      strands="+").table.to_pylist()
    assert two[0]["sequence"] == "ACGT|ACGTAA" and two[0]["start"] == [0, 4] and two[0]["end"] == [4, 10]
    minus = tile_genome(data_dir / "tiny.fa", species="tiny", layout=Layout.parse("tss:-4:0,tts:0:+6")).table
    m = next(r for r in minus.to_pylist() if r["strand"] == "-")
    assert m["sequence"] == "TTAC|GTACGT" and m["start"] == [6, 0] and m["end"] == [10, 6]  # revcomp of ACGTACGTAA
    strict = tile_genome(data_dir / "tiny.fa", species="tiny", layout=Layout.parse("tss:-10:0"), max_n=0)
    assert strict.dropped["too_many_n"] == 1  # chr1 20..30 holds R and Y
