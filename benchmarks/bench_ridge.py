"""florabert's ridge fit and k-mer counts against the scikit-learn tools they replace, on the demo's dataset.

- the wide path's ridge: ``florabert.ridge.LooRidge`` against ``RidgeCV(alphas, alpha_per_target=True)`` on the
  standardized wide features (composition, JASPAR motifs, gene model) of the training genes;
- the k-mer baseline's counts: ``florabert.evaluation.baselines.KmerCounts`` (NumPy) against ``CountVectorizer(
  analyzer="char", ngram_range=(2, 5))`` per window, fitted on the training genes and applied to the test genes.

Each row prints the median of ``--repeats`` wall times of both, their ratio, and whether the outputs agree (the
same penalties; predictions and counts equal).

    python benchmarks/bench_ridge.py --data demo_out/expression [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def timed(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="demo_out/expression", help="a dataset built by florabert expression")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import RidgeCV

    from florabert.config import FinetuneConfig
    from florabert.data.dataset import load_expression_dataset
    from florabert.evaluation.baselines import KmerCounts, windows_of
    from florabert.features import motif_windows, wide_inputs
    from florabert.ridge import ALPHAS, LooRidge

    data = load_expression_dataset(args.data)
    train, test = (data.part(p).column("sequence").to_pylist() for p in ("train", "test"))
    y = np.asarray(data.labels("train"), dtype=np.float64)
    cfg = FinetuneConfig()
    x = wide_inputs(train, list(cfg.wide_kmers), data.layout,
                    motifs=motif_windows(data.layout, cfg.wide_motif_windows)).astype(np.float64)
    sd = x.std(0)
    z = (x - x.mean(0)) / np.where(sd == 0, 1.0, sd)
    print(f"{len(train):,} training genes, {len(test):,} test genes, {z.shape[1]:,} wide features, "
          f"{y.shape[1]} targets; median of {args.repeats}")

    t_sk, sk = timed(lambda: RidgeCV(alphas=ALPHAS, alpha_per_target=True).fit(z, y), args.repeats)
    t_us, us = timed(lambda: LooRidge(ALPHAS).fit(z, y), args.repeats)
    same = np.array_equal(sk.alpha_, us.alpha_) and np.allclose(sk.predict(z), us.predict(z), atol=1e-8)
    print(f"{'ridge, penalty per target by LOO':36s} RidgeCV {t_sk:7.2f} s   florabert {t_us:6.2f} s   "
          f"{t_sk / t_us:5.1f}x   same penalties and predictions: {same}")

    def vectorizers():
        cols = windows_of(train)
        vecs = [CountVectorizer(analyzer="char", ngram_range=(2, 5), lowercase=False) for _ in cols]
        fitted = [v.fit_transform(c).toarray() for v, c in zip(vecs, cols, strict=True)]
        return fitted, [v.transform(c).toarray() for v, c in zip(vecs, windows_of(test), strict=True)], vecs

    def ours():
        counts = KmerCounts(2, 5)
        return counts.fit_transform(train), counts.transform(test), counts

    t_sk, (sk_train, sk_test, vecs) = timed(vectorizers, args.repeats)
    t_us, (us_train, us_test, counts) = timed(ours, args.repeats)
    order = np.concatenate([np.array([v.vocabulary_[n] for n in w.feature_names()]) + offset
                            for v, w, offset in zip(vecs, counts.vecs_,
                                                    np.cumsum([0] + [a.shape[1] for a in sk_train[:-1]]),
                                                    strict=True)])
    same = (np.array_equal(np.hstack(sk_train)[:, order], us_train)
            and np.array_equal(np.hstack(sk_test)[:, order], us_test))
    print(f"{'2-5-mer counts, train + test':36s} CountVectorizer {t_sk:5.2f} s   florabert {t_us:6.2f} s   "
          f"{t_sk / t_us:5.1f}x   same counts: {same}")


if __name__ == "__main__":
    main()
