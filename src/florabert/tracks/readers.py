"""Track file readers (bigWig, bedGraph, BED states): per-base values of a genome interval."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from florabert.errors import FloraBertError, InputError
from florabert.tracks.sheet import Track


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
