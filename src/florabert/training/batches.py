"""Batches for fine-tuning: token ids left-padded (TSS-anchored) straight from arrays.

``transformers.DataCollatorWithPadding`` turns every row's ``input_ids`` from Python lists into a tensor at every
step; a stem model reads ~5,000 bases per gene, and that conversion took about a sixth of a training step on
the 2-core machine. Here the dataset hands rows out as NumPy arrays (:func:`as_arrays`, zero-copy from Arrow)
and the batch is filled in one NumPy pass: same tensors, same padding side, same attention mask.
:func:`predict_in_order` runs a model over a dataset in its row order.
"""

from __future__ import annotations

import numpy as np
import torch


def as_arrays(dataset):
    """``dataset`` (a ``datasets.Dataset``) whose rows come out as NumPy arrays."""
    return dataset.with_format("numpy")


class PadCollator:
    """Rows -> a batch: ``input_ids`` left-padded with ``pad_id`` and their ``attention_mask``; every other
    column stacked as it is (labels, lengths, wide features, ...). Equals ``DataCollatorWithPadding`` of a
    left-padding tokenizer on the same rows (tests/test_finetune.py)."""

    def __init__(self, pad_id: int):
        self.pad_id = int(pad_id)

    def __call__(self, rows: list[dict]) -> dict:
        ids = [np.asarray(r["input_ids"], dtype=np.int64) for r in rows]
        width = max(len(x) for x in ids)
        batch = np.full((len(ids), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for i, x in enumerate(ids):
            batch[i, width - len(x):] = x
            mask[i, width - len(x):] = 1
        out = {"input_ids": torch.from_numpy(batch), "attention_mask": torch.from_numpy(mask)}
        for key in rows[0]:
            if key != "input_ids":
                values = np.stack([np.asarray(r[key]) for r in rows])
                out[key] = torch.from_numpy(values.astype(np.float32) if values.dtype == np.float64 else values)
        return out


class Shifted(torch.utils.data.Dataset):
    """The rows of ``dataset`` (NumPy rows, :func:`as_arrays`) with every window's bases shifted by a random
    number of bases in [-``shift``, ``shift``] (each window its own, drawn anew at every read): augmentation for
    a model that reads single bases (``FinetuneConfig.shift_augment``). A window is a run of bases between
    special tokens (``special_ids``); its length and place stay, the bases shifted out are dropped and the gap
    filled with ``n_id`` (N), so a window keeps its anchor within ``shift`` bases."""

    def __init__(self, dataset, shift: int, special_ids, n_id: int, seed: int = 0):
        self.dataset, self.shift, self.n_id = dataset, int(shift), int(n_id)
        self.special = np.asarray(sorted(special_ids), dtype=np.int64)
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        row = dict(self.dataset[int(i)])
        ids = np.asarray(row["input_ids"], dtype=np.int64)
        if self.shift:
            row["input_ids"] = shift_windows(ids, self.rng.integers(-self.shift, self.shift + 1, size=len(ids)),
                                             self.special, self.n_id)
        return row


def shift_windows(ids: np.ndarray, shifts: np.ndarray, special: np.ndarray, n_id: int) -> np.ndarray:
    """``ids`` (one row) with the k-th run of non-special tokens shifted by ``shifts[k]`` (> 0: towards the end),
    the vacated places set to ``n_id``."""
    out = ids.copy()
    base = ~np.isin(ids, special)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], base.astype(np.int8), [0]])))
    for k, (a, b) in enumerate(zip(edges[::2], edges[1::2], strict=True)):
        s = int(np.clip(shifts[k], -(b - a), b - a))
        if s > 0:
            out[a + s:b], out[a:a + s] = ids[a:b - s], n_id
        elif s < 0:
            out[a:b + s], out[b + s:b] = ids[a - s:b], n_id
    return out


@torch.no_grad()
def predict_in_order(model, collator, part, *, deep: bool = False, pooled: bool = False, means: bool = False,
                      rows: int | None = None) -> np.ndarray:
    """The model's outputs (``deep``: its deep path's alone; ``pooled``: what its head reads; ``means``: the
    windows' means of its stem's per-base features) for the first ``rows`` rows of ``part`` (default: all) in
    their order (the Trainer's predict may reorder rows by length)."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    inner = deep or pooled or means
    drop = ("labels", "length", "wide_offset") if inner else ("labels", "length")
    if inner and not getattr(model.config, "head_wide", False):
        drop += ("wide_features",)
    n = len(part) if rows is None else min(rows, len(part))
    for start in range(0, n, 64):
        batch = collator([{k: v for k, v in part[i].items() if k not in drop}
                          for i in range(start, min(start + 64, n))])
        batch = {k: v.to(device) for k, v in batch.items()}
        values = (model.pooled(**batch) if pooled else model.deep(**batch) if deep else
                  model.base_means(**batch) if means else model(**batch).logits)
        out.append(values.float().cpu().numpy())
    return np.concatenate(out).astype(np.float64)


__all__ = ["PadCollator", "Shifted", "as_arrays", "predict_in_order", "shift_windows"]
