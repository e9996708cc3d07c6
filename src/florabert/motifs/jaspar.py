"""JASPAR's plant transcription-factor matrices, offline, and the non-redundant set florabert scans with.

The matrices come from the ``pyjaspar`` package (JASPAR's sqlite release inside it, MIT licence; no network):
the CORE collection's plant matrices, latest version of each (927 in JASPAR 2026). Many are near-identical
(DAP-seq matrices of paralogous TFs of one family: dozens of W-boxes, G-boxes, GCC-boxes), so they are clustered
once (:func:`cluster_matrices`) and the set ships as ``bundled/jaspar_plant_clusters.tsv``:

- similarity of two matrices: their columns' probabilities (pseudocount 0.25 per base) compared by Pearson
  correlation, summed over the aligned columns of the best offset and strand, divided by the longer matrix's
  length (columns one of them lacks count 0): 1 for identical matrices, lower for partial or shifted matches;
- clusters: average-linkage hierarchical clustering on 1 - similarity, cut at distance 1 - ``threshold`` (0.8:
  the matrices of a cluster agree on most columns of the longer one); a cluster is named by its medoid, the
  member most similar to the others on average, which is the matrix scanned for it.

``python -m florabert.motifs.jaspar`` rewrites the bundled table (seconds). Coordinates: none here; see
:mod:`florabert.motifs.scan`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

CLUSTER_FILE = "jaspar_plant_clusters.tsv"
PSEUDOCOUNT = 0.25  # per base and column, added to the counts (Biopython's normalize(pseudocounts=...))
THRESHOLD = 0.8  # matrices at least this similar (see the module doc) share a cluster


@dataclass(frozen=True)
class Matrix:
    """One JASPAR matrix: ``counts`` (4, width) in A, C, G, T order."""

    matrix_id: str
    name: str
    family: str
    tf_class: str
    counts: np.ndarray

    @property
    def width(self) -> int:
        return self.counts.shape[1]

    def probabilities(self, pseudocount: float = PSEUDOCOUNT) -> np.ndarray:
        """(4, width) base probabilities per column, with ``pseudocount`` added to every count."""
        c = self.counts + pseudocount
        return c / c.sum(0, keepdims=True)


def plant_matrices(release: str | None = None) -> list[Matrix]:
    """The latest version of every plant matrix of JASPAR's CORE collection (``release``: pyjaspar's name, e.g.
    ``JASPAR2026``; default its newest), in matrix-id order. Read once per process (pyjaspar's query takes
    about 3 s); each call returns a new list of the same matrices."""
    return list(_plant_matrices(release))


@lru_cache(maxsize=4)
def _plant_matrices(release: str | None) -> tuple[Matrix, ...]:
    from pyjaspar import jaspardb

    db = jaspardb(release=release) if release else jaspardb()
    return tuple(sorted((_matrix(m) for m in db.fetch_motifs(collection="CORE", tax_group=["plants"])),
                        key=lambda m: m.matrix_id))


def _matrix(m) -> Matrix:
    """A pyjaspar motif as a :class:`Matrix`."""
    counts = np.array([m.counts[b] for b in "ACGT"], dtype=np.float64)
    return Matrix(m.matrix_id, m.name, "/".join(m.tf_family) or "-", "/".join(m.tf_class) or "-", counts)


@lru_cache(maxsize=4)
def _by_id(ids: tuple[str, ...], release: str | None) -> tuple[Matrix, ...]:
    """These matrices (``BASE.VERSION`` ids) of pyjaspar's database, in this order: its MATRIX, MATRIX_DATA and
    MATRIX_ANNOTATION tables read in three queries (``fetch_motif_by_id`` makes a dozen per matrix: 0.6 s of
    every explain start-up for the 328 medoids; tests/test_motifs.py checks both give the same matrices)."""
    from pyjaspar import jaspardb

    db = jaspardb(release=release) if release else jaspardb()
    cur = db.conn.cursor()
    internal = {f"{base}.{version}": (int_id, name)
                for int_id, base, version, name in cur.execute("SELECT ID, BASE_ID, VERSION, NAME FROM MATRIX")}
    missing = [i for i in ids if i not in internal]
    if missing:
        from florabert.errors import FloraBertError

        raise FloraBertError(f"JASPAR release {release or 'newest'} of pyjaspar has no matrix {missing[0]} "
                             "(the bundled motif clusters were made from another release)")
    wanted = sorted({internal[i][0] for i in ids})
    marks = ",".join("?" * len(wanted))
    counts: dict[int, dict[str, list[float]]] = {}
    for int_id, row, val in cur.execute(f"SELECT ID, row, val FROM MATRIX_DATA WHERE ID IN ({marks}) "
                                        "ORDER BY ID, row, col", wanted):
        counts.setdefault(int_id, {}).setdefault(row, []).append(float(val))
    notes: dict[tuple[int, str], list[str]] = {}
    for int_id, tag, val in cur.execute(f"SELECT ID, TAG, VAL FROM MATRIX_ANNOTATION WHERE ID IN ({marks}) AND "
                                        "TAG IN ('family', 'class')", wanted):
        notes.setdefault((int_id, tag), []).append(val)
    out = []
    for i in ids:
        int_id, name = internal[i]
        out.append(Matrix(i, name, "/".join(notes.get((int_id, "family"), [])) or "-",
                          "/".join(notes.get((int_id, "class"), [])) or "-",
                          np.array([counts[int_id][b] for b in "ACGT"], dtype=np.float64)))
    return tuple(out)


def _columns(matrices: list[Matrix], width: int) -> tuple[np.ndarray, np.ndarray]:
    """Centred, unit-norm probability columns (n, width, 4) of each matrix (zero where it has none), and each
    matrix's length."""
    z = np.zeros((len(matrices), width, 4))
    for i, m in enumerate(matrices):
        p = m.probabilities().T
        p = p - p.mean(1, keepdims=True)
        norm = np.linalg.norm(p, axis=1, keepdims=True)
        z[i, :m.width] = np.divide(p, norm, out=np.zeros_like(p), where=norm > 1e-9)
    return z, np.array([m.width for m in matrices])


def similarity(matrices: list[Matrix], chunk: int = 64) -> np.ndarray:
    """(n, n) similarity of every pair of matrices (see the module doc); symmetric, 1 on the diagonal."""
    width = max(m.width for m in matrices)
    z, lengths = _columns(matrices, width)
    rc = z[:, ::-1, ::-1].copy()  # reverse complement: columns reversed, A<->T and C<->G (ACGT reversed)
    # a reverse complement is aligned at the end of the padded width: shift each one back to start at 0
    for i, n in enumerate(lengths):
        rc[i] = np.roll(rc[i], -(width - n), axis=0)
    n = len(matrices)
    best = np.zeros((n, n))
    for lo in range(0, n, chunk):
        a = z[lo:lo + chunk]
        for other in (z, rc):
            corr = np.einsum("icb,jdb->ijcd", a, other)  # column-by-column correlations
            for d in range(-(width - 1), width):
                best[lo:lo + chunk] = np.maximum(best[lo:lo + chunk],
                                                 np.trace(corr, offset=d, axis1=2, axis2=3))
    longer = np.maximum(lengths[:, None], lengths[None, :])
    sim = best / longer
    sim = np.maximum(sim, sim.T)
    np.fill_diagonal(sim, 1.0)
    return sim


def cluster_matrices(matrices: list[Matrix], threshold: float = THRESHOLD) -> list[dict]:
    """One row per matrix: its cluster (``C###``, numbered by medoid id order), whether it is the cluster's
    medoid, and the medoid's id (see the module doc)."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    sim = similarity(matrices)
    labels = fcluster(linkage(squareform(1.0 - sim, checks=False), method="average"), 1.0 - threshold,
                      criterion="distance")
    medoid = {}
    for label in np.unique(labels):
        idx = np.where(labels == label)[0]
        medoid[label] = idx[int(np.argmax(sim[np.ix_(idx, idx)].mean(1)))]
    order = sorted(medoid, key=lambda lab: matrices[medoid[lab]].matrix_id)
    names = {lab: f"C{k + 1:03d}" for k, lab in enumerate(order)}
    return [{"matrix_id": m.matrix_id, "name": m.name, "family": m.family, "tf_class": m.tf_class,
             "cluster": names[labels[i]], "medoid": matrices[medoid[labels[i]]].matrix_id,
             "is_medoid": int(medoid[labels[i]] == i)} for i, m in enumerate(matrices)]


def write_clusters(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, list(rows[0]), delimiter="\t", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def cluster_table() -> list[dict]:
    """The bundled clustering (one row per JASPAR plant matrix)."""
    path = Path(str(resources.files("florabert.bundled") / CLUSTER_FILE))
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def nonredundant(release: str | None = None) -> list[Matrix]:
    """The matrices florabert scans with: each cluster's medoid (see the module doc), in cluster order; a
    matrix's ``name`` is its own TF's, the cluster's members are in :func:`cluster_table`."""
    rows = cluster_table()
    medoids = {r["matrix_id"]: r["cluster"] for r in rows if r["is_medoid"] == "1"}
    return list(_by_id(tuple(sorted(medoids, key=lambda i: medoids[i])), release))


def main() -> None:
    """Rewrite the bundled cluster table from pyjaspar's newest release."""
    import time

    t0 = time.perf_counter()
    matrices = plant_matrices()
    rows = cluster_matrices(matrices)
    path = Path(str(resources.files("florabert.bundled") / CLUSTER_FILE))
    write_clusters(path, rows)
    n = len({r["cluster"] for r in rows})
    print(f"{len(matrices)} plant matrices -> {n} clusters (similarity >= {THRESHOLD}) in "
          f"{time.perf_counter() - t0:.0f} s -> {path}")


if __name__ == "__main__":
    main()


__all__ = ["Matrix", "cluster_matrices", "cluster_table", "nonredundant", "plant_matrices", "similarity"]
