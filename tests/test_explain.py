"""florabert explain: on a model that learned a motif planted at -30..-25, positional importance and ISM
must peak on the motif; variant effects must match manual ref/alt predictions; attention and species
outputs must be well-formed."""

import csv
import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from florabert.explain.variants import mutant_window
from florabert.genome.fasta import reverse_complement
from florabert.predict import Predictor

MOTIF_START, MOTIF_END = -30, -25  # inclusive: the planted TATAAA


def read_rows(path, delimiter=","):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter=delimiter))


@pytest.fixture(scope="module")
def motif_promoters(planted, tmp_path_factory):
    """Motif-bearing promoters, half of them clipped at the 5' end (so counting from the 5' end would
    put their motif elsewhere)."""
    t = pq.read_table(planted / "p.parquet").slice(0, 16)
    t = t.filter(pa.array([i % 2 == 0 for i in range(16)]))  # even rows carry the motif
    seqs = [s[40:] if i % 2 else s for i, s in enumerate(t.column("sequence").to_pylist())]
    t = t.set_column(t.schema.get_field_index("sequence"), "sequence", pa.array(seqs))
    path = tmp_path_factory.mktemp("motif") / "motif.parquet"
    pq.write_table(t, path)
    return path


def test_positional_importance_peaks_on_the_planted_motif(run_cli, planted_model, motif_promoters, tmp_path):
    out = tmp_path / "pos"
    code, _, err = run_cli("explain", "positional", "--model", planted_model, "--promoters", motif_promoters,
                           "--out", out, "--lengths", "1-6", "--samples", "2", "--max-sequences", "8",
                           "--step", "1")
    assert code == 0, err
    rows = read_rows(out / "positional_importance.csv")
    assert set(rows[0]) == {"position", "length", "tissue", "importance", "n"}
    assert {r["tissue"] for r in rows} == {"leaf", "root", "mean"}
    positions = {int(r["position"]) for r in rows}
    assert max(positions) == -1 and min(positions) == -120  # TSS coordinates, clipped promoters included
    clipped_only = [r for r in rows if int(r["position"]) < -80]
    assert all(int(r["n"]) == 4 * 2 for r in clipped_only if r["length"] == "1")  # 4 full-length x 2 samples
    for L in range(1, 7):
        mean = {int(r["position"]): float(r["importance"]) for r in rows
                if r["tissue"] == "mean" and int(r["length"]) == L}
        peak = max(mean, key=mean.get)
        assert MOTIF_START - L + 1 <= peak <= MOTIF_END, (L, peak)  # the L-mer overlaps the motif
        inside = np.mean([v for p, v in mean.items() if MOTIF_START - L + 1 <= p <= MOTIF_END])
        outside = np.mean([v for p, v in mean.items() if not MOTIF_START - L + 1 <= p <= MOTIF_END])
        assert inside > 3 * outside
    assert (out / "positional_importance.png").stat().st_size > 10_000
    assert (out / "positional_importance.svg").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mutants"] == sum(int(r["n"]) for r in rows if r["tissue"] == "mean")


def test_ism_peaks_on_the_motif_and_matches_manual_predictions(run_cli, planted_model, planted, tmp_path):
    out = tmp_path / "ism"
    code, _, err = run_cli("explain", "ism", "--model", planted_model, "--promoters", planted / "p.parquet",
                           "--genes", "g000,g002", "--out", out, "--region", "-60:0")
    assert code == 0, err
    rows = read_rows(out / "ism.tsv", "\t")
    assert len(rows) == 2 * 60 * 3
    summary = json.loads((out / "ism_summary.json").read_text())
    for gene in ("g000", "g002"):
        assert MOTIF_START <= summary["genes"][gene]["peak_position"] <= MOTIF_END
        assert (out / f"ism_{gene}.png").exists() and (out / f"ism_{gene}.svg").exists()
    # the strongest peak of each gene sits on the planted TATA box, and the plant matrices with a hit there are
    # named (JASPAR's plant set has no TBP matrix: A/T-rich DOF-type sites cover it)
    peaks = read_rows(out / "ism_peaks.tsv", "\t")
    for gene in ("g000", "g002"):
        top = next(r for r in peaks if r["gene_id"] == gene)
        assert MOTIF_START - 2 <= int(top["position"]) <= MOTIF_END + 2
        assert top["motif"] and top["motif_tf"] in top["motifs"] and float(top["motif_bits"]) > 0
    # breaking the motif lowers leaf and raises root (the planted rule); elsewhere effects are small
    motif = [r for r in rows if r["gene_id"] == "g000" and MOTIF_START <= int(r["position"]) <= MOTIF_END]
    assert np.mean([float(r["delta_leaf"]) for r in motif]) < -0.5
    assert np.mean([float(r["delta_root"]) for r in motif]) > 0.5
    # one row recomputed by hand
    seq = pq.read_table(planted / "p.parquet").column("sequence")[0].as_py()
    row = next(r for r in rows if r["gene_id"] == "g000" and r["position"] == "-28")
    assert seq[120 - 28] == row["ref"]
    mutant = seq[:92] + row["alt"] + seq[93:]
    p = Predictor(planted_model)
    expected = p.predict([mutant]) - p.predict([seq])
    assert float(row["delta_leaf"]) == pytest.approx(float(expected[0, 0]), abs=1e-4)


@pytest.fixture(scope="module")
def genome(tmp_path_factory, planted_model):
    """A 3 kb chromosome with a + and a - strand gene, and the planted model told that its promoters are
    120 bp upstream of the gene start."""
    root = tmp_path_factory.mktemp("genome")
    rng = np.random.default_rng(1)
    chrom = "".join(rng.choice(list("ACGT"), 3000))
    (root / "g.fa").write_text(">c1\n" + "\n".join(chrom[i:i + 60] for i in range(0, 3000, 60)) + "\n")
    (root / "g.gff3").write_text(
        "##gff-version 3\n"
        "c1\tt\tgene\t1001\t1500\t.\t+\t.\tID=gP;biotype=protein_coding\n"
        "c1\tt\tgene\t1801\t2200\t.\t-\t.\tID=gM;biotype=protein_coding\n")
    model = root / "model"
    shutil.copytree(planted_model, model)
    cfg = json.loads((model / "config.json").read_text())
    cfg["promoter_window"] = {"upstream": 120, "downstream": 0, "feature": "gene", "biotype": "protein_coding",
                              "edge": "drop", "clip_neighbors": False}
    (model / "config.json").write_text(json.dumps(cfg))
    return root, chrom, model


def test_variant_effects_equal_manual_ref_alt_predictions(run_cli, genome, tmp_path):
    root, chrom, model = genome
    # + gene: TSS at 0-based 1000, window [880, 1000); - gene: TSS at 2199, window [2200, 2320)
    snv_p, snv_m, outside = 1000 - 28, 2199 + 28, 500  # 0-based positions
    alt = {i: "A" if chrom[i] != "A" else "C" for i in (snv_p, snv_m, outside)}
    vcf = tmp_path / "v.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n##contig=<ID=c1,length=3000>\n"
                   "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   f"c1\t{outside + 1}\tout\t{chrom[outside]}\t{alt[outside]}\t.\t.\t.\n"
                   f"c1\t{snv_p + 1}\tplus\t{chrom[snv_p]}\t{alt[snv_p]}\t.\t.\t.\n"
                   f"c1\t{snv_m + 1}\tminus\t{chrom[snv_m]}\t{alt[snv_m]}\t.\t.\t.\n"
                   f"c1\t950\tins\t{chrom[949]}\t{chrom[949]}GATTACA\t.\t.\t.\n"
                   f"c1\t950\tdel\t{chrom[949:955]}\t{chrom[949]}\t.\t.\t.\n")
    out = tmp_path / "var"
    code, _, err = run_cli("explain", "variants", "--model", model, "--vcf", vcf, "--genome", root / "g.fa",
                           "--annotation", root / "g.gff3", "--out", out)
    assert code == 0, err
    rows = {r["variant_id"]: r for r in read_rows(out / "variants.tsv", "\t")}
    assert rows["out"]["gene_id"] == "." and float(rows["out"]["delta_leaf"]) == 0.0
    assert float(rows["out"]["delta_root"]) == 0.0
    p = Predictor(model)
    ref_p = chrom[880:1000]
    mut_p = ref_p[:snv_p - 880] + alt[snv_p] + ref_p[snv_p - 880 + 1:]
    ref_m = chrom[2200:2320]
    mut_m = ref_m[:snv_m - 2200] + alt[snv_m] + ref_m[snv_m - 2200 + 1:]
    rc = lambda s: reverse_complement(s.encode()).decode()  # noqa: E731
    for vid, ref, mut, gene in (("plus", ref_p, mut_p, "gP"), ("minus", rc(ref_m), rc(mut_m), "gM")):
        expected = p.predict([mut]) - p.predict([ref])
        assert rows[vid]["gene_id"] == gene and int(rows[vid]["tss_position"]) == -28
        assert float(rows[vid]["delta_leaf"]) == pytest.approx(float(expected[0, 0]), abs=1e-4)
        assert float(rows[vid]["delta_root"]) == pytest.approx(float(expected[0, 1]), abs=1e-4)
    effects = [float(r["max_abs_delta"]) for r in read_rows(out / "variants.tsv", "\t")]
    assert effects == sorted(effects, reverse=True)
    assert json.loads((out / "variants_summary.json").read_text())["outside_promoters"] == 1


def test_indels_keep_the_window_length_and_its_tss_end():
    chrom = ("ACGT" * 50).encode()
    from florabert.explain.variants import Variant

    ins = Variant(1, "c", 101, "x", "A", "ATTT")  # 0-based 100, inside [80, 120)
    ref, alt = mutant_window(chrom, 80, 120, "+", ins)
    assert len(alt) == len(ref) == 40
    assert alt.endswith(chrom[101:120].decode()) and alt[-23:-19] == "ATTT"
    dele = Variant(1, "c", 101, "x", "ACGT", "A")
    ref, alt = mutant_window(chrom, 80, 120, "+", dele)
    assert alt == chrom[77:101].decode() + chrom[104:120].decode()  # 3 more 5' bases
    ref, alt = mutant_window(chrom, 80, 120, "-", dele)  # minus strand: TSS side is the left end
    assert alt == reverse_complement(chrom[80:101] + chrom[104:123]).decode()
    assert ref == reverse_complement(chrom[80:120]).decode()


def test_cds_windows_take_variants_in_spliced_coordinates():
    from florabert.explain.variants import Variant, cds_mutant

    # exons [4, 10) ATGCCC and [16, 25) GGGAAATAA (0-based), intron GTTTAG: the CDS is ATGCCCGGGAAATAA
    chrom = b"AAAAATGCCCGTTTAGGGGAAATAATT"
    pieces = ((4, 10), (16, 25))
    snp = Variant(1, "c", 8, "x", "C", "T")  # 0-based 7: the 4th coding base
    assert cds_mutant(chrom, pieces, "+", snp, 0, 9) == ("ATGCCCGGG", "ATGTCCGGG", 3)
    ins = Variant(1, "c", 18, "x", "G", "GT")  # 0-based 17: the 8th coding base, in the second exon
    assert cds_mutant(chrom, pieces, "+", ins, 0, 9) == ("ATGCCCGGG", "ATGCCCGGT", 7)  # the frame shifts
    assert cds_mutant(chrom, pieces, "+", ins, 0, 6) is None  # past the window's end
    assert cds_mutant(chrom, pieces, "+", Variant(1, "c", 10, "x", "CG", "C"), 0, 15) is None  # crosses a boundary
    assert cds_mutant(chrom, pieces, "+", Variant(1, "c", 13, "x", "T", "A"), 0, 15) is None  # intronic
    # the same pieces on the - strand: the CDS reads TTATTTCCCGGGCAT, the SNP is its 12th base
    assert cds_mutant(chrom, pieces, "-", snp, 0, 15) == ("TTATTTCCCGGGCAT", "TTATTTCCCGGACAT", 11)


def test_variant_input_errors(run_cli, genome, tmp_path):
    root, chrom, model = genome
    head = "##fileformat=VCFv4.2\n##contig=<ID=c1>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    args = ("--genome", root / "g.fa", "--annotation", root / "g.gff3", "--out", tmp_path / "o")
    bad = tmp_path / "bad.vcf"
    bad.write_text(head + f"c1\t10\ta\t{chrom[9]}\tG\t.\t.\t.\nc1\tabc\tb\tA\tG\t.\t.\t.\n")
    code, _, err = run_cli("explain", "variants", "--model", model, "--vcf", bad, *args)
    assert code == 1 and f"{bad}:5:" in err and "POS 'abc'" in err and "Traceback" not in err
    wrong = tmp_path / "wrong.vcf"
    other = "A" if chrom[99] != "A" else "C"
    wrong.write_text(head + f"c1\t100\ta\t{other}\tG\t.\t.\t.\n")
    code, _, err = run_cli("explain", "variants", "--model", model, "--vcf", wrong, *args)
    assert code == 1 and f"{wrong}:4:" in err and "does not match the genome" in err
    chrom_x = tmp_path / "x.vcf"
    chrom_x.write_text(head.replace("c1", "chrX") + "chrX\t100\ta\tA\tG\t.\t.\t.\n")
    code, _, err = run_cli("explain", "variants", "--model", model, "--vcf", chrom_x, *args)
    assert code == 1 and "none of its chromosomes (chrX)" in err
    code, _, err = run_cli("explain", "variants", "--model", model, "--vcf", tmp_path / "nope.vcf", *args)
    assert code == 1 and "not found" in err
    assert not (tmp_path / "o").exists()


def test_attention_arrays_and_token_spans(run_cli, planted_model, planted, tmp_path):
    out = tmp_path / "att"
    code, _, err = run_cli("explain", "attention", "--model", planted_model, "--promoters",
                           planted / "p.parquet", "--genes", "g000", "--out", out)
    assert code == 0, err
    z = np.load(out / "attention_g000.npz")
    att = z["attention"]
    assert att.shape == (4, 2, 22, 22)  # layers, heads, <s> + 20 six-mers + </s>
    np.testing.assert_allclose(att.sum(-1), 1.0, atol=1e-5)  # rows are softmax distributions
    assert z["end"][-2] == 0 and z["start"][1] == -120  # last 6-mer ends at the TSS; first starts at -120
    assert list(z["tokens"][[0, -1]]) == ["<s>", "</s>"]
    assert z["tokens"][-6] == "TATAAA" and z["start"][-6] == -30
    assert (out / "attention_g000.png").exists()


def test_species_embeddings_on_two_species(run_cli, planted, tmp_path):
    t = pq.read_table(planted / "p.parquet")
    rng = np.random.default_rng(0)
    # species B: GC-rich promoters, so composition separates the species
    b = ["".join(rng.choice(list("ACGT"), 120, p=[0.15, 0.35, 0.35, 0.15])) for _ in range(60)]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    pq.write_table(t.slice(0, 60), corpus / "a.parquet")
    pq.write_table(pa.table({"species": ["B"] * 60, "gene_id": [f"b{i}" for i in range(60)],
                             "sequence": b}), corpus / "b.parquet")
    out = tmp_path / "sp"
    code, _, err = run_cli("explain", "species", "--model", planted / "pre", "--corpus", corpus, "--out", out,
                           "--per-species", "40", "--k", "3")
    assert code == 0, err
    summary = json.loads((out / "species_summary.json").read_text())
    assert summary["species"] == {"s": 40, "B": 40}
    assert summary["representations"]["1-mer composition"]["silhouette_cosine"] > 0.3
    rows = read_rows(out / "species_embeddings.tsv", "\t")
    assert len(rows) == 80 and "FloraBERT embedding PC1" in rows[0]
    assert (out / "species_pca.png").exists() and (out / "species_pca.svg").exists()
    code, _, err = run_cli("explain", "species", "--model", planted / "pre", "--corpus", corpus / "a.parquet",
                           "--out", out)
    assert code == 1 and "at least two species" in err


def test_variants_name_the_motif_a_snp_destroys(run_cli, genome, tmp_path):
    from florabert.motifs.annotate import plant_scanner
    from florabert.motifs.jaspar import PSEUDOCOUNT

    root, chrom, model = genome

    def share(m):  # the largest share of a site's score range that one base carries
        lp = np.log2(m.probabilities(PSEUDOCOUNT))
        span = lp.max(0) - lp.min(0)
        return span.max() / span.sum()

    m = max((x for x in plant_scanner().matrices if 6 <= x.width <= 12), key=share)
    consensus = "".join("ACGT"[i] for i in m.counts.argmax(0))
    col = int(np.argmax(np.ptp(np.log2(m.probabilities(PSEUDOCOUNT)), axis=0)))
    weakest = "ACGT"[int(m.counts[:, col].argmin())]
    rc = lambda s: reverse_complement(s.encode()).decode()  # noqa: E731
    # the - gene reads [2200, 2320) reverse-complemented: plant the site on the gene's strand at genome 2240
    planted = chrom[:2240] + rc(consensus) + chrom[2240 + m.width:]
    (tmp_path / "g.fa").write_text(">c1\n" + "\n".join(planted[i:i + 60] for i in range(0, 3000, 60)) + "\n")
    pos = 2240 + m.width - 1 - col  # the column's base on the genome's strand
    vcf = tmp_path / "v.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n##contig=<ID=c1,length=3000>\n"
                   "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   f"c1\t{pos + 1}\tsnp\t{planted[pos]}\t{rc(weakest)}\t.\t.\t.\n")
    out = tmp_path / "var"
    code, _, err = run_cli("explain", "variants", "--model", model, "--vcf", vcf, "--genome", tmp_path / "g.fa",
                           "--annotation", root / "g.gff3", "--out", out)
    assert code == 0, err
    row = read_rows(out / "variants.tsv", "\t")[0]
    assert row["gene_id"] == "gM" and row["allele_strand"] == "+"
    assert f"{m.name} ({m.family}, {m.matrix_id})" in row["motifs"] and row["motif_effect"] == "destroyed"
    named = next(s for s in row["motifs"].split("; ") if m.matrix_id in s)
    assert named.endswith("destroyed")
    assert json.loads((out / "variants_summary.json").read_text())["destroying_a_motif_site"] == 1


def test_predict_names_every_gene_it_cannot_score(run_cli, genome, tmp_path):
    root, _, model = genome
    gff = tmp_path / "g.gff3"  # gEdge starts 50 bp into the chromosome: its 120-bp promoter does not fit
    edge = "c1\tt\tgene\t51\t300\t.\t+\t.\tID=gEdge;biotype=protein_coding\n"
    gff.write_text((root / "g.gff3").read_text() + edge)
    out = tmp_path / "p.tsv"
    code, stdout, err = run_cli("predict", "--model", model, "--genome", root / "g.fa", "--annotation", gff,
                                "--out", out)
    assert code == 0, err
    assert sorted(r["gene_id"] for r in read_rows(out, "\t")) == ["gM", "gP"]
    assert "gEdge" in (tmp_path / "p.tsv.dropped.tsv").read_text() and "gEdge" in stdout + err
    before = out.read_text()
    code, _, err = run_cli("predict", "--model", model, "--genome", root / "g.fa", "--annotation", gff,
                           "--genes", "gP,gEdge,nope", "--out", out, "--force")
    assert code == 1 and "gEdge" in err and "nope: not in the input" in err and "Traceback" not in err
    assert out.read_text() == before  # nothing written: the earlier predictions stay
    # a window longer than the model's is an error naming the record and its line
    fa = tmp_path / "long.fa"
    fa.write_text(">ok\n" + "ACGT" * 30 + "\n>long\n" + "ACGT" * 50 + "\n")
    code, _, err = run_cli("predict", "--model", model, "--fasta", fa, "--out", tmp_path / "q.tsv")
    assert code == 1 and "long.fa:3: record 'long'" in err and "200 bases" in err
