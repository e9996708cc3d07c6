"""FASTA reading: whole-genome streaming (plain, gzip, bgzip) and DNA helpers.

Promoter extraction streams the genome one record at a time (memory = one chromosome), which works
the same for plain, gzip and bgzip files and beats per-interval random access when every gene of a
chromosome is wanted. Random access for a few regions (variants, single genes) goes through pyfaidx
(:func:`open_indexed`), which needs a plain or bgzip file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from florabert.errors import FloraBertError, InputError
from florabert.io import BLOCK, iter_lines, open_binary, reading_errors

# IUPAC nucleotide codes (plus U and the gap '-'), either case. Anything else in a record is an error:
# it catches a protein FASTA or a binary file passed by mistake.
_IUPAC = b"ACGTURYKMSWBDHVN-"
_VALID = _IUPAC + _IUPAC.lower()
_WHITESPACE = b"\r\n \t"

# Complement of every IUPAC code, case kept (same table as bedtools/samtools use for -s).
_COMPLEMENT = bytes.maketrans(
    b"ACGTURYKMSWBDHVNacgturykmswbdhvn-",
    b"TGCAAYRMKSWVHDBNtgcaayrmkswvhdbn-",
)


def reverse_complement(seq: bytes) -> bytes:
    """Reverse complement of a DNA byte string (IUPAC-aware, case preserved)."""
    return seq.translate(_COMPLEMENT)[::-1]


def _header_name(line: bytes, path: Path, lineno: int) -> str:
    fields = line[1:].split(None, 1)
    if not fields:
        raise InputError(path, "FASTA header with no sequence name", line=lineno)
    return fields[0].decode("utf-8", errors="replace")


def _locate_bad_byte(path: Path, name: str, valid: bytes = _VALID) -> tuple[int, str]:
    """Slow path, only on error: re-read the file to find the line of the first invalid character."""
    inside = False
    with open_binary(path) as fh:
        for lineno, line in enumerate(iter_lines(fh), 1):
            if line.startswith(b">"):
                inside = _header_name(line, path, lineno) == name
            elif inside:
                bad = line.rstrip(b"\r\n").translate(None, valid)
                if bad:
                    return lineno, chr(bad[0])
    return 0, "?"


def iter_fasta(path: str | Path) -> Iterator[tuple[str, bytes]]:
    """Yield ``(name, sequence)`` per record; see :func:`iter_fasta_records`."""
    for name, seq, _ in iter_fasta_records(path):
        yield name, seq


def iter_fasta_records(path: str | Path, *, allow: bytes = b"") -> Iterator[tuple[str, bytes, int]]:
    """Yield ``(name, sequence, header line)`` per record; name = header up to the first whitespace.

    The sequence is returned as stored (case kept; soft-masked bases stay lower case). Accepts plain,
    gzip and bgzip files, LF or CRLF line ends, single- or multi-line records.

    Raises InputError (file and line) for: no '>' header before sequence, an empty header, a character
    that is not an IUPAC nucleotide code, duplicate record names, no records at all, truncated or
    corrupt compressed data. ``allow``: more characters a sequence may hold (``b"|"`` between the windows of
    a multi-window gene).
    """
    # Reads large blocks and cuts them at "\n>" instead of iterating lines: a 30 Mb chromosome is a few
    # dozen C-level finds and joins rather than 400,000 Python iterations.
    path = Path(path)
    seen: set[str] = set()
    name: str | None = None
    chunks: list[bytes] = []
    lineno = 1  # line of the first byte of `data` (1-based)
    header_line = 0
    valid = _VALID + allow

    def finish() -> bytes:
        seq = b"".join(chunks).translate(None, _WHITESPACE)
        if seq.translate(None, valid):
            line, char = _locate_bad_byte(path, name, valid)
            raise InputError(path, f"invalid character {char!r} in record {name!r} (not a nucleotide code)",
                             line=line or None)
        return seq

    with open_binary(path) as fh, reading_errors(path):
        data, eof = b"", False
        while not eof:
            block = fh.read(BLOCK)
            eof = not block
            data += block
            pos = 0
            while pos < len(data):
                if data[pos:pos + 1] == b">":
                    nl = data.find(b"\n", pos)
                    if nl == -1 and not eof:
                        break  # header continues in the next block
                    nl = len(data) if nl == -1 else nl
                    if name is not None:
                        yield name, finish(), header_line
                    name, header_line = _header_name(data[pos:nl], path, lineno), lineno
                    if name in seen:
                        raise InputError(path, f"duplicate sequence name {name!r}", line=lineno)
                    seen.add(name)
                    chunks = []
                    pos, lineno = nl + 1, lineno + 1
                    continue
                nxt = data.find(b"\n>", pos)
                stop = nxt + 1 if nxt != -1 else (len(data) if eof else max(pos, len(data) - 1))
                if stop == pos:
                    break  # keep a trailing "\n" that may precede '>' in the next block
                piece = data[pos:stop]
                if name is None and piece.strip():
                    first = len(piece) - len(piece.lstrip())
                    raise InputError(path, "sequence data before the first '>' header: not a FASTA file",
                                     line=lineno + piece.count(b"\n", 0, first))
                chunks.append(piece)
                lineno += piece.count(b"\n")
                pos = stop
            data = data[pos:]
        if name is None:
            raise InputError(path, "no FASTA records found (expected lines starting with '>')")
        yield name, finish(), header_line


def read_fasta(path: str | Path) -> dict[str, bytes]:
    """All records of a (small) FASTA file as ``{name: sequence}``; see :func:`iter_fasta`."""
    return dict(iter_fasta(path))


def open_indexed(path: str | Path):
    """Random access to a plain or bgzip FASTA through pyfaidx (builds the .fai index if missing).

    Coordinates given to the returned ``pyfaidx.Fasta`` slices are 0-based half-open, as everywhere in
    florabert. A plain-gzip file cannot be indexed: it is rejected with advice to bgzip it.
    """
    import pyfaidx

    path = Path(path)
    if not path.exists():
        raise InputError(path, "file not found")
    with open(path, "rb") as fh:
        head = fh.read(18)
    if head[:2] == b"\x1f\x8b" and head[12:14] != b"BC":  # gzip without the BGZF extra field
        raise InputError(path, "gzip FASTA cannot be indexed: recompress it with `bgzip`")
    try:
        return pyfaidx.Fasta(str(path), sequence_always_upper=True, rebuild=False, as_raw=True)
    except ImportError:
        raise FloraBertError(f"{path}: random access to a bgzip FASTA needs biopython "
                             "(pip install biopython), or decompress it") from None
