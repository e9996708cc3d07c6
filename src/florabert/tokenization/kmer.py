"""k-mer tokenizers: non-overlapping (stride k, Nucleotide Transformer), overlapping (stride 1, DNABERT),
and single nucleotides (k = 1, GPN/Caduceus). The vocabulary is every string over A C G T N of length k
(and, for stride k, of lengths 1..k-1 for the remainder), so no training data is needed.

Non-overlapping k-mers are TSS-anchored: tokens are cut from the 3' end, so every token but the first
is a full k-mer and the last one ends at the TSS; the ``len % k`` leftover bases at the 5' end form one
shorter first token. decode(encode(x)) == x.

Overlapping k-mers (stride 1): token i covers bases i..i+k-1 (n - k + 1 tokens). ``tokenizers`` has no
component that emits overlapping pieces, so the saved tokenizer reads *space-separated k-mers*;
:func:`florabert.tokenization.api.DNATokenizer` does that split for you. With plain
``AutoTokenizer`` pass ``" ".join(seq[i:i + k] for i in range(len(seq) - k + 1))``.
"""

from __future__ import annotations

import itertools

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

from florabert.tokenization.base import ALPHABET, SPECIAL_TOKENS, add_special_template, dna_normalizer


def kmer_vocab(k: int, *, with_shorter: bool) -> dict[str, int]:
    vocab = {t: i for i, t in enumerate(SPECIAL_TOKENS)}
    lengths = range(1, k + 1) if with_shorter else [k]
    for n in lengths:
        for letters in itertools.product(ALPHABET, repeat=n):
            vocab["".join(letters)] = len(vocab)
    return vocab


def build_kmer(k: int = 6, stride: int | None = None) -> Tokenizer:
    """A k-mer tokenizer; stride ``k`` (default) = non-overlapping, ``1`` = overlapping."""
    stride = k if stride is None else stride
    if k < 1 or k > 8:
        raise ValueError("k must be between 1 and 8")
    if stride not in (1, k):
        raise ValueError(f"stride must be 1 (overlapping) or k={k} (non-overlapping)")
    overlapping = stride == 1 and k > 1
    tok = Tokenizer(models.WordLevel(kmer_vocab(k, with_shorter=not overlapping), unk_token="<unk>"))
    if overlapping:
        # input is already split into k-mers separated by spaces; normalize each k-mer, keep the spaces
        tok.normalizer = normalizers.Sequence([
            *(normalizers.Replace(c, c.upper()) for c in "acgt"),
            normalizers.Replace(Regex(r"[^ACGT\s]"), "N"),
        ])
        tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    else:
        tok.normalizer = dna_normalizer()
        # 3'-anchored cut: a match may start only where the rest of the sequence is a multiple of k
        pattern = "." if k == 1 else rf".{{1,{k}}}(?=(?:.{{{k}}})*$)"
        tok.pre_tokenizer = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
        tok.decoder = decoders.Fuse()
    add_special_template(tok)
    return tok
