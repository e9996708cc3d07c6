"""Epigenetic tracks for EBERT-style models: per-base signal or chromatin state, aligned to promoters.

A *track sheet* (YAML) lists the tracks, one or more per tissue (or cell type)::

    species: Arabidopsis thaliana     # optional: only promoters of this species get tracks (pretrain)
    normalize: log_mean               # default for signal tracks: log_mean | none
    tracks:
      - {tissue: leaf, mark: ATAC,     file: leaf_atac.bw}          # bigWig (pyBigWig)
      - {tissue: leaf, mark: H3K4me3,  file: leaf_k4.bedGraph.gz}   # bedGraph (plain or gzip)
      - {tissue: leaf, mark: chromhmm, file: leaf_states.bed}       # discrete states (BED, name = state)
      - {tissue: root, mark: ATAC,     file: root_atac.bw}
      ...

Relative paths are read relative to the sheet. ``kind`` (``signal`` | ``states``) is taken from the file
suffix (.bw/.bigwig/.bedgraph/.bdg -> signal; .bed -> states) unless given. A *mark* is one input channel of
the model: every tissue must provide the same marks, so the model reads "ATAC" the same way in every tissue.

Alignment: a promoter's window (``chrom``, ``start``, ``end`` of the promoter table, 0-based half-open) is
read base by base in genome orientation, N-padding of ``--edge pad`` windows gets "no data", and the array
is reversed for minus-strand genes, so index 0 is the 5' end of the promoter as written in ``sequence``
(no complementing: a signal has no strand). Bases without data are 0 (signal) or state 0 ("no data").

Per token: signal = mean over the bases the token covers; state = the most frequent state among them
(ties go to the lower code: "no data" first, then the states in sorted order). Special tokens and padding
get 0 / state 0.

Normalization of signals (per track file, independent of which promoters are read):
``log_mean`` (default): ``log1p(max(x, 0) / m)``, m = the track's mean over the bases it covers (bigWig:
the sum of its summaries / bases covered; bedGraph: length-weighted mean of its intervals), which removes
sequencing-depth differences between tissues and compresses peaks; ``none``: the raw values.
"""

from florabert.tracks.features import PromoterCoords, TrackSet, aggregate, coords_from_table
from florabert.tracks.profile import track_profile
from florabert.tracks.readers import BedGraphTrack, BigWigTrack, StateTrack
from florabert.tracks.sheet import NORMALIZATIONS, SIGNAL_SUFFIXES, STATE_SUFFIXES, Track, TrackSheet, load_sheet

__all__ = ["NORMALIZATIONS", "SIGNAL_SUFFIXES", "STATE_SUFFIXES", "BedGraphTrack", "BigWigTrack", "PromoterCoords",
           "StateTrack", "Track", "TrackSet", "TrackSheet", "aggregate", "coords_from_table", "load_sheet",
           "track_profile"]
