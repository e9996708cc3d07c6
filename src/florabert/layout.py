"""Layouts: which windows of a gene a model reads, and how they were cut.

A window is a stretch of the gene's strand relative to a *landmark* boundary of the gene (or of its chosen
transcript):

- ``tss``: the boundary between the last base before the gene and its first transcribed base;
- ``tts``: the boundary between its last transcribed base and the first base after the gene;
- ``cds``: the start of the coding sequence, spliced (exons joined, introns out): ``cds:0:+1500`` is the
  first 1,500 coding bases from the A of the start codon, in frame (a shorter CDS gives what it has). The
  CDS is the chosen transcript's (``--feature mRNA``) or the gene's longest one.

Positions count from the boundary on the gene's strand: -1 is the base just 5' of it, 0 the base just 3'
of it; a window ``LANDMARK:START:END`` holds positions START..END-1 (half-open, like Python slices). So
``tss:-1000:0`` is FloraBERT's promoter (1 kb upstream of the TSS, the TSS itself excluded), ``tss:-1000:+500``
adds the first 500 transcribed bases, ``tts:-500:+1000`` is the last 500 bases of the gene and the 1 kb after
it (deepCRE's terminator window).

One :class:`Layout` object describes a model's input everywhere: it is written into the promoter table's
Parquet metadata (``florabert_window``), the corpus manifest, the dataset and the model config
(``promoter_window``), and every place that cuts sequence again reads it back with :meth:`Layout.from_dict`,
which also reads the untyped dicts (``upstream``/``downstream``) of tables and models made before layouts.

A gene's windows travel as one string, the window sequences joined by :data:`SEP` in layout order
(:meth:`Layout.join`/:meth:`Layout.split`); a one-window layout is exactly the plain promoter sequence.
The tokenizer turns that string into ``<s> w1 </s> w2 </s> ...`` with a segment id (``token_type_ids``) per
window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from florabert.errors import FloraBertError

LANDMARKS = ("tss", "tts", "cds")
EDGES = ("drop", "pad")
SEP = "|"  # joins the windows of one gene in a sequence string; never a base
MAX_WINDOWS = 8
_WINDOW = re.compile(r"^\s*([A-Za-z]+)\s*:\s*([+-]?\d+)\s*:\s*([+-]?\d+)\s*$")


class LayoutError(FloraBertError, ValueError):
    """A layout that cannot be parsed or makes no sense (one line, for the CLI)."""


@dataclass(frozen=True)
class Window:
    """Positions ``start``..``end - 1`` relative to ``landmark`` on the gene's strand (see module doc)."""

    landmark: str
    start: int
    end: int

    def __post_init__(self):
        if self.landmark not in LANDMARKS:
            raise LayoutError(f"window {self.spec!r}: unknown landmark {self.landmark!r} "
                              f"(use {' or '.join(LANDMARKS)})")
        if self.end <= self.start:
            raise LayoutError(f"window {self.spec!r}: START must be below END (a window needs at least one base)")
        if self.landmark == "cds" and self.start < 0:
            raise LayoutError(f"window {self.spec!r}: a cds window starts at the start codon or after it "
                              "(START >= 0)")

    @property
    def spec(self) -> str:
        return f"{self.landmark}:{_signed(self.start)}:{_signed(self.end)}"

    @property
    def length(self) -> int:
        return self.end - self.start

    @property
    def anchor_right(self) -> bool:
        """Whether position ids count from the window's 3' end: TSS windows are anchored at their 3' end
        (as FloraBERT's promoters) unless they lie wholly downstream of the TSS, TTS windows at their 5' end
        unless they lie wholly upstream of the TTS. So the anchor end is the landmark itself or lies beyond
        it, and truncation of an over-long window removes bases from the other end."""
        if self.landmark == "cds":
            return False  # read from the start codon, in frame
        return self.start < 0 if self.landmark == "tss" else self.end <= 0

    def genomic(self, strand: str, tss: int, tts: int) -> tuple[int, int]:
        """The window on the + strand, 0-based half-open, for a gene on ``strand`` whose first transcribed
        base is ``tss`` and last transcribed base is ``tts`` (both 0-based + strand positions); TSS and TTS
        windows only (a CDS window is spliced, see :func:`florabert.genome.promoters.extract_promoters`)."""
        if strand == "+":
            zero = tss if self.landmark == "tss" else tts + 1  # genomic position of relative position 0
            return zero + self.start, zero + self.end
        zero = tss if self.landmark == "tss" else tts - 1  # on -, relative x is genomic zero - x
        return zero - self.end + 1, zero - self.start + 1


def _signed(x: int) -> str:
    return f"{x:+d}" if x else "0"


def parse_window(text: str) -> Window:
    m = _WINDOW.match(text)
    if not m:
        raise LayoutError(f"window {text.strip()[:60]!r}: expected LANDMARK:START:END, e.g. tss:-1000:0 or "
                          "tts:-500:+1000")
    return Window(m.group(1).lower(), int(m.group(2)), int(m.group(3)))


@dataclass(frozen=True)
class Layout:
    """The windows a model reads (in input order) and the options they were cut with.

    feature: TSS/TTS from the gene ("gene") or its chosen transcript ("mRNA"/"transcript"); biotype,
    id_attribute: which genes and ids (see :func:`florabert.genome.read_annotation`); edge: a window that
    runs off a sequence end drops the gene ("drop") or is padded with N ("pad"); clip_neighbors: the part
    of a window outside the gene, on the landmark's outer side (upstream of a TSS, downstream of a TTS),
    is cut where it runs into another annotated gene.
    """

    windows: tuple[Window, ...] = (Window("tss", -1000, 0),)
    feature: str = "gene"
    biotype: str | None = "protein_coding"
    id_attribute: str | None = None
    edge: str = "drop"
    clip_neighbors: bool = False
    extra: dict = field(default_factory=dict, compare=False)  # other recorded keys, kept as they were

    def __post_init__(self):
        if not self.windows:
            raise LayoutError("a layout needs at least one window")
        if len(self.windows) > MAX_WINDOWS:
            raise LayoutError(f"a layout has at most {MAX_WINDOWS} windows, not {len(self.windows)}")
        if self.edge not in EDGES:
            raise LayoutError(f"edge must be one of {', '.join(EDGES)}, not {self.edge!r}")
        for i, a in enumerate(self.windows):
            for b in self.windows[i + 1:]:
                if a.landmark == b.landmark and a.start < b.end and b.start < a.end:
                    raise LayoutError(f"windows {a.spec} and {b.spec} overlap; windows around one landmark "
                                      "must not (merge them into one)")

    # -- construction -------------------------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str, **options) -> Layout:
        """``"tss:-1000:+500,tts:-500:+1000"`` -> Layout (options: feature, biotype, edge, ...)."""
        parts = [p for p in str(text).split(",") if p.strip()]
        if not parts:
            raise LayoutError("empty layout: expected e.g. tss:-1000:0 or tss:-1000:+500,tts:-500:+1000")
        return cls(tuple(parse_window(p) for p in parts), **options)

    @classmethod
    def promoter(cls, upstream: int = 1000, downstream: int = 0, **options) -> Layout:
        """FloraBERT's one window: ``upstream`` bases before the TSS and ``downstream`` from it on."""
        if upstream < 0 or downstream < 0 or upstream + downstream == 0:
            raise LayoutError("upstream and downstream must be >= 0 and not both 0")
        return cls((Window("tss", -upstream, downstream),), **options)

    @classmethod
    def from_dict(cls, d: dict | None) -> Layout | None:
        """The layout recorded in metadata or a model config; old records (``upstream``/``downstream``, no
        ``layout``) give their one TSS window. None when nothing was recorded."""
        if not d:
            return None
        options = {k: d[k] for k in ("feature", "biotype", "id_attribute", "edge", "clip_neighbors") if k in d}
        extra = {k: v for k, v in d.items() if k not in {*options, "layout", "upstream", "downstream"}}
        if d.get("layout"):
            return cls.parse(d["layout"], **options, extra=extra)
        return cls.promoter(int(d.get("upstream", 1000)), int(d.get("downstream", 0)), **options, extra=extra)

    def to_dict(self) -> dict:
        """JSON-able record; a one-TSS-window layout also keeps the old ``upstream``/``downstream`` keys."""
        d = {"layout": self.spec}
        if self.is_promoter:
            w = self.windows[0]
            d.update(upstream=-w.start if w.start < 0 else 0, downstream=max(w.end, 0))
        d.update(feature=self.feature, biotype=self.biotype, id_attribute=self.id_attribute, edge=self.edge,
                 clip_neighbors=self.clip_neighbors)
        return {**self.extra, **d}

    # -- description --------------------------------------------------------------------------------------
    @property
    def spec(self) -> str:
        return ",".join(w.spec for w in self.windows)

    @property
    def names(self) -> list[str]:
        return [w.spec for w in self.windows]

    def __len__(self) -> int:
        return len(self.windows)

    @property
    def is_promoter(self) -> bool:
        """One TSS window that starts upstream and ends at or after the TSS (what FloraBERT reads)."""
        return len(self.windows) == 1 and self.windows[0].landmark == "tss" and self.windows[0].start <= 0 \
            <= self.windows[0].end

    @property
    def landmarks(self) -> set[str]:
        return {w.landmark for w in self.windows}

    @property
    def anchors_right(self) -> list[bool]:
        return [w.anchor_right for w in self.windows]

    # -- sequences ----------------------------------------------------------------------------------------
    def join(self, sequences: list[str]) -> str:
        if len(sequences) != len(self.windows):
            raise LayoutError(f"layout {self.spec} has {len(self.windows)} windows, got {len(sequences)} "
                              "sequences")
        return SEP.join(sequences)

    def split(self, sequence: str) -> list[str]:
        parts = sequence.split(SEP)
        if len(parts) != len(self.windows):
            raise LayoutError(f"a sequence with {len(parts)} window(s) for layout {self.spec} "
                              f"({len(self.windows)} windows joined by {SEP!r})")
        return parts


def cut_windows(sequences: list[str], have: Layout, want: Layout) -> list[str]:
    """Re-cut joined sequences of layout ``have`` into layout ``want``, each of whose windows must lie inside
    a window of ``have`` with the same landmark (e.g. ``tss:-150:0`` out of ``tss:-1000:+500``). Bases are
    counted from each ``have`` window's anchored end, so windows shortened by neighbour clipping keep their
    alignment; a window shorter than asked gives what it has."""
    if want.spec == have.spec:
        return list(sequences)
    plan = []
    for w in want.windows:
        src = next((i for i, h in enumerate(have.windows)
                    if h.landmark == w.landmark and h.start <= w.start and w.end <= h.end), None)
        if src is None:
            raise LayoutError(f"window {w.spec} is not inside any window of {have.spec}")
        h = have.windows[src]
        plan.append((src, h.anchor_right, h.end - w.end, h.end - w.start, w.start - h.start, w.end - h.start))
    out = []
    for seq in sequences:
        parts = have.split(seq)
        cut = []
        for src, right, from_end_hi, from_end_lo, lo, hi in plan:
            p = parts[src]
            if right:
                cut.append(p[max(0, len(p) - from_end_lo):max(0, len(p) - from_end_hi)])
            else:
                cut.append(p[lo:hi])
        out.append(SEP.join(cut))
    return out


def layout_of(obj) -> Layout:
    """The layout recorded by a model config, a dataset, or a promoter table's metadata dict; FloraBERT's
    default one-window layout when nothing was recorded."""
    d = getattr(obj, "promoter_window", obj)
    return Layout.from_dict(d if isinstance(d, dict) else None) or Layout()
