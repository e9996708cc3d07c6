"""TPM table (genes x samples) -> per-target ln(TPM + offset), joined to a promoter table by gene id.

Targets are the tissues of a sample sheet (replicates averaged in TPM, then log-transformed) or, without a
sheet, the sample columns themselves. Every problem in the table is reported with its file, line and column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from florabert.errors import InputError
from florabert.io import table_rows


@dataclass
class ExpressionTable:
    genes: list[str]
    targets: list[str]
    tpm: np.ndarray  # (genes, targets), TPM (replicates averaged when a sample sheet was given)
    warnings: list[str] = field(default_factory=list)


def _delimiter(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    return "," if name.endswith(".csv") else "\t"


def read_tpm(path: str | Path, *, gene_column: str | None = None) -> ExpressionTable:
    """Read a genes x samples TPM table (TSV, or CSV by extension; .gz accepted).

    gene_column: header of the gene id column [default: the first column]. Every other column is a
    sample. Raises InputError (file, line, column) for missing/extra fields, empty, non-numeric, NaN,
    infinite or negative values, duplicate gene ids, and a table without genes or samples.
    """
    path = Path(path)
    rows = table_rows(path, _delimiter(path))
    try:
        _, header = next(rows)
    except StopIteration:
        raise InputError(path, "empty file") from None
    header = [h.strip() for h in header]
    if gene_column and gene_column not in header:
        raise InputError(path, f"no column {gene_column[:80]!r} (columns: {', '.join(header[:8])}"
                         f"{', ...' if len(header) > 8 else ''})", line=1)
    gcol = header.index(gene_column) if gene_column else 0
    samples = [h for i, h in enumerate(header) if i != gcol]
    if not samples:
        raise InputError(path, "no sample columns besides the gene id", line=1)
    dup = {s for s in samples if samples.count(s) > 1}
    if dup:
        raise InputError(path, f"duplicate sample column(s): {', '.join(sorted(dup))}", line=1)
    genes, values, seen = [], [], {}
    for lineno, row in rows:
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise InputError(path, f"expected {len(header)} fields, found {len(row)}", line=lineno)
        gene = row[gcol].strip()
        if gene in seen:
            raise InputError(path, f"duplicate gene id {gene!r} (first on line {seen[gene]})", line=lineno)
        seen[gene] = lineno
        vals = []
        for i, cell in enumerate(row):
            if i == gcol:
                continue
            col = header[i]
            try:
                v = float(cell)
            except ValueError:
                raise InputError(path, f"TPM must be a number, found {cell!r}", line=lineno,
                                 column=col) from None
            if math.isnan(v) or math.isinf(v):
                raise InputError(path, f"TPM must be finite, found {cell!r}", line=lineno, column=col)
            if v < 0:
                raise InputError(path, f"TPM cannot be negative, found {cell}", line=lineno, column=col)
            vals.append(v)
        genes.append(gene)
        values.append(vals)
    if not genes:
        raise InputError(path, "no genes in the table")
    return ExpressionTable(genes, samples, np.asarray(values, dtype=np.float64))


def read_sample_sheet(path: str | Path) -> dict[str, str]:
    """sample -> tissue from a TSV/CSV with columns ``sample`` and ``tissue`` (else the first two)."""
    path = Path(path)
    numbered = [(n, r) for n, r in table_rows(path, _delimiter(path)) if r and any(c.strip() for c in r)]
    rows = [r for _, r in numbered]
    if len(rows) < 2:
        raise InputError(path, "expected a header and at least one sample")
    header = [h.strip().lower() for h in rows[0]]
    if "sample" not in header or "tissue" not in header:
        raise InputError(path, f"expected a header with columns 'sample' and 'tissue' (found: "
                         f"{', '.join(repr(h[:40]) for h in header[:4])})", line=1)
    si, ti = header.index("sample"), header.index("tissue")
    sheet = {}
    for lineno, row in numbered[1:]:
        if len(row) <= max(si, ti):
            raise InputError(path, "missing the sample or tissue field", line=lineno)
        sample, tissue = row[si].strip(), row[ti].strip()
        if sample in sheet and sheet[sample] != tissue:
            raise InputError(path, f"sample {sample!r} listed twice with different tissues", line=lineno)
        sheet[sample] = tissue
    return sheet


def average_by_tissue(table: ExpressionTable, sheet: dict[str, str], *, sheet_path: str) -> ExpressionTable:
    """Mean TPM over each tissue's samples; samples missing from the sheet are dropped (warned)."""
    missing = [s for s in sheet if s not in table.targets]
    if missing:
        raise InputError(sheet_path, f"samples not in the TPM table: {', '.join(missing[:5])}")
    unused = [s for s in table.targets if s not in sheet]
    tissues = list(dict.fromkeys(sheet[s] for s in table.targets if s in sheet))
    cols = np.stack([table.tpm[:, [i for i, s in enumerate(table.targets) if sheet.get(s) == t]].mean(axis=1)
                     for t in tissues], axis=1)
    warnings = list(table.warnings)
    if unused:
        warnings.append(f"{len(unused)} TPM columns not in the sample sheet were ignored: {', '.join(unused[:5])}")
    return ExpressionTable(table.genes, tissues, cols, warnings)


def log_transform(tpm: np.ndarray, offset: float) -> np.ndarray:
    """Natural log of TPM + offset (offset > 0)."""
    if offset <= 0:
        raise ValueError("offset must be > 0")
    return np.log(tpm + offset)


def inverse_transform(values: np.ndarray, offset: float) -> np.ndarray:
    """ln(TPM + offset) back to TPM (float64, clipped at 0): the one inverse of :func:`log_transform`."""
    return np.clip(np.exp(np.asarray(values, dtype=np.float64)) - offset, 0.0, None)
