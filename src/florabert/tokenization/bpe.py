"""Byte-pair encoding over the nucleotide alphabet (FloraBERT's tokenizer; DNABERT-2 uses the same idea).

Unlike FloraBERT's ``ByteLevelBPETokenizer``, the alphabet is exactly A C G T N (after normalization), with
no byte-level mapping, and the whole promoter is one "word" (no whitespace pre-splitting to respect).
"""

from __future__ import annotations

from tokenizers import Tokenizer, decoders, models, trainers

from florabert.tokenization.base import ALPHABET, SPECIAL_TOKENS, add_special_template, dna_normalizer


def train_bpe(batches, *, vocab_size: int = 5000, length: int | None = None,
              max_token_length: int = 32, show_progress: bool = True) -> Tokenizer:
    """Train BPE on an iterator of sequence batches (streamed; uses all cores through tokenizers).

    vocab_size counts the 5 special tokens and the 5 letters. max_token_length caps merges (long
    low-complexity repeats would otherwise become single tokens).
    """
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = dna_normalizer()
    tok.decoder = decoders.Fuse()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=list(ALPHABET),
        limit_alphabet=len(ALPHABET),
        max_token_length=max_token_length,
        show_progress=show_progress,
    )
    tok.train_from_iterator(batches, trainer=trainer, length=length)
    add_special_template(tok)
    return tok
