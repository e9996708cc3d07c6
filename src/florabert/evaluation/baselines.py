"""Baselines the transformer must beat, fitted on the training genes only (FloraBERT/CornBERT's set).

- ``const_mean``: the training mean of each target.
- ``kmer_linear``: counts of all k-mers, k = 2..5 (``k_min``/``k_max``), + ridge regression with the penalty
  chosen by cross-validation on the training genes (per target). Plain least squares (``solver="ols"``) is
  available but ill-posed here: 1,360 features for 2-5-mers against a few thousand genes, with collinear
  counts, so it is not the default.
- ``kmer_lgbm``: LightGBM on 5-mer counts (one model per target).
- ``motif_lgbm``: known plant cis-elements (:data:`PLANT_MOTIFS`) as features — count on both strands,
  presence, count in the 200 bp next to the TSS, distance of the nearest site to the TSS — + LightGBM.
"""

from __future__ import annotations

import re
from typing import ClassVar

import numpy as np

# name, IUPAC consensus, source. PLACE = Higo et al. 1999, Nucleic Acids Res 27:297 (plant cis-element
# database); Yamamoto et al. 2007, Nucleic Acids Res 35:6219 (Arabidopsis core promoter elements).
PLANT_MOTIFS = [
    ("TATA box", "TATAWAW", "Yamamoto 2007; PLACE TATABOX"),
    ("CAAT box", "CCAAT", "PLACE CAATBOX1"),
    ("Initiator", "YYANWYY", "Yamamoto 2007 (Inr)"),
    ("Y patch", "YYYYYYYYYY", "Yamamoto 2007 (pyrimidine patch, approximated as 10 pyrimidines)"),
    ("G-box", "CACGTG", "PLACE CACGTGMOTIF"),
    ("ABRE", "ACGTGKC", "PLACE ABRELATERD1 / ABRE core"),
    ("DRE/CRT", "RCCGAC", "PLACE DRECRTCOREAT"),
    ("W-box", "TTGACY", "PLACE WBOXNTERF3 / WBOXATNPR1"),
    ("GCC-box", "GCCGCC", "PLACE GCCCORE"),
    ("I-box", "GATAAG", "PLACE IBOXCORE"),
    ("GATA box", "GATA", "PLACE GATABOX"),
    ("MYB core", "CNGTTR", "PLACE MYBCORE"),
    ("MYC/E-box", "CANNTG", "PLACE MYCCONSENSUSAT"),
    ("AuxRE", "TGTCTC", "PLACE ARFAT"),
    ("Site II (TCP)", "TGGGCY", "PLACE SITEIIATCYTC"),
    ("TELO box", "AAACCCTAA", "PLACE TELOBOXATEEF1AA1"),
    ("SORLIP1", "GCCAC", "PLACE SORLIP1AT"),
]
_IUPAC = {"A": "A", "C": "C", "G": "G", "T": "T", "R": "[AG]", "Y": "[CT]", "S": "[CG]", "W": "[AT]",
          "K": "[GT]", "M": "[AC]", "B": "[CGT]", "D": "[AGT]", "H": "[ACT]", "V": "[ACG]", "N": "[ACGT]"}
_COMP = str.maketrans("ACGTRYKMSWBDHVN", "TGCAYRMKSWVHDBN")


def _regex(consensus: str) -> re.Pattern:
    return re.compile("(?=(" + "".join(_IUPAC[c] for c in consensus) + "))")  # overlapping matches


class ConstMean:
    name = "const_mean"

    def fit(self, seqs, y):
        self.mean_ = np.asarray(y, np.float64).mean(axis=0)
        return self

    def predict(self, seqs):
        return np.tile(self.mean_, (len(seqs), 1))


def kmer_counts(k_min: int, k_max: int):
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(analyzer="char", ngram_range=(k_min, k_max), lowercase=False, dtype=np.float32)


class KmerLinear:
    name = "kmer_linear"

    def __init__(self, k_min: int = 2, k_max: int = 5, solver: str = "ridge"):
        self.k_min, self.k_max, self.solver = k_min, k_max, solver

    def fit(self, seqs, y):
        from sklearn.linear_model import LinearRegression, RidgeCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if self.solver == "ols":
            model = LinearRegression()
        else:
            model = RidgeCV(alphas=np.logspace(-1, 7, 17), alpha_per_target=True)
        self.vec_ = kmer_counts(self.k_min, self.k_max)
        x = self.vec_.fit_transform([s.upper() for s in seqs]).toarray()
        self.model_ = make_pipeline(StandardScaler(), model).fit(x, y)
        return self

    def predict(self, seqs):
        return self.model_.predict(self.vec_.transform([s.upper() for s in seqs]).toarray())


class _LGBM:
    """LightGBM, one regressor per target, on features from ``self.features``."""

    params: ClassVar[dict] = {
        "n_estimators": 300, "learning_rate": 0.03, "num_leaves": 15, "min_child_samples": 20, "subsample": 0.8,
        "subsample_freq": 1, "colsample_bytree": 0.5, "reg_lambda": 1.0, "verbose": -1}

    def __init__(self, seed: int = 0, n_jobs: int = 2):
        self.seed, self.n_jobs = seed, n_jobs

    def fit(self, seqs, y):
        import lightgbm

        x = self.features(seqs, fit=True)
        y = np.asarray(y, np.float64)
        self.models_ = [lightgbm.LGBMRegressor(**self.params, random_state=self.seed, n_jobs=self.n_jobs)
                        .fit(x, y[:, j]) for j in range(y.shape[1])]
        return self

    def predict(self, seqs):
        x = self.features(seqs, fit=False)
        return np.stack([m.predict(x) for m in self.models_], axis=1)


class KmerLGBM(_LGBM):
    name = "kmer_lgbm"

    def __init__(self, k: int = 5, **kwargs):
        super().__init__(**kwargs)
        self.k = k

    def features(self, seqs, *, fit: bool):
        seqs = [s.upper() for s in seqs]
        if fit:
            self.vec_ = kmer_counts(self.k, self.k)
            return self.vec_.fit_transform(seqs).toarray()
        return self.vec_.transform(seqs).toarray()


def motif_features(seqs: list[str], *, proximal: int = 200) -> np.ndarray:
    """Per sequence and motif (both strands): count, presence, count within ``proximal`` bp of the TSS
    (the 3' end), distance of the nearest site to the TSS (sequence length when absent)."""
    pats = [(_regex(c), _regex(c.translate(_COMP)[::-1])) for _, c, _ in PLANT_MOTIFS]
    out = np.zeros((len(seqs), 4 * len(pats)), dtype=np.float32)
    for i, s in enumerate(seqs):
        s = s.upper()
        n = len(s)
        for j, (fwd, rev) in enumerate(pats):
            ends = [m.start() + len(m.group(1)) for p in {fwd.pattern: fwd, rev.pattern: rev}.values()
                    for m in p.finditer(s)]
            dist = [n - e for e in ends]
            out[i, 4 * j:4 * j + 4] = (len(ends), float(bool(ends)), sum(d < proximal for d in dist),
                                       min(dist) if dist else n)
    return out


class MotifLGBM(_LGBM):
    name = "motif_lgbm"

    def features(self, seqs, *, fit: bool):
        return motif_features(list(seqs))


BASELINES = {"const_mean": ConstMean, "kmer_linear": KmerLinear, "kmer_lgbm": KmerLGBM, "motif_lgbm": MotifLGBM}


def make_baseline(name: str, seed: int = 0):
    from florabert.errors import FloraBertError

    if name not in BASELINES:
        raise FloraBertError(f"unknown baseline {name!r} (known: {', '.join(BASELINES)})")
    cls = BASELINES[name]
    return cls(seed=seed) if issubclass(cls, _LGBM) else cls()
