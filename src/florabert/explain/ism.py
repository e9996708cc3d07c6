"""In-silico saturation mutagenesis: every single-base substitution of chosen promoters.

For each promoter and each position in the region, the three other bases are put in turn and
Δ = prediction(mutant) - prediction(reference) is recorded per output (ln TPM per tissue, or class
probability). ``ism.tsv`` holds one row per (gene, position, alt) with ``delta_<output>`` columns and
their mean; ``ism_<gene>.png/.svg`` shows the reference sequence as a logo whose letters are scaled by
how much that base raises (up) or lowers (down) the prediction against the average base at that
position (the usual ISM "saliency" logo, drawn with logomaker), above a heatmap of all four bases.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np

from florabert.errors import FloraBertError
from florabert.explain.common import (
    BASES,
    model_downstream,
    progress,
    pyplot,
    read_sequences,
    save_figure,
    scores,
    targets,
)
from florabert.io import atomic_files


def saturation_mutagenesis(model_dir: str | Path, promoters: str | Path, out: str | Path, *, genes=None,
                           max_sequences: int = 3, region: tuple[int, int] | None = None, batch_size: int = 256,
                           bf16: bool = False, show_progress: bool = True) -> dict:
    """Write ``ism.tsv`` and one figure per gene to ``out``; returns per-gene peak positions."""
    from florabert.predict import Predictor

    predictor = Predictor(model_dir, batch_size=batch_size, bf16=bf16)
    config = predictor.config
    names = targets(config)
    records = read_sequences(promoters, genes=genes, limit=None if genes else max_sequences)
    downstream = model_downstream(config)
    plans = []
    for gid, seq in records:
        tss = len(seq) - downstream
        lo, hi = region or (-tss, downstream)
        idx = [i for i in range(tss + lo, tss + hi) if 0 <= i < len(seq) and seq[i] in BASES]
        if not idx:
            raise FloraBertError(f"{gid}: no A/C/G/T base in region {lo}:{hi}")
        plans.append((gid, seq, tss, idx))
    summary = {"outputs": names, "genes": {}}
    with atomic_files(out) as tmp, open(tmp / "ism.tsv", "w", newline="") as fh, \
            progress(sum(3 * len(p[3]) for p in plans), "in-silico mutagenesis", show_progress) as advance:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(["gene_id", "position", "ref", "alt", *(f"delta_{t}" for t in names), "delta_mean"])
        for gid, seq, tss, idx in plans:
            ref = scores(predictor, [seq], config)[0]
            mutants, alts = [], []
            for i in idx:
                for b in BASES:
                    if b != seq[i]:
                        mutants.append(seq[:i] + b + seq[i + 1:])
                        alts.append((i, b))
            delta = np.empty((len(mutants), len(names)))
            step = max(batch_size * 4, 1024)
            for s in range(0, len(mutants), step):
                delta[s:s + step] = scores(predictor, mutants[s:s + step], config) - ref
                advance(len(mutants[s:s + step]))
            for (i, b), d in zip(alts, delta, strict=True):
                w.writerow([gid, i - tss, seq[i], b, *(f"{v:.6g}" for v in d), f"{d.mean():.6g}"])
            matrix = _matrix(seq, idx, alts, delta.mean(1))
            peak = idx[int(np.abs(matrix).sum(1).argmax())] - tss
            summary["genes"][gid] = {"positions": len(idx), "peak_position": int(peak),
                                     "max_abs_delta": float(np.abs(delta).max())}
            _figure(tmp, gid, seq, tss, idx, matrix, config)
        (tmp / "ism_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _matrix(seq: str, idx: list[int], alts, mean_delta: np.ndarray) -> np.ndarray:
    """(positions, 4) prediction of each base relative to the reference, then centred per position:
    entry = effect of that base minus the average over the four bases."""
    row = {i: r for r, i in enumerate(idx)}
    m = np.zeros((len(idx), 4))
    for (i, b), d in zip(alts, mean_delta, strict=True):
        m[row[i], BASES.index(b)] = d
    return m - m.mean(1, keepdims=True)


def _figure(out: Path, gid: str, seq: str, tss: int, idx: list[int], matrix: np.ndarray, config) -> None:
    import logomaker
    import pandas as pd

    plt = pyplot()
    positions = np.array(idx) - tss
    ref = np.zeros_like(matrix)
    for r, i in enumerate(idx):
        ref[r, BASES.index(seq[i])] = matrix[r, BASES.index(seq[i])]
    width = min(max(6.0, 0.06 * len(idx)), 40.0)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(width, 4.2), sharex=True,
                                   gridspec_kw={"height_ratios": [1.3, 1]})
    logomaker.Logo(pd.DataFrame(ref, columns=list(BASES), index=positions), ax=ax1, color_scheme="classic")
    ax1.axhline(0, color="black", lw=0.5)
    unit = "Δ p" if config.problem_type == "single_label_classification" else "Δ ln(TPM)"
    ax1.set_ylabel(f"reference base\n{unit} vs mean base", fontsize=8)
    ax1.set_title(f"{gid}: in-silico mutagenesis (mean over outputs)", fontsize=9, loc="left")
    lim = float(np.abs(matrix).max()) or 1.0
    im = ax2.imshow(matrix.T, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest",
                    extent=(positions[0] - 0.5, positions[-1] + 0.5, 3.5, -0.5))
    ax2.set_yticks(range(4), list(BASES))
    ax2.set_xlabel("position relative to the TSS (bp)")
    fig.colorbar(im, ax=[ax1, ax2], label=unit, pad=0.01, fraction=0.03)
    save_figure(fig, out, "ism_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", gid))
