"""Scanning gene windows with position weight matrices, as one convolution over one-hot bases.

Scores are log2-odds (bits) against the window's own base composition, on both strands: a site of width w
starting at base k scores Σ log2 P(base at k + i | column i) - Σ log2 b(base at k + i), b the window's base
frequencies (with one pseudocount per base). That is Biopython's ``PSSM`` score for the same counts,
pseudocounts and background (the oracle of tests/test_motifs.py). The relative score maps a site's score onto
[0, 1] between the worst and the best possible site under that background; a site is a *hit* at relative score
>= ``threshold`` (0.85 by default, as JASPAR's own scans suggest 0.8-0.9). Bases other than A/C/G/T score 0.

Coordinates: window arrays are laid out from each window's first base (0-based); ``start`` in the results is
the first base of the site, relative to the window's landmark as :class:`florabert.explain.inputs.WindowMap`
counts it (-1 = the base before the landmark), on the gene's strand; ``strand`` "+" = the matrix reads along
the gene's strand, "-" = on the opposite strand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from florabert.motifs.jaspar import PSEUDOCOUNT, Matrix

LUT = np.full(256, 4, dtype=np.int64)
for _i, _b in enumerate(b"ACGT"):
    LUT[_b] = _i
    LUT[_b + 32] = _i


@dataclass
class WindowScan:
    """The best site of every (gene, matrix) in one window, and the hits: arrays of shape (genes, matrices)."""

    score: np.ndarray  # bits
    relative: np.ndarray  # in [0, 1]
    start: np.ndarray  # 0-based index of the site's first base within the window's sequence (-1: none)
    strand: np.ndarray  # +1 / -1
    hits: np.ndarray  # sites at relative score >= threshold


class Scanner:
    """Scan sequences with ``matrices`` (both strands); widths are grouped so that each convolution's kernel is
    its matrices' own width."""

    def __init__(self, matrices: list[Matrix], *, threshold: float = 0.85, pseudocount: float = PSEUDOCOUNT):
        self.matrices, self.threshold = matrices, threshold
        self.groups = []  # (width, matrix indices, weights (2 x n, 4, width): forward then reverse complement)
        for w in sorted({m.width for m in matrices}):
            idx = [i for i, m in enumerate(matrices) if m.width == w]
            fwd = np.stack([np.log2(matrices[i].probabilities(pseudocount)) for i in idx])
            rc = fwd[:, ::-1, ::-1]  # A<->T, C<->G and the columns reversed
            # input channels A, C, G, T: an N (all four 0) adds 0; sites that run off a sequence are masked
            both = np.ascontiguousarray(np.concatenate([fwd, rc]))
            self.groups.append((w, np.array(idx), torch.from_numpy(both).float()))

    @torch.inference_mode()
    def scan(self, sequences: list[str], batch: int = 64, *, where: bool = True) -> WindowScan:
        """The best site and the hit count of every matrix in every sequence (one window per sequence);
        ``where=False`` leaves ``start`` at -1 and ``strand`` at 0 (the best score without its place: faster)."""
        n, m = len(sequences), len(self.matrices)
        out = WindowScan(np.full((n, m), -np.inf, np.float32), np.zeros((n, m), np.float32),
                         np.full((n, m), -1, np.int64), np.zeros((n, m), np.int8), np.zeros((n, m), np.int32))
        order = np.argsort([len(s) for s in sequences], kind="stable")  # batches of similar length: less padding
        tmp = WindowScan(*(np.empty_like(a) for a in (out.score, out.relative, out.start, out.strand, out.hits)))
        for lo in range(0, n, batch):
            self._scan_batch([sequences[i] for i in order[lo:lo + batch]], lo, tmp, where=where)
        for name in ("score", "relative", "start", "strand", "hits"):
            getattr(out, name)[order] = getattr(tmp, name)
        return out

    @torch.inference_mode()
    def sites_over(self, sequences: list[str], spans: list[tuple[int, int]], batch: int = 256) -> WindowScan:
        """Per sequence, the best site of every matrix among the sites that overlap bases ``[lo, hi)`` (an edit;
        ``lo == hi``: the sites spanning the gap before base ``lo``), scored against the whole sequence's own
        composition as :meth:`scan` scores it. ``hits`` is 1 where that site is a hit; ``start`` is within the
        sequence. Only a stretch of the longest matrix's width around each edit is convolved."""
        n, m = len(sequences), len(self.matrices)
        out = WindowScan(np.full((n, m), -np.inf, np.float32), np.zeros((n, m), np.float32),
                         np.full((n, m), -1, np.int64), np.zeros((n, m), np.int8), np.zeros((n, m), np.int32))
        reach = max(w for w, _, _ in self.groups) - 1
        for lo in range(0, n, batch):
            seqs, cut, bgs, edits = [], [], [], []
            for s, (a, b) in zip(sequences[lo:lo + batch], spans[lo:lo + batch], strict=True):
                first = max(0, a - reach)
                seqs.append(s[first:max(b, a + 1) + reach])
                cut.append(first)
                bgs.append(s)
                edits.append((a - first, max(b, a + 1) - first))
            self._scan_batch(seqs, lo, out, background=bgs, edits=np.array(edits))
            out.start[lo:lo + len(seqs)] += np.where(out.start[lo:lo + len(seqs)] >= 0, np.array(cut)[:, None], 0)
        out.hits = (out.relative >= self.threshold).astype(np.int32)
        return out

    def _scan_batch(self, seqs: list[str], lo: int, out: WindowScan, background: list[str] | None = None,
                    edits: np.ndarray | None = None, where: bool = True) -> None:
        lengths = np.array([len(s) for s in seqs])
        width = max(int(lengths.max()), 1)
        codes = np.full((len(seqs), width), 4, dtype=np.int64)  # 4: N or padding (no base)
        for r, s in enumerate(seqs):
            codes[r, :len(s)] = LUT[np.frombuffer(s.encode("latin-1", "replace"), dtype=np.uint8)]
        x = F.one_hot(torch.from_numpy(codes), 5)[..., :4].float().transpose(1, 2).contiguous()  # (B, 4, L)
        short = np.flatnonzero(lengths < width)  # rows with padding: their sites past the end are masked
        if background is None:
            counts = x.sum(2)
        else:  # another sequence's composition (sites_over: the whole window's, not the stretch's)
            counts = torch.from_numpy(np.stack([np.bincount(LUT[np.frombuffer(b.encode("latin-1", "replace"),
                                                                               dtype=np.uint8)], minlength=5)[:4]
                                                for b in background]).astype(np.float32))
        log_bg = torch.log2((counts + 1.0) / (counts.sum(1, keepdim=True) + 4.0))  # (B, 4)
        # per position, the background's log2 frequency of its base (0 for N and padding): a window sum of it is
        # the background half of a site's score
        base_bg = torch.einsum("bcl,bc->bl", x, log_bg)
        cum = F.pad(base_bg.cumsum(1), (1, 0))
        rows = slice(lo, lo + len(seqs))
        for w, idx, weights in self.groups:
            if width < w:
                continue
            k = len(idx)
            score = F.conv1d(x, weights)  # (B, 2k, L - w + 1); N and padding add 0
            score.sub_((cum[:, w:] - cum[:, :-w])[:, None, :])
            for r in short:  # a site must fit inside its sequence
                score[r, :, max(int(lengths[r]) - w + 1, 0):] = -1e4
            if edits is not None:  # only the sites that overlap each edit [a, b): start in [a - w + 1, b - 1]
                starts = torch.arange(score.shape[2])[None, :]
                a, b = torch.from_numpy(edits[:, :1]), torch.from_numpy(edits[:, 1:])
                outside = (starts < a - w + 1) | (starts > b - 1)
                score.masked_fill_(outside[:, None, :], -1e4)
            # the best and the worst site possible under each sequence's background, per matrix and strand
            shifted = weights[None, :, :4] - log_bg[:, None, :, None]  # (B, 2k, 4, w)
            best_possible = shifted.amax(2).sum(2)
            worst_possible = shifted.amin(2).sum(2)
            span = (best_possible - worst_possible).clamp(min=1e-6)
            cutoff = worst_possible + self.threshold * span
            above = (score >= cutoff[..., None]).to(torch.uint8)  # summing uint8 is 3x faster than bool
            hits = above.sum(2, dtype=torch.int32).view(len(seqs), 2, k).sum(1)
            if where:
                top, pos = score.max(2)  # (B, 2k)
            else:  # amax: several times faster than max with its indices
                top, pos = score.amax(2), torch.full((len(seqs), 2 * k), -1)
            rel = ((top - worst_possible) / span).view(len(seqs), 2, k)
            top, pos = top.view(len(seqs), 2, k), pos.view(len(seqs), 2, k)
            strand = top.argmax(1, keepdim=True)  # the better strand
            best = top.gather(1, strand)[:, 0]
            found = best > -1e3  # a site that fits inside the sequence
            out.score[rows, idx] = torch.where(found, best, float("-inf")).numpy()
            out.relative[rows, idx] = torch.where(found, rel.gather(1, strand)[:, 0], 0.0).numpy()
            out.start[rows, idx] = torch.where(found, pos.gather(1, strand)[:, 0], -1).numpy()
            out.strand[rows, idx] = torch.where(found & where, 1 - 2 * strand[:, 0], 0).numpy().astype(np.int8)
            out.hits[rows, idx] = hits.numpy()


def landmark_start(layout, j: int, length: int, start: np.ndarray) -> np.ndarray:
    """Landmark-relative position of base ``start`` (0-based in window j's sequence of ``length`` bases)."""
    w = layout.windows[j]
    return (w.end - (length - start)) if w.anchor_right else (w.start + start)


def scan_genes(sequences: list[str], layout, matrices: list[Matrix], *, threshold: float = 0.85,
               batch: int = 64) -> list[WindowScan]:
    """Per window of ``layout``, the :class:`WindowScan` of every gene (sequences: windows joined by ``|``);
    ``start`` is converted to landmark-relative positions (-10**9 where no site fits)."""
    scanner = Scanner(matrices, threshold=threshold)
    parts = [layout.split(s) for s in sequences]
    out = []
    for j in range(len(layout)):
        seqs = [p[j] for p in parts]
        res = scanner.scan(seqs, batch=batch)
        lengths = np.array([len(s) for s in seqs])[:, None]
        res.start = np.where(res.start >= 0, landmark_start(layout, j, lengths, res.start), -10**9)
        out.append(res)
    return out


def motif_features(scans: list[WindowScan]) -> np.ndarray:
    """The wide path's motif group: per window and matrix, the best site's score (bits) and the number of hits;
    (genes, windows x matrices x 2), windows in layout order."""
    cols = []
    for s in scans:
        cols += [np.where(np.isfinite(s.score), s.score, 0.0), s.hits.astype(np.float32)]
    return np.concatenate(cols, axis=1).astype(np.float32)


__all__ = ["Scanner", "WindowScan", "landmark_start", "motif_features", "scan_genes"]
