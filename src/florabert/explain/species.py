"""Species embeddings (FloraBERT's Fig. 3): does the pre-trained model separate species?

From each species in a corpus, up to ``per_species`` promoters (random, fixed seed) are embedded by the
model — mean of the final hidden states over the real tokens, padding and ``<s>``/``</s>`` excluded —
and projected on two principal components, next to the same projection of plain 1-mer and k-mer
composition vectors (the paper found 1-mer composition separates species as well). How well each
representation separates species is measured by the silhouette score on the full (not projected)
vectors, cosine distance; 1 = perfectly separated, 0 = no structure.
"""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import numpy as np
import torch

from florabert.errors import FloraBertError
from florabert.outputs import claim_dir, output_dir
from florabert.plotting import progress, pyplot, save_figure


def sample_corpus(corpus, per_species: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """(species, gene_id, sequence) with at most ``per_species`` promoters per species."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from florabert.genome.corpus import corpus_files

    paths = [corpus] if isinstance(corpus, (str, Path)) else list(corpus)
    files = [f for p in paths for f in corpus_files(p)]
    table = pa.concat_tables(pq.read_table(f, columns=["species", "gene_id", "sequence"]) for f in files)
    species = np.array(table.column("species").to_pylist())
    rng = np.random.default_rng(seed)
    keep = []
    for sp in dict.fromkeys(species.tolist()):
        rows = np.flatnonzero(species == sp)
        keep.extend(sorted(rng.choice(rows, min(per_species, len(rows)), replace=False).tolist()))
    genes, seqs = table.column("gene_id").to_pylist(), table.column("sequence").to_pylist()
    return [(species[i], genes[i], seqs[i].upper()) for i in keep]


@torch.inference_mode()
def embed(model, tok, sequences: list[str], *, batch_size: int = 64, show_progress: bool = True) -> np.ndarray:
    """Mean-pooled final hidden states over real tokens (or a stem model's bins): (n, hidden)."""
    c = model.config
    max_length = c.max_input_length
    out = np.zeros((len(sequences), c.hidden_size), dtype=np.float32)
    with progress(len(sequences), "embedding promoters", show_progress) as advance:
        for s in range(0, len(sequences), batch_size):
            enc = tok(sequences[s:s + batch_size], padding=True, truncation=True, max_length=max_length,
                      return_tensors="pt")
            pooled = model.embed(**enc)
            out[s:s + batch_size] = pooled.float().numpy()
            advance(len(pooled))
    return out


def composition(sequences: list[str], k: int) -> np.ndarray:
    """k-mer frequency vectors over A/C/G/T (k-mers with other letters are not counted)."""
    index = {"".join(p): i for i, p in enumerate(itertools.product("ACGT", repeat=k))}
    out = np.zeros((len(sequences), len(index)), dtype=np.float32)
    for r, s in enumerate(sequences):
        for i in range(len(s) - k + 1):
            j = index.get(s[i:i + k])
            if j is not None:
                out[r, j] += 1
    return out / np.maximum(out.sum(1, keepdims=True), 1)


def species_embeddings(model_dir: str | Path, corpus, out: str | Path, *, per_species: int = 200, k: int = 4,
                       batch_size: int = 64, seed: int = 0, show_progress: bool = True,
                       force: bool = False) -> dict:
    """Write ``species_pca.png/.svg``, ``species_embeddings.tsv`` (PC1/PC2 of every representation) and
    ``species_summary.json`` (silhouette scores, explained variance) to ``out``."""
    claim_dir(out, "explain species", force=force)
    from sklearn.decomposition import PCA
    from sklearn.metrics import silhouette_score

    from florabert.explain.attention import load_encoder

    rows = sample_corpus(corpus, per_species, seed)
    labels = [r[0] for r in rows]
    if len(set(labels)) < 2:
        where = ", ".join(map(str, corpus)) if isinstance(corpus, list | tuple) else str(corpus)
        raise FloraBertError(f"{where}: species embeddings need at least two species (found "
                             f"{', '.join(sorted(map(str, set(labels)))) or 'none'})")
    model, tok = load_encoder(model_dir)
    seqs = [r[2] for r in rows]
    reps = {"FloraBERT embedding": embed(model, tok, seqs, batch_size=batch_size, show_progress=show_progress),
            "1-mer composition": composition(seqs, 1), f"{k}-mer composition": composition(seqs, k)}
    summary = {"promoters": len(rows), "species": {s: labels.count(s) for s in dict.fromkeys(labels)},
               "representations": {}}
    coords = {}
    for name, x in reps.items():
        pca = PCA(n_components=2, random_state=seed).fit(x)
        coords[name] = pca.transform(x)
        summary["representations"][name] = {
            "dimensions": int(x.shape[1]),
            "silhouette_cosine": float(silhouette_score(x, labels, metric="cosine")),
            "explained_variance_pc1_pc2": [float(v) for v in pca.explained_variance_ratio_]}
    with output_dir(out, "explain species", force=force) as tmp:
        with open(tmp / "species_embeddings.tsv", "w", newline="") as fh:
            w = csv.writer(fh, delimiter="\t", lineterminator="\n")
            w.writerow(["species", "gene_id", *(f"{n} PC{i}" for n in coords for i in (1, 2))])
            for r, (sp, gid, _) in enumerate(rows):
                w.writerow([sp, gid, *(f"{coords[n][r, i]:.5g}" for n in coords for i in (0, 1))])
        _figure(tmp, coords, labels, summary)
        (tmp / "species_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _figure(out: Path, coords: dict, labels: list[str], summary: dict) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(coords), figsize=(4.2 * len(coords), 4.0))
    labels = np.array(labels)
    for ax, (name, xy) in zip(axes, coords.items(), strict=True):
        info = summary["representations"][name]
        for sp in dict.fromkeys(labels.tolist()):
            m = labels == sp
            ax.scatter(xy[m, 0], xy[m, 1], s=6, alpha=0.6, label=sp)
        ev = info["explained_variance_pc1_pc2"]
        ax.set_xlabel(f"PC1 ({ev[0]:.0%})")
        ax.set_ylabel(f"PC2 ({ev[1]:.0%})")
        ax.set_title(f"{name}\nsilhouette {info['silhouette_cosine']:.3f}", fontsize=9)
    axes[0].legend(fontsize=7, markerscale=2)
    fig.tight_layout()
    save_figure(fig, out, "species_pca")
