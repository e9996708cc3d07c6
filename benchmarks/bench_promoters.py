"""Promoter extraction on TAIR10 chr1 (7,156 genes, 30 Mb): florabert vs bedtools flank + getfasta.

Both read the same plain FASTA; bedtools gets the gene BED ready-made (its GFF parsing is not timed,
ours is), and its .fai index already built. Runs are interleaved; medians of --repeats runs.

    python benchmarks/bench_promoters.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from florabert.genome import extract_promoters, read_annotation, write_promoters
from florabert.genome.cresschrom import bundled_genomes


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("bedtools") is None:
        sys.exit("bedtools is not installed (apt-get install bedtools)")
    at = next(g for g in bundled_genomes() if g.species == "Arabidopsis thaliana")
    work = Path(tempfile.mkdtemp(prefix="bench_promoters_"))
    fasta = work / "tair10_chr1.fa"
    with gzip.open(at.fasta, "rb") as src, open(fasta, "wb") as dst:
        shutil.copyfileobj(src, dst)
    subprocess.run(["bedtools", "getfasta", "-fi", fasta, "-bed", "/dev/null"], capture_output=True, check=False)
    sizes = work / "sizes"
    sizes.write_text("".join("\t".join(ln.split("\t")[:2]) + "\n"
                             for ln in (work / "tair10_chr1.fa.fai").read_text().splitlines()))
    genes = read_annotation(at.gff).genes
    bed = work / "genes.bed"
    bed.write_text("".join(f"{g.chrom}\t{g.start}\t{g.end}\t{g.gene_id}\t0\t{g.strand}\n" for g in genes))

    def bedtools() -> None:
        subprocess.run(f"bedtools flank -s -l 1000 -r 0 -i {bed} -g {sizes} | "
                       f"bedtools getfasta -s -name -fi {fasta} -bed - > {work / 'bt.fa'}",
                       shell=True, check=True)

    def bedtools_from_gz() -> None:
        # what a bedtools user runs from the same gzipped inputs: unpack + index the FASTA, GFF -> BED
        # with awk (protein-coding genes), then flank + getfasta
        plain = work / "bt_genome.fa"
        subprocess.run(
            f"zcat {at.fasta} > {plain} && rm -f {plain}.fai && "
            f"zcat {at.gff} | awk -F'\\t' -v OFS='\\t' '$3==\"gene\" && /gene_biotype=protein_coding/ "
            f"{{match($9, /locus_tag=[^;]+/); print $1, $4-1, $5, substr($9, RSTART+10, RLENGTH-10), 0, $7}}' "
            f"> {work / 'bt_genes.bed'} && "
            f"bedtools flank -s -l 1000 -r 0 -i {work / 'bt_genes.bed'} -g {sizes} | "
            f"bedtools getfasta -s -name -fi {plain} -bed - > {work / 'bt2.fa'}",
            shell=True, check=True, capture_output=True)

    cli = Path(sys.executable).parent / "florabert"

    def florabert_cli(genome: Path) -> None:
        subprocess.run([cli, "promoters", "--genome", genome, "--annotation", at.gff, "--out",
                        work / "fb.fa"], check=True, capture_output=True)

    def florabert_lib() -> None:
        write_promoters(extract_promoters(fasta, at.gff).table, work / "lib.parquet")

    runs = {"bedtools flank+getfasta": bedtools,
            "bedtools pipeline from .gz": bedtools_from_gz,
            "florabert CLI (plain FASTA)": lambda: florabert_cli(fasta),
            "florabert CLI (gzip FASTA)": lambda: florabert_cli(at.fasta),
            "florabert library call": florabert_lib}
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            times[name].append(timed(fn))
    base = statistics.median(times["bedtools flank+getfasta"])
    print(f"TAIR10 chr1, {len(genes):,} protein-coding genes, 1 kb upstream, {args.repeats} interleaved runs")
    print(f"{'method':32s} {'median s':>9s} {'speed vs bedtools':>18s}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:32s} {med:9.3f} {base / med:17.2f}x")
    print(f"(output check: florabert .fa sequences identical to bedtools: {_same_seqs(work)})")
    shutil.rmtree(work)


def _same_seqs(work: Path) -> bool:
    def seqs(path: Path) -> list[str]:
        return [ln.upper() for ln in path.read_text().splitlines() if not ln.startswith(">")]

    return seqs(work / "bt.fa") == seqs(work / "fb.fa") == seqs(work / "bt2.fa")


if __name__ == "__main__":
    main()
