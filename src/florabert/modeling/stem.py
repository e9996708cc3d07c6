"""The convolutional stem: the deep path reads every base of every window.

FloraBERT's transformer reads tokens, at most ``max_length`` of them per window, so a 3-mer model of 52 tokens
reads the 150 bases nearest each window's anchor. The stem model (``config.stem``, the default of the
``tiny`` and ``small`` presets) reads single bases instead, the way Basenji, Enformer and the plant hybrids
(deepCRE's CNN, DeepPlantCRE) do, and hands the attention layers one vector per ``pool`` bases:

    bases of window j, laid out from its anchored end (B, L_j)                one-hot over the vocabulary
      -> conv (kernel ``kernel``, ``channels``) -> GELU                     per-base features (motifs)
      -> max-pool 4 -> conv (kernel 5) -> GELU, + residual -> max-pool pool/4   (B, L_j / pool, channels)
      -> linear -> hidden                                                   one vector per bin
    bins of all windows side by side -> RoBERTa encoder (position ids per bin, anchored per window;
    segment embedding = the window) -> hidden states per bin

Input stays the nucleotide tokenizer's stream ``<s> w1 </s> w2 </s> ...`` (left padding, masks, track
features per token as for every florabert model); :func:`window_slots` places each base in its window's
array so that bin k of a window anchored at its 3' end always holds the bases ``k * pool`` to
``(k + 1) * pool - 1`` before the anchor, whatever the window's length or padding (and from the 5' end for
windows anchored there). Position ids count bins from the anchor, so one position id means one distance from
one landmark (at ``pool``-base resolution; the convolutions see where a motif lies inside its bin): the
model can learn that a motif matters at -60 and not at -600.

Masked-LM pre-training predicts masked bases from the per-base features of the stem plus the hidden state of
their bin (:class:`StemLMBridge`); the expression head pools the bins (:mod:`florabert.modeling.modeling`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from florabert.modeling.configuration import stem_options


@dataclass
class WindowBases:
    """Where the bases of a token stream go: ``slots`` (B, L): each base token's index in the concatenated
    per-window base arrays (-1 for special tokens and padding); ``lengths``: each window's array length (a
    multiple of ``pool``); ``is_base`` (B, L)."""

    slots: torch.Tensor
    lengths: list[int]
    is_base: torch.Tensor

    @property
    def offsets(self) -> list[int]:
        out, total = [], 0
        for n in self.lengths:
            out.append(total)
            total += n
        return out


def window_slots(input_ids: torch.Tensor, attention_mask: torch.Tensor, segments: torch.Tensor,
                 anchors_right: list[bool], special_ids: torch.Tensor, pool: int) -> WindowBases:
    """Lay the bases of every window out from its anchored end (see the module doc)."""
    is_base = attention_mask.bool() & ~torch.isin(input_ids, special_ids)
    slots = torch.full_like(input_ids, -1)
    lengths, offset = [], 0
    for j, right in enumerate(anchors_right):
        sel = is_base & (segments == j)
        n = int(sel.sum(1).max()) if sel.numel() else 0
        width = max(pool, -(-n // pool) * pool)
        # anchored at the 3' end: the last base sits at width - 1, the one before it at width - 2, ...
        s = width - sel.flip(-1).long().cumsum(-1).flip(-1) if right else sel.long().cumsum(-1) - 1
        slots = torch.where(sel, s + offset, slots)
        lengths.append(width)
        offset += width
    return WindowBases(slots, lengths, is_base)


def base_lut(vocab: dict[str, int]) -> np.ndarray:
    """Byte -> token id of a nucleotide tokenizer's vocabulary: A, C, G, T in either case to theirs, every other
    letter to N's (as the tokenizer reads IUPAC codes and soft-masked bases)."""
    lut = np.full(256, vocab["N"], dtype=np.int64)
    for base in "ACGT":
        lut[ord(base)] = lut[ord(base.lower())] = vocab[base]
    return lut


def window_arrays(parts: list[list[str]], anchors_right: list[bool], lut: np.ndarray, pad_id: int, pool: int,
                  keep: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per window j, (ids, mask) of shape (B, width_j): the bases of every sequence's window j (``parts[b][j]``)
    laid out from the window's anchored end as :func:`window_slots` lays out a token stream, without building
    one (the fast path of prediction and explanation). ``keep[j]``: the most bases window j keeps (the rest, at
    the end farthest from its anchor, is cut, as the tokenizer truncates)."""
    out = []
    for j, right in enumerate(anchors_right):
        seqs = [p[j][-keep[j]:] if right else p[j][:keep[j]] for p in parts]
        n = max((len(x) for x in seqs), default=0)
        width = max(pool, -(-n // pool) * pool)
        ids = np.full((len(seqs), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(seqs), width), dtype=bool)
        for r, x in enumerate(seqs):
            codes = lut[np.frombuffer(x.encode("latin-1", "replace"), dtype=np.uint8)]
            lo = width - len(codes) if right else 0
            ids[r, lo:lo + len(codes)] = codes
            mask[r, lo:lo + len(codes)] = True
        out.append((torch.from_numpy(ids), torch.from_numpy(mask)))
    return out


def scatter_to_windows(values: torch.Tensor, where: WindowBases, fill) -> torch.Tensor:
    """Per-token ``values`` (B, L, ...) -> the concatenated window arrays (B, sum(lengths), ...)."""
    b, t = torch.nonzero(where.is_base, as_tuple=True)
    out = values.new_full((values.shape[0], sum(where.lengths), *values.shape[2:]), fill)
    out[b, where.slots[b, t]] = values[b, t]
    return out


class ConvStem(nn.Module):
    """Bases -> one vector per ``pool`` bases (see the module doc). ``config.stem``: pool, channels, kernel."""

    def __init__(self, config):
        super().__init__()
        opts = stem_options(config.stem)
        c, k, self.pool = opts["channels"], opts["kernel"], opts["pool"]
        self.first_pool = min(self.pool, 4)
        self.vocab_size = config.vocab_size
        self.pad_id = config.pad_token_id
        # one input channel per token id that can sit in a window's array: the bases, N, <mask>, <unk> (the
        # other specials never do; padding is an all-zero column)
        # (a plain list, not a buffer: from_pretrained leaves non-persistent buffers uninitialised)
        specials = {config.bos_token_id, config.pad_token_id, config.eos_token_id}
        kept = [i for i in range(config.vocab_size) if i not in specials]
        self.n_in = len(kept)
        self._channel = [kept.index(i) if i in kept else self.n_in for i in range(config.vocab_size)]
        self._channels: dict = {}
        self.conv1 = nn.Conv1d(self.n_in, c, k, padding=k // 2)
        self.conv2 = nn.Conv1d(c, c, 5, padding=2)
        self.proj = nn.Linear(c, config.hidden_size)
        self.channels = c

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, extra: torch.Tensor | None = None,
                per_base: bool = True, codon: int | None = None
                ) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor, torch.Tensor]:
        """ids, mask: (B, L) one window's bases (L a multiple of ``pool``); extra: (B, L, channels) added to
        the first convolution's output (the epigenetic channel). Returns per-base features (B, L, channels; None
        unless ``per_base``), bins (B, L / pool, hidden), the bin mask (B, L / pool) and the mean of the per-base
        features over the window's bases (B, channels): what each first-layer filter finds in the window on
        average, before any max-pooling (a learned composition of the window: the deep path's read-out reads
        it, ``readout_weight``); with ``codon`` (a coding window: the codon position of its first base) one mean
        per codon position side by side (B, 3 x channels), as codon usage reads a coding sequence in frame."""
        full = bool(mask.all())  # no padding in this window: the masking products can be skipped
        m = mask.unsqueeze(1).to(self.conv1.weight.dtype)
        channel = self._channels.get(ids.device)
        if channel is None:
            channel = self._channels[ids.device] = torch.tensor(self._channel, device=ids.device)
        x = F.one_hot(channel[ids.clamp(min=0)], self.n_in + 1)[..., :self.n_in]
        x = x.to(self.conv1.weight.dtype).transpose(1, 2)
        if not full:
            x = x * m
        h = self.conv1(x)
        if extra is not None:
            h = h + extra.transpose(1, 2).to(h.dtype)
        h = F.gelu(h) if full else F.gelu(h) * m
        features = h.transpose(1, 2) if per_base else None
        # summed in fp32 under bf16 autocast too: the means differ between genes by ~1 % of their size
        if codon is None:
            base_mean = h.sum(2, dtype=torch.float32) / m.sum(2, dtype=torch.float32).clamp(min=1.0)
        else:
            frame = (torch.arange(h.shape[2], device=h.device) + codon) % 3
            base_mean = torch.cat([(h * (m * (frame == f))).sum(2, dtype=torch.float32)
                                   / (m * (frame == f)).sum(2, dtype=torch.float32).clamp(min=1.0)
                                   for f in range(3)], 1)
        h = F.max_pool1d(h, self.first_pool)
        m2 = F.max_pool1d(m, self.first_pool)
        h = h + F.gelu(self.conv2(h))
        if not full:
            h = h * m2
        rest = self.pool // self.first_pool
        if rest > 1:
            h = F.max_pool1d(h, rest)
            m2 = F.max_pool1d(m2, rest)
        return features, self.proj(h.transpose(1, 2)), m2.squeeze(1) > 0, base_mean


class StemLMBridge(nn.Module):
    """Masked-LM input for the stem model: a masked base's vector = its bin's hidden state + the stem's
    features at that base (projected) + an embedding of its offset inside the bin; then RoBERTa's LM head."""

    def __init__(self, config):
        super().__init__()
        opts = stem_options(config.stem)
        self.up = nn.Linear(opts["channels"], config.hidden_size)
        self.offset = nn.Embedding(opts["pool"], config.hidden_size)
        self.pool = opts["pool"]

    def forward(self, hidden: torch.Tensor, per_base: torch.Tensor, where: WindowBases,
                chosen: torch.Tensor) -> torch.Tensor:
        """(n_chosen, hidden) for the tokens ``chosen`` (B, L bool) of the stream (bases only)."""
        b, t = torch.nonzero(chosen, as_tuple=True)
        g = where.slots[b, t]
        return hidden[b, g // self.pool] + self.up(per_base[b, g]) + self.offset(g % self.pool)


__all__ = ["ConvStem", "StemLMBridge", "WindowBases", "base_lut", "scatter_to_windows", "window_arrays",
           "window_slots"]
