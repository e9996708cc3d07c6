"""Real data shipped with florabert (see README.md here for provenance)."""

from importlib import resources
from pathlib import Path


def path(name: str) -> Path:
    """Path of a bundled file: ``arabidopsis_leaf_tpm_train.tsv`` or ``arabidopsis_chr1_families.tsv``."""
    return Path(str(resources.files("florabert.bundled") / name))
