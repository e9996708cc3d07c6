"""Motif scanning speed: florabert's convolution scanner against Biopython's ``PSSM.search`` on the same windows,
then the whole bundled A. thaliana genome.

Both score every site of every window with the 328 non-redundant plant matrices on both strands, against the
window's own composition. Biopython runs one PSSM per (window, matrix) — its own loop — on a sample of genes;
florabert one convolution per matrix width over the whole batch. Prints seconds per gene for each and the ratio,
measured in the same run (medians of ``--repeats``), then ``florabert motifs`` over every gene of the genome.

    python benchmarks/bench_motifs.py [--sample 20] [--repeats 3] [--layout tss:-150:+300,...]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

DEFAULT_LAYOUT = "tss:-150:+300,tss:+300:+1000,tts:-500:+500,cds:0:+3000"  # the demo's gene-structure windows


def biopython_scan(matrices, windows: list[str], threshold: float) -> int:
    from Bio import motifs
    from Bio.Seq import Seq

    hits = 0
    for w in windows:
        bg = {b: (w.count(b) + 1) / (len(w) + 4) for b in "ACGT"}
        seq = Seq(w)
        for m in matrices:
            pssm = motifs.Motif(counts={b: list(m.counts["ACGT".index(b)]) for b in "ACGT"}).counts.normalize(
                pseudocounts=0.25).log_odds(bg)
            lo, hi = pssm.min, pssm.max
            hits += sum(1 for _ in pssm.search(seq, threshold=lo + threshold * (hi - lo), both=True))
    return hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=20, help="genes timed with Biopython")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--layout", default=DEFAULT_LAYOUT)
    args = parser.parse_args()

    from florabert.genome.cresschrom import bundled_genomes
    from florabert.genome.promoters import extract_promoters
    from florabert.layout import Layout
    from florabert.motifs.genome import scan_genome
    from florabert.motifs.jaspar import nonredundant
    from florabert.motifs.scan import Scanner

    g = next(x for x in bundled_genomes() if "thaliana" in x.species)
    lay = Layout.parse(args.layout)
    table = extract_promoters(g.fasta, g.gff, layout=lay).table
    rng = np.random.default_rng(0)
    pick = rng.choice(table.num_rows, args.sample, replace=False)
    genes = [table.column("sequence")[int(i)].as_py() for i in pick]
    windows = [w for s in genes for w in s.split("|") if w]
    matrices = nonredundant()
    scanner = Scanner(matrices)
    ours, theirs = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        res = scanner.scan(windows)
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        bio_hits = biopython_scan(matrices, windows, scanner.threshold)
        theirs.append(time.perf_counter() - t0)
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"{args.sample} genes ({len(windows)} windows, {sum(map(len, windows)):,} bases) x {len(matrices)} "
          f"matrices, both strands")
    print(f"  Biopython PSSM.search: {b:.2f} s ({b / args.sample * 1000:.0f} ms per gene); hits {bio_hits:,}")
    print(f"  florabert Scanner:     {a:.3f} s ({a / args.sample * 1000:.1f} ms per gene); hits "
          f"{int(res.hits.sum()):,}")
    print(f"  ratio: {b / a:.0f}x faster")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        summary = scan_genome(g.fasta, g.gff, Path(tmp) / "m", layout=args.layout, log=lambda m: None)
        print(f"whole genome: {summary['genes']:,} genes in {time.perf_counter() - t0:.0f} s "
              f"(scan {summary['scan_seconds']} s)")


if __name__ == "__main__":
    main()
