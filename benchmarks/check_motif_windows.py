"""Which windows the wide path's motif group should scan: the wide path (ridge + LightGBM on composition, JASPAR
motif features and the gene model, blended with the weight chosen on the validation genes, as fine-tuning
fits it) with the motif features of every window, without the coding window's, of the TSS windows only, and
without motifs — test R² over three LightGBM seeds and the paired bootstrap CI of each difference to "every
window" on the seeds' averaged predictions.

    python benchmarks/check_motif_windows.py [--out bench_out/accuracy]

Uses check_accuracy's dataset (built there if missing): the demo's family split of the bundled training genes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench_out/accuracy"))
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from check_accuracy import GENE_LAYOUT, build_data
    from florabert.config import FinetuneConfig
    from florabert.data.dataset import load_expression_dataset
    from florabert.evaluation.metrics import paired_r2, r2
    from florabert.features import gene_values, motif_inputs, window_features
    from florabert.training.finetune import _gene_feature_columns
    from florabert.training.wide import WideRidge, fit_trees

    d = load_expression_dataset(build_data(args.out / "gene_structure", GENE_LAYOUT))
    t = d.table
    seqs = t.column("sequence").to_pylist()
    t0 = time.perf_counter()
    comp = window_features(seqs, [1, 2, 3, 4], d.layout)
    genes = gene_values(t, _gene_feature_columns(d, FinetuneConfig()), "dataset")
    per_window = [motif_inputs(seqs, [j]) for j in range(len(d.layout))]
    print(f"features of {len(seqs):,} genes in {time.perf_counter() - t0:.0f} s", flush=True)
    y = np.array(t.column("labels").to_pylist())
    split = np.array(t.column("split").to_pylist())
    tr, va, te = (np.where(split == s)[0] for s in ("train", "validation", "test"))
    coding = [j for j, w in enumerate(d.layout.windows) if w.landmark == "cds"]
    tss = [j for j, w in enumerate(d.layout.windows) if w.landmark == "tss"]
    variants = {"every window": list(range(len(d.layout))),
                "not the coding window (the default)": [j for j in range(len(d.layout)) if j not in coding],
                "the TSS windows only": tss, "no motif features": []}
    results, mean_pred = {}, {}
    for name, keep in variants.items():
        x = np.concatenate([comp, *(per_window[j] for j in keep), genes], axis=1).astype(np.float32)
        ridge = WideRidge(x[tr], y[tr]).predict(x)
        scores, preds = [], []
        for seed in range(args.seeds):
            trees = fit_trees(x[tr], y[tr], seed).offset(x)
            a = max(np.round(np.arange(0, 1.01, 0.1), 1),
                    key=lambda a: r2(y[va], a * ridge[va] + (1 - a) * trees[va]))
            p = a * ridge + (1 - a) * trees
            scores.append(r2(y[te], p[te]))
            preds.append(p[te])
        mean_pred[name] = np.mean(preds, 0)
        results[name] = {"windows": [d.layout.names[j] for j in keep], "test_r2": scores,
                         "mean": float(np.mean(scores)), "sd": float(np.std(scores, ddof=1))}
        print(f"{name:40s} {np.mean(scores):.4f} ± {np.std(scores, ddof=1):.4f}  "
              f"({', '.join(f'{s:.4f}' for s in scores)})", flush=True)
    base = "every window"
    for name in list(variants)[1:]:
        diff = paired_r2(y[te], mean_pred[name], mean_pred[base])
        results[name]["difference_to_every_window"] = diff
        print(f"{name} - {base}: {diff['difference']:+.4f} [{diff['lo']:+.4f}, {diff['hi']:+.4f}]")
    (args.out / "motif_windows.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
