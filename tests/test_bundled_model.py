"""The bundled models work right after install: listed by `florabert models`, usable by name, and they predict
genes they never saw about as well as their card says."""

import json

import numpy as np
import pytest

from conftest import requires_bundled
from florabert.bundled import models, path, resolve_model


def test_bundled_models_are_listed_and_resolve_by_name(run_cli):
    found = models()
    assert {"arabidopsis-leaf", "arabidopsis-leaf-deep"} <= set(found)
    for folder in found.values():
        assert sum(f.stat().st_size for f in folder.iterdir()) < 10 * 2**20
        assert not list(folder.glob("*.bin")) and not list(folder.glob("*.pkl"))  # no pickle
        card = json.loads((folder / "card.json").read_text())
        assert card["test_r2_lo"] < card["test_r2"] < card["test_r2_hi"]
        metrics = json.loads((folder / "metrics.json").read_text())
        assert not any(isinstance(v, str) and v.startswith("/") for v in metrics.values())  # no run paths
    code, out, err = run_cli("models")
    assert code == 0 and "arabidopsis-leaf" in out + err
    assert resolve_model("arabidopsis-leaf") == found["arabidopsis-leaf"]
    code, _, err = run_cli("predict", "--model", "no-such-model", "--fasta", "x.fa", "--out", "p.tsv")
    assert code == 1 and "bundled" in err and "Traceback" not in err


@pytest.mark.realdata
@requires_bundled
@pytest.mark.parametrize("name", ["arabidopsis-leaf", "arabidopsis-leaf-deep"])
def test_bundled_model_predicts_genes_it_never_saw(run_cli, tmp_path, name):
    from florabert.evaluation.metrics import r2
    from florabert.genome.cresschrom import bundled_genomes

    folder = models()[name]
    card = json.loads((folder / "card.json").read_text())
    test = (folder / "test_genes.txt").read_text().split()[:300]
    at = next(g for g in bundled_genomes() if "thaliana" in g.species)
    out = tmp_path / "p.tsv"
    code, _, err = run_cli("predict", "--model", name, "--genome", at.fasta, "--annotation", at.gff,
                           "--genes", ",".join(test), "--out", out)
    assert code == 0, err
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    head, rows = rows[0], {r[0]: r for r in rows[1:]}
    tpm = [line.split("\t") for line in path("arabidopsis_leaf_tpm_train.tsv").read_text().splitlines()]
    runs, measured = tpm[0][1:], {r[0]: r[1:] for r in tpm[1:]}
    cols = [head.index(f"log_{t}") if f"log_{t}" in head else head.index(t) for t in runs]
    y = np.log1p(np.array([[float(v) for v in measured[g]] for g in test]))
    p = np.array([[float(rows[g][c]) for c in cols] for g in test])
    # 300 of its test genes: within the card's CI, give or take the smaller sample
    assert r2(y, p) > card["test_r2_lo"] - 0.08, (r2(y, p), card)


def test_a_model_with_truncated_trees_is_a_one_line_error(run_cli, tmp_path):
    """LightGBM aborts the whole process on a truncated model file; florabert names the file instead."""
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(resolve_model("arabidopsis-leaf"), folder)
    trees = folder / "wide_lgbm_0.txt"
    trees.write_text(trees.read_text()[:50000])
    fasta = tmp_path / "g.fa"
    fasta.write_text(">g\n" + "ACGT" * 100 + "\n")
    code, _, err = run_cli("predict", "--model", folder, "--fasta", fasta, "--out", tmp_path / "p.tsv")
    assert code == 1 and "wide_lgbm_0.txt" in err and "truncated" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.realdata
@requires_bundled
def test_ism_of_the_bundled_model_equals_each_mutant_predicted_alone(run_cli, tmp_path):
    """explain ism's fast path (windows encoded once, composition and motif scores updated from the reference's)
    against the straightforward computation: every mutant predicted on its own with every cache emptied, on
    positions of a TSS window, a TTS window and a coding window (k-mers, codons and motif sites all change)."""
    import pyarrow.parquet as pq

    from florabert import features
    from florabert.explain.inputs import WindowMap, gene_inputs
    from florabert.genome.cresschrom import bundled_genomes
    from florabert.genome.promoters import extract_promoters, write_promoters
    from florabert.layout import Layout
    from florabert.predict import Predictor

    model = resolve_model("arabidopsis-leaf")
    config = json.loads((model / "config.json").read_text())
    at = next(g for g in bundled_genomes() if "thaliana" in g.species)
    table = extract_promoters(at.fasta, at.gff, layout=Layout.from_dict(config["promoter_window"])).table
    promoters = tmp_path / "p.parquet"
    write_promoters(table.slice(0, 2), promoters)
    gene = table.column("gene_id")[0].as_py()
    out = tmp_path / "ism"
    rows = []
    for region in ("-12:0", "tts:-3:+3", "cds:0:+6"):
        code, _, err = run_cli("explain", "ism", "--model", "arabidopsis-leaf", "--promoters", promoters,
                               "--genes", gene, "--region", region, "--out", out, "--force")
        assert code == 0, err
        text = (out / "ism.tsv").read_text().splitlines()
        rows += [dict(zip(text[0].split("\t"), line.split("\t"), strict=True)) for line in text[1:]]
    assert len(rows) == 3 * (12 + 6 + 6)
    predictor = Predictor(model)
    seq = pq.read_table(promoters).column("sequence")[0].as_py()
    genes = gene_inputs(predictor, promoters, [gene])
    where = WindowMap(seq, predictor.config.layout)

    def alone(sequence: str) -> np.ndarray:
        for cache in (features._COMPOSITION, features._COMPOSITION_ANCHORS, features._WINDOW_CACHE,
                      features._ANCHORS, features._REFERENCES):
            cache.clear()
        return predictor.predict([sequence], genes=genes)[0]

    ref = alone(seq)
    names = list(predictor.config.targets)
    for r in rows[::5]:
        i = where.index(predictor.config.layout.names.index(r["window"]), int(r["position"]))
        assert seq[i] == r["ref"]
        want = alone(seq[:i] + r["alt"] + seq[i + 1:]) - ref
        got = np.array([float(r[f"delta_{t}"]) for t in names])
        np.testing.assert_allclose(got, want, atol=2e-4)


@pytest.mark.parametrize("region", [None, (-40, 0)])
def test_the_ism_figure_of_a_whole_gene_has_no_overlapping_text(region):
    """The bundled model's four windows drawn whole (bars) and a 40-base region (letters): no title, label, tick
    label or legend over another, one colour bar, and a size readable at 100 % zoom."""
    from conftest import text_overlaps
    from florabert.explain.inputs import WindowMap, window_regions
    from florabert.explain.ism import figure
    from florabert.modeling import FloraBertConfig

    config = FloraBertConfig.from_pretrained(resolve_model("arabidopsis-leaf"))
    layout = config.layout
    rng = np.random.default_rng(0)
    seq = "|".join("".join(rng.choice(list("ACGT"), w.end - w.start)) for w in layout.windows)
    wmap = WindowMap(seq, layout)
    spans = [(wmap.positions(j).start, wmap.positions(j).stop) for j in range(len(layout))]
    regions = window_regions(layout, [hi - lo for lo, hi in spans], None if region is None else (None, *region))
    sites = [(j, p, wmap.index(j, p)) for j, r in enumerate(regions) if r is not None for p in range(*r)]
    matrix = rng.normal(0, 0.05, (len(sites), 4))
    fig = figure("AT1G01070", seq, sites, matrix, config)
    assert text_overlaps(fig) == []
    width, height = fig.get_size_inches() * 150  # pixels of the PNG
    assert width <= 2600 and height <= 4000
    assert len(fig.axes) == 2 * len({j for j, _, _ in sites}) + 1  # a logo and a heatmap per window, one bar
