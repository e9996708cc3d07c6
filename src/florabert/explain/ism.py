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
import time
from pathlib import Path

import numpy as np

from florabert.errors import FloraBertError, InputError
from florabert.explain.inputs import (
    BASES,
    WindowMap,
    as_region,
    gene_inputs,
    position_label,
    read_sequences,
    region_text,
    scores,
    targets,
    window_regions,
)
from florabert.layout import LayoutError
from florabert.outputs import claim_dir, output_dir
from florabert.plotting import file_stem, progress, pyplot, save_figure


def saturation_mutagenesis(model_dir: str | Path, promoters: str | Path, out: str | Path, *, genes=None,
                           max_sequences: int = 3, region=None, batch_size: int = 256,
                           bf16: bool = False, show_progress: bool = True, force: bool = False, log=None) -> dict:
    """Write ``ism.tsv`` and one figure per gene (a logo and heatmap per window) to ``out``; returns per-gene
    peak positions. ``region``: :func:`~florabert.explain.inputs.parse_region` text or tuple; default: every
    base of every window. Multi-window models get a ``window`` column before ``position``."""
    claim_dir(out, "explain ism", force=force)
    from florabert.predict import Predictor

    region = as_region(region)
    predictor = Predictor(model_dir, batch_size=batch_size, bf16=bf16)
    config = predictor.config
    layout = config.layout
    multi = len(layout) > 1
    names = targets(config)
    records = read_sequences(promoters, genes=genes, limit=None if genes else max_sequences, layout=layout)
    plans = []
    for gid, seq in records:
        try:
            wmap = WindowMap(seq, layout)
        except LayoutError as exc:
            raise InputError(promoters, f"{gid}: {exc}") from None
        spans = [(wmap.positions(j).start, wmap.positions(j).stop) for j in range(len(layout))]
        regions = window_regions(layout, [hi - lo for lo, hi in spans], region)
        sites = [(j, p, wmap.index(j, p)) for j, r in enumerate(regions) if r is not None
                 for p in range(*r) if wmap.index(j, p) is not None and seq[wmap.index(j, p)] in BASES]
        if not sites:
            raise FloraBertError(f"{gid}: no A/C/G/T base in the region {region_text(region) if region else ''}")
        plans.append((gid, seq, sites))
    summary = {"outputs": names, "layout": layout.spec, "genes": {}}
    with output_dir(out, "explain ism", force=force) as tmp, open(tmp / "ism.tsv", "w", newline="") as fh, \
            progress(sum(3 * len(p[2]) for p in plans), "in-silico mutagenesis", show_progress) as advance:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(["gene_id", *(["window"] if multi else []), "position", "ref", "alt",
                    *(f"delta_{t}" for t in names), "delta_mean"])
        fixed = gene_inputs(predictor, promoters, [p[0] for p in plans], log)
        peaks = []
        t0, n_mutants = time.perf_counter(), 0
        for k, (gid, seq, sites) in enumerate(plans):
            ref = scores(predictor, [seq], config, _repeat(fixed, k, 1))[0]
            mutants, alts = [], []
            for _, _, i in sites:
                for b in BASES:
                    if b != seq[i]:
                        mutants.append(seq[:i] + b + seq[i + 1:])
                        alts.append((i, b))
            delta = np.empty((len(mutants), len(names)))
            step = max(batch_size * 4, 1024)
            for s in range(0, len(mutants), step):
                batch = mutants[s:s + step]
                delta[s:s + step] = scores(predictor, batch, config, _repeat(fixed, k, len(batch))) - ref
                advance(len(mutants[s:s + step]))
            n_mutants += len(mutants)
            where = {i: (j, p) for j, p, i in sites}
            for (i, b), d in zip(alts, delta, strict=True):
                j, p = where[i]
                w.writerow([gid, *([layout.names[j]] if multi else []), p, seq[i], b, *(f"{v:.6g}" for v in d),
                            f"{d.mean():.6g}"])
            idx = [i for _, _, i in sites]
            matrix = _matrix(seq, idx, alts, delta.mean(1))
            j, p = where[idx[int(np.abs(matrix).sum(1).argmax())]]
            named = peak_motifs(seq, idx, np.abs(matrix).sum(1), where, layout)
            for peak in named:
                peaks.append([gid, *([peak["window"]] if multi else []), peak["position"],
                              f"{peak['importance']:.6g}", *peak["cells"]])
            summary["genes"][gid] = {"positions": len(idx),
                                     "peak_position": f"{layout.windows[j].landmark}:{p:+d}" if multi else int(p),
                                     "max_abs_delta": float(np.abs(delta).max()),
                                     "peaks": [{k: v for k, v in x.items() if k != "cells"} for x in named]}
            save_figure(figure(gid, seq, sites, matrix, config), tmp, "ism_" + file_stem(gid), tight=False)
        seconds = time.perf_counter() - t0
        summary.update(mutants=n_mutants, seconds=round(seconds, 2), mutants_per_second=round(n_mutants / seconds))
        from florabert.motifs.annotate import PEAK_COLUMNS

        with open(tmp / "ism_peaks.tsv", "w", newline="") as ph:
            pw = csv.writer(ph, delimiter="\t", lineterminator="\n")
            pw.writerow(["gene_id", *(["window"] if multi else []), "position", "importance", *PEAK_COLUMNS])
            pw.writerows(peaks)
        (tmp / "ism_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def peak_motifs(seq: str, idx: list[int], importance: np.ndarray, where: dict, layout, *, peaks: int = 3,
                apart: int = 10) -> list[dict]:
    """The ``peaks`` strongest positions of a gene's mutagenesis (sum of |Δ| over its three mutants; at least
    ``apart`` bases between peaks), each with the known motifs whose hits cover it (±2 bases)."""
    from florabert.motifs.annotate import peak_cells, region_motifs

    order = np.argsort(-importance, kind="stable")
    chosen: list[int] = []
    for k in order:
        if len(chosen) == peaks or importance[k] <= 0:
            break
        if all(abs(idx[k] - idx[c]) >= apart for c in chosen):
            chosen.append(int(k))
    parts = seq.split("|")
    starts = np.cumsum([0] + [len(x) + 1 for x in parts[:-1]])
    out = []
    for k in chosen:
        i = idx[k]
        j = int(np.searchsorted(starts, i, side="right") - 1)
        at = i - starts[j]
        sites = region_motifs([parts[j]], [(max(0, at - 2), at + 3)])[0]
        w, p = where[i]
        out.append({"window": layout.names[w], "position": int(p), "importance": float(importance[k]),
                    "motifs": [s.label for s in sites], "cells": peak_cells(sites)})
    return out


def _repeat(fixed: np.ndarray | None, k: int, n: int) -> np.ndarray | None:
    """Gene ``k``'s gene-model inputs for ``n`` of its mutants (None for a model without them)."""
    return None if fixed is None else np.repeat(fixed[k:k + 1], n, axis=0)


def _matrix(seq: str, idx: list[int], alts, mean_delta: np.ndarray) -> np.ndarray:
    """(positions, 4) prediction of each base relative to the reference, then centred per position:
    entry = effect of that base minus the average over the four bases."""
    row = {i: r for r, i in enumerate(idx)}
    m = np.zeros((len(idx), 4))
    for (i, b), d in zip(alts, mean_delta, strict=True):
        m[row[i], BASES.index(b)] = d
    return m - m.mean(1, keepdims=True)


LOGO_MAX = 400  # windows with more positions than this get bars instead of letters
LOGO_COLOURS = ("green", "blue", "orange", "red")  # A, C, G, T: logomaker's classic scheme


def figure(gid: str, seq: str, sites, matrix: np.ndarray, config):
    """Per window: a logo of the reference bases scaled by their effect, above a heatmap of all four (a
    matplotlib figure)."""
    plt = pyplot()
    layout = config.layout
    windows = sorted({j for j, _, _ in sites})
    unit = "Δ p" if config.problem_type == "single_label_classification" else "Δ ln(TPM)"
    lim = float(np.abs(matrix).max()) or 1.0
    longest = max(sum(1 for jj, _, _ in sites if jj == j) for j in windows)
    width = min(max(6.0, 0.06 * longest), 16.0)  # readable at 100 %: long windows are compressed
    # a fixed layout in inches (constrained layout took a third of the figure's time): per window a title, the
    # logo, tick labels, the heatmap and its axis label; one colour bar for all (one scale)
    height = 4.4 * len(windows)
    fig = plt.figure(figsize=(width, height))
    outer = fig.add_gridspec(len(windows), 2, width_ratios=[1, 0.012], left=1.0 / width, right=1 - 0.75 / width,
                             top=1 - 0.3 / height, bottom=0.5 / height, hspace=0.95 / 3.6, wspace=0.15 / width * 2)
    axes = [fig.add_subplot(g) for w in range(len(windows))  # per window: logo, heatmap
            for g in outer[w, 0].subgridspec(2, 1, height_ratios=[1.3, 1], hspace=0.3)]
    bar = fig.add_subplot(outer[:, 1])
    for n, j in enumerate(windows):
        rows = [r for r, (jj, _, _) in enumerate(sites) if jj == j]
        positions = np.array([sites[r][1] for r in rows])
        m = matrix[rows]
        ref = np.zeros_like(m)
        for k, r in enumerate(rows):
            b = BASES.index(seq[sites[r][2]])
            ref[k, b] = m[k, b]
        ax1, ax2 = axes[2 * n], axes[2 * n + 1]
        if len(rows) <= LOGO_MAX:
            import logomaker  # with pandas, 0.6 s of start-up: only for windows drawn as letters
            import pandas as pd

            logomaker.Logo(pd.DataFrame(ref, columns=list(BASES), index=positions), ax=ax1, color_scheme="classic")
        else:  # letters this narrow are unreadable (and take a minute to draw): one bar per base, its colour
            for b, colour in zip(BASES, LOGO_COLOURS, strict=True):
                ax1.vlines(positions, 0, ref[:, BASES.index(b)], color=colour, lw=0.8, label=b, rasterized=True)
            ax1.legend(ncols=4, fontsize=7, loc="upper right", frameon=False, handlelength=1)
        ax1.axhline(0, color="black", lw=0.5)
        ax1.set_ylabel(f"reference base\n{unit} vs mean base", fontsize=8)
        where = f" {layout.names[j]}" if len(layout) > 1 else ""
        ax1.set_title(f"{gid}{where}: in-silico mutagenesis (mean over outputs)", fontsize=9, loc="left")
        im = ax2.imshow(m.T, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest",
                        extent=(positions[0] - 0.5, positions[-1] + 0.5, 3.5, -0.5))
        ax2.set_yticks(range(4), list(BASES))
        ax2.set_xlabel(position_label(layout, j), fontsize=8)
        ax1.set_xlim(ax2.get_xlim())
    fig.colorbar(im, cax=bar, label=unit)
    return fig
