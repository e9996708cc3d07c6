"""The wide path's inputs: k-mer frequencies of each window (a baseline on their own too), codon usage of coding
windows, and the gene-model features (:mod:`florabert.genome.genemodel`).

For each window of a gene (:mod:`florabert.layout`) and each k in ``ks``, the frequency of every k-mer
(counts divided by the number of k-mers in the window; k-mers with a base other than A/C/G/T are skipped):
4 + 16 + 64 + 256 = 340 features per window for k = 1..4. A coding window (``cds:...``) adds its codon usage:
the frequencies of the 64 codons read in frame from its first base. Frequencies, not counts, so that windows of
different lengths (clipped, padded) are comparable. NumPy only; ~10 µs per kilobase.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

_CODE = np.full(256, -1, dtype=np.int8)
for _i, _b in enumerate(b"ACGT"):
    _CODE[_b] = _i
    _CODE[_b + 32] = _i


def n_features(ks: list[int], layout) -> int:
    """Features per gene for a :class:`~florabert.layout.Layout`."""
    return sum(sum(4 ** k for k in ks) + (64 if w.landmark == "cds" else 0) for w in layout.windows)


def _codes(seq: str) -> np.ndarray:
    """Base codes of ``seq``: 0-3 for A/C/G/T (either case), -1 for anything else."""
    return _CODE[np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8)]


def _kmer_counts(codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, 4**k) counts of the k-mers in each row of ``codes`` ((rows, n) base codes) and (rows,) how many
    k-mers each row has without a non-ACGT base (those are skipped)."""
    m, n = codes.shape[0], codes.shape[1] - k + 1
    if n <= 0:
        return np.zeros((m, 4 ** k), dtype=np.int64), np.zeros(m, dtype=np.int64)
    idx = np.zeros((m, n), dtype=np.int64)
    valid = np.ones((m, n), dtype=bool)
    for j in range(k):
        c = codes[:, j:j + n]
        idx = idx * 4 + np.maximum(c, 0)
        valid &= c >= 0
    flat = (idx + (np.arange(m, dtype=np.int64) * 4 ** k)[:, None])[valid]
    return np.bincount(flat, minlength=m * 4 ** k).reshape(m, 4 ** k), valid.sum(1)


def _codon_counts(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, 64) counts of the in-frame codons of each row of ``codes`` ((rows, 3 x codons)) and (rows,) how
    many codons each row has without a non-ACGT base."""
    m = codes.shape[0]
    c = codes.reshape(m, -1, 3)
    valid = (c >= 0).all(2)
    idx = (np.maximum(c, 0) @ np.array([16, 4, 1])) + (np.arange(m, dtype=np.int64) * 64)[:, None]
    return np.bincount(idx[valid], minlength=m * 64).reshape(m, 64), valid.sum(1)


def window_features(sequences: list[str], ks: list[int], layout=None) -> np.ndarray:
    """(genes, :func:`n_features`) float32: the k-mer frequencies of each window (``|``-joined) side by side,
    each coding window (``layout``) followed by its codon usage (the module doc defines both).

    A window that differs from one computed whole in a recent call in one stretch of at most EDIT_MAX bases
    (the mutants of explain ism, positional and variants) is updated from that window's counts by the k-mers
    and codons the stretch touches: the same numbers as computing it whole (tests/test_features.py), at a cost
    that does not grow with the window."""
    parts = [s.split("|") for s in sequences]
    if not parts:
        return np.zeros((0, 0), dtype=np.float32)
    coding = [w.landmark == "cds" for w in layout.windows] if layout is not None else [False] * len(parts[0])
    cols = [_composition_rows([p[j] for p in parts], tuple(ks), c) for j, c in enumerate(coding)]
    return np.concatenate(cols, axis=1).astype(np.float32)


class _Counts:
    """A window's composition as counts (what an edited copy is updated from)."""

    def __init__(self, codes: np.ndarray, pad: int, frame: int, kmers: list, codons, row: np.ndarray):
        self.codes, self.pad, self.frame = codes, pad, frame  # codes with ``pad`` -1 either side; bases in codons
        self.kmers, self.codons, self.row = kmers, codons, row  # per k (counts, valid); (counts, valid); features

    @classmethod
    def batch(cls, windows: list[str], ks: tuple, coding: bool) -> list[_Counts]:
        """The counts of windows of one length, computed together."""
        m, n = len(windows), len(windows[0])
        codes = _codes("".join(windows)).reshape(m, n)
        pad = max(ks, default=1) - 1  # k-mers reaching past the window (an edit's stretch) are skipped
        kmers = [_kmer_counts(codes, k) for k in ks]
        frame = n - n % 3
        codons = _codon_counts(codes[:, :frame]) if coding else None
        rows = cls.features(kmers, codons).astype(np.float32)
        padded = np.pad(codes, ((0, 0), (pad, pad)), constant_values=-1)
        return [cls(padded[i], pad, frame, [(c[i:i + 1], v[i:i + 1]) for c, v in kmers],
                    None if codons is None else (codons[0][i:i + 1], codons[1][i:i + 1]), rows[i])
                for i in range(m)]

    @staticmethod
    def features(kmers, codons) -> np.ndarray:
        parts = [counts / np.maximum(valid, 1)[:, None] for counts, valid in kmers]
        if codons is not None:
            parts.append(codons[0] / np.maximum(codons[1], 1)[:, None])
        return np.concatenate(parts, axis=1)

    @classmethod
    def edited(cls, refs: list[_Counts], which: np.ndarray, pieces: list[str], lo: np.ndarray,
               ks: tuple) -> np.ndarray:
        """Feature rows of copies of ``refs[which[i]]`` with bases [lo[i], lo[i] + width) replaced by
        ``pieces[i]`` (one width): the references' counts minus the k-mers and codons the stretch touched, plus
        the new ones, for all copies at once (one reference, the mutants of explain ism; many, explain
        variants)."""
        width, pad = len(pieces[0]), refs[0].pad
        new = _codes("".join(pieces)).reshape(len(pieces), width)
        codes = np.full((len(refs), max(len(r.codes) for r in refs)), -1, dtype=np.int8)
        for i, r in enumerate(refs):  # the references side by side (padded with -1: no base)
            codes[i, :len(r.codes)] = r.codes
        rows = which[:, None]
        kmers = []
        for j, k in enumerate(ks):
            at = lo[:, None] + (pad - k + 1) + np.arange(width + 2 * k - 2)  # bases of the touched k-mers
            before = codes[rows, at]
            after = before.copy()
            after[:, k - 1:k - 1 + width] = new
            (c0, v0), (c1, v1) = _kmer_counts(before, k), _kmer_counts(after, k)
            counts = np.concatenate([r.kmers[j][0] for r in refs])[which]
            valid = np.concatenate([r.kmers[j][1] for r in refs])[which]
            kmers.append((counts - c0 + c1, valid - v0 + v1))
        codons = None
        if refs[0].codons is not None:
            first = lo // 3 * 3  # the touched codons' bases: [first, first + span)
            span = (width + 2) // 3 * 3 + 3
            at = first[:, None] + np.arange(span)
            inside = at < np.array([r.frame for r in refs])[which][:, None]
            before = np.where(inside, codes[rows, np.minimum(at + pad, codes.shape[1] - 1)], -1)
            after = before.copy()
            cols = (lo - first)[:, None] + np.arange(width)
            step = np.arange(len(pieces))[:, None]
            after[step, cols] = np.where(inside[step, cols], new, -1)
            (c0, v0), (c1, v1) = _codon_counts(before), _codon_counts(after)
            counts = np.concatenate([r.codons[0] for r in refs])[which]
            valid = np.concatenate([r.codons[1] for r in refs])[which]
            codons = (counts - c0 + c1, valid - v0 + v1)
        return cls.features(kmers, codons)


_COMPOSITION: dict = {}  # (ks, coding) -> {window: its _Counts} of windows computed whole (the most recent)
_COMPOSITION_ANCHORS: dict = {}  # (ks, coding, anchor key) -> such a window: where an edited copy finds it
_COMPOSITION_SIZE = 2048  # windows kept (about 7 kB each for a 3 kb window and k = 1..4): the references of
# the mutants in flight (explain ism, positional and variants score a reference before or beside its mutants)


def _composition_rows(column: list[str], ks: tuple, coding: bool) -> np.ndarray:
    """:func:`window_features` of one window of each gene."""
    known = _COMPOSITION.setdefault((ks, coding), {})
    rows: dict[str, np.ndarray] = {}
    edits: dict[int, list[tuple[str, str, int]]] = {}  # edited copies (window, original, lo) by edit width
    whole: dict[int, list[str]] = {}  # windows computed whole, by length (together)
    pending: set[str] = set()
    for w in dict.fromkeys(column):
        if w in known:
            rows[w] = known[w].row
            continue
        for key in _anchor_keys(w):
            ref = _COMPOSITION_ANCHORS.get((ks, coding, *key))
            span = _edit_span(ref, w) if ref is not None and (ref in known or ref in pending) else None
            if span:
                edits.setdefault(span[1] - span[0], []).append((w, ref, span[0]))
                break
        else:
            whole.setdefault(len(w), []).append(w)
            pending.add(w)
            for key in _anchor_keys(w):
                _COMPOSITION_ANCHORS.pop((ks, coding, *key), None)
                _COMPOSITION_ANCHORS[(ks, coding, *key)] = w
    for group in whole.values():
        for w, counts in zip(group, _Counts.batch(group, ks, coding), strict=True):
            known[w] = counts
            rows[w] = counts.row
    for width, group in edits.items():
        refs = list(dict.fromkeys(ref for _, ref, _ in group))
        index = {ref: i for i, ref in enumerate(refs)}
        values = _Counts.edited([known[r] for r in refs], np.array([index[r] for _, r, _ in group]),
                                [w[a:a + width] for w, _, a in group], np.array([a for _, _, a in group]), ks)
        rows.update(zip([w for w, _, _ in group], values, strict=True))
    while len(known) > _COMPOSITION_SIZE:
        known.pop(next(iter(known)))
    while len(_COMPOSITION_ANCHORS) > 4 * _COMPOSITION_SIZE:
        _COMPOSITION_ANCHORS.pop(next(iter(_COMPOSITION_ANCHORS)))
    return np.stack([rows[w] for w in column])


def gene_values(table, names: list[str], source) -> np.ndarray:
    """(rows, len(names)) model inputs of the gene-model columns ``names`` of a pyarrow ``table``
    (:func:`florabert.genome.genemodel.model_inputs`); a missing column or a bad value is an InputError naming
    ``source``."""
    from florabert.errors import InputError
    from florabert.genome.genemodel import model_inputs

    missing = [n for n in names if n not in table.column_names]
    if missing:
        raise InputError(source, f"no gene-model column(s) {', '.join(missing)}")
    try:
        return model_inputs({n: table.column(n).to_pylist() for n in names}, names)
    except ValueError as exc:
        raise InputError(source, str(exc)) from None


def wide_inputs(sequences: list[str], ks: list[int], layout=None, genes: np.ndarray | None = None, *,
                motifs: bool | list[int] = False) -> np.ndarray:
    """(genes, features) float32: the composition of the windows (:func:`window_features`, when ``ks``), the
    known plant motifs (``motifs``: :func:`motif_inputs` of every window, or of the windows of this list of
    indices), then the gene-model values ``genes`` (:func:`gene_values`, when given), side by side in that
    order."""
    parts = []
    if ks:
        parts.append(window_features(sequences, list(ks), layout))
    if motifs:
        parts.append(motif_inputs(sequences, None if motifs is True else list(motifs)))
    if genes is not None and genes.shape[1]:
        parts.append(np.asarray(genes, dtype=np.float32))
    return np.concatenate(parts, axis=1) if parts else np.zeros((len(sequences), 0), dtype=np.float32)


def motif_inputs(sequences: list[str], windows: list[int] | None = None) -> np.ndarray:
    """The wide path's motif group: per window (``|``-joined; ``windows``: these indices only, default all) and
    matrix of JASPAR's non-redundant plant set, the best site's score (bits) and the number of hits
    (:func:`florabert.motifs.scan.motif_features`)."""
    from florabert.motifs.jaspar import nonredundant
    from florabert.motifs.scan import Scanner

    scanner = _SCANNERS.get("plants") or _SCANNERS.setdefault("plants", Scanner(nonredundant()))
    parts = [s.split("|") for s in sequences]
    cols = []
    for j in range(len(parts[0])) if windows is None else windows:
        # each distinct window once, and windows seen in recent calls not again: a mutant of a multi-window gene
        # changes one window, and its other windows are its reference's (explain ism / positional / variants)
        column = [p[j] for p in parts]
        new = [w for w in dict.fromkeys(column) if w not in _WINDOW_CACHE]
        if new:
            for w, row in zip(new, _motif_rows(scanner, new), strict=True):
                _WINDOW_CACHE[w] = row
            while len(_WINDOW_CACHE) > _CACHE_SIZE:
                _WINDOW_CACHE.pop(next(iter(_WINDOW_CACHE)))
        cols.append(np.stack([_WINDOW_CACHE[w] for w in column]))
    return np.concatenate(cols, axis=1)


_WINDOW_CACHE: dict = {}  # window sequence -> its motif features (insertion order: oldest first out)
_CACHE_SIZE = 60000  # about 160 MB of float32 at 4 windows x 328 matrices x 2
_ANCHORS: dict = {}  # (length, first or last 24 bases) -> a window scanned whole: where an edited copy finds it
_REFERENCES: dict = {}  # window -> its Scanner.reference (the few most recent)
EDIT_MAX = 64  # an edited copy changes at most this stretch of its original (explain ism: 1, positional: L)


def _motif_rows(scanner, windows: list[str]) -> np.ndarray:
    """The motif features of each window: copies of a window scanned before that differ from it in one stretch
    of at most EDIT_MAX bases (the mutants of explain ism, positional and variants) from that window's sites
    (:meth:`~florabert.motifs.scan.Scanner.edited`, the same numbers to float rounding), the others scanned
    whole."""
    from florabert.motifs.scan import GROUP_MIN, motif_features

    edits: dict[str, list[tuple[int, int, int]]] = {}  # original -> (row, lo, hi) of its edited copies
    for i, w in enumerate(windows):
        for key in _anchor_keys(w):
            ref = _ANCHORS.get(key)
            span = _edit_span(ref, w) if ref is not None and ref != w else None
            if span:
                edits.setdefault(ref, []).append((i, *span))
                break
    edited = {i for rows in edits.values() if len(rows) >= GROUP_MIN for i, _, _ in rows}
    whole = [i for i in range(len(windows)) if i not in edited]
    out = np.zeros((len(windows), 2 * len(scanner.matrices)), dtype=np.float32)
    if whole:
        out[whole] = motif_features([scanner.scan([windows[i] for i in whole], where=False)])
        for i in whole:
            for key in _anchor_keys(windows[i]):
                _ANCHORS.pop(key, None)
                _ANCHORS[key] = windows[i]
        while len(_ANCHORS) > 2 * _CACHE_SIZE:
            _ANCHORS.pop(next(iter(_ANCHORS)))
    for ref, rows in edits.items():
        if len(rows) < GROUP_MIN:
            continue
        if ref not in _REFERENCES:
            _REFERENCES[ref] = scanner.reference(ref)
            while len(_REFERENCES) > 2:
                _REFERENCES.pop(next(iter(_REFERENCES)))
        score, hits = scanner.edited(_REFERENCES[ref], [windows[i] for i, _, _ in rows],
                                     [(lo, hi) for _, lo, hi in rows])
        out[[i for i, _, _ in rows]] = np.concatenate([np.where(np.isfinite(score), score, 0.0), hits], axis=1)
    return out


def _anchor_keys(window: str) -> tuple:
    """Where an edited copy of ``window`` finds it: its length with its first, or its last, 24 bases."""
    return (len(window), window[:24]), (len(window), window[-24:])


def _edit_span(ref: str, window: str) -> tuple[int, int] | None:
    """[lo, hi) of the bases where ``window`` differs from ``ref`` (same length), if within EDIT_MAX bases."""
    a = np.frombuffer(ref.encode("latin-1", "replace"), dtype=np.uint8)
    b = np.frombuffer(window.encode("latin-1", "replace"), dtype=np.uint8)
    if len(a) != len(b):
        return None
    d = np.flatnonzero(a != b)
    return (int(d[0]), int(d[-1]) + 1) if len(d) and d[-1] - d[0] < EDIT_MAX else None


_SCANNERS: dict = {}  # the plant set's scanner, built once per process


def n_motif_features(layout, windows: list[int] | None = None) -> int:
    """Width of :func:`motif_inputs` for a layout (2 per scanned window and matrix of the non-redundant set)."""
    from florabert.motifs.jaspar import cluster_table

    n = len(layout) if windows is None else len(windows)
    return 2 * n * sum(r["is_medoid"] == "1" for r in cluster_table())


def motif_windows(layout, which: str = "tss") -> list[int]:
    """The windows of ``layout`` the wide path scans for motifs (FinetuneConfig.wide_motif_windows): ``tss``,
    those at the TSS; ``noncoding``, all but the coding ones (landmark ``cds``); ``all``."""
    keep = {"tss": lambda w: w.landmark == "tss", "noncoding": lambda w: w.landmark != "cds",
            "all": lambda w: True}[which]
    return [j for j, w in enumerate(layout.windows) if keep(w)]


def model_motifs(config) -> bool | list[int]:
    """What a fine-tuned model's wide path scans (its config): False, True (every window: models before
    ``wide_motif_windows``) or the window indices."""
    if not getattr(config, "wide_motifs", False):
        return False
    chosen = getattr(config, "wide_motif_windows", None)
    return True if chosen is None else list(chosen)


# LightGBM settings of the blend (florabert.training.finetune.blend): boosters of the targets' leading principal
# components, mapped linearly onto each output (the runs of an expression table are highly correlated: one or two
# boosters instead of one per output, as good and many times cheaper; README "Accuracy")
LGBM_PARAMS = {"n_estimators": 300, "learning_rate": 0.03, "num_leaves": 15, "min_child_samples": 20,
               "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.5, "reg_lambda": 1.0, "verbose": -1}
LGBM_FILE = "wide_lgbm_{}.txt"  # LightGBM's own text format (no pickle), one per booster, in the model directory


class WideTrees:
    """The trees blended into an expression model: LightGBM ``boosters`` on the wide features and ``coef``
    ((boosters + 1) x outputs: intercept row, then one row per booster) mapping their outputs onto the model's,
    scaled by the blend ``weight``. ``offset(x)`` (genes, outputs) is what the model adds."""

    def __init__(self, boosters: list, coef: np.ndarray, weight: float):
        self.boosters, self.coef, self.weight = boosters, np.asarray(coef, dtype=np.float64), weight

    def design(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return np.column_stack([np.ones(len(x)), *(b.predict(x) for b in self.boosters)])

    def offset(self, x: np.ndarray) -> np.ndarray:
        return (self.weight * self.design(x) @ self.coef).astype(np.float32)

    def save(self, model_dir) -> None:
        for j, b in enumerate(self.boosters):
            b.save_model(str(Path(model_dir) / LGBM_FILE.format(j)))

    @classmethod
    def load(cls, model_dir, blend: dict) -> WideTrees:
        """The blend's boosters read by :mod:`florabert.lgbmtext` (lightgbm itself where that reader does not
        cover the file)."""
        from florabert.errors import InputError
        from florabert.lgbmtext import load_booster

        boosters = []
        for j in range(int(blend["boosters"])):
            path = Path(model_dir) / LGBM_FILE.format(j)
            try:
                boosters.append(load_booster(path))
            except Exception as exc:  # lightgbm raises its own LightGBMError for a missing or corrupt file
                msg = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
                raise InputError(path, f"cannot load the blended trees ({msg})") from None
        return cls(boosters, np.asarray(blend["coef"]), float(blend["weight"]))
