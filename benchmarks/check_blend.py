"""Does the deep path add anything to the wide path? Blend weights of the bundled models, on validation and test.

The bundled ``arabidopsis-leaf`` is the demo's full model (its blend gave the deep path weight 0 in steps of 0.1)
and ``arabidopsis-leaf-deep`` its deep path alone, both fitted on the same training genes. This script predicts
every gene of the bundled A. thaliana chromosome with both (``florabert predict``, as a user would), rebuilds the
demo's paralog-family split (checked against the model's ``test_genes.txt``), and scores
``(1 - w) x full + w x deep`` for w in steps of 0.025 on the validation genes (where the blend is chosen) and
the test genes, with paired bootstrap intervals of the gain over w = 0 on the test genes.

    python benchmarks/check_blend.py [--out bench_out/blend] [--cnn bench_out/accuracy]

``--cnn DIR``: also mix the ``cnn`` baseline's predictions on the test genes (``DIR/cnn_predictions.npy``, the
seeds of ``check_accuracy.py --only "cnn baseline"``, averaged) into the full model's.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from pathlib import Path

import numpy as np


def predictions(model: str, fasta: Path, gff: Path, out: Path) -> tuple[list[str], dict[str, list[str]]]:
    if not out.exists():
        subprocess.run([sys.executable, "-m", "florabert", "predict", "--model", model, "--genome", str(fasta),
                        "--annotation", str(gff), "--out", str(out), "--force"], check=True)
    rows = [line.rstrip("\n").split("\t") for line in out.read_text().splitlines()]
    return rows[0], {r[0]: r for r in rows[1:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", default="arabidopsis-leaf")
    parser.add_argument("--deep", default="arabidopsis-leaf-deep")
    parser.add_argument("--out", type=Path, default=Path("bench_out/blend"))
    parser.add_argument("--cnn", type=Path, help="check_accuracy.py's --out, after its cnn baseline rows")
    args = parser.parse_args()

    from florabert.bundled import path, resolve_model
    from florabert.data.splits import group_split
    from florabert.evaluation.metrics import paired_r2, r2
    from florabert.genome.cresschrom import bundled_genomes

    g = next(x for x in bundled_genomes() if "thaliana" in x.species)
    args.out.mkdir(parents=True, exist_ok=True)
    head_f, full = predictions(args.full, g.fasta, g.gff, args.out / "full.tsv")
    head_d, deep = predictions(args.deep, g.fasta, g.gff, args.out / "deep.tsv")
    tpm = [r.split("\t") for r in path("arabidopsis_leaf_tpm_train.tsv").read_text().splitlines()]
    runs, measured = tpm[0][1:], {r[0]: np.log1p(np.array(r[1:], dtype=np.float64)) for r in tpm[1:]}
    with open(path("arabidopsis_chr1_families.tsv"), newline="") as fh:
        family = {r["gene_id"]: r["family_id"] for r in csv.DictReader(fh, delimiter="\t")}
    genes = [x for x in measured if x in full and x in deep]
    split = group_split(genes, {x: family.get(x, x) for x in genes}, test_fraction=0.3, validation_fraction=0.1,
                        seed=0)
    want = set((resolve_model(args.full) / "test_genes.txt").read_text().split())
    if {x for x in genes if split[x] == "test"} != want:
        raise SystemExit("the rebuilt split's test genes differ from the model's test_genes.txt")
    cols_f, cols_d = [head_f.index(t) for t in runs], [head_d.index(t) for t in runs]
    weights = np.round(np.arange(0, 0.301, 0.025), 3)
    print(f"{len(genes):,} genes with measured TPM; validation {sum(v == 'validation' for v in split.values())}, "
          f"test {len(want)}")
    print("| w (deep) | " + " | ".join(f"{w:.3f}" for w in weights) + " |")
    print("|---|" + "---:|" * len(weights))
    scored = {}
    for part in ("validation", "test"):
        ids = [x for x in genes if split[x] == part]
        y = np.array([measured[x] for x in ids])
        f = np.array([[float(full[x][c]) for c in cols_f] for x in ids])
        d = np.array([[float(deep[x][c]) for c in cols_d] for x in ids])
        scored[part] = (y, f, d)
        print(f"| {part} R² | " + " | ".join(f"{r2(y, (1 - w) * f + w * d):.4f}" for w in weights) + " |")
    y, f, d = scored["test"]
    print(f"\ndeep path alone on test: R² {r2(y, d):.4f}; full (= wide) {r2(y, f):.4f}")
    for w in (0.05, 0.1, 0.2):
        p = paired_r2(y, (1 - w) * f + w * d, f)
        print(f"test gain of w = {w}: {p['difference']:+.4f} (95 % CI {p['lo']:+.4f} to {p['hi']:+.4f})")
    if args.cnn:
        mix_cnn(args.cnn, full, cols_f, measured)


def mix_cnn(acc: Path, full: dict, cols: list[int], measured: dict) -> None:
    """The cnn baseline's seeds, averaged, mixed into the full model on check_accuracy's test genes (the same
    family split)."""
    from florabert.data.dataset import load_expression_dataset
    from florabert.evaluation.metrics import paired_r2, r2

    ds = load_expression_dataset(acc / "gene_structure" / "data")
    ids = ds.part("test").column("gene_id").to_pylist()
    y = np.array([measured[x] for x in ids])
    f = np.array([[float(full[x][c]) for c in cols] for x in ids])
    c = np.load(acc / "cnn_predictions.npy").mean(0)
    print(f"\ncnn baseline, {len(np.load(acc / 'cnn_predictions.npy'))} seeds averaged: R² {r2(y, c):.4f}; "
          f"full {r2(y, f):.4f}")
    for w in (0.05, 0.1, 0.15, 0.2, 0.3):
        p = paired_r2(y, (1 - w) * f + w * c, f)
        print(f"  w = {w}: R² {r2(y, (1 - w) * f + w * c):.4f}, gain {p['difference']:+.4f} "
              f"(95 % CI {p['lo']:+.4f} to {p['hi']:+.4f})")


if __name__ == "__main__":
    main()
