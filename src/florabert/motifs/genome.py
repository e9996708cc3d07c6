"""``florabert motifs``: scan every gene's windows of a genome with the plant matrices; the best site of every
(gene, matrix), and how many genes carry a hit of each.

Output folder: ``best_hits.parquet`` (gene_id, matrix_id, name, family, cluster, window, score in bits,
relative_score, start relative to the window's landmark, strand, hits: sites at relative score >= the threshold
over all windows), ``matrices.tsv`` (per matrix: genes with a hit, median best score) and ``summary.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from florabert.errors import FloraBertError


def motif_matrices(all_matrices: bool = False):
    """The non-redundant set (default), or every plant matrix of JASPAR's CORE collection."""
    from florabert.motifs.jaspar import nonredundant, plant_matrices

    return plant_matrices() if all_matrices else nonredundant()


def scan_genome(genome, annotation, out, *, model=None, layout: str | None = None, all_matrices: bool = False,
                threshold: float = 0.85, force: bool = False, log=print) -> dict:
    """Cut the windows of every gene of ``genome`` as ``model`` reads them (a model folder or bundled model name)
    or as ``layout`` says, scan them with the plant matrices, write ``out`` (see the module doc)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from florabert.genome.promoters import extract_promoters
    from florabert.layout import Layout
    from florabert.motifs.jaspar import cluster_table
    from florabert.motifs.scan import scan_genes
    from florabert.outputs import claim_dir, output_dir

    if (model is None) == (layout is None):
        raise FloraBertError("give --model or --layout (the windows to scan)")
    claim_dir(out, "motifs", force=force)
    if model is not None:
        from florabert.bundled import resolve_model
        from florabert.modeling import FloraBertConfig, loading

        model = resolve_model(model)
        with loading(model):
            lay = FloraBertConfig.from_pretrained(str(model)).layout
    else:
        lay = Layout.parse(layout)
    t0 = time.perf_counter()
    cut = extract_promoters(genome, annotation, layout=lay, gene_model=False)
    table = cut.table
    if table.num_rows == 0:
        raise FloraBertError(f"{annotation}: no gene windows to scan")
    genes, seqs = table.column("gene_id").to_pylist(), table.column("sequence").to_pylist()
    matrices = motif_matrices(all_matrices)
    log(f"scanning {len(genes):,} genes ({lay.spec}) with {len(matrices):,} plant matrices, both strands")
    t1 = time.perf_counter()
    scans = scan_genes(seqs, lay, matrices, threshold=threshold)
    seconds = time.perf_counter() - t1
    score = np.stack([s.score for s in scans])  # (windows, genes, matrices)
    best = np.argmax(np.where(np.isfinite(score), score, -1e9), axis=0)  # the window of the best site
    pick = lambda arr: np.take_along_axis(np.stack(arr), best[None], 0)[0]  # noqa: E731
    clusters = {r["matrix_id"]: r["cluster"] for r in cluster_table()}
    n, m = len(genes), len(matrices)
    windows = np.array([lay.windows[j].spec for j in range(len(lay))])
    cols = {
        "gene_id": np.repeat(genes, m), "matrix_id": np.tile([x.matrix_id for x in matrices], n),
        "name": np.tile([x.name for x in matrices], n), "family": np.tile([x.family for x in matrices], n),
        "cluster": np.tile([clusters.get(x.matrix_id, "-") for x in matrices], n),
        "window": windows[best].ravel(), "score": pick([s.score for s in scans]).ravel(),
        "relative_score": pick([s.relative for s in scans]).ravel(),
        "start": pick([s.start for s in scans]).ravel(),
        "strand": np.where(pick([s.strand for s in scans]).ravel() > 0, "+", "-"),
        "hits": np.sum([s.hits for s in scans], axis=0).ravel(),
    }
    with output_dir(out, "motifs", force=force) as tmp:
        pq.write_table(pa.table(cols), tmp / "best_hits.parquet")
        hits = np.sum([s.hits for s in scans], axis=0)
        top = pick([s.score for s in scans])
        with open(tmp / "matrices.tsv", "w") as fh:
            fh.write("matrix_id\tname\tfamily\tcluster\tgenes_with_hit\tmedian_best_score\n")
            for k, x in enumerate(matrices):
                fh.write(f"{x.matrix_id}\t{x.name}\t{x.family}\t{clusters.get(x.matrix_id, '-')}\t"
                         f"{int((hits[:, k] > 0).sum())}\t{float(np.median(top[:, k])):.3f}\n")
        summary = {"genes": n, "matrices": m, "layout": lay.spec, "threshold": threshold,
                   "scan_seconds": round(seconds, 1), "total_seconds": round(time.perf_counter() - t0, 1),
                   "dropped": {k: v for k, v in cut.summary()["dropped"].items() if v}}
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2))
    log(f"{n:,} genes x {m:,} matrices scanned in {seconds:.1f} s -> {Path(out) / 'best_hits.parquet'}")
    return summary


__all__ = ["motif_matrices", "scan_genome"]
