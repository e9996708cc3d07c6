"""Baselines the transformer must beat, fitted on the training genes only (FloraBERT/CornBERT's set).

- ``const_mean``: the training mean of each target.
- ``kmer_linear``: counts of all k-mers, k = 2..5 (``k_min``/``k_max``), + ridge regression with the penalty
  chosen by cross-validation on the training genes (per target). Plain least squares (``solver="ols"``) is
  available but ill-posed here: 1,360 features for 2-5-mers against a few thousand genes, with collinear
  counts, so it is not the default.
- ``kmer_lgbm``: LightGBM on 5-mer counts (one model per target).
- ``motif_lgbm``: JASPAR's non-redundant plant matrices (:mod:`florabert.motifs`) as features — per window and
  matrix the best site's score and the hit count — + LightGBM; ``motif_lgbm_place``: the earlier 17 hand-picked
  cis-elements (:data:`PLANT_MOTIFS`): count on both strands, presence, count in the 200 bp next to the TSS,
  distance of the nearest site to the TSS.
- ``wide``, ``composition``, ``gene_model``: the expression model's wide path alone (ridge on window composition
  and the gene-model features, on one group, or on the other); ``wide_lgbm``: LightGBM on the same features;
  ``motifs`` (ridge on the motif group alone), ``wide_motifs`` and ``wide_lgbm_motifs``: with the motif group.

Genes of a multi-window layout (:mod:`florabert.layout`) are read window by window: k-mer counts and motif
features of each window side by side (a k-mer never spans two windows); the CNN (:mod:`florabert.evaluation.cnn`)
reads every window with one shared convolutional tower and pools each on its own.

Any baseline name may end in ``@N`` (``kmer_linear@150``): the baseline then reads only the N bases of each
window nearest its anchor (the TSS for FloraBERT's promoters), the input a model fine-tuned with a short
``max_length`` sees; or in ``@WINDOWS`` (``kmer_linear@tss:-150:0``, several joined by ``+``:
``kmer_lgbm@tss:-1000:0+tts:0:+500``): it reads those windows, cut from the dataset's.
"""

from __future__ import annotations

import re
from typing import ClassVar

import numpy as np

from florabert.evaluation.cnn import OneHotCNN

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


class _WindowKmers:
    """Counts of the k-mers (k = ``k_min``..``k_max``) of one window of every gene, over the k-mers seen in
    the training genes (any letters: N and IUPAC codes included) — scikit-learn's ``CountVectorizer(
    analyzer="char", ngram_range=(k_min, k_max))`` counts (the tests' oracle), by NumPy on the bases' codes.
    Columns: by k, then by the k-mer's code."""

    def __init__(self, k_min: int, k_max: int):
        self.k_min, self.k_max = k_min, k_max

    def _ids(self, col: list[str]):
        """Per k: (gene index, k-mer code) of every k-mer of every sequence that lies inside its sequence and
        reads only letters of the training alphabet."""
        lengths = np.fromiter((len(s) for s in col), dtype=np.int64, count=len(col))
        codes = self.lut_[np.frombuffer("".join(col).encode("latin-1", "replace"), dtype=np.uint8)]
        gene = np.repeat(np.arange(len(col)), lengths)
        left = np.repeat(np.cumsum(lengths), lengths) - np.arange(len(codes))  # bases from here to the end
        base = len(self.alphabet_)
        for k in range(self.k_min, self.k_max + 1):
            m = max(len(codes) - k + 1, 0)
            ids, bad = np.zeros(m, dtype=np.int64), left[:m] < k
            for j in range(k):
                c = codes[j:j + m]
                ids, bad = ids * base + c, bad | (c < 0)
            yield gene[:m][~bad], ids[~bad]

    def fit_transform(self, col: list[str]) -> np.ndarray:
        self.alphabet_ = sorted(set("".join(col)))
        self.lut_ = np.full(256, -1, dtype=np.int64)
        self.lut_[[ord(c) for c in self.alphabet_ if ord(c) < 256]] = np.arange(len(self.alphabet_))
        self.vocab_ = [np.unique(ids) for _, ids in self._ids(col)]
        return self.transform(col)

    def feature_names(self) -> list[str]:
        """The k-mer of each column."""
        base, names = len(self.alphabet_), []
        for k, vocab in zip(range(self.k_min, self.k_max + 1), self.vocab_, strict=True):
            for code in vocab.tolist():
                names.append("".join(self.alphabet_[(code // base ** (k - 1 - j)) % base] for j in range(k)))
        return names

    def transform(self, col: list[str]) -> np.ndarray:
        out = []
        for vocab, (gene, ids) in zip(self.vocab_, self._ids(col), strict=True):
            where = np.minimum(np.searchsorted(vocab, ids), max(len(vocab) - 1, 0))
            seen = vocab[where] == ids if len(vocab) else np.zeros(len(ids), dtype=bool)
            flat = gene[seen] * len(vocab) + where[seen]
            out.append(np.bincount(flat, minlength=len(col) * len(vocab)).reshape(len(col), len(vocab)))
        return np.hstack(out).astype(np.float32)


def windows_of(seqs) -> list[list[str]]:
    """Per window of the layout, the upper-cased sequences of every gene (one list for plain promoters)."""
    parts = [s.upper().split("|") for s in seqs]
    return [list(col) for col in zip(*parts, strict=True)] if parts else [[]]


class KmerCounts:
    """Counts of the k-mers (k = ``k_min``..``k_max``) of each window, side by side: (genes, features)."""

    def __init__(self, k_min: int, k_max: int):
        self.k_min, self.k_max = k_min, k_max

    def fit_transform(self, seqs) -> np.ndarray:
        cols = windows_of(seqs)
        self.vecs_ = [_WindowKmers(self.k_min, self.k_max) for _ in cols]
        return np.hstack([v.fit_transform(c) for v, c in zip(self.vecs_, cols, strict=True)])

    def transform(self, seqs) -> np.ndarray:
        return np.hstack([v.transform(c) for v, c in zip(self.vecs_, windows_of(seqs), strict=True)])


class KmerLinear:
    name = "kmer_linear"

    def __init__(self, k_min: int = 2, k_max: int = 5, solver: str = "ridge"):
        self.k_min, self.k_max, self.solver = k_min, k_max, solver

    def fit(self, seqs, y):
        from sklearn.linear_model import LinearRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        from florabert.ridge import LooRidge

        # LooRidge: RidgeCV(alphas, alpha_per_target=True)'s fit, faster
        model = LinearRegression() if self.solver == "ols" else LooRidge(alphas=np.logspace(-1, 7, 17))
        self.vec_ = KmerCounts(self.k_min, self.k_max)
        self.model_ = make_pipeline(StandardScaler(), model).fit(self.vec_.fit_transform(seqs), y)
        return self

    def predict(self, seqs):
        # (genes, targets) also for one target, where sklearn returns a vector
        return self.model_.predict(self.vec_.transform(seqs)).reshape(len(seqs), -1)


def _threads() -> int:
    """LightGBM's threads: torch's (one per pytest-xdist worker, the cores otherwise). More threads than cores
    makes LightGBM's OpenMP spin-waits take minutes where seconds would do."""
    import torch

    return torch.get_num_threads()


class _LGBM:
    """LightGBM, one regressor per target, on features from ``self.features``."""

    seeded = True  # bagging and column sampling depend on the seed
    params: ClassVar[dict] = {
        "n_estimators": 300, "learning_rate": 0.03, "num_leaves": 15, "min_child_samples": 20, "subsample": 0.8,
        "subsample_freq": 1, "colsample_bytree": 0.5, "reg_lambda": 1.0, "verbose": -1,
        "force_col_wise": True}  # thousands of k-mer columns, few genes: column-wise histograms (measured 1.6x)

    def __init__(self, seed: int = 0, n_jobs: int | None = None):
        self.seed, self.n_jobs = seed, n_jobs or _threads()

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
        if fit:
            self.vec_ = KmerCounts(self.k, self.k)
            return self.vec_.fit_transform(seqs)
        return self.vec_.transform(seqs)


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
    """LightGBM on JASPAR's non-redundant plant matrices: per window and matrix, the best site's score and the
    number of hits (:func:`florabert.features.motif_inputs`)."""

    name = "motif_lgbm"

    def features(self, seqs, *, fit: bool):
        from florabert.features import motif_inputs

        return motif_inputs(list(seqs))


class PlaceMotifLGBM(_LGBM):
    """LightGBM on the 17 hand-picked plant cis-elements of :data:`PLANT_MOTIFS` (the earlier motif_lgbm)."""

    name = "motif_lgbm_place"

    def features(self, seqs, *, fit: bool):
        return np.hstack([motif_features(c) for c in windows_of(seqs)])


def _motifs(on: bool, layout) -> bool | list[int]:
    """The windows a motif baseline scans: those the wide path scans by default (FinetuneConfig)."""
    from florabert.config import FinetuneConfig
    from florabert.features import motif_windows

    return on and (motif_windows(layout, FinetuneConfig().wide_motif_windows) if layout is not None else True)


class WideRidge:
    """The expression model's wide path alone, fitted by fine-tuning's own ridge
    (:class:`florabert.training.wide.WideRidge`: standardized features, the penalty per target by leave-one-out):
    ``composition`` (1-4-mer frequencies of every window and codon usage of cds windows) and/or the gene-model
    features (``genes``: the ``gm_*`` columns, :mod:`florabert.genome.genemodel`). ``wide`` = both (composition
    alone when the dataset has no gene-model columns), ``composition``, ``gene_model``."""

    needs_genes = True

    def __init__(self, name: str = "wide", *, composition: bool = True, genes: bool = True, layout=None,
                 motifs: bool = False):
        self.name, self.composition, self.genes, self.layout = name, composition, genes, layout
        self.motifs = motifs

    def _x(self, seqs, genes):
        from florabert.errors import FloraBertError
        from florabert.features import wide_inputs

        if not self.composition and not self.motifs and genes is None:
            raise FloraBertError(f"baseline {self.name}: the dataset has no gene-model columns (gm_*): build it "
                                 "from a promoter table made by florabert promoters/corpus")
        return wide_inputs(list(seqs), [1, 2, 3, 4] if self.composition else [], self.layout,
                           genes if self.genes else None,
                           motifs=_motifs(self.motifs, self.layout)).astype(np.float64)

    def fit(self, seqs, y, genes=None):
        from florabert.training.wide import WideRidge as FinetuneRidge  # the very fit fine-tuning makes

        self.model_ = FinetuneRidge(self._x(seqs, genes), np.asarray(y, np.float64))
        return self

    def predict(self, seqs, genes=None):
        return self.model_.predict(self._x(seqs, genes)).reshape(len(seqs), -1)


class WideLGBM(_LGBM):
    """A non-linear wide path: LightGBM on the wide path's features (composition and gene model)."""

    name = "wide_lgbm"
    needs_genes = True

    def __init__(self, layout=None, motifs: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.layout, self.motifs = layout, motifs

    def features(self, seqs, *, fit: bool, genes=None):
        from florabert.features import wide_inputs

        return wide_inputs(list(seqs), [1, 2, 3, 4], self.layout, genes, motifs=_motifs(self.motifs, self.layout))

    def fit(self, seqs, y, genes=None):
        import lightgbm

        x = self.features(seqs, fit=True, genes=genes)
        y = np.asarray(y, np.float64)
        self.models_ = [lightgbm.LGBMRegressor(**self.params, random_state=self.seed, n_jobs=self.n_jobs)
                        .fit(x, y[:, j]) for j in range(y.shape[1])]
        return self

    def predict(self, seqs, genes=None):
        x = self.features(seqs, fit=False, genes=genes)
        return np.stack([m.predict(x) for m in self.models_], axis=1)


BASELINES = {"const_mean": ConstMean, "kmer_linear": KmerLinear, "kmer_lgbm": KmerLGBM, "motif_lgbm": MotifLGBM,
             "cnn": OneHotCNN, "wide": WideRidge, "composition": WideRidge, "gene_model": WideRidge,
             "wide_lgbm": WideLGBM, "motifs": WideRidge, "wide_motifs": WideRidge, "wide_lgbm_motifs": WideLGBM,
             "motif_lgbm_place": PlaceMotifLGBM}


class Windowed:
    """A baseline fitted and applied on part of each gene's windows: ``bases``, the ``bases`` bases of each
    window nearest its anchor (``name@N``; the 3' end of FloraBERT's promoters); or ``windows``, a layout
    whose windows are cut from the dataset's ``layout`` (``name@tss:-150:0``)."""

    def __init__(self, inner, *, bases: int | None = None, windows=None, layout=None):
        from florabert.layout import Layout

        self.inner, self.bases, self.windows = inner, bases, windows
        self.layout = layout or Layout()
        self.seeded = getattr(inner, "seeded", False)

    def _cut(self, seqs):
        from florabert.layout import cut_windows

        if self.windows is not None:
            return cut_windows(list(seqs), self.layout, self.windows)
        b, right = self.bases, self.layout.anchors_right
        return ["|".join(p[-b:] if r else p[:b] for p, r in zip(s.split("|"), right, strict=False))
                for s in seqs]

    @property
    def needs_genes(self) -> bool:
        return getattr(self.inner, "needs_genes", False)

    @property
    def uses_validation(self) -> bool:
        return getattr(self.inner, "uses_validation", False)

    def fit(self, seqs, y, validation=None, **genes):
        if validation is not None:
            genes["validation"] = (self._cut(validation[0]), validation[1])
        self.inner.fit(self._cut(seqs), y, **genes)
        return self

    def predict(self, seqs, **genes):
        return self.inner.predict(self._cut(seqs), **genes)


def make_baseline(name: str, seed: int = 0, layout=None):
    """The baseline called ``name`` (``NAME``, ``NAME@N`` or ``NAME@WINDOW+WINDOW``) for a dataset cut with
    ``layout`` (a :class:`~florabert.layout.Layout`; FloraBERT's one TSS window when None)."""
    from florabert.errors import FloraBertError
    from florabert.layout import Layout, LayoutError, cut_windows

    base, at, window = name.partition("@")
    if base not in BASELINES:
        raise FloraBertError(f"unknown baseline {base!r} (known: {', '.join(BASELINES)}; add @N to read the N "
                             "bases of each window nearest its anchor, or @tss:-150:0 to read that window)")
    cls = BASELINES[base]
    if cls is WideRidge:
        model = WideRidge(base, composition=base not in ("gene_model", "motifs"),
                          genes=base not in ("composition", "motifs"), layout=layout,
                          motifs=base in ("motifs", "wide_motifs"))
    elif cls is WideLGBM:
        model = WideLGBM(layout=layout, seed=seed, motifs=base == "wide_lgbm_motifs")
    elif cls is OneHotCNN:
        model = OneHotCNN(seed=seed, layout=layout)
    else:
        model = cls(seed=seed) if issubclass(cls, _LGBM) else cls()
    if not at:
        return model
    if window.isdigit() and int(window) > 0:
        return Windowed(model, bases=int(window), layout=layout)
    try:
        sub = Layout.parse(window.replace("+tss", ",tss").replace("+tts", ",tts"))
        cut_windows([], layout or Layout(), sub)  # checks that every window is inside one of the dataset's
    except LayoutError as exc:
        raise FloraBertError(f"baseline {name!r}: after @ give a number of bases or windows such as "
                             f"tss:-150:0 ({exc})") from None
    return Windowed(model, windows=sub, layout=layout)


class KmerLogistic:
    """Classification baseline: logistic regression (L2, penalty by 5-fold CV on log loss) on standardized
    k-mer counts (k = 2..5)."""

    name = "kmer_logistic"
    seeded = False

    def __init__(self, k_min: int = 2, k_max: int = 5):
        self.k_min, self.k_max = k_min, k_max

    def fit(self, seqs, y):
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import GridSearchCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        y = np.asarray(y).astype(int).ravel()
        self.vec_ = KmerCounts(self.k_min, self.k_max)
        x = self.vec_.fit_transform(seqs)
        folds = min(5, int(np.bincount(y)[np.bincount(y) > 0].min()))
        clf = LogisticRegression(max_iter=2000)
        if folds >= 2:  # the L2 penalty by cross-validated log loss (else too few examples of a class)
            clf = GridSearchCV(clf, {"C": np.logspace(-4, 2, 7)}, cv=folds, scoring="neg_log_loss")
        self.model_ = make_pipeline(StandardScaler(), clf).fit(x, y)
        return self

    def predict_proba(self, seqs) -> np.ndarray:
        return self.model_.predict_proba(self.vec_.transform(seqs))


class KmerLGBMClassifier:
    """Classification baseline: LightGBM on 5-mer counts (the regression baseline's settings)."""

    name = "kmer_lgbm"
    seeded = True

    def __init__(self, seed: int = 0, k: int = 5, n_jobs: int | None = None):
        self.seed, self.k, self.n_jobs = seed, k, n_jobs or _threads()

    def fit(self, seqs, y):
        import lightgbm

        self.vec_ = KmerCounts(self.k, self.k)
        self.model_ = lightgbm.LGBMClassifier(**_LGBM.params, random_state=self.seed, n_jobs=self.n_jobs)
        self.model_.fit(self.vec_.fit_transform(seqs), np.asarray(y).astype(int).ravel())
        return self

    def predict_proba(self, seqs) -> np.ndarray:
        return self.model_.predict_proba(self.vec_.transform(seqs))


CLASSIFIERS = {"const_prior": None, "kmer_logistic": KmerLogistic, "kmer_lgbm": KmerLGBMClassifier}
