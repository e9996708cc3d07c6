"""Attention maps of chosen promoters: every layer and head, with each token's bases in TSS coordinates.

``attention_<gene>.npz`` holds ``attention`` (layers, heads, tokens, tokens; rows attend to columns,
softmax over columns), ``tokens`` (token strings, ``<s>``/``</s>`` included), ``start``/``end`` (TSS
coordinates of the bases each token covers, end exclusive; 0/0 for special tokens). The figure shows
(top) the attention each base receives, averaged over heads and query tokens, per layer, against the
TSS-relative position, and (bottom) the full token x token map of every head of the last layer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import torch

from florabert.errors import FloraBertError
from florabert.explain.common import model_downstream, pyplot, read_sequences, save_figure
from florabert.io import atomic_files


def load_encoder(model_dir: str | Path, *, eager: bool = False):
    """(FloraBertModel, DNATokenizer) from any florabert model directory (pre-trained or fine-tuned)."""
    from florabert.modeling import FloraBertModel, quiet_loading
    from florabert.tokenization import DNATokenizer

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").exists():
        raise FloraBertError(f"{model_dir}: not a model directory (no config.json)")
    kwargs = {"attn_implementation": "eager"} if eager else {}
    with quiet_loading():  # a fine-tuned model's head is not used here
        model = FloraBertModel.from_pretrained(str(model_dir), add_pooling_layer=False, **kwargs).eval()
    if model.config.has_tracks:
        raise FloraBertError(f"{model_dir}: reads epigenetic tracks; explain takes models without tracks")
    return model, DNATokenizer.load(model_dir)


def token_spans(tok, ids: list[int], downstream: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Token strings and the TSS-relative [start, end) of the bases each covers (0/0 for special tokens).
    Tokens are laid out from the 3' end, since truncation drops 5' tokens."""
    start, end = tok.base_spans(ids, downstream)
    special = start == end
    return tok.hf.convert_ids_to_tokens(ids), np.where(special, 0, start), np.where(special, 0, end)


@torch.inference_mode()
def attention_maps(model_dir: str | Path, promoters: str | Path, out: str | Path, *, genes=None,
                   max_sequences: int = 2) -> dict:
    """Write one ``.npz`` and one figure per promoter to ``out``; returns the array shapes."""
    model, tok = load_encoder(model_dir, eager=True)
    config = model.config
    downstream = model_downstream(config)
    max_length = config.max_input_length
    records = read_sequences(promoters, genes=genes, limit=None if genes else max_sequences)
    summary = {}
    with atomic_files(out) as tmp:
        for gid, seq in records:
            enc = tok([seq], truncation=True, max_length=max_length, return_tensors="pt")
            att = model(**enc, output_attentions=True).attentions
            att = torch.stack([a[0] for a in att]).float().numpy()  # (layers, heads, q, k)
            ids = enc["input_ids"][0].tolist()
            tokens, start, end = token_spans(tok, ids, downstream)
            stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", gid)
            np.savez_compressed(tmp / f"attention_{stem}.npz", attention=att.astype(np.float32),
                                tokens=np.array(tokens), start=start, end=end)
            _figure(tmp, stem, gid, att, start, end)
            summary[gid] = {"layers": att.shape[0], "heads": att.shape[1], "tokens": att.shape[2]}
        (tmp / "attention_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _figure(out: Path, stem: str, gid: str, att: np.ndarray, start: np.ndarray, end: np.ndarray) -> None:
    plt = pyplot()
    layers, heads = att.shape[:2]
    real = end != start
    lo, hi = int(start[real].min()), int(end[real].max())
    received = att.mean(1).mean(1)  # (layers, k): attention each token receives, mean over heads, queries
    fig = plt.figure(figsize=(max(8, 2.2 * heads), 3 + 2.4))
    top = fig.add_subplot(2, 1, 1)
    for layer in range(layers):
        per_base = np.zeros(hi - lo)
        for j in np.flatnonzero(real):  # spread each token's attention over its bases
            per_base[start[j] - lo:end[j] - lo] += received[layer, j] / (end[j] - start[j])
        top.plot(np.arange(lo, hi), per_base, lw=0.8, label=f"layer {layer + 1}")
    top.set_xlabel("position relative to the TSS (bp)")
    top.set_ylabel("attention received\nper base", fontsize=8)
    top.set_title(f"{gid}: attention ({layers} layers x {heads} heads)", fontsize=9, loc="left")
    top.legend(fontsize=6, ncol=min(layers, 6))
    for h in range(heads):
        ax = fig.add_subplot(2, heads, heads + h + 1)
        ax.imshow(att[-1, h], cmap="magma", interpolation="nearest")
        ax.set_title(f"last layer, head {h + 1}", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    save_figure(fig, out, f"attention_{stem}")
