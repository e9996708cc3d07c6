"""florabert evaluate: baselines and a model on the same test genes; every number recomputable."""

import csv

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from florabert.data.dataset import build_expression_dataset, load_expression_dataset
from florabert.evaluation.metrics import score


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """300 promoters; the G-box (CACGTG) near the TSS raises expression in tissue A only."""
    root = tmp_path_factory.mktemp("ev")
    rng = np.random.default_rng(3)
    genes, seqs, rows = [], [], ["gene_id\tA\tB"]
    for i in range(300):
        s = "".join(rng.choice(list("ACGT"), 150)).replace("CACGTG", "CACCTG")
        has = i % 3 == 0
        if has:
            s = s[:120] + "CACGTG" + s[126:]
        genes.append(f"g{i}")
        seqs.append(s)
        a, b = np.exp(1 + 2 * has + rng.normal(0, 0.3)) - 1, np.exp(2 + rng.normal(0, 0.3)) - 1
        rows.append(f"g{i}\t{a:.4f}\t{b:.4f}")
    pq.write_table(pa.table({"gene_id": genes, "sequence": seqs}), root / "p.parquet")
    (root / "tpm.tsv").write_text("\n".join(rows) + "\n")
    (root / "fam.tsv").write_text("gene_id\tfamily_id\n" + "".join(f"{g}\t{g}\n" for g in genes))
    build_expression_dataset(root / "tpm.tsv", root / "p.parquet", root / "data", families=root / "fam.tsv",
                             log=lambda m: None)
    return root / "data"


def test_report_numbers_are_recomputable_from_predictions(run_cli, dataset, tmp_path):
    out = tmp_path / "rep"
    code, _, err = run_cli("evaluate", "--data", dataset, "--out", out, "--baselines",
                           "const_mean,kmer_linear,motif_lgbm", "--bootstrap", 50)
    assert code == 0, err
    data = load_expression_dataset(dataset)
    test = data.part("test")
    y = data.labels("test")
    with open(out / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["model"] for r in rows} == {"const_mean", "kmer_linear", "motif_lgbm"}
    assert len(rows) == 3 * 3  # models x (A, B, All)
    for model in ("const_mean", "kmer_linear", "motif_lgbm"):
        lines = (out / "predictions" / f"{model}.tsv").read_text().splitlines()
        assert lines[0].split("\t") == ["gene_id", "A", "B", "A_tpm", "B_tpm"]
        assert [ln.split("\t")[0] for ln in lines[1:]] == test.column("gene_id").to_pylist()
        y_hat = np.array([[float(v) for v in ln.split("\t")[1:3]] for ln in lines[1:]])
        again = {r["tissue"]: r for r in score(y, y_hat, ["A", "B"], offset=1.0, bootstrap=0)}
        for r in (r for r in rows if r["model"] == model):
            for key in ("r2", "pearson", "spearman", "mse", "mae_tpm"):
                assert float(r[key]) == pytest.approx(again[r["tissue"]][key], rel=1e-9, abs=1e-12,
                                                      nan_ok=True), (model, key)
    by = {(r["model"], r["tissue"]): r for r in rows}
    assert abs(float(by[("const_mean", "All")]["r2"])) < 0.05
    assert float(by[("motif_lgbm", "A")]["r2"]) > 0.3  # the G-box feature carries tissue A
    assert float(by[("const_mean", "All")]["mse_reduction_pct"]) == 0
    for f in ("metrics.md", "normalized_mse.png", "normalized_mse.svg", "r2_per_tissue.png",
              "predicted_vs_observed.png"):
        assert (out / f).stat().st_size > 0, f
    assert "| motif_lgbm |" in (out / "metrics.md").read_text()


def test_unknown_baseline_and_missing_test_genes(run_cli, dataset, tmp_path):
    code, _, err = run_cli("evaluate", "--data", dataset, "--out", tmp_path / "r", "--baselines", "cnn9000")
    assert code == 1 and "unknown baseline 'cnn9000'" in err


def test_cnn_baseline_finds_the_motif(run_cli, dataset, tmp_path):
    from florabert.evaluation.baselines import BASELINES

    code, _, err = run_cli("evaluate", "--data", dataset, "--out", tmp_path / "cnn", "--baselines", "cnn",
                           "--bootstrap", "0")
    assert code == 0, err
    with open(tmp_path / "cnn" / "metrics.csv") as fh:
        rows = {(r["model"], r["tissue"]): r for r in csv.DictReader(fh)}
    assert float(rows[("cnn", "A")]["r2"]) > 0.3  # the CNN finds the G-box that drives tissue A
    assert BASELINES["cnn"].seeded  # refitted per seed by --seeds (the seeds test below uses LightGBM: faster)


def test_cnn_keeps_the_epoch_the_validation_genes_choose(dataset):
    """Given validation genes, the cnn trains on every training gene and keeps the epoch with their lowest loss
    (and stops once it has not improved for ``patience`` epochs): what it predicts for them is its best epoch's."""
    from florabert.evaluation.cnn import OneHotCNN
    from florabert.evaluation.metrics import r2

    data = load_expression_dataset(dataset)
    seqs = {p: data.part(p).column("sequence").to_pylist() for p in ("train", "validation")}
    y = {p: data.labels(p) for p in ("train", "validation")}
    cnn = OneHotCNN(epochs=8, min_steps=0, patience=2).fit(seqs["train"], y["train"],
                                                           validation=(seqs["validation"], y["validation"]))
    scores = [h["validation_r2"] for h in cnn.history_]
    assert r2(y["validation"], cnn.predict(seqs["validation"])) == pytest.approx(max(scores), abs=1e-6)
    assert np.allclose(cnn.mu_, y["train"].mean(0))  # standardized on all training genes: none held out
    best = int(np.argmax(scores))
    assert len(scores) == 8 or len(scores) - 1 - best == 2  # ran every epoch, or stopped 2 after the best


def test_seeds_mean_sd(run_cli, dataset, tmp_path):
    out = tmp_path / "seeds"
    code, _, err = run_cli("evaluate", "--data", dataset, "--out", out, "--baselines", "const_mean,motif_lgbm",
                           "--bootstrap", "0", "--seeds", "2")
    assert code == 0, err
    with open(out / "metrics.csv") as fh:
        first = {(r["model"], r["tissue"]): r for r in csv.DictReader(fh)}
    with open(out / "metrics_seeds.csv") as fh:
        rows = {(r["model"], r["tissue"]): r for r in csv.DictReader(fh)}
    assert rows[("const_mean", "All")]["n_seeds"] == "1" and float(rows[("const_mean", "All")]["r2_sd"]) == 0
    assert rows[("motif_lgbm", "A")]["n_seeds"] == "2"
    # mean over seeds = (first seed's metrics.csv value + a refit with seed 1) / 2
    from florabert.evaluation.baselines import make_baseline

    data = load_expression_dataset(dataset)
    seqs = data.part("train").column("sequence").to_pylist()
    y_hat = make_baseline("motif_lgbm", seed=1).fit(seqs, data.labels("train")).predict(
        data.part("test").column("sequence").to_pylist())
    again = {r["tissue"]: r for r in score(data.labels("test"), y_hat, ["A", "B"], offset=1.0, bootstrap=0)}
    for tissue in ("A", "B", "All"):
        r1, r2 = float(first[("motif_lgbm", tissue)]["r2"]), again[tissue]["r2"]
        row = rows[("motif_lgbm", tissue)]
        assert float(row["r2_mean"]) == pytest.approx((r1 + r2) / 2, rel=1e-6)
        assert float(row["r2_sd"]) == pytest.approx(abs(r1 - r2) / np.sqrt(2), rel=1e-4, abs=1e-9)
    assert "Mean ± sd over seeds" in (out / "metrics.md").read_text()


def test_windowed_baseline_reads_only_the_bases_nearest_the_tss():
    from florabert.errors import FloraBertError
    from florabert.evaluation.baselines import make_baseline

    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 300)) for _ in range(200)]
    # the target follows GC in the last 50 bases only
    y = np.array([[s[-50:].count("G") + s[-50:].count("C")] for s in seqs], dtype=float)
    m = make_baseline("kmer_linear@50").fit(seqs, y)
    moved = ["".join(rng.choice(list("ACGT"), 250)) + s[-50:] for s in seqs[:20]]
    assert np.allclose(m.predict(seqs[:20]), m.predict(moved))
    assert np.corrcoef(np.ravel(m.predict(seqs[:20])), y[:20, 0])[0, 1] > 0.9
    assert not np.allclose(make_baseline("kmer_linear").fit(seqs, y).predict(seqs[:20]),
                           make_baseline("kmer_linear").fit(seqs, y).predict(moved))
    for bad in ("kmer_linear@", "kmer_linear@-5", "kmer_linear@x", "nope@50"):
        with pytest.raises(FloraBertError):
            make_baseline(bad)


def test_baselines_read_multi_window_genes_window_by_window():
    from florabert.errors import FloraBertError
    from florabert.evaluation.baselines import KmerCounts, make_baseline
    from florabert.layout import Layout

    counts = KmerCounts(2, 2).fit_transform(["AC|GT", "AA|TT"])
    assert counts.shape == (2, 4) and counts.sum(axis=1).tolist() == [2, 2]  # AC, GT; AA, TT: no C|G k-mer
    lay = Layout.parse("tss:-60:0,tts:0:+60")
    rng = np.random.default_rng(0)
    tss = ["".join(rng.choice(list("ACGT"), 60)) for _ in range(200)]
    tts = ["".join(rng.choice(list("ACGT"), 60)) for _ in range(200)]
    seqs = np.array([f"{a}|{b}" for a, b in zip(tss, tts, strict=True)], dtype=object)
    y = np.array([[b[:20].count("G")] for b in tts], dtype=float)  # the 20 bases just after the TTS
    tr, te = slice(0, 150), slice(150, 200)

    def held_out_r(name):
        m = make_baseline(name, layout=lay).fit(seqs[tr], y[tr])
        return np.corrcoef(m.predict(seqs[te]).ravel(), y[te].ravel())[0, 1]

    for name in ("kmer_linear@20", "kmer_linear@tts:0:+20"):
        assert held_out_r(name) > 0.7, name
    assert held_out_r("kmer_linear") > 0.3  # both whole windows: 2,720 counts for 150 genes
    # the TTS window is anchored at its 5' end: @20 keeps its first 20 bases; the TSS window its last 20
    w = make_baseline("kmer_linear@20", layout=lay)
    assert w._cut([seqs[0]]) == [f"{tss[0][-20:]}|{tts[0][:20]}"]
    assert held_out_r("kmer_linear@tss:-60:0") < 0.3  # cannot see the TTS window
    with pytest.raises(FloraBertError, match="not inside"):
        make_baseline("kmer_linear@tss:-100:0", layout=lay)


def test_kmer_counts_are_countvectorizers():
    """The k-mer baselines' counts equal scikit-learn's CountVectorizer's char n-grams, N and IUPAC letters and
    sequences shorter than k included; at transform, k-mers unseen in training (or with unseen letters) drop."""
    from sklearn.feature_extraction.text import CountVectorizer

    from florabert.evaluation.baselines import _WindowKmers

    rng = np.random.default_rng(5)

    def seqs(n, letters, p):
        return ["".join(rng.choice(list(letters), rng.integers(0, 40), p=p)) for _ in range(n)]

    train = [*seqs(60, "ACGTN", [0.3, 0.2, 0.2, 0.28, 0.02]), "A", "", "ACGTR"]
    test = seqs(30, "ACGTNY", [0.25, 0.2, 0.2, 0.25, 0.05, 0.05])
    for k_min, k_max in ((1, 3), (2, 5), (4, 4)):
        ours, oracle = _WindowKmers(k_min, k_max), CountVectorizer(analyzer="char", ngram_range=(k_min, k_max),
                                                                   lowercase=False)
        got, want = ours.fit_transform(train), oracle.fit_transform(train).toarray()
        names = ours.feature_names()
        assert sorted(names) == list(oracle.get_feature_names_out())
        order = [oracle.vocabulary_[n] for n in names]
        np.testing.assert_array_equal(got, want[:, order])
        np.testing.assert_array_equal(ours.transform(test), oracle.transform(test).toarray()[:, order])
