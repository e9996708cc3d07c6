"""EBERT synthetic check over many seeds and track shapes: test R² of the channel model (--tracks) and of
the plain model on data whose expression lives only in the tracks (tests/test_tracks.py builds it).

    python benchmarks/check_tracks_synthetic.py [--seeds 0 1 2] [--shapes peak distal plateau states]
    python benchmarks/check_tracks_synthetic.py --write DIR    # one example set for the README's commands

Prints one row per (shape, seed) and the median per shape; the tests assert R² > 0.6 with tracks
(> 0.8 for states) and < 0.1 without.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from florabert.training.finetune import finetune
from test_tracks import build_synthetic, ft_config


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--shapes", nargs="+", default=["peak", "distal", "plateau", "states"])
    ap.add_argument("--genes", type=int, default=240)
    ap.add_argument("--write", type=Path, help="only write one synthetic set (genome.fa, genes.gff3, p.parquet, "
                    "tracks.yaml + bedGraphs, tpm.tsv, data/, pre/ = tokenizer + untrained tiny model) here")
    args = ap.parse_args()
    if args.write:
        args.write.mkdir(parents=True, exist_ok=True)
        build_synthetic(args.write, n=args.genes, shape=args.shapes[0], seed=args.seeds[0])
        print(f"wrote {args.write}")
        return
    quiet = lambda m: None  # noqa: E731
    results: dict[str, list[tuple[float, float]]] = {}
    print("shape\tseed\tR2_tracks\tR2_plain")
    for shape in args.shapes:
        for seed in args.seeds:
            with tempfile.TemporaryDirectory() as tmp:
                root = build_synthetic(Path(tmp), n=args.genes, shape="peak" if shape == "states" else shape,
                                       seed=seed, states=shape == "states")
                t = finetune(root / "pre", root / "data", root / "ebert", ft_config(seed),
                             tracks=root / "tracks.yaml", log=quiet)["test"]["test_r2_all"]
                p = finetune(root / "pre", root / "data", root / "plain", ft_config(seed),
                             log=quiet)["test"]["test_r2_all"]
            results.setdefault(shape, []).append((t, p))
            print(f"{shape}\t{seed}\t{t:.3f}\t{p:.3f}", flush=True)
    print("\nshape\tmedian_R2_tracks\tmin_R2_tracks\tmedian_R2_plain\tmax_R2_plain")
    for shape, rows in results.items():
        t, p = [r[0] for r in rows], [r[1] for r in rows]
        print(f"{shape}\t{statistics.median(t):.3f}\t{min(t):.3f}\t{statistics.median(p):.3f}\t{max(p):.3f}")


if __name__ == "__main__":
    main()
