"""Epigenetic tracks for EBERT-style models: per-base signal or chromatin state, aligned to promoters.

A *track sheet* (YAML) lists the tracks, one or more per tissue (or cell type)::

    species: Arabidopsis thaliana     # optional: only promoters of this species get tracks (pretrain)
    normalize: log_mean               # default for signal tracks: log_mean | none
    tracks:
      - {tissue: leaf, mark: ATAC,     file: leaf_atac.bw}          # bigWig (pyBigWig)
      - {tissue: leaf, mark: H3K4me3,  file: leaf_k4.bedGraph.gz}   # bedGraph (plain or gzip)
      - {tissue: leaf, mark: chromhmm, file: leaf_states.bed}       # discrete states (BED, name = state)
      - {tissue: root, mark: ATAC,     file: root_atac.bw}
      ...

Relative paths are read relative to the sheet. ``kind`` (``signal`` | ``states``) is taken from the file
suffix (.bw/.bigwig/.bedgraph/.bdg -> signal; .bed -> states) unless given. A *mark* is one input channel of
the model: every tissue must provide the same marks, so the model reads "ATAC" the same way in every tissue.

Alignment: a promoter's window (``chrom``, ``start``, ``end`` of the promoter table, 0-based half-open) is
read base by base in genome orientation, N-padding of ``--edge pad`` windows gets "no data", and the array
is reversed for minus-strand genes, so index 0 is the 5' end of the promoter as written in ``sequence``
(no complementing: a signal has no strand). Bases without data are 0 (signal) or state 0 ("no data").

Per token: signal = mean over the bases the token covers; state = the most frequent state among them
(ties go to the lower code: "no data" first, then the states in sorted order). Special tokens and padding
get 0 / state 0.

Normalization of signals (per track file, independent of which promoters are read):
``log_mean`` (default): ``log1p(max(x, 0) / m)``, m = the track's mean over the bases it covers (bigWig:
the sum of its summaries / bases covered; bedGraph: length-weighted mean of its intervals), which removes
sequencing-depth differences between tissues and compresses peaks; ``none``: the raw values.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from florabert.errors import FloraBertError, InputError

SIGNAL_SUFFIXES = (".bw", ".bigwig", ".bedgraph", ".bdg")
STATE_SUFFIXES = (".bed",)
NORMALIZATIONS = ("log_mean", "none")


@dataclass(frozen=True)
class Track:
    tissue: str
    mark: str
    path: Path
    kind: str  # "signal" | "states"
    normalize: str = "log_mean"
    line: int | None = None  # the entry's line in the sheet


@dataclass
class TrackSheet:
    path: Path
    tracks: list[Track]
    species: str | None = None

    @property
    def tissues(self) -> list[str]:
        return list(dict.fromkeys(t.tissue for t in self.tracks))

    def marks(self, kind: str) -> list[str]:
        return list(dict.fromkeys(t.mark for t in self.tracks if t.kind == kind))

    def track(self, tissue: str, mark: str) -> Track:
        return next(t for t in self.tracks if t.tissue == tissue and t.mark == mark)


def _kind_from_suffix(name: str) -> str | None:
    low = name.lower().removesuffix(".gz")
    if low.endswith(SIGNAL_SUFFIXES):
        return "signal"
    if low.endswith(STATE_SUFFIXES):
        return "states"
    return None


def load_sheet(path: str | Path) -> TrackSheet:
    """Read and check a track sheet (see the module docstring); errors name the sheet line."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InputError(path, "track sheet not found") from None
    try:
        node = yaml.compose(text)
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(path, f"not valid YAML ({getattr(exc, 'problem', exc)})",
                         line=mark.line + 1 if mark else None) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("tracks"), list) or not doc["tracks"]:
        raise InputError(path, "expected a mapping with a non-empty 'tracks' list")
    lines = []
    for key, value in node.value:
        if key.value == "tracks":
            lines = [item.start_mark.line + 1 for item in value.value]
    default_norm = doc.get("normalize", "log_mean")
    if default_norm not in NORMALIZATIONS:
        raise InputError(path, f"normalize must be one of {', '.join(NORMALIZATIONS)}, not {default_norm!r}")
    tracks: list[Track] = []
    for i, entry in enumerate(doc["tracks"]):
        line = lines[i] if i < len(lines) else None
        if not isinstance(entry, dict):
            raise InputError(path, "each track needs tissue, mark and file", line=line)
        unknown = set(entry) - {"tissue", "mark", "file", "kind", "normalize"}
        if unknown:
            raise InputError(path, f"unknown key(s) {', '.join(sorted(unknown))} (known: tissue, mark, file, "
                             "kind, normalize)", line=line)
        missing = [k for k in ("tissue", "mark", "file") if not entry.get(k)]
        if missing:
            raise InputError(path, f"track without {', '.join(missing)}", line=line)
        file = Path(str(entry["file"]))
        file = file if file.is_absolute() else path.parent / file
        if not file.exists():
            raise InputError(path, f"{file}: file not found", line=line)
        kind = entry.get("kind") or _kind_from_suffix(file.name)
        if kind not in ("signal", "states"):
            raise InputError(path, f"{file.name}: cannot tell the kind from the suffix; add kind: signal "
                             "(bigWig/bedGraph) or kind: states (BED)", line=line)
        norm = entry.get("normalize", default_norm)
        if norm not in NORMALIZATIONS:
            raise InputError(path, f"normalize must be one of {', '.join(NORMALIZATIONS)}", line=line)
        track = Track(str(entry["tissue"]), str(entry["mark"]), file, kind, norm, line)
        if any(t.tissue == track.tissue and t.mark == track.mark for t in tracks):
            raise InputError(path, f"tissue {track.tissue!r} has mark {track.mark!r} twice", line=line)
        if any(t.mark == track.mark and t.kind != kind for t in tracks):
            raise InputError(path, f"mark {track.mark!r} is a signal in one tissue and states in another",
                             line=line)
        tracks.append(track)
    sheet = TrackSheet(path, tracks, doc.get("species"))
    marks = list(dict.fromkeys(t.mark for t in tracks))
    for tissue in sheet.tissues:
        lacking = [m for m in marks if not any(t.tissue == tissue and t.mark == m for t in tracks)]
        if lacking:
            raise InputError(path, f"tissue {tissue!r} has no {', '.join(lacking)} track; every tissue needs "
                             "the same marks")
    return sheet


# ---------------------------------------------------------------------------------------------- readers


@dataclass
class _Intervals:
    starts: np.ndarray
    ends: np.ndarray
    values: np.ndarray
    codes: np.ndarray | None = None  # states: the model's code of each interval's state


def _read_intervals(path: Path, *, states: bool) -> dict[str, _Intervals]:
    """bedGraph (chrom start end value) or BED (chrom start end name ...) -> sorted intervals per chrom."""
    from florabert.io import open_text

    rows: dict[str, list] = {}
    try:
        with open_text(path) as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip() or line.startswith(("#", "track", "browser")):
                    continue
                f = line.rstrip("\n").split("\t") if "\t" in line else line.split()
                if len(f) < 4:
                    raise InputError(path, f"expected chrom, start, end, {'state' if states else 'value'} "
                                     f"(found {len(f)} fields)", line=lineno)
                try:
                    s, e = int(f[1]), int(f[2])
                except ValueError:
                    raise InputError(path, f"start/end {f[1]!r}/{f[2]!r} are not integers", line=lineno) from None
                if s < 0 or e <= s:
                    raise InputError(path, f"bad interval {s}-{e} (need 0 <= start < end)", line=lineno)
                if states:
                    value = f[3].strip()
                else:
                    try:
                        value = float(f[3])
                    except ValueError:
                        raise InputError(path, f"value {f[3]!r} is not a number", line=lineno) from None
                    if not math.isfinite(value):
                        raise InputError(path, f"value {f[3]!r} is not finite", line=lineno)
                rows.setdefault(f[0], []).append((s, e, value, lineno))
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read ({exc})") from None
    out = {}
    for chrom, items in rows.items():
        items.sort(key=lambda r: r[0])
        for a, b in itertools.pairwise(items):
            if b[0] < a[1]:
                raise InputError(path, f"interval {chrom}:{b[0]}-{b[1]} overlaps the one at line {a[3]}",
                                 line=b[3])
        out[chrom] = _Intervals(np.array([r[0] for r in items], dtype=np.int64),
                                np.array([r[1] for r in items], dtype=np.int64),
                                np.array([r[2] for r in items], dtype=object if states else np.float64))
    if not out:
        raise InputError(path, "no intervals")
    return out


def _fill(iv: _Intervals | None, start: int, end: int, out: np.ndarray, values) -> None:
    if iv is None:
        return
    lo = np.searchsorted(iv.ends, start, side="right")
    hi = np.searchsorted(iv.starts, end, side="left")
    for j in range(lo, hi):
        out[max(iv.starts[j], start) - start:min(iv.ends[j], end) - start] = values[j]


class BedGraphTrack:
    """A bedGraph signal held as sorted intervals per chromosome."""

    def __init__(self, path: Path):
        self.path = path
        self.intervals = _read_intervals(path, states=False)
        total = sum(float(((iv.ends - iv.starts) * iv.values).sum()) for iv in self.intervals.values())
        bases = sum(int((iv.ends - iv.starts).sum()) for iv in self.intervals.values())
        self.mean = total / bases if bases else 0.0

    @property
    def chroms(self) -> set[str]:
        return set(self.intervals)

    def values(self, chrom: str, start: int, end: int) -> np.ndarray:
        out = np.zeros(end - start, dtype=np.float64)
        iv = self.intervals.get(chrom)
        _fill(iv, start, end, out, iv.values if iv is not None else None)
        return out


class BigWigTrack:
    """A bigWig signal read through pyBigWig (missing data -> 0)."""

    def __init__(self, path: Path):
        try:
            import pyBigWig
        except ImportError:
            raise FloraBertError("bigWig tracks need pyBigWig (pip install pyBigWig)") from None
        self.path = path
        try:
            self.bw = pyBigWig.open(str(path))
        except RuntimeError:
            self.bw = None
        if self.bw is None or not self.bw.isBigWig():
            raise InputError(path, "not a bigWig file")
        self.sizes = dict(self.bw.chroms())
        # the header's sumData is truncated to an integer by pyBigWig: sum the per-chromosome summaries
        total = bases = 0.0
        for chrom, size in self.sizes.items():
            s, cov = self.bw.stats(chrom, type="sum")[0], self.bw.stats(chrom, type="coverage")[0]
            total += s or 0.0
            bases += (cov or 0.0) * size
        self.mean = total / bases if bases else 0.0

    @property
    def chroms(self) -> set[str]:
        return set(self.sizes)

    def values(self, chrom: str, start: int, end: int) -> np.ndarray:
        out = np.zeros(end - start, dtype=np.float64)
        size = self.sizes.get(chrom)
        if size is None or start >= size:
            return out
        got = self.bw.values(chrom, start, min(end, size), numpy=True)
        out[:len(got)] = np.nan_to_num(got, nan=0.0)
        return out


class StateTrack:
    """Discrete states (ChromHMM-style BED: the name column is the state) as codes 1..S, 0 = no data."""

    def __init__(self, path: Path):
        self.path = path
        self.intervals = _read_intervals(path, states=True)
        self.names = sorted({v for iv in self.intervals.values() for v in iv.values})

    @property
    def chroms(self) -> set[str]:
        return set(self.intervals)

    def use_vocabulary(self, names: list[str], mark: str) -> None:
        unknown = sorted(set(self.names) - set(names))
        if unknown:
            raise InputError(self.path, f"states {', '.join(unknown[:5])} of mark {mark!r} are not known to the "
                             f"model (it knows {', '.join(names[:10])})")
        code_of = {n: i + 1 for i, n in enumerate(names)}
        for iv in self.intervals.values():
            iv.codes = np.array([code_of[v] for v in iv.values], dtype=np.int64)

    def values(self, chrom: str, start: int, end: int) -> np.ndarray:
        out = np.zeros(end - start, dtype=np.int64)
        iv = self.intervals.get(chrom)
        _fill(iv, start, end, out, iv.codes if iv is not None else None)
        return out


def _open(track: Track):
    if track.kind == "states":
        return StateTrack(track.path)
    low = track.path.name.lower()
    return BigWigTrack(track.path) if low.endswith((".bw", ".bigwig")) else BedGraphTrack(track.path)


# --------------------------------------------------------------------------------------------- features


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


def pad_tracks(batch_values: list, batch_states: list, length: int):
    """Left-pad per-token features (each tokens x channels) to ``length``, TSS-anchored like the token ids
    -> float32 (batch, length, n_signals) and int64 (batch, length, n_state_marks) tensors."""
    import torch

    vals = [np.asarray(v, dtype=np.float32) for v in batch_values]
    sts = [np.asarray(s, dtype=np.int64) for s in batch_states]
    values = torch.zeros((len(vals), length, vals[0].shape[-1] if vals[0].ndim == 2 else 0))
    states = torch.zeros((len(sts), length, sts[0].shape[-1] if sts[0].ndim == 2 else 0), dtype=torch.long)
    for i, (v, s) in enumerate(zip(vals, sts, strict=True)):
        if v.size:
            values[i, length - len(v):] = torch.from_numpy(v)
        if s.size:
            states[i, length - len(s):] = torch.from_numpy(s)
    return values, states




def track_profile(sheet: str | Path, promoters: str | Path, out: str | Path, *, force: bool = False) -> dict:
    """Quality check of a sheet against a promoter table: the mean normalized signal (and the share of bases
    in each state) at every position relative to the TSS, per tissue and mark, over all promoters; for a
    table of several windows, per window relative to its landmark (TSS or TTS).

    Writes ``profile.tsv`` (position, tissue, mark, state, value; position -1 = the base next to the
    landmark; a ``window`` column first for multi-window tables) and ``profile.png/.svg``; returns a summary
    with, per tissue and mark, how many promoters have any data. A mark that should peak at the TSS (ATAC,
    H3K4me3) and does so in this plot is aligned on both strands.
    """
    from florabert.genome.promoters import read_promoters, table_layout
    from florabert.layout import Layout
    from florabert.outputs import claim_dir, output_dir
    from florabert.plotting import pyplot, save_figure

    claim_dir(out, "tracks profile", force=force)

    tracks = TrackSet.open(sheet)
    table = read_promoters(promoters)
    coords = coords_from_table(table, promoters)
    tracks.check_chromosomes(coords)
    layout = table_layout(table) or Layout()
    multi = bool(coords) and isinstance(coords[0], tuple)
    per_window = [[c[j] for c in coords] for j in range(len(layout))] if multi else [coords]
    marks = [*tracks.layout["signals"], *tracks.state_marks]
    rows, covered = [], {}
    plt = pyplot()
    fig, axes = plt.subplots(len(marks), len(per_window), figsize=(8 * len(per_window), 2.6 * len(marks)),
                             squeeze=False)
    for j, wcoords in enumerate(per_window):
        window = layout.windows[j]
        positions, curves, has = _profile(tracks, wcoords, window)
        name = layout.names[j] if multi else None
        rows += [(name, *r) for r in _profile_rows(positions, curves)]
        for tissue, h in has.items():
            tot = covered.setdefault(tissue, dict.fromkeys(marks, 0))
            for m, k in zip(marks, h, strict=True):
                tot[m] = max(tot[m], int(k))
        for ax, mark in zip(axes[:, j], marks, strict=True):
            for (tissue, m, state), y in curves.items():
                if m == mark and state != "no data":
                    ax.plot(positions, y, lw=1.2, label=f"{tissue} {state}".strip())
            ax.set_ylabel(mark if mark in tracks.layout["signals"] else f"{mark}: share")
            ax.axvline(0, color="grey", lw=0.8, ls=":")
            ax.legend(fontsize=7, ncol=3)
            if name:
                ax.set_title(name, fontsize=9, loc="left")
        axes[-1, j].set_xlabel(f"position relative to the {window.landmark.upper()} (bp; -1 = base just 5' of it)")
    fig.suptitle(f"Track profile over {len(coords):,} promoters")
    with output_dir(out, "tracks profile", force=force) as tmp:
        with open(tmp / "profile.tsv", "w") as fh:
            fh.write(("window\t" if multi else "") + "position\ttissue\tmark\tstate\tvalue\n")
            fh.writelines(("" if w is None else f"{w}\t") + f"{p}\t{t}\t{m}\t{s}\t{v:.6g}\n"
                          for w, p, t, m, s, v in rows)
        save_figure(fig, tmp, "profile")
    return {"promoters": len(coords), "promoters_with_data": covered}


def _profile(tracks: TrackSet, coords: list[PromoterCoords], window):
    """(positions, {(tissue, mark, state): mean per position}, {tissue: promoters with data per mark}) for
    one window; windows shorter than the longest are aligned at their anchored end."""
    length = max(c.length for c in coords)
    curves, covered = {}, {}
    for tissue in tracks.sheet.tissues:
        sig_sum = np.zeros((length, tracks.n_signals))
        state_counts = [np.zeros((length, len(v) + 1)) for v in tracks.layout["states"].values()]
        n = np.zeros(length)
        has = np.zeros(tracks.n_signals + len(tracks.state_marks), dtype=np.int64)
        for c in coords:
            sig, st = tracks.bases(tissue, c)
            at = slice(length - c.length, length) if window.anchor_right else slice(0, c.length)
            sig_sum[at] += sig
            n[at] += 1
            for j in range(st.shape[1]):
                state_counts[j][np.arange(length)[at], st[:, j]] += 1
            has += np.concatenate([(sig != 0).any(0), (st != 0).any(0)])
        for j, mark in enumerate(tracks.layout["signals"]):
            curves[(tissue, mark, "")] = sig_sum[:, j] / np.maximum(n, 1)
        for j, (mark, names) in enumerate(tracks.layout["states"].items()):
            share = state_counts[j] / np.maximum(n, 1)[:, None]
            for code, name in enumerate(["no data", *names]):
                curves[(tissue, mark, name)] = share[:, code]
        covered[tissue] = has
    positions = (np.arange(length) - length + window.end) if window.anchor_right else \
        (np.arange(length) + window.start)
    return positions, curves, covered


def _profile_rows(positions, curves):
    for (tissue, mark, state), y in curves.items():
        yield from ((int(p), tissue, mark, state, v) for p, v in zip(positions, y, strict=True))


__all__ = ["BedGraphTrack", "BigWigTrack", "PromoterCoords", "StateTrack", "Track", "TrackSet", "TrackSheet",
           "aggregate", "coords_from_table", "load_sheet", "pad_tracks", "track_profile"]
