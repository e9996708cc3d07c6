"""Naming what an explanation points at: the known plant motifs whose sites overlap a variant or a peak.

A variant is named by the sites that overlap its edit on the reference and on the alternative window: per matrix
of the non-redundant plant set (:func:`florabert.motifs.jaspar.nonredundant`), the best site covering the edit on
either allele, scored in bits against the window's own composition (:meth:`Scanner.sites_over`). A matrix is
reported when that site is a hit (relative score >= 0.85) on at least one allele, ordered by how much the edit
changes its score; ``effect`` says ``destroyed`` (a hit on the reference, none on the alternative), ``created``,
``weakened`` or ``strengthened``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_SCANNER: dict = {}


def plant_scanner():
    """The scanner of the non-redundant plant set (built once per process)."""
    if "plants" not in _SCANNER:
        from florabert.motifs.jaspar import nonredundant
        from florabert.motifs.scan import Scanner

        _SCANNER["plants"] = Scanner(nonredundant())
    return _SCANNER["plants"]


@dataclass
class MotifSite:
    matrix_id: str
    tf: str
    family: str
    ref_score: float  # bits (-inf: no site fits)
    alt_score: float
    ref_hit: bool
    alt_hit: bool
    start: int  # first base of the better allele's site, 0-based within that allele's window
    strand: str  # "+": the matrix reads along the gene's strand

    @property
    def effect(self) -> str:
        if self.ref_hit and not self.alt_hit:
            return "destroyed"
        if self.alt_hit and not self.ref_hit:
            return "created"
        return "weakened" if self.alt_score < self.ref_score else "strengthened"

    @property
    def label(self) -> str:
        return f"{self.tf} ({self.family}, {self.matrix_id})"

    def describe(self) -> str:
        """``TF (family, matrix) ref>alt bits effect`` (a variant's site)."""
        return f"{self.label} {self.ref_score:.1f}>{self.alt_score:.1f} bits {self.effect}"


PEAK_COLUMNS = ["motif", "motif_tf", "motif_family", "motif_bits", "motifs"]


def peak_cells(sites: list[MotifSite]) -> list[str]:
    """Table cells of the motif hits at a peak of importance: the best in columns, up to three in ``motifs``."""
    if not sites:
        return [""] * len(PEAK_COLUMNS)
    top = sites[0]
    return [top.matrix_id, top.tf, top.family, f"{top.ref_score:.2f}",
            "; ".join(f"{s.label} {s.ref_score:.1f} bits" for s in sites)]


def edit_span(ref: str, alt: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """Where two windows differ: ``[lo, hi)`` in ``ref`` and in ``alt`` (common prefix and suffix removed)."""
    p = 0
    n = min(len(ref), len(alt))
    while p < n and ref[p] == alt[p]:
        p += 1
    q = 0
    while q < n - p and ref[len(ref) - 1 - q] == alt[len(alt) - 1 - q]:
        q += 1
    return (p, len(ref) - q), (p, len(alt) - q)


def variant_motifs(refs: list[str], alts: list[str], *, top: int = 3, scanner=None) -> list[list[MotifSite]]:
    """Per (reference window, alternative window) pair, the motifs whose sites overlap the edit on either allele,
    most changed first (at most ``top``)."""
    scanner = scanner or plant_scanner()
    if not refs:
        return []
    spans = [edit_span(r, a) for r, a in zip(refs, alts, strict=True)]
    r = scanner.sites_over(refs, [s[0] for s in spans])
    a = scanner.sites_over(alts, [s[1] for s in spans])
    out = []
    for i in range(len(refs)):
        hit = (r.hits[i] > 0) | (a.hits[i] > 0)
        idx = np.flatnonzero(hit)
        change = np.abs(np.nan_to_num(a.score[i, idx] - r.score[i, idx], nan=0.0, posinf=99, neginf=99))
        rows = []
        for k in idx[np.argsort(-change, kind="stable")][:top]:
            m = scanner.matrices[k]
            better = a if a.score[i, k] > r.score[i, k] else r
            rows.append(MotifSite(m.matrix_id, m.name, m.family, float(r.score[i, k]), float(a.score[i, k]),
                                  bool(r.hits[i, k]), bool(a.hits[i, k]), int(better.start[i, k]),
                                  "+" if better.strand[i, k] > 0 else "-"))
        out.append(rows)
    return out


def region_motifs(sequences: list[str], spans: list[tuple[int, int]], *, top: int = 3,
                  scanner=None) -> list[list[MotifSite]]:
    """Per sequence, the motif hits overlapping bases ``[lo, hi)`` (a peak of importance), best first."""
    scanner = scanner or plant_scanner()
    if not sequences:
        return []
    r = scanner.sites_over(sequences, spans)
    out = []
    for i in range(len(sequences)):
        idx = np.flatnonzero(r.hits[i] > 0)
        rows = []
        for k in idx[np.argsort(-r.relative[i, idx], kind="stable")][:top]:
            m = scanner.matrices[k]
            s = float(r.score[i, k])
            rows.append(MotifSite(m.matrix_id, m.name, m.family, s, s, True, True, int(r.start[i, k]),
                                  "+" if r.strand[i, k] > 0 else "-"))
        out.append(rows)
    return out


def importance_enrichment(sequences: list[str], importance: list[np.ndarray], *, permutations: int = 200,
                          min_sites: int = 3, seed: int = 0, scanner=None) -> list[dict]:
    """Which motifs the model's importance falls on, against chance.

    ``sequences``: genes (windows joined by ``|``); ``importance``: per gene, one value per base of the joined
    sequence (NaN where nothing was measured). A matrix's sites are its best site in each window where that is
    a hit; the importance on a site is the mean over its measured bases. Chance: the same matrix's sites moved to
    random positions of the same windows (``permutations`` times); ``ratio`` = observed / chance mean and
    ``p_value`` = the share of permutations at least as high as observed (one-sided, +1 smoothed). Rows with
    at least ``min_sites`` measured sites, highest ratio first."""
    scanner = scanner or plant_scanner()
    rng = np.random.default_rng(seed)
    m = len(scanner.matrices)
    widths = np.array([x.width for x in scanner.matrices])
    obs_sum, obs_n = np.zeros(m), np.zeros(m, np.int64)
    perm_sum = np.zeros((m, permutations))
    parts = [s.split("|") for s in sequences]
    for j in range(len(parts[0]) if parts else 0):
        windows = [p[j] for p in parts]
        scan = scanner.scan(windows)
        for g, p in enumerate(parts):
            off = sum(len(x) + 1 for x in p[:j])
            vals = importance[g][off:off + len(windows[g])]
            ok = np.isfinite(vals)
            cs = np.concatenate([[0.0], np.cumsum(np.where(ok, vals, 0.0))])
            cn = np.concatenate([[0], np.cumsum(ok)])
            for k in np.flatnonzero(scan.relative[g] >= scanner.threshold):
                w, s = widths[k], scan.start[g, k]
                if len(vals) < w or cn[s + w] - cn[s] == 0:
                    continue
                obs_sum[k] += (cs[s + w] - cs[s]) / (cn[s + w] - cn[s])
                obs_n[k] += 1
                r = rng.integers(0, len(vals) - w + 1, permutations)
                n = cn[r + w] - cn[r]
                perm_sum[k] += np.where(n > 0, (cs[r + w] - cs[r]) / np.maximum(n, 1), np.nanmean(vals))
    rows = []
    for k in np.flatnonzero(obs_n >= min_sites):
        observed, chance = obs_sum[k] / obs_n[k], perm_sum[k] / obs_n[k]
        mt = scanner.matrices[k]
        rows.append({"matrix_id": mt.matrix_id, "tf": mt.name, "family": mt.family, "sites": int(obs_n[k]),
                     "importance_on_sites": float(observed), "importance_by_chance": float(chance.mean()),
                     "ratio": float(observed / chance.mean()) if chance.mean() > 0 else float("nan"),
                     "p_value": float((1 + (chance >= observed).sum()) / (1 + permutations))})
    return sorted(rows, key=lambda r: -r["ratio"] if np.isfinite(r["ratio"]) else 0.0)
