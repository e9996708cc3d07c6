"""Memory stays bounded where the README promises streaming: peak RSS of `predict --genome` and of `pretrain`
with `streaming: true`, on a planted genome of N genes and of 10 x N genes (same model, same settings).

    python benchmarks/check_memory.py --out bench_out/memory [--genes 2000] [--scale 10]

Bounded means the peak does not grow with the input: the table prints both peaks and their ratio (1.00 =
flat; a reader that loaded everything would grow with the input). Each command runs in a fresh process whose
peak resident set size is read with getrusage.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from check_faults import build_inputs, florabert
from check_planted import build_planted

# runs the command given as arguments in a child and prints the child's peak RSS (KiB on Linux)
PEAK = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def peak_rss(args: list) -> float:
    """Peak RSS in MiB of ``florabert ARGS`` in a fresh process; stops the script when the command fails."""
    res = subprocess.run([sys.executable, "-c", PEAK, sys.executable, "-m", "florabert", *map(str, args)],
                         capture_output=True, text=True)
    code, kib = res.stdout.split()[-2:]
    if int(code):
        sys.exit(f"florabert {' '.join(map(str, args))} failed:\n{res.stderr[-1000:]}")
    return int(kib) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("bench_out/memory"))
    ap.add_argument("--genes", type=int, default=2000)
    ap.add_argument("--scale", type=int, default=10)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    build_inputs(args.out, 120)  # a tiny pre-trained and fine-tuned model (check_faults.py's)
    model, pre = args.out / "inputs" / "ft", args.out / "inputs" / "pre"
    cfg = args.out / "streaming.yaml"
    cfg.write_text("streaming: true\nmax_steps: 40\nsave_steps: 40\neval_steps: 40\nbatch_size: 16\n")
    rows = []
    for n in (args.genes, args.genes * args.scale):
        d = args.out / f"genome_{n}"
        if not (d / "promoters.parquet").exists():
            build_planted(d, genes=n, seed=3)
            res = florabert(["promoters", "--genome", d / "genome.fa", "--annotation", d / "genes.gff3", "--out",
                             d / "promoters.parquet", "--force"])
            if res.returncode:
                sys.exit(res.stderr[-800:])
        size = (d / "genome.fa").stat().st_size / 2**20
        p_rss = peak_rss(["predict", "--model", model, "--genome", d / "genome.fa", "--annotation",
                          d / "genes.gff3", "--out", d / "pred.tsv", "--force"])
        t_rss = peak_rss(["pretrain", "--corpus", d / "promoters.parquet", "--config", cfg, "--init-from", pre,
                          "--out", d / "pre", "--force"])
        rows.append({"genes": n, "genome_mib": round(size, 1), "predict_peak_mib": round(p_rss),
                     "pretrain_streaming_peak_mib": round(t_rss)})
        print(json.dumps(rows[-1]), flush=True)
    (args.out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    small, big = rows
    print("\n| command | genes | genome | peak RSS | genes x" + f"{args.scale} | genome | peak RSS | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for key, name in (("predict_peak_mib", "predict --genome --annotation"),
                      ("pretrain_streaming_peak_mib", "pretrain (streaming: true, 40 steps)")):
        print(f"| {name} | {small['genes']:,} | {small['genome_mib']} MiB | {small[key]} MiB | {big['genes']:,} | "
              f"{big['genome_mib']} MiB | {big[key]} MiB | {big[key] / small[key]:.2f} |")


if __name__ == "__main__":
    main()
