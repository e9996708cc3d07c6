"""Expression data: TPM tables -> log targets joined to promoters, and leakage-free splits."""

from florabert.data.dataset import ExpressionDataset, build_expression_dataset, load_expression_dataset
from florabert.data.expression import (
    ExpressionTable,
    average_by_tissue,
    inverse_transform,
    log_transform,
    read_sample_sheet,
    read_tpm,
)
from florabert.data.splits import audit, group_split, holdout_split, mmseqs_families, read_families, read_split

__all__ = [
    "ExpressionDataset",
    "ExpressionTable",
    "audit",
    "average_by_tissue",
    "build_expression_dataset",
    "group_split",
    "holdout_split",
    "inverse_transform",
    "load_expression_dataset",
    "log_transform",
    "mmseqs_families",
    "read_families",
    "read_sample_sheet",
    "read_split",
    "read_tpm",
]
