"""How fast florabert answers, this release against an earlier one checked out beside it, in one run.

Each row runs the command line as a user would (start-up and imports included) on the bundled A. thaliana
chromosome 1 and reports the wall time (median of ``--repeats``) and the peak resident memory of the process
(``/usr/bin/time -v``'s maximum RSS):

- ``predict --genome --annotation``: every protein-coding gene of chromosome 1;
- ``explain variants``: 10,000 SNPs drawn at random over the model's windows (promoters, UTRs, introns, coding
  windows), REF from the genome;
- ``explain positional`` and ``explain ism`` with their default options, on the first test genes.

    git worktree add /tmp/previous 6efef92
    python benchmarks/bench_answers.py --model arabidopsis-leaf \\
        --previous /tmp/previous --previous-model demo_previous/finetune [--repeats 3]
    python benchmarks/bench_answers.py --model arabidopsis-leaf   # this release only

The previous release runs from its own source tree (``PYTHONPATH``) with its own model (a model of this release
may carry parts it cannot read). Targets (the answers issue): predict on the genome <= 30 s, 10,000 variants
<= 60 s, positional with defaults <= 60 s, ism >= 2,000 mutants per second, every row under 4 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def snps(genome: Path, annotation: Path, layout_record: dict, n: int, out: Path, seed: int = 0) -> Path:
    """``n`` SNPs at random positions of the genes' windows (the model's layout), as a sorted VCF."""
    from florabert.genome.fasta import iter_fasta
    from florabert.genome.promoters import extract_promoters
    from florabert.layout import Layout

    rng = np.random.default_rng(seed)
    table = extract_promoters(genome, annotation, layout=Layout.from_dict(layout_record)).table
    chrom_of = dict(zip(table.column("gene_id").to_pylist(), table.column("chrom").to_pylist(), strict=True))
    starts, ends = table.column("start").to_pylist(), table.column("end").to_pylist()
    seqs = dict(iter_fasta(genome))
    picks = set()
    genes = table.column("gene_id").to_pylist()
    while len(picks) < n:
        k = int(rng.integers(len(genes)))
        lo, hi = starts[k], ends[k]
        if isinstance(lo, list):  # one start and end per window: a random window of the gene
            w = int(rng.integers(len(lo)))
            lo, hi = lo[w], hi[w]
        pos = int(rng.integers(lo, hi))
        picks.add((chrom_of[genes[k]], pos))
    lines = ["##fileformat=VCFv4.2", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    for i, (chrom, pos) in enumerate(sorted(picks)):
        ref = chr(seqs[chrom][pos]).upper()
        if ref not in "ACGT":
            continue
        alt = "ACGT"[("ACGT".index(ref) + int(rng.integers(1, 4))) % 4]
        lines.append(f"{chrom}\t{pos + 1}\tv{i}\t{ref}\t{alt}\t.\t.\t.")
    out.write_text("\n".join(lines) + "\n")
    return out


def test_promoters(g, model: Path, layout_record: dict, out: Path) -> Path:
    """The model's test genes (its ``test_genes.txt``, in that order) cut from the genome with its layout."""
    if out.exists():
        return out
    from florabert.genome.promoters import extract_promoters, write_promoters
    from florabert.layout import Layout

    genes = (model / "test_genes.txt").read_text().split()
    table = extract_promoters(g.fasta, g.gff, layout=Layout.from_dict(layout_record)).table
    index = {gid: i for i, gid in enumerate(table.column("gene_id").to_pylist())}
    write_promoters(table.take([index[x] for x in genes if x in index]), out)
    return out


def timed(cmd: list[str], env: dict) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (GiB) and the output tail of one command."""
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1)) / 2**20
    return wall, rss, proc.stdout[-400:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="arabidopsis-leaf")
    parser.add_argument("--previous", type=Path, help="source tree of the earlier release (git worktree)")
    parser.add_argument("--previous-model", type=Path, help="a model fine-tuned by the earlier release")
    parser.add_argument("--promoters", type=Path,
                        help="genes for explain positional / ism (a promoter table of the model's layout); "
                             "default: the model's test genes (test_genes.txt of a bundled model)")
    parser.add_argument("--variants", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench_out/answers"))
    args = parser.parse_args()

    from florabert.bundled import resolve_model
    from florabert.genome.cresschrom import bundled_genomes

    g = next(x for x in bundled_genomes() if "thaliana" in x.species)
    args.out.mkdir(parents=True, exist_ok=True)
    model = resolve_model(args.model)
    record = json.loads((model / "config.json").read_text())["promoter_window"]
    vcf = args.out / "snps.vcf"
    if not vcf.exists():
        snps(g.fasta, g.gff, record, args.variants, vcf)
    if args.promoters is None:
        args.promoters = test_promoters(g, model, record, args.out / "test_promoters.parquet")
    here = Path(__file__).resolve().parents[1] / "src"
    releases = [("this release", here, model)]
    if args.previous and args.previous_model:
        releases.append(("previous release", args.previous / "src", args.previous_model))

    def commands(m: Path, tag: str) -> dict[str, list[str]]:
        cli = [sys.executable, "-m", "florabert"]
        o = args.out / tag
        return {"predict, whole genome": [*cli, "predict", "--model", str(m), "--genome", str(g.fasta),
                                          "--annotation", str(g.gff), "--out", str(o / "p.tsv"), "--force"],
                f"explain variants, {args.variants:,} SNPs": [
                    *cli, "explain", "variants", "--model", str(m), "--vcf", str(vcf), "--genome", str(g.fasta),
                    "--annotation", str(g.gff), "--out", str(o / "variants"), "--force"],
                "explain positional, defaults": [*cli, "explain", "positional", "--model", str(m), "--promoters",
                                                 str(args.promoters), "--out", str(o / "positional"), "--force"],
                "explain ism, defaults": [*cli, "explain", "ism", "--model", str(m), "--promoters",
                                          str(args.promoters), "--out", str(o / "ism"), "--force"]}

    results: dict = {}
    for tag, src, m in releases:
        env = {**os.environ, "PYTHONPATH": str(src)}
        (args.out / tag.replace(" ", "_")).mkdir(exist_ok=True)
        for row, cmd in commands(m, tag.replace(" ", "_")).items():
            runs = [timed(cmd, env) for _ in range(args.repeats)]
            wall = statistics.median(r[0] for r in runs)
            extra = ""
            if row.startswith("explain ism"):
                tsv = args.out / tag.replace(" ", "_") / "ism" / "ism.tsv"
                mutants = len(tsv.read_text().splitlines()) - 1
                extra = f"{mutants:,} mutants, {mutants / wall:,.0f} per s"
                s = json.loads((tsv.parent / "ism_summary.json").read_text())
                if "mutants_per_second" in s:  # the run's own rate once started (scoring, tables and figures)
                    extra += f" ({s['mutants_per_second']:,} per s after start-up)"
            if row.startswith("explain positional"):
                s = json.loads((args.out / tag.replace(" ", "_") / "positional" / "summary.json").read_text())
                extra = f"{s['mutants']:,} mutants, {s['mutants'] / wall:,.0f} per s"
            results.setdefault(row, {})[tag] = {"seconds": wall, "peak_gib": max(r[1] for r in runs),
                                                "note": extra}
            print(f"{tag:16s} {row:40s} {wall:7.1f} s  peak {max(r[1] for r in runs):.2f} GiB  {extra}",
                  flush=True)
    lines = ["| command | this release | peak memory | previous release | peak memory | speed-up | note |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for row, by in results.items():
        a, b = by["this release"], by.get("previous release")
        prev = (f"{b['seconds']:.1f} s | {b['peak_gib']:.2f} GiB | {b['seconds'] / a['seconds']:.1f}x" if b
                else " | | ")
        lines.append(f"| {row} | {a['seconds']:.1f} s | {a['peak_gib']:.2f} GiB | {prev} | {a['note']} |")
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
