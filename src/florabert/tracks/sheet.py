"""The track sheet (YAML): which file holds which tissue's mark, and how to normalize it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from florabert.errors import InputError

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
    from florabert.io import read_yaml

    path = Path(path)
    doc, node = read_yaml(path, node=True)
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
