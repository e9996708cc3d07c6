"""Multi-window inputs through the model: tokenizer, segment ids and per-window positions, fine-tuning on
a two-window layout, and predictions from genome + annotation that read exactly the layout's windows."""

import numpy as np
import pytest
import torch

from florabert.layout import Layout
from florabert.modeling import FloraBertConfig, FloraBertForExpression, adopt_layout, layout_position_ids
from florabert.tokenization import train_tokenizer

LAYOUT = "tss:-30:+30,tts:-30:+30"


@pytest.fixture(scope="module")
def tok3():
    return train_tokenizer(None, kind="kmer", k=3, stride=3)


def test_tokenizer_joins_windows_with_segments_and_truncates_away_from_the_anchor(tok3):
    tok3.layout = Layout.parse("tss:-6:0,tts:0:+6")
    enc = tok3("AAACCC|GGGTTT")
    v = tok3.hf.get_vocab()
    assert enc["input_ids"] == [0, v["AAA"], v["CCC"], 2, v["GGG"], v["TTT"], 2]
    assert enc["token_type_ids"] == [0, 0, 0, 0, 1, 1, 1]
    cut = tok3("AAACCC|GGGTTT", truncation=True, max_length=3)
    # the TSS window keeps its 3' end (next to the TSS), the TTS window its 5' end (next to the TTS)
    assert cut["input_ids"] == [0, v["CCC"], 2, v["GGG"], v["TTT"], 2]
    batch = tok3(["AAACCC|GGGTTT", "CCC|GGG"], padding=True, return_tensors="pt")
    assert batch["input_ids"].shape == (2, 7) and batch["token_type_ids"][1].tolist() == [0, 0, 0, 0, 0, 1, 1]
    # a window anchored at its 5' end reads its 3-mers from there (the leftover base is the last token)
    grid = tok3("AAACCC|GGGTTTA", truncation=True, max_length=3)
    assert grid["input_ids"][3:] == [v["GGG"], v["TTT"], 2]
    assert tok3("AAACCC|GGGTTTA")["input_ids"][-2] == v["A"]
    with pytest.raises(Exception, match="expected 2"):
        tok3("AAACCC")
    tok3.layout = None


def test_positions_are_anchored_per_window_whatever_the_padding():
    mask = torch.tensor([[0, 0, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1]])
    types = torch.tensor([[0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1, 1, 1]])
    pos = layout_position_ids(mask, types, [True, False], max_positions=20, padding_idx=1)
    assert pos[0].tolist() == [1, 1, 18, 19, 2, 3, 4, 5]  # window 0 ends at 19, window 1 starts at 2
    assert pos[1].tolist() == [16, 17, 18, 19, 2, 3, 4, 5]


def _model(tok, layout=None, seed=0):
    torch.manual_seed(seed)
    cfg = FloraBertConfig.from_tokenizer(tok.hf, max_length=32, hidden_size=32, num_hidden_layers=2,
                                         num_attention_heads=2, intermediate_size=64, num_labels=2,
                                         targets=["a", "b"])
    model = FloraBertForExpression(cfg).eval()
    if layout is not None:
        adopt_layout(model, Layout.parse(layout))
    return model


def test_one_window_layout_is_exactly_the_plain_model(tok3):
    plain = _model(tok3)
    laid = _model(tok3, "tss:-1000:0")
    seqs = ["ACGTACGTAAAC", "TTTGGGCCCAAATTT"]
    batch = tok3(seqs, padding=True, return_tensors="pt")
    assert "token_type_ids" not in batch
    with torch.no_grad():
        assert torch.equal(plain(**batch).logits, laid(**batch).logits)


def test_two_window_model_pads_and_segments_consistently(tok3):
    model = _model(tok3, "tss:-6:0,tts:0:+9")
    tok3.layout = model.config.layout
    one = tok3(["AAACCC|GGGTTTACG"], return_tensors="pt")
    two = tok3(["AAACCC|GGGTTTACG", "AAACCCGGG|GGGTTTACGTTTTTT"], padding=True, return_tensors="pt")
    no_types = {k: v for k, v in two.items() if k != "token_type_ids"}
    with torch.no_grad():
        a = model(**one).logits[0]
        b = model(**two).logits
        c = model(**no_types).logits  # segments derived from the </s> tokens give the same result
    assert torch.allclose(a, b[0], atol=1e-5) and torch.allclose(b, c, atol=1e-6)
    tok3.layout = None


@pytest.fixture(scope="module")
def two_window(tmp_path_factory, tok3):
    """A random genome of 240 genes (both strands) whose expression follows a motif in the TSS window and
    another in the TTS window; a model fine-tuned on the layout tss:-30:+30,tts:-30:+30."""
    from florabert.config import FinetuneConfig, load_config
    from florabert.data.dataset import build_expression_dataset
    from florabert.genome import extract_promoters, write_promoters
    from florabert.modeling import FloraBertForMaskedLM
    from florabert.training.finetune import finetune

    root = tmp_path_factory.mktemp("two_window")
    rng = np.random.default_rng(1)
    seq, gff, tpm = [], ["##gff-version 3"], ["gene_id\tleaf"]
    pos = 100
    for i in range(240):
        up, body, down = (list(rng.choice(list("ACGT"), n)) for n in (60, 300, 60))
        a, b = i % 2, (i // 2) % 2
        gene = up[30:] + body[:30] + body[30:270] + body[270:] + down[:30]
        # motif A 10 bases before the TSS, motif B 10 bases after the TTS (on the gene's strand)
        if a:
            gene[20:26] = "TATAAA"
        if b:
            gene[-20:-14] = "GGATCC"
        strand = "+" if i % 3 else "-"
        block = up[:30] + gene + down[30:]
        if strand == "-":
            block = list("".join(block)[::-1].translate(str.maketrans("ACGT", "TGCA")))
        seq += block
        start = pos + 60  # 0-based gene start (+) / end side (-) inside the block
        gff.append(f"chr1\tt\tgene\t{start + 1}\t{start + 300}\t.\t{strand}\t.\tID=gene-g{i:03d};"
                   "gene_biotype=protein_coding")
        pos += len(block)
        tpm.append(f"g{i:03d}\t{np.exp(1 + 2 * a + 1.5 * b + rng.normal(0, 0.1)) - 1:.4f}")
    genome = "N" * 100 + "".join(seq) + "N" * 100
    lines = [genome[i:i + 80] for i in range(0, len(genome), 80)]
    (root / "genome.fa").write_text(">chr1\n" + "\n".join(lines) + "\n")
    (root / "genes.gff3").write_text("\n".join(gff) + "\n")
    (root / "tpm.tsv").write_text("\n".join(tpm) + "\n")
    table = extract_promoters(root / "genome.fa", root / "genes.gff3", layout=LAYOUT).table
    assert table.num_rows == 240
    write_promoters(table, root / "p.parquet")
    build_expression_dataset(root / "tpm.tsv", root / "p.parquet", root / "data", families=None,
                             log=lambda m: None)
    cfg = FloraBertConfig.from_tokenizer(tok3.hf, max_length=24, hidden_size=32, num_hidden_layers=2,
                                         num_attention_heads=2, intermediate_size=64)
    torch.manual_seed(0)
    FloraBertForMaskedLM(cfg).save_pretrained(root / "pre")
    tok3.write_files(root / "pre")
    ft = load_config(FinetuneConfig, overrides={
        "max_steps": 300, "eval_steps": 50, "batch_size": 16, "learning_rate": 3e-3, "warmup_steps": 10,
        "unfreeze_every": 50, "early_stopping_patience": 20, "logging_steps": 50, "optimizer": "adamw",
        "freeze_embeddings": False})
    metrics = finetune(root / "pre", root / "data", root / "ft", ft, log=lambda m: None)
    return root, metrics


def test_two_window_model_learns_from_both_windows(two_window):
    root, metrics = two_window
    model = FloraBertForExpression.from_pretrained(root / "ft")
    assert model.config.layout.spec == LAYOUT and model.config.type_vocab_size == 2
    assert metrics["test"]["test_r2_all"] > 0.5


def test_genome_predictions_change_with_bases_in_either_window_only(two_window, run_cli, tmp_path):
    root, _ = two_window
    fasta = (root / "genome.fa").read_text().splitlines()
    genome = "".join(fasta[1:])
    line = next(x for x in (root / "genes.gff3").read_text().splitlines() if "gene-g001;" in x).split("\t")
    assert line[6] == "+"
    start, end = int(line[3]) - 1, int(line[4])  # g001's [start, end), 0-based
    probes = {"tss window": start - 5, "tts window": end + 12, "gene body": start + 150,
              "upstream of both": start - 45}

    def predict_with(genome_text, name):
        path = tmp_path / f"{name}.fa"
        path.write_text(">chr1\n" + genome_text + "\n")
        out = tmp_path / f"{name}.tsv"
        code, _, err = run_cli("predict", "--model", root / "ft", "--genome", path, "--annotation",
                               root / "genes.gff3", "--out", out)
        assert code == 0, err
        rows = dict(line.split("\t", 1) for line in out.read_text().splitlines()[1:])
        return rows["g001"]

    base = predict_with(genome, "ref")
    changed = {}
    for label, p in probes.items():
        alt = "A" if genome[p] != "A" else "C"
        changed[label] = predict_with(genome[:p] + alt + genome[p + 1:], label.replace(" ", "_")) != base
    assert changed == {"tss window": True, "tts window": True, "gene body": False, "upstream of both": False}


def test_predict_tsv_and_fasta_take_one_column_or_record_per_window(two_window, run_cli, tmp_path):
    from florabert.genome import read_promoters, write_promoters

    root, _ = two_window
    table = read_promoters(root / "p.parquet").slice(0, 5)
    write_promoters(table, tmp_path / "w.fa")
    tsv = tmp_path / "w.tsv"
    tss, tts = zip(*(s.split("|") for s in table.column("sequence").to_pylist()), strict=True)
    tsv.write_text("gene_id\ttss:-30:+30\ttts:-30:+30\n" + "".join(
        f"{g}\t{a}\t{b}\n" for g, a, b in zip(table.column("gene_id").to_pylist(), tss, tts, strict=True)))
    # the model reads the gene-model features too: from the annotation (for the record ids), or a table
    write_promoters(table.select(["gene_id"] + [c for c in table.column_names if c.startswith("gm_")]),
                    tmp_path / "gm.tsv")
    outs = []
    for flag, path, genes in (("--fasta", tmp_path / "w.fa", ["--annotation", root / "genes.gff3"]),
                              ("--tsv", tsv, ["--gene-features", tmp_path / "gm.tsv"])):
        out = tmp_path / f"{path.suffix[1:]}.out.tsv"
        code, _, err = run_cli("predict", "--model", root / "ft", flag, path, "--out", out, *genes)
        assert code == 0, err
        outs.append(out.read_text())
    assert outs[0] == outs[1]
    genome = tmp_path / "g.out.tsv"
    code, _, err = run_cli("predict", "--model", root / "ft", "--genome", root / "genome.fa", "--annotation",
                           root / "genes.gff3", "--genes", ",".join(table.column("gene_id").to_pylist()),
                           "--out", genome)
    assert code == 0 and genome.read_text() == outs[0], err
    code, _, err = run_cli("predict", "--model", root / "ft", "--tsv", tsv, "--out", tmp_path / "n.tsv")
    assert code == 1 and "gene-model features" in err and "--without-gene-features" in err
    code, _, err = run_cli("predict", "--model", root / "ft", "--tsv", tsv, "--out", tmp_path / "n.tsv",
                           "--without-gene-features")
    assert code == 0, err
    header, *rows = (tmp_path / "n.tsv").read_text().splitlines()
    assert header.endswith("\tgene_model") and all(r.endswith("\taverage") for r in rows)
    bad = tmp_path / "bad.tsv"
    bad.write_text("gene_id\tsequence\ng1\tACGTACGT\n")
    code, _, err = run_cli("predict", "--model", root / "ft", "--tsv", bad, "--out", tmp_path / "x.tsv",
                           "--without-gene-features")
    assert code == 1 and "bad.tsv:2" in err and "2 windows" in err


def test_evaluate_scores_the_two_window_model_next_to_baselines_on_the_same_windows(two_window, run_cli,
                                                                                      tmp_path):
    import csv

    root, _ = two_window
    code, _, err = run_cli("evaluate", "--data", root / "data", "--models", root / "ft", "--out", tmp_path / "ev",
                           "--baselines", "const_mean,kmer_linear,kmer_linear@tss:-30:+30", "--bootstrap", "50")
    assert code == 0, err
    with open(tmp_path / "ev" / "metrics.csv") as fh:
        rows = {r["model"]: float(r["r2"]) for r in csv.DictReader(fh) if r["tissue"] == "All"}
    assert set(rows) == {"const_mean", "kmer_linear", "kmer_linear@tss:-30:+30", "ft"}
    assert rows["ft"] > 0.5 and rows["kmer_linear"] > rows["kmer_linear@tss:-30:+30"]


def test_explain_reports_each_window_in_its_own_landmark_coordinates(two_window, run_cli, tmp_path):
    import csv
    import json

    root, _ = two_window
    out = tmp_path / "pos"
    code, _, err = run_cli("explain", "positional", "--model", root / "ft", "--promoters", root / "p.parquet",
                           "--lengths", "6", "--samples", "2", "--max-sequences", "24", "--step", "1",
                           "--out", out)
    assert code == 0, err
    with open(out / "positional_importance.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["tissue"] == "mean"]
    by_window = {}
    for r in rows:
        by_window.setdefault(r["window"], []).append((float(r["importance"]), int(r["position"])))
    assert set(by_window) == {"tss:-30:+30", "tts:-30:+30"}
    assert {p for _, p in by_window["tss:-30:+30"]} == set(range(-30, 25))  # every 6-mer start in the window
    # the planted motifs: TATAAA at TSS -10..-5, GGATCC at TTS +10..+15
    assert -16 <= max(by_window["tss:-30:+30"])[1] <= -5
    assert 4 <= max(by_window["tts:-30:+30"])[1] <= 15
    code, _, err = run_cli("explain", "ism", "--model", root / "ft", "--promoters", root / "p.parquet",
                           "--genes", "g003", "--region", "tts:0:+20", "--out", tmp_path / "ism")
    assert code == 0, err
    with open(tmp_path / "ism" / "ism.tsv") as fh:
        ism = list(csv.DictReader(fh, delimiter="\t"))
    assert {r["window"] for r in ism} == {"tts:-30:+30"} and {int(r["position"]) for r in ism} == set(range(20))
    summary = json.loads((tmp_path / "ism" / "ism_summary.json").read_text())
    assert summary["genes"]["g003"]["peak_position"].startswith("tts:+")
    code, _, err = run_cli("explain", "attention", "--model", root / "ft", "--promoters", root / "p.parquet",
                           "--genes", "g003", "--out", tmp_path / "att")
    assert code == 0, err
    npz = np.load(tmp_path / "att" / "attention_g003.npz")
    real = npz["end"] != npz["start"]
    assert set(npz["window"][real].tolist()) == {0, 1}
    assert npz["start"][real & (npz["window"] == 0)].min() == -30 and npz["end"][real].max() == 30


def test_variant_effects_name_the_window_and_its_landmark_position(two_window, run_cli, tmp_path):
    import csv

    root, _ = two_window
    genome = "".join((root / "genome.fa").read_text().splitlines()[1:])
    gff = [x.split("\t") for x in (root / "genes.gff3").read_text().splitlines()[1:]]
    plus = next(f for f in gff if "gene-g001;" in f[8])
    minus = next(f for f in gff if "gene-g003;" in f[8])
    assert minus[6] == "-"
    p_start, p_end = int(plus[3]) - 1, int(plus[4])
    m_start = int(minus[3]) - 1
    sites = {"tss_hit": p_start - 10, "tts_hit": p_end + 12, "body": p_start + 150,
             "minus_tts": m_start - 3}  # the base 3 bp past g003's 3' end (it runs leftwards)
    lines = []
    for vid, p in sorted(sites.items(), key=lambda x: x[1]):
        ref = genome[p]
        lines.append(f"chr1\t{p + 1}\t{vid}\t{ref}\t{'A' if ref != 'A' else 'C'}\t.\t.\t.")
    vcf = tmp_path / "v.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n##contig=<ID=chr1>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   + "\n".join(lines) + "\n")
    code, _, err = run_cli("explain", "variants", "--model", root / "ft", "--vcf", vcf, "--genome",
                           root / "genome.fa", "--annotation", root / "genes.gff3", "--out", tmp_path / "v")
    assert code == 0, err
    with open(tmp_path / "v" / "variants.tsv") as fh:
        rows = {r["variant_id"]: r for r in csv.DictReader(fh, delimiter="\t")}
    assert (rows["tss_hit"]["gene_id"], rows["tss_hit"]["window"], rows["tss_hit"]["position"]) == (
        "g001", "tss:-30:+30", "-10")
    assert (rows["tts_hit"]["window"], rows["tts_hit"]["position"]) == ("tts:-30:+30", "12")
    assert (rows["minus_tts"]["gene_id"], rows["minus_tts"]["window"], rows["minus_tts"]["position"]) == (
        "g003", "tts:-30:+30", "2")
    assert rows["body"]["gene_id"] == "." and float(rows["body"]["max_abs_delta"]) == 0
    assert float(rows["tts_hit"]["max_abs_delta"]) > 0
