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

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from florabert.motifs.jaspar import PSEUDOCOUNT, Matrix

LUT = np.full(256, 4, dtype=np.int64)
GROUP_MIN = 3  # Scanner.edited: edits whose composition change fewer share are scanned whole
KIND_BYTES = 400 * 2**20  # Scanner.edited: the most memory one reference's cached composition changes take
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



@dataclass
class Reference:
    """A window scanned for :meth:`Scanner.edited`: per width group of matrices, the matrix half of every site's
    score (2k, sites) and every site's A/C/G/T counts (4, sites); None where the window is narrower."""

    sequence: str
    codes: torch.Tensor
    counts: torch.Tensor  # (4,) A, C, G, T in the window
    sites: list
    # per composition change (count change of A, C, G, T) seen in edits: per width group the hit cutoffs and
    # the prefix / suffix maxima and running hit counts of the unaffected sites' scores (the most recent few)
    kinds: dict = field(default_factory=dict)


def _codes(sequence: str) -> np.ndarray:
    """Base codes 0-3 of A/C/G/T (either case), 4 for anything else."""
    return LUT[np.frombuffer(sequence.encode("latin-1", "replace"), dtype=np.uint8)]


def _log_background(counts: torch.Tensor) -> torch.Tensor:
    """log2 base frequencies (B, 4) of windows with A/C/G/T ``counts`` (B, 4), one pseudocount per base."""
    return torch.log2((counts + 1.0) / (counts.sum(1, keepdim=True) + 4.0))

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
        # a copy of the empty result: a batch narrower than a matrix keeps "no site" for it
        tmp = WindowScan(*(a.copy() for a in (out.score, out.relative, out.start, out.strand, out.hits)))
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
        log_bg = _log_background(counts)  # (B, 4)
        # the background half of a site's score: its bases counted (exact integers) times their log2 frequency
        cum = F.pad(x.cumsum(2), (1, 0))  # (B, 4, L + 1)
        rows = slice(lo, lo + len(seqs))
        for w, idx, weights in self.groups:
            if width < w:
                continue
            k = len(idx)
            score = F.conv1d(x, weights)  # (B, 2k, L - w + 1); N and padding add 0
            score.sub_(torch.einsum("bc,bcl->bl", log_bg, cum[:, :, w:] - cum[:, :, :-w])[:, None, :])
            for r in short:  # a site must fit inside its sequence
                score[r, :, max(int(lengths[r]) - w + 1, 0):] = -1e4
            if edits is not None:  # only the sites that overlap each edit [a, b): start in [a - w + 1, b - 1]
                starts = torch.arange(score.shape[2])[None, :]
                a, b = torch.from_numpy(edits[:, :1]), torch.from_numpy(edits[:, 1:])
                outside = (starts < a - w + 1) | (starts > b - 1)
                score.masked_fill_(outside[:, None, :], -1e4)
            worst_possible, span, cutoff = self._limits(weights, log_bg)
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

    def _limits(self, weights: torch.Tensor, log_bg: torch.Tensor):
        """The worst possible site, the span to the best and the hit cutoff of each matrix and strand under each
        background (``log_bg`` (B, 4) -> three (B, 2k))."""
        shifted = weights[None] - log_bg[:, None, :, None]  # (B, 2k, 4, w)
        worst = shifted.amin(2).sum(2)
        span = (shifted.amax(2).sum(2) - worst).clamp(min=1e-6)
        return worst, span, worst + self.threshold * span

    def _unaffected(self, ref: Reference, kind: tuple, log_bg: torch.Tensor) -> list:
        """Per width group, under the composition ``ref`` has after an edit of this ``kind``: the hit cutoffs
        (2k,), every site's prefix and suffix maxima of score (2k, K) and the running hit counts (2k, K + 1) of
        the sites before each (cached on ``ref``, within KIND_BYTES)."""
        if kind in ref.kinds:
            ref.kinds[kind] = ref.kinds.pop(kind)  # most recent last
            return ref.kinds[kind]
        out = []
        for (_, _, weights), site in zip(self.groups, ref.sites, strict=True):
            if site is None:
                out.append(None)
                continue
            conv, counts = site
            cutoff = self._limits(weights, log_bg)[2][0].numpy()
            s = (conv - log_bg @ counts).numpy()  # (2k, K): every site's score under this composition
            run = np.zeros((s.shape[0], s.shape[1] + 1), dtype=np.int32)
            np.cumsum(s >= cutoff[:, None], axis=1, out=run[:, 1:])
            out.append((cutoff, np.maximum.accumulate(s, axis=1),
                        np.maximum.accumulate(s[:, ::-1], axis=1)[:, ::-1], run))
        size = sum(t[1].nbytes * 3 for t in out if t is not None)
        while ref.kinds and (len(ref.kinds) + 1) * size > KIND_BYTES:
            ref.kinds.pop(next(iter(ref.kinds)))
        ref.kinds[kind] = out
        return out

    @torch.inference_mode()
    def reference(self, sequence: str) -> Reference:
        """``sequence`` scanned once and kept for :meth:`edited` (the matrix half of every site's score and
        every site's base counts: about 4 x 2 x matrices bytes per base)."""
        codes = torch.from_numpy(_codes(sequence))
        x = F.one_hot(codes, 5)[:, :4].T.float().contiguous()  # (4, L)
        cum = F.pad(x.cumsum(1), (1, 0))
        sites = [(F.conv1d(x[None], weights)[0], cum[:, w:] - cum[:, :-w]) if len(sequence) >= w else None
                 for w, _, weights in self.groups]
        return Reference(sequence, codes, x.sum(1), sites)

    @torch.inference_mode()
    def edited(self, ref: Reference, sequences: list[str], spans: list[tuple[int, int]]) -> tuple[np.ndarray,
                                                                                                   np.ndarray]:
        """The best score (bits; -inf where no site fits) and the hit count of every matrix (both strands) in
        each of ``sequences``: copies of ``ref.sequence`` that differ from it only at bases ``[lo, hi)`` of its
        ``spans`` (same length) — what :meth:`scan` gives them (to float rounding), from the reference's sites.

        A site's score is its matrix half minus its bases' log2 background frequencies, and the background is
        the window's composition: an edit changes the score of the sites it overlaps and, through the
        composition, every other site's background half. Edits that change the composition alike (the same
        count change per base: all A->G substitutions of a window, say) share every unaffected site's score,
        so per such group the prefix and suffix maxima and the running hit counts of those scores are built
        once, and each edit adds only the sites it overlaps."""
        n, m = len(sequences), len(self.matrices)
        score, hits = np.full((n, m), -np.inf, np.float32), np.zeros((n, m), np.int32)
        if not n:
            return score, hits
        lo = np.array([a for a, _ in spans], dtype=np.int64)
        hi = np.maximum(np.array([b for _, b in spans], dtype=np.int64), lo + 1)
        L = len(ref.sequence)
        bad = [i for i, s in enumerate(sequences) if len(s) != L]
        if bad or lo.min() < 0 or hi.max() > L:
            raise ValueError("edited: every sequence must have the reference's length and its span inside it")
        ref_codes = ref.codes.numpy()
        delta = np.stack([np.bincount(_codes(s[a:b]), minlength=5)[:4]
                          - np.bincount(ref_codes[a:b], minlength=5)[:4]
                          for s, a, b in zip(sequences, lo, hi, strict=True)])
        kinds, kind, size = np.unique(delta, axis=0, return_inverse=True, return_counts=True)
        alone = np.flatnonzero(size[kind.ravel()] < GROUP_MIN)  # kinds this rare: scanned whole, as cheap
        if len(alone):
            full = self.scan([sequences[i] for i in alone], where=False)
            score[alone], hits[alone] = full.score, full.hits
            keep = np.flatnonzero(size[kind.ravel()] >= GROUP_MIN)
            if not len(keep):
                return score, hits
            sub_score, sub_hits = self.edited(ref, [sequences[i] for i in keep],
                                              [(int(lo[i]), int(hi[i])) for i in keep])
            score[keep], hits[keep] = sub_score, sub_hits
            return score, hits
        reach = max(w for w, _, _ in self.groups)
        order = np.argsort(kind.ravel(), kind="stable")  # edits of one kind side by side: slices, not copies
        bounds = np.searchsorted(kind.ravel()[order], np.arange(len(kinds) + 1))
        lo, hi = lo[order], hi[order]
        # each edit's stretch: its span and the longest matrix's reach on both sides (the sites it overlaps)
        first = np.maximum(lo - reach + 1, 0)
        stretch = [sequences[i][a:b] for i, a, b in zip(order, first, hi + reach - 1, strict=True)]
        width = max(len(t) for t in stretch)
        local = np.full((n, width), 4, dtype=np.int64)
        for r, t in enumerate(stretch):
            local[r, :len(t)] = _codes(t)
        local = torch.from_numpy(local)
        log_bgs = [_log_background((ref.counts + torch.from_numpy(d).float())[None]) for d in kinds]  # (1, 4)
        tables = [self._unaffected(ref, tuple(int(v) for v in d), log_bg) for d, log_bg in zip(kinds, log_bgs,
                                                                                               strict=True)]
        for gi, ((w, idx, weights), site) in enumerate(zip(self.groups, ref.sites, strict=True)):
            if site is None:
                continue
            k, K = len(idx), site[0].shape[1]
            a_all = np.maximum(lo - w + 1, 0)  # the sites each edit overlaps: a..b
            b_all = np.minimum(hi - 1, K - 1)
            # those sites scored on the edited bases: matrix half and base counts (the stretch from site a on)
            sites = int((b_all - a_all).max()) + 1
            at = torch.from_numpy(a_all - first)[:, None] + torch.arange(sites + w - 1)[None]
            part = torch.where(at < width, local.gather(1, at.clamp(max=width - 1)), 4)
            x = F.one_hot(part, 5)[..., :4].float().transpose(1, 2).contiguous()  # (n, 4, sites + w - 1)
            cum = F.pad(x.cumsum(2), (1, 0))
            conv_l, counts_l = F.conv1d(x, weights), cum[:, :, w:] - cum[:, :, :-w]  # (n, 2k | 4, sites)
            beyond = (torch.arange(sites)[None] > torch.from_numpy(b_all - a_all)[:, None])[:, None]
            for g, log_bg in enumerate(log_bgs):
                r, rows = slice(bounds[g], bounds[g + 1]), order[bounds[g]:bounds[g + 1]]
                cutoff, before, after, run = tables[g][gi]
                a, b = a_all[r], b_all[r]
                # the sites the edit leaves alone: the best before site a and after site b, their hits
                top = np.maximum(np.where(a > 0, before[:, np.maximum(a - 1, 0)], -np.inf),
                                 np.where(b + 1 < K, after[:, np.minimum(b + 1, K - 1)], -np.inf)).T
                count = (run[:, a] + run[:, K:] - run[:, b + 1]).T
                s_l = conv_l[r] - torch.einsum("c,rcl->rl", log_bg[0], counts_l[r])[:, None]
                s_l.masked_fill_(beyond[r], float("-inf"))
                best = np.maximum(top, s_l.amax(2).numpy()).reshape(len(rows), 2, k).max(1)
                count = (count + (s_l >= torch.from_numpy(cutoff)[:, None]).sum(2).numpy()).reshape(
                    len(rows), 2, k).sum(1)
                score[np.ix_(rows, idx)] = best
                hits[np.ix_(rows, idx)] = count
        return score, hits


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


__all__ = ["Reference", "Scanner", "WindowScan", "landmark_start", "motif_features", "scan_genes"]
