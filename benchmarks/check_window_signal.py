"""How much of the promoter carries the expression signal? The `kmer_linear` baseline (2-5-mer counts +
ridge) fitted on the training genes of a `florabert expression` dataset, reading only the N bases nearest
the TSS, for several N; prints test R² (all cells) and Pearson r per window. Use it to choose the window a
model should read (`max_length` in fine-tuning); the demo's 150 bases come from this on the leaf data.

    python benchmarks/check_window_signal.py --data demo_out/expression [--windows 50 100 150 ... 1000]
    python benchmarks/check_window_signal.py --data demo_out/expression --windows tss:-150:0 cds:0:+3000
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a florabert expression dataset directory")
    parser.add_argument("--windows", nargs="+", default=["50", "100", "150", "200", "300", "500", "1000"],
                        help="N (the N bases of each window nearest its anchor) or windows of the dataset's "
                             "layout (tss:-150:0, cds:0:+3000, several joined by +)")
    parser.add_argument("--baseline", default="kmer_linear", help="any evaluate baseline [kmer_linear]")
    args = parser.parse_args()

    import numpy as np

    from florabert.data.dataset import load_expression_dataset
    from florabert.evaluation.baselines import make_baseline
    from florabert.evaluation.metrics import score

    data = load_expression_dataset(args.data)
    train, test = data.part("train"), data.part("test")
    seqs_tr, seqs_te = train.column("sequence").to_pylist(), test.column("sequence").to_pylist()
    y_tr, y_te = data.labels("train"), data.labels("test")
    print(f"{args.data}: {len(seqs_tr):,} training and {len(seqs_te):,} test genes x {len(data.targets)} targets; "
          f"promoters {min(map(len, seqs_te))}-{max(map(len, seqs_te))} bases")
    print(f"{'window':>24} {'test R²':>9} {'Pearson r':>10} {'seconds':>8}")
    for w in args.windows:
        t0 = time.perf_counter()
        y_hat = make_baseline(f"{args.baseline}@{w}", layout=data.layout).fit(seqs_tr, y_tr).predict(seqs_te)
        rows = score(y_te, np.asarray(y_hat), data.targets, offset=float(data.transform.get("offset", 1.0)),
                     bootstrap=0)
        row = next(r for r in rows if r["tissue"] == "All")
        print(f"{w:>24} {row['r2']:>9.4f} {row['pearson']:>10.3f} {time.perf_counter() - t0:>8.1f}")


if __name__ == "__main__":
    main()
