"""Train, save, load and use florabert tokenizers (any kind) through one interface."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from florabert.errors import FloraBertError
from florabert.tokenization.base import (
    BOS_ID,
    EOS_ID,
    KINDS,
    count_sequences,
    iter_corpus_sequences,
    normalize,
    read_info,
    to_transformers,
    write_info,
)
from florabert.tokenization.bpe import train_bpe
from florabert.tokenization.fast import BackendIds, KmerIds
from florabert.tokenization.kmer import build_kmer


class DNATokenizer:
    """A saved florabert tokenizer: ``.hf`` is the ``transformers.PreTrainedTokenizerFast`` (what
    ``AutoTokenizer.from_pretrained(dir)`` gives); calling this object encodes raw DNA for every kind
    (for overlapping k-mers it first splits the sequence into its k-mers)."""

    def __init__(self, hf, *, kind: str, k: int | None = None, stride: int | None = None, layout=None):
        self.hf = hf
        self.kind = kind
        self.k = k
        self.stride = stride
        self.layout = layout  # a florabert.layout.Layout: how to truncate each window (None: one TSS window)
        self._widths = None
        if kind == "bpe":
            self._ids = BackendIds(hf.backend_tokenizer)
        else:
            kmer = KmerIds(k, overlapping=self.overlapping)
            self._ids = lambda seqs: [kmer(s) for s in seqs]

    @property
    def overlapping(self) -> bool:
        return self.kind == "kmer" and self.stride == 1 and (self.k or 1) > 1

    def prepare(self, seq: str) -> str:
        """The text the HF tokenizer expects for a raw DNA sequence."""
        if not self.overlapping:
            return seq
        s, k = normalize(seq), self.k
        return " ".join(s[i:i + k] for i in range(len(s) - k + 1))

    def __call__(self, seqs: str | Sequence[str], *, add_special_tokens: bool = True,
                 padding: bool | str = False, truncation: bool = False, max_length: int | None = None,
                 return_tensors: str | None = None, **kwargs):
        """Encode raw DNA like ``hf(texts, ...)``, same ids, faster: ``input_ids`` and ``attention_mask``.

        truncation drops tokens from the 5' end; padding goes on the left (TSS-anchored). Other
        keyword arguments go to the HF tokenizer unchanged.

        Sequences of several windows (joined by ``|``, :mod:`florabert.layout`) become
        ``<s> w1 </s> w2 </s> ...`` with ``token_type_ids`` = the window index (``<s>`` in window 0);
        ``max_length`` then bounds each window with its special tokens, and truncation drops the end of
        each window farthest from its anchor (``self.layout``; without one, the 5' end).
        """
        single = isinstance(seqs, str)
        batch = [seqs] if single else list(seqs)
        kwargs.pop("verbose", None)
        if self._windowed(batch):
            if kwargs or not add_special_tokens:
                raise FloraBertError("multi-window sequences are encoded with their special tokens only")
            ids, types = self._encode_windows(batch, truncation, max_length)
            features = {"input_ids": ids, "token_type_ids": types}
            if not padding and return_tensors is None:
                from transformers import BatchEncoding

                features["attention_mask"] = [[1] * len(x) for x in ids]
                return BatchEncoding({k: v[0] if single else v for k, v in features.items()})
            if single:
                features = {k: v[0] for k, v in features.items()}
            pad_to = max_length if padding == "max_length" else None
            return self.hf.pad(features, padding=padding, max_length=pad_to, return_tensors=return_tensors)
        if kwargs:
            return self.hf(self.prepare(seqs) if single else [self.prepare(s) for s in batch],
                           add_special_tokens=add_special_tokens, padding=padding, truncation=truncation,
                           max_length=max_length, return_tensors=return_tensors, **kwargs)
        ids = self._ids(batch)
        if truncation:
            keep = (max_length or self.hf.model_max_length) - (2 if add_special_tokens else 0)
            ids = [x[len(x) - keep:] if len(x) > keep else x for x in ids]
        if add_special_tokens:
            ids = [[BOS_ID, *x, EOS_ID] for x in ids]
        if not padding and return_tensors is None:  # nothing to pad: skip HF's pad() and its copies
            from transformers import BatchEncoding

            masks = [[1] * len(x) for x in ids]
            return BatchEncoding({"input_ids": ids[0] if single else ids,
                                  "attention_mask": masks[0] if single else masks})
        features = {"input_ids": ids[0] if single else ids}
        pad_to = max_length if padding == "max_length" else None  # HF warns if given with padding=True
        return self.hf.pad(features, padding=padding, max_length=pad_to, return_tensors=return_tensors)

    def _windowed(self, batch: list[str]) -> bool:
        from florabert.layout import SEP

        if self.layout is not None and (len(self.layout) > 1 or not self.layout.anchors_right[0]):
            return True
        return any(SEP in s for s in batch)

    def _encode_windows(self, batch: list[str], truncation: bool, max_length: int | None):
        """(input_ids, token_type_ids) of multi-window sequences (see ``__call__``)."""
        from florabert.layout import SEP

        parts = [s.split(SEP) for s in batch]
        n = len(parts[0]) if parts else 0
        if self.layout is not None:
            n = len(self.layout)
        bad = next((i for i, p in enumerate(parts) if len(p) != n), None)
        if bad is not None:
            raise FloraBertError(f"sequence #{bad + 1} has {len(parts[bad])} window(s) joined by {SEP!r}; "
                                 f"expected {n}" + (f" (layout {self.layout.spec})" if self.layout else ""))
        right = self.layout.anchors_right if self.layout is not None else [True] * n
        flat = self._ids([w for p in parts for w in p])
        k = self.k or 1
        if self.kind != "bpe" and not self.overlapping and k > 1 and not all(right):
            # a window anchored at its 5' end gets its k-mer grid from that end (in frame for a cds window):
            # full k-mers from the first base, the len % k leftover bases as one short last token
            for i, p in enumerate(parts):
                for j, w in enumerate(p):
                    cut = len(w) - len(w) % k
                    if not right[j] and cut != len(w):
                        flat[i * n + j] = [*self._ids([w[:cut]])[0], *self._ids([w[cut:]])[0]]
        limit = max_length or self.hf.model_max_length
        ids, types = [], []
        for i in range(len(parts)):
            x_ids, x_types = [BOS_ID], [0]
            for j in range(n):
                x = list(flat[i * n + j])
                keep = limit - (2 if j == 0 else 1)
                if truncation and len(x) > keep:
                    x = x[len(x) - keep:] if right[j] else x[:keep]
                x_ids += [*x, EOS_ID]
                x_types += [j] * (len(x) + 1)
            ids.append(x_ids)
            types.append(x_types)
        return ids, types

    def token_widths(self) -> np.ndarray:
        """Bases covered by each vocabulary id (0 for special tokens; ``<unk>`` stands for one k-mer)."""
        if self._widths is None:
            vocab = self.hf.get_vocab()
            widths = np.zeros(max(vocab.values()) + 1, dtype=np.int64)
            for token, i in vocab.items():
                widths[i] = len(token)
            widths[list(self.hf.all_special_ids)] = 0
            widths[self.hf.unk_token_id] = self.k or 1
            self._widths = widths
        return self._widths

    def base_spans(self, ids, end_at: int) -> tuple[np.ndarray, np.ndarray]:
        """[start, end) of the bases each token of ``ids`` covers, laid out from the 3' end: the last real
        token ends at ``end_at`` (the sequence length for sequence indices, the window's downstream length
        for TSS coordinates). Truncation drops 5' tokens, so this holds for truncated ids too. Special
        tokens get an empty span (start == end)."""
        ids = np.asarray(ids, dtype=np.int64)
        widths = self.token_widths()[ids]
        real = widths > 0
        # bases after each token's end; overlapping k-mers step one base, so the r-th from the end ends r earlier
        steps = real.astype(np.int64) if self.overlapping else widths
        after = np.cumsum(steps[::-1])[::-1] - steps
        end = end_at - after
        return np.where(real, end - widths, end), end

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        text = self.hf.decode(ids, skip_special_tokens=skip_special_tokens)
        if not self.overlapping:
            return text
        kmers = text.split()
        return kmers[0] + "".join(t[-1] for t in kmers[1:]) if kmers else ""

    def write_files(self, directory: str | Path) -> None:
        """Write the tokenizer files (and florabert's kind/k/stride) into ``directory``, e.g. a model's."""
        self.hf.save_pretrained(directory)
        write_info(Path(directory), {"kind": self.kind, "k": self.k, "stride": self.stride,
                                     "special_tokens": dict(zip(self.hf.all_special_tokens,
                                                                self.hf.all_special_ids, strict=True))})

    def save(self, out: str | Path, *, force: bool = False) -> Path:
        """Save as a tokenizer directory of its own (the ``--out`` rule of :mod:`florabert.outputs`)."""
        from florabert.outputs import output_dir

        out = Path(out)
        with output_dir(out, "tokenizer train", force=force) as tmp:
            self.write_files(tmp)
        return out

    @classmethod
    def load(cls, path: str | Path) -> DNATokenizer:
        from transformers import AutoTokenizer

        path = Path(path)
        if not (path / "tokenizer.json").exists():
            raise FloraBertError(f"{path}: not a tokenizer directory (no tokenizer.json)")
        info = read_info(path)
        try:
            hf = AutoTokenizer.from_pretrained(str(path))
        except Exception as exc:
            from florabert.errors import InputError, one_line

            raise InputError(path / "tokenizer.json", f"cannot load the tokenizer: {one_line(exc, 200)}") from None
        return cls(hf, kind=info["kind"], k=info.get("k"), stride=info.get("stride"), layout=_model_layout(path))


def check_vocabulary(tok: DNATokenizer, config, model_dir) -> None:
    """Refuse a model whose tokenizer files do not fit its embeddings (e.g. another tokenizer copied in)."""
    if len(tok.hf) != config.vocab_size:
        raise FloraBertError(f"{model_dir}: its tokenizer has {len(tok.hf):,} tokens but the model embeds "
                             f"{config.vocab_size:,}: the tokenizer files are not the ones it was trained with")


def _model_layout(path: Path):
    """The layout recorded in a model directory's config.json (None for a bare tokenizer directory or a
    model made before layouts, which reads one TSS window)."""
    import json

    from florabert.layout import Layout

    config = path / "config.json"
    if not config.exists():
        return None
    try:
        record = json.loads(config.read_text()).get("promoter_window")
    except (OSError, ValueError):
        return None
    return Layout.from_dict(record) if isinstance(record, dict) and record.get("layout") else None


def train_tokenizer(
    corpus: str | Path | None,
    *,
    kind: str = "bpe",
    vocab_size: int = 5000,
    k: int = 6,
    stride: int | None = None,
    model_max_length: int = 256,
    species: list[str] | None = None,
    show_progress: bool = True,
) -> DNATokenizer:
    """Build a tokenizer of ``kind``: "bpe" (trained on ``corpus``), "kmer" (k, stride 1 or k) or
    "nucleotide". k-mer and nucleotide vocabularies are fixed; they need no corpus."""
    if kind not in KINDS:
        raise FloraBertError(f"unknown tokenizer kind {kind!r}: choose one of {', '.join(KINDS)}")
    if kind == "bpe":
        if corpus is None:
            raise FloraBertError("BPE needs --corpus to learn its merges")
        tok = train_bpe(iter_corpus_sequences(corpus, species=species, windows=True), vocab_size=vocab_size,
                        length=count_sequences(corpus, species=species), show_progress=show_progress)
        return DNATokenizer(to_transformers(tok, model_max_length=model_max_length), kind="bpe")
    if kind == "nucleotide":
        k, stride = 1, 1
    stride = k if stride is None else stride
    try:
        tok = build_kmer(k, stride)
    except ValueError as exc:
        raise FloraBertError(str(exc)) from None
    return DNATokenizer(to_transformers(tok, model_max_length=model_max_length), kind=kind, k=k, stride=stride)


def length_stats(tokenizer: DNATokenizer, corpus: str | Path, *, max_length: int = 256,
                 species: list[str] | None = None) -> dict:
    """Encoded lengths (with <s> and </s>) of every promoter in ``corpus``: mean, median, p95, max, and
    how many exceed ``max_length`` (they would lose their 5' end). Multi-window sequences count each window
    (its tokens with its special tokens), since ``max_length`` bounds each window."""
    lengths = []
    for batch in iter_corpus_sequences(corpus, species=species):
        enc = tokenizer(batch, add_special_tokens=True, verbose=False)
        if "token_type_ids" in enc:
            for types in enc["token_type_ids"]:
                lengths.extend(np.bincount(types).tolist())
        else:
            lengths.extend(len(ids) for ids in enc["input_ids"])
    if not lengths:
        raise FloraBertError(f"{corpus}: no sequences")
    arr = np.asarray(lengths)
    return {"sequences": int(arr.size), "mean": float(arr.mean()), "median": float(np.median(arr)),
            "p95": float(np.percentile(arr, 95)), "max": int(arr.max()), "min": int(arr.min()),
            "max_length": max_length, "truncated": int((arr > max_length).sum()),
            "truncated_fraction": float((arr > max_length).mean()),
            "vocab_size": len(tokenizer.hf)}
