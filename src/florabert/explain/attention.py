"""Attention maps of chosen promoters: every layer and head, with each token's bases in TSS coordinates.

``attention_<gene>.npz`` holds ``attention`` (layers, heads, tokens, tokens; rows attend to columns,
softmax over columns), ``tokens`` (token strings, ``<s>``/``</s>`` included), ``window`` (the layout window
of each token, 0 for FloraBERT's promoters), ``start``/``end`` (coordinates relative to that window's
landmark, TSS or TTS, of the bases each token covers, end exclusive; 0/0 for special tokens). For a stem model
the attention runs over bins of ``pool`` bases: "tokens" are the bins (``bin<k>``), each with the bases it
holds. The figure shows
(top) the attention each base receives, averaged over heads and query tokens, per layer, against the
TSS-relative position, and (bottom) the full token x token map of every head of the last layer.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from florabert.errors import FloraBertError
from florabert.explain.inputs import read_sequences
from florabert.outputs import claim_dir, output_dir
from florabert.plotting import file_stem, pyplot, save_figure


def load_encoder(model_dir: str | Path, *, eager: bool = False):
    """(FloraBertModel, DNATokenizer) from any florabert model directory (pre-trained or fine-tuned)."""
    from florabert.modeling import FloraBertModel, loading
    from florabert.tokenization import DNATokenizer, check_vocabulary

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").exists():
        raise FloraBertError(f"{model_dir}: not a model directory (no config.json)")
    kwargs = {"attn_implementation": "eager"} if eager else {}
    with loading(model_dir):  # quietly: a fine-tuned model's head is not used here
        model = FloraBertModel.from_pretrained(str(model_dir), add_pooling_layer=False, **kwargs).eval()
    if model.config.has_tracks:
        raise FloraBertError(f"{model_dir}: reads epigenetic tracks; explain takes models without tracks")
    tok = DNATokenizer.load(model_dir)
    check_vocabulary(tok, model.config, model_dir)
    return model, tok


def token_spans(tok, ids: list[int], types: list[int] | None, layout
                ) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Token strings, window index, and the landmark-relative [start, end) of the bases each token covers
    (0/0 for special tokens). Each window's tokens are laid out from its anchored end (truncation and
    clipping remove the other end)."""
    ids = np.asarray(ids, dtype=np.int64)
    types = np.zeros_like(ids) if types is None else np.asarray(types, dtype=np.int64)
    start, end = np.zeros_like(ids), np.zeros_like(ids)
    for j, w in enumerate(layout.windows):
        sel = np.flatnonzero(types == j)
        if w.anchor_right:
            s, e = tok.base_spans(ids[sel], w.end)
        else:  # mirror: lay the reversed tokens out from the window's 5' end
            s_rev, e_rev = tok.base_spans(ids[sel][::-1], -w.start)
            s, e = -e_rev[::-1], -s_rev[::-1]
        start[sel], end[sel] = s, e
    special = start == end
    return (tok.hf.convert_ids_to_tokens(ids.tolist()), types, np.where(special, 0, start),
            np.where(special, 0, end))


def bin_spans(encoded, layout) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """For a stem model's bins (one sequence): names, window index, and the landmark-relative [start, end) of
    the real bases each bin holds (0/0 for a bin of padding). Bins are laid out from each window's anchored
    end (:mod:`florabert.modeling.stem`)."""
    where = encoded.where
    pool = sum(where.lengths) // max(encoded.mask.shape[1], 1)
    names, window, start, end = [], [], [], []
    for j, (w, width) in enumerate(zip(layout.windows, where.lengths, strict=True)):
        n = int(((where.slots[0] >= sum(where.lengths[:j])) & (where.slots[0] < sum(where.lengths[:j + 1]))
                 & where.is_base[0]).sum())
        lo, hi = (w.end - n, w.end) if w.anchor_right else (w.start, w.start + n)
        first = w.end - width if w.anchor_right else w.start  # position of slot 0 of the window's array
        for k in range(width // pool):
            s, e = max(first + k * pool, lo), min(first + (k + 1) * pool, hi)
            names.append(f"bin{k}")
            window.append(j)
            start.append(s if s < e else 0)
            end.append(e if s < e else 0)
    return names, np.asarray(window), np.asarray(start), np.asarray(end)


@torch.inference_mode()
def attention_maps(model_dir: str | Path, promoters: str | Path, out: str | Path, *, genes=None,
                   max_sequences: int = 2, force: bool = False) -> dict:
    """Write one ``.npz`` and one figure per promoter to ``out``; returns the array shapes."""
    claim_dir(out, "explain attention", force=force)
    model, tok = load_encoder(model_dir, eager=True)
    config = model.config
    layout = config.layout
    max_length = config.max_input_length
    records = read_sequences(promoters, genes=genes, limit=None if genes else max_sequences, layout=layout)
    summary = {}
    with output_dir(out, "explain attention", force=force) as tmp:
        for gid, seq in records:
            enc = tok([seq], truncation=True, max_length=max_length, return_tensors="pt")
            encoded = model.encode(**enc, output_attentions=True)
            att = torch.stack([a[0] for a in encoded.outputs.attentions]).float().numpy()  # (layers, heads, q, k)
            if config.stem:
                tokens, window, start, end = bin_spans(encoded, layout)
            else:
                ids = enc["input_ids"][0].tolist()
                types = enc["token_type_ids"][0].tolist() if "token_type_ids" in enc else None
                tokens, window, start, end = token_spans(tok, ids, types, layout)
            stem = file_stem(gid)
            np.savez_compressed(tmp / f"attention_{stem}.npz", attention=att.astype(np.float32),
                                tokens=np.array(tokens), window=window, start=start, end=end)
            _figure(tmp, stem, gid, att, window, start, end, layout)
            summary[gid] = {"layers": att.shape[0], "heads": att.shape[1], "tokens": att.shape[2]}
        (tmp / "attention_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _figure(out: Path, stem: str, gid: str, att: np.ndarray, window, start: np.ndarray, end: np.ndarray,
            layout) -> None:
    plt = pyplot()
    layers, heads = att.shape[:2]
    real = end != start
    received = att.mean(1).mean(1)  # (layers, k): attention each token receives, mean over heads, queries
    windows = [j for j in range(len(layout)) if (real & (window == j)).any()]
    cols = max(heads, len(windows))
    fig = plt.figure(figsize=(max(9, 2.6 * cols), 6.4), layout="constrained")
    grid = fig.add_gridspec(2, cols)
    tops = []
    for n, j in enumerate(windows):
        top = fig.add_subplot(grid[0, n * cols // len(windows):(n + 1) * cols // len(windows)])
        tops.append(top)
        mine = real & (window == j)
        lo, hi = int(start[mine].min()), int(end[mine].max())
        for layer in range(layers):
            per_base = np.zeros(hi - lo)
            for t in np.flatnonzero(mine):  # spread each token's attention over its bases
                per_base[start[t] - lo:end[t] - lo] += received[layer, t] / (end[t] - start[t])
            top.plot(np.arange(lo, hi), per_base, lw=0.8, label=f"layer {layer + 1}")
        top.set_xlabel(f"position relative to the {layout.windows[j].landmark.upper()} (bp)", fontsize=8)
        if n == 0:
            top.set_ylabel("attention received\nper base", fontsize=8)
        top.set_title(layout.names[j] if len(layout) > 1 else "attention received", fontsize=8, loc="left")
    tops[-1].legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.suptitle(f"{gid}: attention ({layers} layers x {heads} heads); below, the last layer's maps",
                 fontsize=9)
    for h in range(heads):
        ax = fig.add_subplot(grid[1, h])
        im = ax.imshow(att[-1, h], cmap="magma", interpolation="nearest", vmin=0.0,
                       vmax=float(att[-1].max()) or 1.0)
        ax.set_title(f"head {h + 1}", fontsize=8)
        ax.set_xlabel("key (bin)", fontsize=7)
        if h == 0:
            ax.set_ylabel("query (bin)", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.colorbar(im, ax=fig.axes[len(windows):], label="attention weight (shared scale)", shrink=0.8)
    save_figure(fig, out, f"attention_{stem}")
