"""Expression data: TPM tables -> log targets joined to promoters, and leakage-free splits."""
