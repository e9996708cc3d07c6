"""Train/validation/test splits that keep paralogs together, and the audit that proves it.

Groups (all genes of a group land in the same part):
- a family table (TSV ``gene_id``, ``family_id``); genes it does not list are their own family;
- families computed with MMseqs2 (``mmseqs easy-cluster`` on the promoter sequences), as FloraBERT did;
- neither available: single genes (a random split) -- announced loudly, and recorded in the audit.
Alternatives: hold out whole chromosomes or species, or impose a split from a TSV (``gene_id``, ``split``).

The audit reports families present in both train and test (must be 0 for a family split) and, for every
test gene, the cosine similarity of its k-mer counts to the most similar training promoter.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from florabert.errors import FloraBertError, InputError
from florabert.io import table_rows

PARTS = ("train", "validation", "test")


def read_families(path: str | Path, genes: list[str]) -> dict[str, str]:
    """gene -> family from a TSV/CSV whose header names the ``gene_id`` and ``family_id`` columns."""
    path = Path(path)
    numbered = list(table_rows(path, "," if path.name.lower().endswith(".csv") else "\t"))
    if not numbered:
        raise InputError(path, "empty family table")
    header = [h.strip() for h in numbered[0][1]]
    if "gene_id" not in header or "family_id" not in header:
        raise InputError(path, f"expected a header with columns 'gene_id' and 'family_id' (found: "
                         f"{', '.join(repr(h[:40]) for h in header[:4])})", line=1)
    gi, fi = header.index("gene_id"), header.index("family_id")
    table = {}
    for lineno, row in numbered[1:]:
        if not row:
            continue
        if len(row) <= max(gi, fi):
            raise InputError(path, "missing the gene or family field", line=lineno)
        table[row[gi].strip()] = row[fi].strip()
    return {g: table.get(g, f"single:{g}") for g in genes}


def mmseqs_families(sequences: dict[str, str], *, min_seq_id: float = 0.5, coverage: float = 0.5,
                    threads: int = 2, kmer: int = 13) -> dict[str, str]:
    """Cluster promoter sequences with ``mmseqs easy-cluster``; gene -> representative gene.

    ``kmer``: the prefilter's k-mer length. MMseqs2's nucleotide default (15) sizes its index for every 15-mer
    whatever the input (gigabytes for a few hundred promoters); 13 finds the same clusters in a fraction of the
    memory and time (measured in docs/guide/finetuning.md)."""
    exe = shutil.which("mmseqs")
    if exe is None:
        raise FloraBertError("mmseqs is not on PATH (Debian/Ubuntu: apt-get install mmseqs2)")
    with tempfile.TemporaryDirectory(prefix="florabert_mmseqs_") as tmp:
        tmp = Path(tmp)
        with open(tmp / "in.fa", "w") as fh:
            for gene, seq in sequences.items():  # the windows of a multi-window layout, N between them
                fh.write(f">{gene}\n{seq.replace('|', 'N')}\n")
        cmd = [exe, "easy-cluster", str(tmp / "in.fa"), str(tmp / "out"), str(tmp / "work"),
               "--min-seq-id", str(min_seq_id), "-c", str(coverage), "--threads", str(threads), "-k", str(kmer),
               "-v", "1"]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise FloraBertError(f"mmseqs easy-cluster failed: {res.stderr.strip()[-300:]}")
        clusters = {}
        with open(tmp / "out_cluster.tsv") as fh:
            for line in fh:
                rep, member = line.rstrip("\n").split("\t")
                clusters[member] = rep
    return {g: clusters.get(g, g) for g in sequences}


def group_split(genes: list[str], groups: dict[str, str], *, test_fraction: float = 0.3,
                validation_fraction: float = 0.1, seed: int = 0) -> dict[str, str]:
    """Whole groups to test until ``test_fraction`` of the genes, then to validation until
    ``validation_fraction`` of the rest; everything else to train. Groups are taken in a seeded random
    order, so large families land anywhere."""
    members: dict[str, list[str]] = {}
    for g in genes:
        members.setdefault(groups[g], []).append(g)
    order = sorted(members)
    random.Random(seed).shuffle(order)
    n = len(genes)
    want_test = round(test_fraction * n)
    want_val = round(validation_fraction * (n - want_test))
    out, n_test, n_val = {}, 0, 0
    for fam in order:
        size = len(members[fam])
        if n_test < want_test and n_test + size <= want_test + size // 2:
            part, n_test = "test", n_test + size
        elif n_val < want_val and n_val + size <= want_val + size // 2:
            part, n_val = "validation", n_val + size
        else:
            part = "train"
        for g in members[fam]:
            out[g] = part
    return out


def holdout_split(genes: list[str], key: dict[str, str], holdout: set[str], *, validation_fraction: float = 0.1,
                  groups: dict[str, str] | None = None, seed: int = 0) -> dict[str, str]:
    """Genes whose ``key`` (chromosome or species) is in ``holdout`` -> test; validation carved from the
    rest by group."""
    unknown = holdout - set(key.values())
    if unknown:
        raise FloraBertError(f"nothing to hold out for {', '.join(sorted(unknown))} "
                             f"(have: {', '.join(sorted(set(key.values()))[:10])})")
    rest = [g for g in genes if key[g] not in holdout]
    out = {g: "test" for g in genes if key[g] in holdout}
    out.update(group_split(rest, groups or {g: g for g in rest}, test_fraction=0.0,
                           validation_fraction=validation_fraction, seed=seed))
    return out


def read_split(path: str | Path, genes: list[str]) -> dict[str, str]:
    """An imposed split: TSV ``gene_id``, ``split`` (train/validation/test). Genes it does not list
    are left out of the dataset (reported)."""
    path = Path(path)
    out = {}
    for lineno, row in table_rows(path, "\t"):
        if not row or (lineno == 1 and row[0].strip() == "gene_id"):
            continue
        if len(row) < 2:
            raise InputError(path, "expected two fields: gene_id, split", line=lineno)
        part = row[1].strip()
        if part not in PARTS:
            raise InputError(path, f"split must be train, validation or test, found {part!r}", line=lineno)
        out[row[0].strip()] = part
    known = set(genes)
    return {g: p for g, p in out.items() if g in known}


def kmer_similarity(test: list[str], train: list[str], *, k: int = 6, chunk: int = 1000) -> tuple[np.ndarray,
                                                                                                   np.ndarray]:
    """For each test sequence: the best cosine similarity of k-mer counts to any training sequence, and
    the index of that training sequence."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.preprocessing import normalize

    vec = CountVectorizer(analyzer="char", ngram_range=(k, k), lowercase=False, dtype=np.float32)
    tr = normalize(vec.fit_transform(train))
    te = normalize(vec.transform(test))
    best, where = np.zeros(len(test), np.float32), np.zeros(len(test), np.int64)
    for i in range(0, len(test), chunk):
        sims = (te[i:i + chunk] @ tr.T).toarray()
        best[i:i + chunk] = sims.max(axis=1)
        where[i:i + chunk] = sims.argmax(axis=1)
    return best, where


def audit(assignment: dict[str, str], groups: dict[str, str], sequences: dict[str, str], *, method: str,
          k: int = 6) -> tuple[dict, list[tuple[str, float, str]]]:
    """Leakage audit: counts per part, families shared between parts, k-mer similarity of test genes."""
    fam_parts: dict[str, set[str]] = {}
    for g, part in assignment.items():
        fam_parts.setdefault(groups.get(g, g), set()).add(part)
    shared = {p: sum(1 for parts in fam_parts.values() if {"train", p} <= parts) for p in ("validation", "test")}
    train = [g for g, p in assignment.items() if p == "train"]
    test = [g for g, p in assignment.items() if p == "test"]
    rows = []
    summary = {"method": method, "counts": dict(Counter(assignment.values())),
               "families_in_train_and_test": shared["test"],
               "families_in_train_and_validation": shared["validation"]}
    if test and train:
        best, where = kmer_similarity([sequences[g] for g in test], [sequences[g] for g in train], k=k)
        rows = [(g, float(s), train[j]) for g, s, j in zip(test, best, where, strict=True)]
        summary["test_kmer_similarity"] = {
            "k": k, "mean": float(best.mean()), "median": float(np.median(best)),
            "p95": float(np.percentile(best, 95)), "max": float(best.max()),
            "above_0.9": int((best > 0.9).sum())}
    if method == "random":
        summary["warning"] = ("RANDOM SPLIT: no family table and no MMseqs2, so paralogs may straddle train "
                              "and test and test scores may be optimistic")
    return summary, rows
