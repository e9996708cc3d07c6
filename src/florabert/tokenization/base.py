"""What every florabert tokenizer shares: special tokens with fixed ids, DNA normalization, TSS anchoring.

Special tokens and their ids, identical in every kind (the RoBERTa layout, so a model config's defaults
would match too; florabert nevertheless copies them from the tokenizer)::

    <s> = 0   <pad> = 1   </s> = 2   <unk> = 3   <mask> = 4

Normalization (in the saved tokenizer.json, so plain ``AutoTokenizer`` applies it too): whitespace is
removed, a/c/g/t are upper-cased, and every other character (n, IUPAC codes such as R or Y, U, ...)
becomes ``N``.

TSS anchoring: ``padding_side="left"`` and ``truncation_side="left"``: padding goes before the 5' end and an
over-long promoter loses its 5' end, never the bases next to the TSS.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from tokenizers import Regex, Tokenizer, normalizers, processors

from florabert.errors import InputError

SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
BOS_ID, PAD_ID, EOS_ID, UNK_ID, MASK_ID = range(5)
ALPHABET = "ACGTN"
KINDS = ("bpe", "kmer", "nucleotide")
INFO_FILE = "florabert_tokenizer.json"
_NOT_ACGT = re.compile("[^ACGT]")  # kind, k, stride: what florabert needs beyond tokenizer.json


def dna_normalizer() -> normalizers.Normalizer:
    return normalizers.Sequence([
        normalizers.Replace(Regex(r"\s+"), ""),
        *(normalizers.Replace(c, c.upper()) for c in "acgt"),
        normalizers.Replace(Regex("[^ACGT]"), "N"),
    ])


def normalize(seq: str) -> str:
    """The same normalization in Python (used where florabert prepares text itself)."""
    return _NOT_ACGT.sub("N", "".join(seq.split()).upper())


def add_special_template(tok: Tokenizer) -> None:
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", BOS_ID), ("</s>", EOS_ID)],
    )


def to_transformers(tok: Tokenizer, *, model_max_length: int):
    """Wrap a ``tokenizers.Tokenizer`` as a ``transformers.PreTrainedTokenizerFast`` (TSS-anchored)."""
    from transformers import PreTrainedTokenizerFast

    for i, t in enumerate(SPECIAL_TOKENS):
        if tok.token_to_id(t) != i:
            raise AssertionError(f"special token {t} must have id {i}, has {tok.token_to_id(t)}")
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>",
        pad_token="<pad>", unk_token="<unk>", mask_token="<mask>",
        padding_side="left", truncation_side="left",
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
    )


def write_info(out: Path, info: dict) -> None:
    (out / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")


def read_info(path: Path) -> dict:
    file = Path(path) / INFO_FILE
    if not file.exists():
        return {"kind": "bpe"}
    try:
        info = json.loads(file.read_text())
    except (ValueError, OSError) as exc:
        raise InputError(file, f"unreadable ({exc})") from None
    if not isinstance(info, dict) or info.get("kind") not in ("bpe", "kmer", "nucleotide"):
        raise InputError(file, "not a florabert tokenizer description (no kind bpe, kmer or nucleotide)")
    return info


def iter_corpus_sequences(corpus: str | Path, *, batch_size: int = 4096, species: list[str] | None = None,
                          windows: bool = False) -> Iterator[list[str]]:
    """Batches of promoter sequences streamed from a corpus (Parquet file or shard directory); ``windows``:
    each window of a multi-window gene on its own (what a tokenizer learns from)."""
    import pyarrow.parquet as pq

    from florabert.genome.corpus import corpus_files

    for file in corpus_files(corpus, species=species):
        pf = pq.ParquetFile(file)
        for batch in pf.iter_batches(batch_size=batch_size, columns=["sequence"]):
            seqs = batch.column(0).to_pylist()
            yield [w for s in seqs for w in s.split("|")] if windows else seqs


def count_sequences(corpus: str | Path, species: list[str] | None = None) -> int:
    import pyarrow.parquet as pq

    from florabert.genome.corpus import corpus_files

    return sum(pq.ParquetFile(f).metadata.num_rows for f in corpus_files(corpus, species=species))

