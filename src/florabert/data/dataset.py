"""An expression dataset directory: promoters + log targets + split + audit, what fine-tuning reads.

    DATA/dataset.parquet   gene_id, species, chrom, strand, tss, start, end (the promoter window, when the
                           promoter table has them), sequence, family, split, labels (list of floats), and
                           the gene-model features gm_* when the promoter table has them
    DATA/targets.json      target names (tissues or samples), transform {"kind": "log", "offset": ...}
    DATA/split.tsv         gene_id, split
    DATA/audit.json        split method, counts, families shared between parts, test k-mer similarity
    DATA/audit_similarity.tsv   per test gene: best k-mer similarity to a training promoter, which one
    DATA/unmatched.tsv     gene ids found in only one of the TPM table and the promoter table
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from florabert.data.expression import average_by_tissue, log_transform, read_sample_sheet, read_tpm
from florabert.data.splits import (
    audit,
    group_split,
    holdout_split,
    mmseqs_families,
    read_families,
    read_split,
)
from florabert.errors import FloraBertError, InputError
from florabert.genome.promoters import read_promoters, window_settings
from florabert.io import read_parquet
from florabert.outputs import claim_dir, output_dir


@dataclass
class ExpressionDataset:
    path: Path
    table: pa.Table
    targets: list[str]
    transform: dict
    promoter_window: dict
    classes: list[str] = ()  # class names of a classification task (florabert tasks), by label index

    @property
    def layout(self):
        """The :class:`~florabert.layout.Layout` the dataset's promoters were cut with."""
        from florabert.layout import layout_of

        return layout_of(self.promoter_window)

    def part(self, name: str) -> pa.Table:
        return self.table.filter(pc.equal(self.table.column("split"), name))

    def labels(self, name: str) -> np.ndarray:
        return np.asarray(self.part(name).column("labels").to_pylist(), dtype=np.float32)


def load_expression_dataset(path: str | Path) -> ExpressionDataset:
    path = Path(path)
    if not (path / "dataset.parquet").exists():
        raise FloraBertError(f"{path}: not an expression dataset (no dataset.parquet; see florabert expression)")
    try:
        meta = json.loads((path / "targets.json").read_text())
        targets, transform = list(meta["targets"]), dict(meta["transform"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(path / "targets.json", f"missing or not a dataset description ({type(exc).__name__}: "
                         f"{str(exc)[:80]})") from None
    table = read_parquet(path / "dataset.parquet", needs=("gene_id", "sequence", "split", "labels"))
    return ExpressionDataset(path, table, targets, transform, meta.get("promoter_window", {}),
                             list(meta.get("classes") or []))


# Over 80 lines on purpose: read, join, split, audit, write: one pass whose steps share the joined table.
def build_expression_dataset(
    tpm: str | Path,
    promoters: str | Path,
    out: str | Path,
    *,
    samples: str | Path | None = None,
    families: str | Path | None = None,
    split: str | Path | None = None,
    offset: float = 1.0,
    gene_column: str | None = None,
    test_fraction: float = 0.3,
    validation_fraction: float = 0.1,
    holdout_chromosomes: list[str] | None = None,
    holdout_species: list[str] | None = None,
    seed: int = 0,
    force: bool = False,
    log=print,
) -> dict:
    """Join a TPM table to promoters, transform to ln(TPM + offset), split, audit; write ``out``.

    families: a gene -> family table, or "mmseqs" to cluster the promoters with MMseqs2 [default: the
    table if given, else MMseqs2 when installed, else a loudly reported random split].
    """
    if offset <= 0:
        raise FloraBertError("--offset must be > 0")
    if not 0 < test_fraction < 1:
        raise FloraBertError(f"--test-fraction must be between 0 and 1 (got {test_fraction:g})")
    if not 0 <= validation_fraction < 1:
        raise FloraBertError(f"--validation-fraction must be in [0, 1) (got {validation_fraction:g})")
    claim_dir(out, "expression", force=force)
    table = read_tpm(tpm, gene_column=gene_column)
    if samples:
        table = average_by_tissue(table, read_sample_sheet(samples), sheet_path=str(samples))
    for w in table.warnings:
        log(f"warning: {w}")
    prom = read_promoters(promoters)
    for col in ("gene_id", "sequence"):
        if col not in prom.column_names:
            raise InputError(promoters, f"no {col!r} column: not a promoter table")
    prom_ids = prom.column("gene_id").to_pylist()
    if len(set(prom_ids)) != len(prom_ids):
        dup = next(g for g in prom_ids if prom_ids.count(g) > 1)
        raise InputError(promoters, f"duplicate gene id {dup!r} in the promoter table")
    row_of = {g: i for i, g in enumerate(prom_ids)}
    genes = [g for g in table.genes if g in row_of]
    only_tpm = [g for g in table.genes if g not in row_of]
    only_prom = sorted(set(prom_ids) - set(table.genes))
    if not genes:
        raise InputError(tpm, f"no gene id in common with {promoters} (e.g. TPM {table.genes[:2]}, "
                         f"promoters {prom_ids[:2]})")
    log(f"joined {len(genes):,} genes; {len(only_tpm):,} TPM genes have no promoter, {len(only_prom):,} "
        "promoters have no TPM (listed in unmatched.tsv)")
    seqs = {g: prom.column("sequence")[row_of[g]].as_py() for g in genes}

    if families and str(families) != "mmseqs":
        groups, method = read_families(families, genes), "family table"
    elif families == "mmseqs" or shutil.which("mmseqs"):
        log("clustering promoters with MMseqs2 for paralog-aware splitting")
        groups, method = mmseqs_families(seqs), "mmseqs2 promoter clusters"
    else:
        groups, method = {g: g for g in genes}, "random"
        log("WARNING: no family table and no mmseqs on PATH: RANDOM split by gene; paralogs may straddle "
            "train and test (pass --families, or install mmseqs2)")
    if split:
        assignment, method = read_split(split, genes), f"imposed ({Path(split).name}); families: {method}"
        left_out = len(genes) - len(assignment)
        if left_out:
            log(f"{left_out:,} genes are not in {split} and are left out")
        genes = [g for g in genes if g in assignment]
    elif holdout_chromosomes or holdout_species:
        col = "chrom" if holdout_chromosomes else "species"
        if col not in prom.column_names:
            raise InputError(promoters, f"no {col!r} column to hold out by")
        key = {g: str(prom.column(col)[row_of[g]].as_py()) for g in genes}
        assignment = holdout_split(genes, key, set(holdout_chromosomes or holdout_species),
                                   validation_fraction=validation_fraction, groups=groups, seed=seed)
        method = f"held-out {col}: {', '.join(holdout_chromosomes or holdout_species)}"
    else:
        assignment = group_split(genes, groups, test_fraction=test_fraction,
                                 validation_fraction=validation_fraction, seed=seed)
    summary, sim_rows = audit(assignment, groups, seqs, method=method)
    if summary.get("warning"):
        log(f"WARNING: {summary['warning']}")

    idx = {g: i for i, g in enumerate(table.genes)}
    y = log_transform(table.tpm[[idx[g] for g in genes]], offset)
    from florabert.genome.genemodel import GENE_MODEL_COLUMNS

    carried = ("species", "chrom", "strand", "tss", "start", "end")
    pcol = {c: prom.column(c).to_pylist() for c in carried if c in prom.column_names}
    gm = {c: prom.column(c).to_pylist() for c in GENE_MODEL_COLUMNS if c in prom.column_names}
    columns = {
        "gene_id": genes,
        **{c: [v[row_of[g]] for g in genes] for c, v in pcol.items()},
        "sequence": [seqs[g] for g in genes],
        "family": [groups[g] for g in genes],
        "split": [assignment[g] for g in genes],
        "labels": y.astype(np.float32).tolist(),
        **{c: [v[row_of[g]] for g in genes] for c, v in gm.items()},
    }
    meta = {"targets": table.targets, "transform": {"kind": "log", "offset": offset},
            "tpm": str(tpm), "promoters": str(promoters), "samples": str(samples) if samples else None,
            "seed": seed, "promoter_window": window_settings(prom)}
    with output_dir(out, "expression", force=force) as tmp:
        pq.write_table(pa.table(columns), tmp / "dataset.parquet")
        (tmp / "targets.json").write_text(json.dumps(meta, indent=2) + "\n")
        (tmp / "split.tsv").write_text("gene_id\tsplit\n" + "".join(f"{g}\t{assignment[g]}\n" for g in genes))
        (tmp / "audit.json").write_text(json.dumps(summary, indent=2) + "\n")
        (tmp / "audit_similarity.tsv").write_text(
            "gene_id\tbest_kmer_similarity\tnearest_training_gene\n"
            + "".join(f"{g}\t{s:.4f}\t{n}\n" for g, s, n in sim_rows))
        (tmp / "unmatched.tsv").write_text("gene_id\tfound_only_in\n" + "".join(f"{g}\ttpm\n" for g in only_tpm)
                                           + "".join(f"{g}\tpromoters\n" for g in only_prom))
    return {"genes": len(genes), "targets": table.targets, "audit": summary,
            "only_tpm": len(only_tpm), "only_promoters": len(only_prom)}
