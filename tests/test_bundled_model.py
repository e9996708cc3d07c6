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
