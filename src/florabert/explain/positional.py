"""TSS-relative positional importance (FloraBERT's Fig. 4): how much the predictions move when the
L-mer at each position is replaced by a random L-mer.

For every promoter, every L in ``lengths`` and every position p in the region (TSS coordinates: -1 is
the base next to the TSS, 0 the TSS itself when the window runs downstream), the bases at p .. p+L-1
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


def _random_kmer(rng: np.random.Generator, original: str) -> str:
    while True:
        kmer = "".join(BASES[i] for i in rng.integers(0, 4, len(original)))
        if kmer != original:
            return kmer


def positional_importance(model_dir: str | Path, promoters: str | Path, out: str | Path, *,
                          lengths=(1, 2, 3, 4, 5, 6), samples: int = 3, max_sequences: int = 32,
                          region: tuple[int, int] | None = None, step: int = 1, genes=None,
                          batch_size: int = 256, seed: int = 0, bf16: bool = False,
                          show_progress: bool = True) -> dict:
    """Write ``positional_importance.csv`` (position, length, tissue, importance, n) and heatmaps to
    ``out``; returns a summary (peak position per length, counts)."""
    from florabert.predict import Predictor

    if samples < 1 or step < 1 or max_sequences < 1:
        raise FloraBertError("--samples, --step and --max-sequences must be at least 1")
    predictor = Predictor(model_dir, batch_size=batch_size, bf16=bf16)
    config = predictor.config
    names = targets(config)
    records = read_sequences(promoters, genes=genes, limit=max_sequences)
    downstream = model_downstream(config)
    # by default every position the model reads: a model fine-tuned on a short window ignores the rest
    longest = predictor.bases_read([s for _, s in records])
    lo, hi = region or (-(longest - downstream), downstream)
    positions = np.arange(lo, hi, step)
    lengths = sorted(lengths)
    total = np.zeros((len(lengths), len(positions), len(names)))
    count = np.zeros((len(lengths), len(positions)), dtype=np.int64)
    rng = np.random.default_rng(seed)

    jobs = []  # (sequence index, length index, position index)
    for si, (_, seq) in enumerate(records):
        tss = len(seq) - downstream
        for li, L in enumerate(lengths):
            for pi, p in enumerate(positions):
                if tss + p >= 0 and tss + p + L <= len(seq):
                    jobs.append((si, li, pi))
    if not jobs:
        raise FloraBertError(f"no L-mer fits in region {lo}:{hi} of these promoters")
    base = scores(predictor, [s for _, s in records], config)
    chunk = max(batch_size * 4, 1024)
    with progress(len(jobs) * samples, f"positional importance ({len(records)} promoters)",
                  show_progress) as advance:
        for start in range(0, len(jobs), chunk):
            part = jobs[start:start + chunk]
            mutants, owners = [], []
            for si, li, pi in part:
                seq = records[si][1]
                i = len(seq) - downstream + int(positions[pi])
                L = lengths[li]
                for _ in range(samples):
                    mutants.append(seq[:i] + _random_kmer(rng, seq[i:i + L]) + seq[i + L:])
                    owners.append((si, li, pi))
            delta = np.abs(scores(predictor, mutants, config) - base[[o[0] for o in owners]])
            idx = np.array(owners)
            np.add.at(total, (idx[:, 1], idx[:, 2]), delta)
            np.add.at(count, (idx[:, 1], idx[:, 2]), 1)
            advance(len(mutants))

    with np.errstate(invalid="ignore", divide="ignore"):
        importance = total / count[..., None]
    mean = importance.mean(-1)
    summary = {"promoters": len(records), "mutants": int(count.sum()), "region": [int(lo), int(hi)],
               "step": step, "samples": samples, "lengths": lengths, "outputs": names,
               "peak_position": {str(L): int(positions[np.nanargmax(mean[li])]) if np.isfinite(mean[li]).any()
                                 else None for li, L in enumerate(lengths)}}
    with atomic_files(out) as tmp:
        with open(tmp / "positional_importance.csv", "w", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["position", "length", "tissue", "importance", "n"])
            for li, L in enumerate(lengths):
                for pi, p in enumerate(positions):
                    if not count[li, pi]:
                        continue
                    for ti, t in enumerate(names):
                        w.writerow([int(p), L, t, f"{importance[li, pi, ti]:.6g}", int(count[li, pi])])
                    w.writerow([int(p), L, "mean", f"{mean[li, pi]:.6g}", int(count[li, pi])])
        _heatmaps(tmp, positions, lengths, names, importance, mean, step, config)
        import json

        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _heatmaps(out: Path, positions, lengths, names, importance, mean, step, config) -> None:
    """``positional_importance``: the mean over outputs; ``positional_importance_per_output``: one panel
    per output (the first 12)."""
    unit = "|Δ p|" if config.problem_type == "single_label_classification" else "|Δ ln(TPM)|"
    extent = (positions[0] - 0.5, positions[-1] + step - 0.5, lengths[-1] + 0.5, lengths[0] - 0.5)
    figures = [("positional_importance", [("mean over outputs", mean)])]
    if len(names) > 1:
        figures.append(("positional_importance_per_output",
                        [(t, importance[..., ti]) for ti, t in enumerate(names[:12])]))
    plt = pyplot()
    for stem, panels in figures:
        fig, axes = plt.subplots(len(panels), 1, squeeze=False, sharex=True,
                                 figsize=(10, (0.3 * len(lengths) + 1.0) * len(panels) + 0.6))
        for ax, (title, values) in zip(axes[:, 0], panels, strict=True):
            im = ax.imshow(np.ma.masked_invalid(values), aspect="auto", cmap="viridis", extent=extent,
                           interpolation="nearest")
            ax.set_yticks(lengths)
            ax.set_ylabel("L-mer length")
            ax.set_title(title, fontsize=9, loc="left")
            fig.colorbar(im, ax=ax, label=f"mean {unit}", pad=0.01)
        axes[-1, 0].set_xlabel("position relative to the TSS (bp; -1 = base next to the TSS)")
        fig.tight_layout()
        save_figure(fig, out, stem)
