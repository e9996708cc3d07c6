"""Classification tasks from a genome + annotation: labels checked against the annotation by hand, on both
strands; leakage-free splits; the classification report."""

from __future__ import annotations

import random

import pyarrow.parquet as pq
import pytest

COMP = str.maketrans("ACGT", "TGCA")


def rc(s: str) -> str:
    return s.translate(COMP)[::-1]


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    """chr1 (20 kb) with gene gp on + (CDS 3001-3100, intron, 3201-3300, intron, 3401-3500; 1-based) and gene gm
    on - (CDS 12001-12100, 12201-12300); introns start GT and end AG on the gene's strand."""
    root = tmp_path_factory.mktemp("tasks")
    rng = random.Random(1)
    seq = [rng.choice("ACGT") for _ in range(20_000)]

    def put(pos0: int, s: str):
        seq[pos0:pos0 + len(s)] = list(s)

    for a, b in ((3100, 3200), (3300, 3400)):  # + strand introns [a, b) (0-based)
        put(a, "GT")
        put(b - 2, "AG")
    put(12100, "CT")  # - strand intron [12100, 12200): on the - strand it starts at 12199 with GT
    put(12198, "AC")
    (root / "g.fa").write_text(">chr1\n" + "".join(seq) + "\n")
    gff = ["##gff-version 3",
           "chr1\tt\tgene\t2901\t3600\t.\t+\t.\tID=gene-gp;gene_biotype=protein_coding",
           "chr1\tt\tmRNA\t2901\t3600\t.\t+\t.\tID=rna-gp;Parent=gene-gp",
           *(f"chr1\tt\tCDS\t{a}\t{b}\t.\t+\t0\tID=cds-gp;Parent=rna-gp"
             for a, b in ((3001, 3100), (3201, 3300), (3401, 3500))),
           "chr1\tt\tgene\t11901\t12400\t.\t-\t.\tID=gene-gm;gene_biotype=protein_coding",
           "chr1\tt\tmRNA\t11901\t12400\t.\t-\t.\tID=rna-gm;Parent=gene-gm",
           *(f"chr1\tt\tCDS\t{a}\t{b}\t.\t-\t0\tID=cds-gm;Parent=rna-gm"
             for a, b in ((12001, 12100), (12201, 12300)))]
    (root / "g.gff3").write_text("\n".join(gff) + "\n")
    return root, "".join(seq)


def test_splice_windows_are_centred_on_exon_boundaries_on_both_strands(genome):
    from florabert.data.tasks import splice_examples

    root, seq = genome
    rows = splice_examples(root / "g.fa", root / "g.gff3", flank=50)
    sites = {(r["gene"], r["label"], r["start"] + 50) for r in rows if r["label"]}
    # + strand: donors at the intron starts, acceptors at the intron ends; - strand: the other way round
    assert sites == {("gp", 1, 3100), ("gp", 2, 3200), ("gp", 1, 3300), ("gp", 2, 3400),
                     ("gm", 1, 12200), ("gm", 2, 12100)}
    for r in rows:
        window = seq[r["start"]:r["end"]]
        assert r["sequence"] == (window if r["strand"] == "+" else rc(window))
        if r["label"] == 1:
            assert r["sequence"][50:52] == "GT"
        elif r["label"] == 2:
            assert r["sequence"][48:50] == "AG"
        else:  # non-sites: a GT or AG where no boundary is annotated
            assert r["sequence"][50:52] == "GT" or r["sequence"][48:50] == "AG"


def test_promoter_windows_hold_their_tss_and_background_is_away_from_it(genome):
    from florabert.data.tasks import promoter_examples

    root, seq = genome
    rows = promoter_examples(root / "g.fa", root / "g.gff3", min_distance=1500, seed=0)
    pos = {r["gene"]: r for r in rows if r["label"] == 1}
    assert pos["gp"]["start"] == 2900 - 249 and pos["gp"]["sequence"][249] == seq[2900]  # the TSS, base 250
    assert pos["gm"]["end"] == 12399 + 250 and pos["gm"]["sequence"][249] == rc(seq[12399])
    neg = [r for r in rows if r["label"] == 0]
    assert len(neg) == 2 and all(len(r["sequence"]) == 300 for r in rows)
    assert all(min(abs(r["start"] + 150 - t) for t in (2900, 12399)) >= 1500 for r in neg)


def test_task_dataset_split_audit_and_classification_report(genome, tmp_path, run_cli):
    root, _ = genome
    code, _, err = run_cli("tasks", "--task", "splice", "--genome", root / "g.fa", "--annotation",
                           root / "g.gff3", "--out", tmp_path / "t", "--test-fraction", "0.5")
    assert code == 0, err
    table = pq.read_table(tmp_path / "t" / "dataset.parquet").to_pylist()
    parts = {}
    for r in table:
        parts.setdefault(r["family"], set()).add(r["split"])
    assert all(len(p) == 1 for p in parts.values())  # a gene's examples never straddle the split
    import json

    audit = json.loads((tmp_path / "t" / "audit.json").read_text())
    assert audit["groups_in_train_and_test"] == 0 and audit["examples"] == len(table)
    code, _, err = run_cli("evaluate", "--data", tmp_path / "t", "--out", tmp_path / "ev", "--baselines",
                           "const_prior,kmer_logistic", "--bootstrap", "20")
    assert code == 0, err
    md = (tmp_path / "ev" / "metrics.md").read_text()
    assert "| const_prior | 0.0000 |" in md and "MCC" in md and "AUROC" in md  # the prior has no skill
    one_line = run_cli("evaluate", "--data", tmp_path / "t", "--out", tmp_path / "ev2", "--baselines", "cnn")
    assert one_line[0] == 1 and "unknown classification baseline" in one_line[2]


def test_class_metrics_by_hand():
    import numpy as np

    from florabert.evaluation.metrics import class_metrics

    y = np.array([0, 0, 1, 1])
    m = class_metrics(y, np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.45, 0.55]]))
    assert m == {"mcc": 1.0, "accuracy": 1.0, "f1": 1.0, "auroc": 1.0}
    m = class_metrics(y, np.array([[0.1, 0.9], [0.6, 0.4], [0.3, 0.7], [0.45, 0.55]]))
    assert m["accuracy"] == 0.75 and m["auroc"] == 0.5 and round(m["mcc"], 4) == 0.5774  # 2 of 4 pairs


@pytest.fixture(scope="module")
def whole_annotation(tmp_path_factory):
    """chr1 (60 kb): protein-coding gp (+) with two isoforms starting at different bases (gp.1 at 3001 with an
    intron in its 5' UTR, 3051-3150, and one in its CDS, 3251-3300; gp.2 at 3101), a lncRNA (-) with an intron,
    a pseudogene, a tRNA and a protein-coding gm (-). Inside gp and gm only the annotated junctions and three
    decoys (3180, 3360, 50250; 0-based) read GT/AG on the gene's strand, so a non-site can only be a decoy or a
    junction."""
    root = tmp_path_factory.mktemp("whole")
    rng = random.Random(3)
    seq = [rng.choice("ACGT") for _ in range(60_000)]
    for lo, hi in ((2990, 3410), (49890, 50410)):
        seq[lo:hi] = [rng.choice("AT") for _ in range(hi - lo)]  # no GT or AG on either strand

    def put(pos0: int, s: str):
        seq[pos0:pos0 + len(s)] = list(s)

    # flanked by T/A so that no other GT or AG appears next to them
    for p in (3050, 3250, 3180, 3360):
        put(p - 1, "TGT")
    for p in (3150, 3300):
        put(p - 2, "AGA")
    put(50099, "TCT")  # gm (-) CDS intron [50100, 50200): AG at its 3' end (50100) on the - strand
    put(50198, "ACA")  # ... and GT at its 5' end (50200)
    put(50248, "ACA")  # decoy: GT just 3' of 50250 on the - strand
    (root / "g.fa").write_text(">chr1\n" + "".join(seq) + "\n")
    rows = [
        ("gene", 3001, 3400, "+", "ID=gene-gp;gene_biotype=protein_coding"),
        ("mRNA", 3001, 3400, "+", "ID=gp.1;Parent=gene-gp"),
        ("exon", 3001, 3050, "+", "Parent=gp.1"), ("exon", 3151, 3250, "+", "Parent=gp.1"),
        ("exon", 3301, 3400, "+", "Parent=gp.1"),
        ("CDS", 3201, 3250, "+", "Parent=gp.1"), ("CDS", 3301, 3350, "+", "Parent=gp.1"),
        ("mRNA", 3101, 3400, "+", "ID=gp.2;Parent=gene-gp"),  # a shorter CDS: gp.1's is the chosen one
        ("exon", 3101, 3400, "+", "Parent=gp.2"), ("CDS", 3201, 3280, "+", "Parent=gp.2"),
        ("ncRNA_gene", 20001, 20500, "-", "ID=gene-gl;gene_biotype=lncRNA"),
        ("lnc_RNA", 20001, 20500, "-", "ID=gl.1;Parent=gene-gl"),
        ("exon", 20001, 20100, "-", "Parent=gl.1"), ("exon", 20301, 20500, "-", "Parent=gl.1"),
        ("pseudogene", 30001, 30800, "+", "ID=gene-gps;gene_biotype=pseudogene"),
        ("gene", 40001, 40072, "+", "ID=gene-gt;gene_biotype=tRNA"),
        ("tRNA", 40001, 40072, "+", "ID=gt.1;Parent=gene-gt"),
        ("gene", 49901, 50400, "-", "ID=gene-gm;gene_biotype=protein_coding"),
        ("mRNA", 49901, 50400, "-", "ID=gm.1;Parent=gene-gm"),
        ("CDS", 50001, 50100, "-", "Parent=gm.1"), ("CDS", 50201, 50300, "-", "Parent=gm.1"),
    ]
    (root / "g.gff3").write_text("##gff-version 3\n" + "".join(
        f"chr1\tt\t{t}\t{a}\t{b}\t.\t{s}\t.\t{attrs}\n" for t, a, b, s, attrs in rows))
    # every TSS (genes and transcripts, any biotype) and every junction, 0-based, read off the rows above
    tss = {3000, 3100, 20499, 30000, 40000, 50399}
    junctions = {3050, 3150, 3250, 3300, 20100, 20300, 50100, 50200}
    return root, tss, junctions


def test_background_avoids_every_annotated_tss(whole_annotation):
    from florabert.data.tasks import promoter_examples

    root, tss, _ = whole_annotation
    stats = {}
    windows = [r for seed in range(40) for r in promoter_examples(root / "g.fa", root / "g.gff3", seed=seed,
                                                                   stats=stats) if r["label"] == 0]
    assert len(windows) >= 30  # one or two per seed, as the GC bins allow
    for r in windows:  # the window [start, end) is at least 2 kb from each TSS
        assert all(t < r["start"] - 2000 or t >= r["end"] + 2000 for t in tss), (r["start"], r["end"])
    rules = stats["background_rules"]
    assert rules["rejected"]["near_tss"] > 0 and rules["annotated_tss"] == len(tss)
    inside = [r for seed in range(10) for r in promoter_examples(
        root / "g.fa", root / "g.gff3", seed=seed, avoid_genes=True, min_distance=100) if r["label"] == 0]
    bodies = [(3000, 3400), (20000, 20500), (30000, 30800), (40000, 40072), (49900, 50400)]
    assert inside and all(e <= r["start"] or s >= r["end"] for r in inside for s, e in bodies)


def test_non_sites_avoid_every_junction_and_sites_can_come_from_every_transcript(whole_annotation):
    from florabert.data.tasks import splice_examples

    root, _, junctions = whole_annotation
    centre = lambda r: r["start"] + 50  # noqa: E731
    none = {centre(r) for seed in range(60) for r in splice_examples(root / "g.fa", root / "g.gff3", flank=50,
                                                                     seed=seed) if r["label"] == 0}
    assert none and not none & junctions  # never an annotated junction (the UTR intron's included)
    assert none == {3180, 3360, 50250}  # only the decoys are left
    chosen = {(r["gene"], r["label"], centre(r)) for r in splice_examples(root / "g.fa", root / "g.gff3", flank=50)
              if r["label"]}
    assert chosen == {("gp", 1, 3250), ("gp", 2, 3300), ("gm", 1, 50200), ("gm", 2, 50100)}  # the CDS introns
    every = {(r["gene"], r["label"], centre(r)) for r in splice_examples(
        root / "g.fa", root / "g.gff3", flank=50, all_transcripts=True) if r["label"]}
    assert every == chosen | {("gp", 1, 3050), ("gp", 2, 3150), ("gl", 1, 20300), ("gl", 2, 20100)}


def test_kmer_lgbm_classifier_learns_a_planted_5mer():
    """The classification kmer_lgbm baseline (LightGBM on 5-mer counts): class 1 carries GATAC, class 0 none."""
    import numpy as np

    from florabert.evaluation.baselines import KmerLGBMClassifier

    rng = np.random.default_rng(0)

    def seq(label):
        while True:
            s = "".join(rng.choice(list("ACGT"), 120))
            if "GATAC" not in s and "GTATC" not in s:
                break
        at = int(rng.integers(0, 115))
        return s[:at] + "GATAC" + s[at + 5:] if label else s

    y = rng.integers(0, 2, 400)
    seqs = [seq(v) for v in y]
    model = KmerLGBMClassifier(seed=0).fit(seqs[:300], y[:300])
    assert (model.predict_proba(seqs[300:]).argmax(1) == y[300:]).mean() > 0.9
