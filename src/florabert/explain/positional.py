"""TSS-relative positional importance (FloraBERT's Fig. 4): how much the predictions move when the
L-mer at each position is replaced by a random L-mer.

For every promoter, every L in ``lengths`` and every position p in the region (TSS coordinates: -1 is
the base next to the TSS, 0 the TSS itself when the window runs downstream; for models that read several
windows, each window's positions relative to its own landmark, TSS or TTS), the bases at p .. p+L-1
are replaced by ``samples`` random L-mers, each different from the original; importance is
mean |prediction(mutant) - prediction(original)| over promoters and samples, per output (ln TPM per
tissue for regression models, class probability for classifiers) and averaged over outputs
(``tissue`` = ``mean``). Positions are counted from the TSS whatever each promoter's length, so
clipped promoters line up with full-length ones; an L-mer that would leave a promoter is skipped for
that promoter (column ``n`` says how many mutants went into each cell).
"""

from __future__ import annotations

import csv
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
from florabert.plotting import progress, pyplot, save_figure


def _random_kmer(rng: np.random.Generator, original: str) -> str:
    while True:
        kmer = "".join(BASES[i] for i in rng.integers(0, 4, len(original)))
        if kmer != original:
            return kmer


# Over 80 lines on purpose: plan mutants, score them in batches, aggregate, write: one pass over shared arrays.
def positional_importance(model_dir: str | Path, promoters: str | Path, out: str | Path, *,
                          lengths=(1, 2, 3, 4, 5, 6), samples: int = 3, max_sequences: int = 32,
                          region=None, step: int = 1, genes=None,
                          batch_size: int = 256, seed: int = 0, bf16: bool = False, motifs: bool = True,
                          show_progress: bool = True, force: bool = False, log=None) -> dict:
    """Write ``positional_importance.csv`` (position, length, tissue, importance, n; a ``window`` column
    first for multi-window models) and heatmaps (one panel per window) to ``out``; returns a summary (peak
    position per length, counts). ``region``: :func:`~florabert.explain.inputs.parse_region` text or tuple.
    With ``motifs``, also ``motif_enrichment.tsv``: the known plant motifs whose sites the importance falls on,
    against their sites moved to random places of the same windows
    (:func:`florabert.motifs.annotate.importance_enrichment`)."""
    claim_dir(out, "explain positional", force=force)
    from florabert.predict import Predictor

    if samples < 1 or step < 1 or max_sequences < 1:
        raise FloraBertError("--samples, --step and --max-sequences must be at least 1")
    region = as_region(region)
    predictor = Predictor(model_dir, batch_size=batch_size, bf16=bf16)
    config = predictor.config
    layout = config.layout
    names = targets(config)
    records = read_sequences(promoters, genes=genes, limit=max_sequences, layout=layout)
    fixed = gene_inputs(predictor, promoters, [gid for gid, _ in records], log)
    maps = [_window_map(gid, seq, layout, promoters) for gid, seq in records]
    # by default every position the model reads: a model fine-tuned on a short window ignores the rest
    regions = window_regions(layout, predictor.bases_read([s for _, s in records]), region)
    slots = [(j, p) for j, r in enumerate(regions) if r is not None for p in range(r[0], r[1], step)]
    lengths = sorted(lengths)
    total = np.zeros((len(lengths), len(slots), len(names)))
    count = np.zeros((len(lengths), len(slots)), dtype=np.int64)
    rng = np.random.default_rng(seed)

    jobs = []  # (sequence index, length index, slot index, index of the first base in the sequence)
    for si, wmap in enumerate(maps):
        for li, L in enumerate(lengths):
            for pi, (j, p) in enumerate(slots):
                first, last = wmap.index(j, p), wmap.index(j, p + L - 1)
                if first is not None and last is not None and last - first == L - 1:
                    jobs.append((si, li, pi, first))
    if not jobs:
        where = region_text(region) if region else "read by the model"
        raise FloraBertError(f"no L-mer fits in the region {where} of these promoters")
    base = scores(predictor, [s for _, s in records], config, fixed)
    offsets = np.cumsum([0] + [len(s) for _, s in records[:-1]])
    base_sum, base_n = np.zeros(sum(len(s) for _, s in records)), np.zeros(sum(len(s) for _, s in records))
    chunk = max(batch_size * 4, 1024)
    with progress(len(jobs) * samples, f"positional importance ({len(records)} promoters)",
                  show_progress) as advance:
        for start in range(0, len(jobs), chunk):
            mutants, owners = [], []
            for si, li, pi, i in jobs[start:start + chunk]:
                seq, L = records[si][1], lengths[li]
                for _ in range(samples):
                    mutants.append(seq[:i] + _random_kmer(rng, seq[i:i + L]) + seq[i + L:])
                    owners.append((si, li, pi, i))
            of = [o[0] for o in owners]
            delta = np.abs(scores(predictor, mutants, config, None if fixed is None else fixed[of]) - base[of])
            idx = np.array(owners)
            np.add.at(total, (idx[:, 1], idx[:, 2]), delta)
            np.add.at(count, (idx[:, 1], idx[:, 2]), 1)
            # per base of each gene: the mean |Δ| of the mutants that replaced it (the motif enrichment's input)
            for li, L in enumerate(lengths):
                sel = idx[:, 1] == li
                for o in range(L):
                    at = offsets[idx[sel, 0]] + idx[sel, 3] + o
                    np.add.at(base_sum, at, delta[sel].mean(1))
                    np.add.at(base_n, at, 1)
            advance(len(mutants))

    with np.errstate(invalid="ignore", divide="ignore"):
        importance = total / count[..., None]
    mean = importance.mean(-1)
    multi = len(layout) > 1

    def where(pi):
        j, p = slots[pi]
        return f"{layout.windows[j].landmark}:{p:+d}" if multi else p

    summary = {"promoters": len(records), "mutants": int(count.sum()), "layout": layout.spec,
               "regions": {layout.names[j]: list(r) for j, r in enumerate(regions) if r is not None},
               "step": step, "samples": samples, "lengths": lengths, "outputs": names,
               "peak_position": {str(L): where(int(np.nanargmax(mean[li]))) if np.isfinite(mean[li]).any()
                                 else None for li, L in enumerate(lengths)}}
    if not multi:
        summary["region"] = list(regions[0]) if regions[0] else None
    enrichment = []
    if motifs:
        from florabert.motifs.annotate import importance_enrichment

        with np.errstate(invalid="ignore", divide="ignore"):
            per_base = base_sum / base_n
        enrichment = importance_enrichment([s for _, s in records],
                                           [per_base[o:o + len(s)] for o, (_, s) in zip(offsets, records,
                                                                                        strict=True)])
        summary["motifs"] = enrichment[:10]
    with output_dir(out, "explain positional", force=force) as tmp:
        with open(tmp / "positional_importance.csv", "w", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow([*(["window"] if multi else []), "position", "length", "tissue", "importance", "n"])
            for li, L in enumerate(lengths):
                for pi, (j, p) in enumerate(slots):
                    if not count[li, pi]:
                        continue
                    head = [layout.names[j]] if multi else []
                    for ti, t in enumerate(names):
                        w.writerow([*head, p, L, t, f"{importance[li, pi, ti]:.6g}", int(count[li, pi])])
                    w.writerow([*head, p, L, "mean", f"{mean[li, pi]:.6g}", int(count[li, pi])])
        _heatmaps(tmp, slots, lengths, names, importance, mean, step, config)
        if enrichment:
            with open(tmp / "motif_enrichment.tsv", "w", newline="") as fh:
                w = csv.DictWriter(fh, list(enrichment[0]), delimiter="\t", lineterminator="\n")
                w.writeheader()
                w.writerows(enrichment)
        import json

        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _window_map(gid: str, seq: str, layout, path) -> WindowMap:
    try:
        return WindowMap(seq, layout)
    except LayoutError as exc:
        raise InputError(path, f"{gid}: {exc}") from None


def _heatmaps(out: Path, slots, lengths, names, importance, mean, step, config) -> None:
    """``positional_importance``: the mean over outputs, one panel per window;
    ``positional_importance_per_output``: one panel per output and window (the first 8; the CSV has them all)."""
    layout = config.layout
    unit = "|Δ p|" if config.problem_type == "single_label_classification" else "|Δ ln(TPM)|"
    windows = sorted({j for j, _ in slots})
    cols = {j: [pi for pi, (jj, _) in enumerate(slots) if jj == j] for j in windows}
    multi = len(layout) > 1
    figures = [("positional_importance",
                [(f"{layout.names[j]}: mean over outputs" if multi else "mean over outputs", j, mean)
                 for j in windows])]
    if len(names) > 1:
        figures.append(("positional_importance_per_output",
                        [(f"{t} {layout.names[j]}" if multi else t, j, importance[..., ti])
                         for ti, t in enumerate(names) for j in windows][:8]))
    plt = pyplot()
    for stem, panels in figures:
        # one colour scale for every panel of a figure: windows (and outputs) compare by colour
        top = max(float(np.nanmax(v[:, cols[j]])) if np.isfinite(v[:, cols[j]]).any() else 0.0
                  for _, j, v in panels) or 1.0
        fig, axes = plt.subplots(len(panels), 1, squeeze=False, layout="constrained",
                                 figsize=(10, (0.3 * len(lengths) + 1.3) * len(panels) + 0.8))
        for ax, (title, j, values) in zip(axes[:, 0], panels, strict=True):
            pos = [slots[pi][1] for pi in cols[j]]
            extent = (pos[0] - 0.5, pos[-1] + step - 0.5, lengths[-1] + 0.5, lengths[0] - 0.5)
            im = ax.imshow(np.ma.masked_invalid(values[:, cols[j]]), aspect="auto", cmap="viridis", extent=extent,
                           interpolation="nearest", vmin=0.0, vmax=top)
            ax.set_yticks(lengths)
            ax.set_ylabel("L-mer length")
            ax.set_title(title, fontsize=9, loc="left")
            ax.set_xlabel(position_label(layout, j), fontsize=8)
        fig.colorbar(im, ax=axes[:, 0].tolist(), label=f"mean {unit} (shared scale)", pad=0.01, shrink=0.9)
        fig.suptitle("Positional importance: how much replacing the L-mer at each position changes the "
                     "prediction (brighter = more)", fontsize=9)
        save_figure(fig, out, stem)
