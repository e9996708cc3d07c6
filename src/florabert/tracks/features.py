"""Tracks aligned to promoters: per-base arrays on the gene's strand, and per-token features."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from florabert.errors import FloraBertError, InputError
from florabert.tracks.readers import StateTrack, _open
from florabert.tracks.sheet import TrackSheet, load_sheet


@dataclass
class PromoterCoords:
    """Where a promoter's bases lie: ``sequence`` = genome[start:end] (N-padded to ``length`` on the side
    that ran off the chromosome), reverse-complemented on the minus strand."""

    chrom: str
    strand: str
    start: int
    end: int
    length: int


def coords_from_table(table, path="promoter table") -> list:
    """Coordinates of every row of a promoter/dataset table (columns chrom, strand, start, end, sequence):
    a :class:`PromoterCoords` per row for FloraBERT's one-window tables, a tuple of them (one per window)
    for tables cut with a multi-window layout (:mod:`florabert.layout`)."""
    import pyarrow as pa

    from florabert.genome.promoters import window_coords

    missing = [c for c in ("chrom", "strand", "start", "end", "sequence") if c not in table.column_names]
    if missing:
        raise FloraBertError(f"{path}: no {', '.join(missing)} column(s): tracks need each promoter's genome "
                             "coordinates (rebuild it with florabert promoters / florabert expression)")
    from florabert.genome.promoters import table_layout

    lay = table_layout(table)
    if lay is not None and "cds" in lay.landmarks:
        raise FloraBertError(f"{path}: tracks read contiguous windows; this layout ({lay.spec}) has a spliced "
                             "cds window")
    chroms, strands = table.column("chrom").to_pylist(), table.column("strand").to_pylist()
    seqs = table.column("sequence").to_pylist()
    plain = not isinstance(table.column("start").type, pa.ListType) and not any("|" in x for x in seqs[:1])
    out = []
    for c, s, wins, seq in zip(chroms, strands, window_coords(table), seqs, strict=True):
        parts = [PromoterCoords(str(c), s, int(a), int(b), len(p))
                 for (a, b), p in zip(wins, seq.split("|"), strict=True)]
        out.append(parts[0] if plain else tuple(parts))
    return out



@dataclass
class TrackSet:
    """A sheet with its files open, and the channel layout a model stores (``layout``)."""

    sheet: TrackSheet
    readers: dict = field(default_factory=dict)
    layout: dict = field(default_factory=dict)

    @classmethod
    def open(cls, sheet: TrackSheet | str | Path, *, layout: dict | None = None) -> TrackSet:
        """Open every track. ``layout``: a model's channel layout the sheet must match (same signal marks,
        state marks whose states the model knows); without it the layout is made from the sheet."""
        sheet = sheet if isinstance(sheet, TrackSheet) else load_sheet(sheet)
        readers = {(t.tissue, t.mark): _open(t) for t in sheet.tracks}
        signals, state_marks = sheet.marks("signal"), sheet.marks("states")
        if layout:
            same = list(layout.get("signals", [])) == signals and sorted(layout.get("states", {})) == sorted(
                state_marks)
            if not same:
                raise InputError(sheet.path, f"the model reads signals {layout.get('signals', [])} and states "
                                 f"{list(layout.get('states', {}))}; this sheet has signals {signals} and states "
                                 f"{state_marks}")
            layout = {"signals": list(layout["signals"]), "states": dict(layout.get("states", {})),
                      "tissues": list(layout.get("tissues", []))}
        else:
            states = {m: sorted({n for t in sheet.tissues for n in readers[(t, m)].names}) for m in state_marks}
            layout = {"signals": signals, "states": states, "tissues": sheet.tissues}
        for (_tissue, mark), reader in readers.items():
            if isinstance(reader, StateTrack):
                reader.use_vocabulary(layout["states"][mark], mark)
        return cls(sheet, readers, layout)

    @property
    def n_signals(self) -> int:
        return len(self.layout["signals"])

    @property
    def state_marks(self) -> list[str]:
        return list(self.layout["states"])

    @property
    def chroms(self) -> set[str]:
        """Chromosomes any track has data on."""
        return set().union(*(r.chroms for r in self.readers.values()))

    def check_chromosomes(self, coords: list[PromoterCoords]) -> int:
        """Error if no promoter chromosome is in any track; else the number of promoters without data."""
        have = self.chroms
        coords = [c[0] if isinstance(c, tuple) else c for c in coords]
        chroms = {c.chrom for c in coords}
        if chroms and not chroms & have:
            raise InputError(self.sheet.path, f"no promoter chromosome (e.g. {sorted(chroms)[0]!r}) is in the "
                             f"tracks (they have e.g. {', '.join(sorted(have)[:3])})")
        return sum(c.chrom not in have for c in coords)

    def _oriented(self, reader, c: PromoterCoords) -> np.ndarray:
        inside = reader.values(c.chrom, c.start, c.end)
        pad = c.length - inside.size
        if pad < 0:
            raise FloraBertError(f"promoter at {c.chrom}:{c.start}-{c.end} is longer than its sequence "
                                 f"({c.length} bases): coordinates and sequences do not match")
        if pad:  # --edge pad windows: the N side is the one that ran off the chromosome
            zeros = np.zeros(pad, dtype=inside.dtype)
            inside = np.concatenate([zeros, inside] if c.start == 0 else [inside, zeros])
        return inside[::-1] if c.strand == "-" else inside

    def bases(self, tissue: str, c: PromoterCoords) -> tuple[np.ndarray, np.ndarray]:
        """Per-base (length, n_signals) normalized signal and (length, n_state_marks) state codes, 5'->3'
        along the promoter."""
        sig = np.zeros((c.length, self.n_signals), dtype=np.float64)
        for j, mark in enumerate(self.layout["signals"]):
            reader, track = self.readers[(tissue, mark)], self.sheet.track(tissue, mark)
            x = self._oriented(reader, c)
            if track.normalize == "log_mean":
                x = np.log1p(np.clip(x, 0, None) / reader.mean) if reader.mean > 0 else np.zeros_like(x)
            sig[:, j] = x
        st = np.zeros((c.length, len(self.state_marks)), dtype=np.int64)
        for j, mark in enumerate(self.state_marks):
            st[:, j] = self._oriented(self.readers[(tissue, mark)], c)
        return sig, st

    def tokens(self, tok, ids, tissue: str, c) -> tuple[np.ndarray, np.ndarray]:
        """Per-token features for ``ids`` (the tokenized promoter, possibly 5'-truncated): mean signal and
        most frequent state over each token's bases; special tokens get zeros. ``c``: the promoter's
        :class:`PromoterCoords`, or a tuple of them for a multi-window gene (``<s> w1 </s> w2 </s>``): each
        window's tokens then read that window's bases, laid out from its anchored end."""
        if not isinstance(c, tuple):
            sig, st = self.bases(tissue, c)
            return aggregate(tok, ids, sig, st)
        from florabert.tokenization.base import EOS_ID

        ids = list(ids)
        ends = [i for i, x in enumerate(ids) if x == EOS_ID]
        if len(ends) != len(c):
            raise FloraBertError(f"{len(ends)} windows in the tokens, {len(c)} in the coordinates")
        anchors = tok.layout.anchors_right if tok.layout is not None else [True] * len(c)
        values, states, lo = [], [], 0
        for j, (end, w) in enumerate(zip(ends, c, strict=True)):
            seg = ids[lo:end + 1]
            sig, st = self.bases(tissue, w)
            if anchors[j]:
                v, s = aggregate(tok, seg, sig, st)
            else:  # anchored at its 5' end: lay the tokens out from there (mirror image)
                v, s = aggregate(tok, seg[::-1], sig[::-1], st[::-1])
                v, s = v[::-1], s[::-1]
            values.append(v)
            states.append(s)
            lo = end + 1
        return np.concatenate(values), np.concatenate(states)

    def featurize(self, tok, sequences: list[str], coords: list[PromoterCoords], tissue: str, *,
                  max_length: int) -> tuple[list[list[int]], list[np.ndarray], list[np.ndarray]]:
        """Token ids and per-token track features of every promoter for one tissue."""
        ids = tok(sequences, truncation=True, max_length=max_length)["input_ids"]
        values, states = [], []
        for x, c in zip(ids, coords, strict=True):
            v, s = self.tokens(tok, x, tissue, c)
            values.append(v)
            states.append(s)
        return ids, values, states


def aggregate(tok, ids, signal: np.ndarray, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-base (n_bases, ...) arrays -> per-token arrays (len(ids), ...), float32 and int64."""
    n = signal.shape[0]
    start, end = tok.base_spans(ids, n)
    start, end = np.clip(start, 0, n), np.clip(end, 0, n)
    width = (end - start)[:, None]
    cs = np.concatenate([np.zeros((1, signal.shape[1])), np.cumsum(signal, axis=0)])
    values = np.where(width > 0, (cs[end] - cs[start]) / np.maximum(width, 1), 0.0).astype(np.float32)
    tok_states = np.zeros((len(ids), states.shape[1]), dtype=np.int64)
    for j in range(states.shape[1]):
        onehot = np.zeros((n + 1, int(states[:, j].max(initial=0)) + 1))
        onehot[np.arange(1, n + 1), states[:, j]] = 1
        counts = np.cumsum(onehot, axis=0)
        tok_states[:, j] = np.where(width[:, 0] > 0, (counts[end] - counts[start]).argmax(-1), 0)
    return values, tok_states
