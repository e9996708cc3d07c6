"""Fast id computation behind :class:`florabert.tokenization.api.DNATokenizer`.

The saved ``tokenizer.json`` is the reference; these paths give the same ids faster (tested against
it): k-mer ids are arithmetic (vocabulary order is itertools.product over A C G T N, after the 5 specials
and, for non-overlapping k-mers, after the shorter lengths), and BPE skips its normalizer for input that
is already clean upper-case ACGTN, which every promoter table florabert writes is.
"""

from __future__ import annotations

import numpy as np
from tokenizers import Tokenizer

from florabert.tokenization.base import ALPHABET, SPECIAL_TOKENS

_CODE = np.full(256, 4, dtype=np.int64)  # anything else -> N
for _i, _c in enumerate("ACGT"):
    _CODE[ord(_c)] = _CODE[ord(_c.lower())] = _i
_NOT_CLEAN = str.maketrans("", "", "ACGTN")


def is_clean(seq: str) -> bool:
    return not seq.translate(_NOT_CLEAN)


def _codes(seq: str) -> np.ndarray:
    """0..4 per base (A C G T, anything else N), whitespace removed, as the saved normalizer does."""
    raw = "".join(seq.split()).encode("ascii", "replace")  # a non-ASCII character becomes one '?' -> N
    return _CODE[np.frombuffer(raw, dtype=np.uint8)]


class KmerIds:
    """ids of a k-mer vocabulary built by :func:`florabert.tokenization.kmer.kmer_vocab`."""

    def __init__(self, k: int, overlapping: bool):
        self.k = k
        self.overlapping = overlapping
        base = len(ALPHABET)
        self.powers = base ** np.arange(k - 1, -1, -1, dtype=np.int64)
        first = len(SPECIAL_TOKENS)
        if overlapping:
            self.offset = {k: first}
        else:  # ids of length-L strings start after all shorter lengths
            self.offset, o = {}, first
            for n in range(1, k + 1):
                self.offset[n] = o
                o += base ** n

    def __call__(self, seq: str) -> list[int]:
        c, k = _codes(seq), self.k
        if self.overlapping:
            if len(c) < k:
                return []
            return (np.lib.stride_tricks.sliding_window_view(c, k) @ self.powers + self.offset[k]).tolist()
        r = len(c) % k
        out = [] if not r else [int(c[:r] @ self.powers[k - r:]) + self.offset[r]]
        return out + (c[r:].reshape(-1, k) @ self.powers + self.offset[k]).tolist()


class BackendIds:
    """ids from private copies of the backend (no padding/truncation state shared with HF calls)."""

    def __init__(self, backend: Tokenizer):
        self.full = Tokenizer.from_str(backend.to_str())
        self.full.no_padding()
        self.full.no_truncation()
        self.clean = Tokenizer.from_str(self.full.to_str())
        self.clean.normalizer = None

    def __call__(self, seqs: list[str]) -> list[list[int]]:
        tok = self.clean if all(map(is_clean, seqs)) else self.full
        return [e.ids for e in tok.encode_batch(seqs, add_special_tokens=False)]
