"""Known plant transcription-factor motifs: JASPAR's plant matrices (offline, via pyjaspar), clustered into a
non-redundant set (:mod:`florabert.motifs.jaspar`), scanned over gene windows as one convolution
(:mod:`florabert.motifs.scan`)."""

from florabert.motifs.jaspar import Matrix, cluster_table, nonredundant, plant_matrices

__all__ = ["Matrix", "cluster_table", "nonredundant", "plant_matrices"]
