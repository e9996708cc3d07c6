"""Does the deep path learn sequence? A planted motif, the whole CLI with default options.

Builds a synthetic genome whose genes (both strands) have random 1 kb promoters; half of them carry
CACGTGAC at -60..-53 (TSS coordinates: -1 is the base next to the TSS) and that motif alone raises
ln(TPM + 1) by 2.5 in both tissues; the rest is noise of sd 0.3 around 2.0, so a perfect model reaches
R² = 1.5625 / (1.5625 + 0.09) = 0.945. Then runs, as a user would, with default options:

    florabert promoters --genome genome.fa --annotation genes.gff3 --out promoters.parquet
    florabert tokenizer train --corpus promoters.parquet --kind KIND [--vocab-size 1000] --out tok
    florabert pretrain --corpus promoters.parquet --tokenizer tok --preset tiny --max-steps 100 --out pre
    florabert expression --tpm tpm.tsv --promoters promoters.parquet --families families.tsv --out data
    florabert finetune --model pre --data data --out ft [--config wide_off.yaml]
    florabert explain positional --model ft --promoters test.parquet --out explain

and prints the test R², the importance peak, and whether both pass (R² >= 0.85, peak inside -60..-53).

    python benchmarks/check_planted.py --out bench_out/planted [--kinds bpe kmer nucleotide] [--wide on off]
        [--genes 2000] [--seed 0] [--motif CACGTGAC] [--position -60] [--effect 2.5]
        [--pretrain-args "..."] [--finetune-args "..."]

``--motif/--position/--effect`` build other planted sets (another motif, elsewhere, weaker) to check that the
defaults are not tuned to this one.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MOTIF, MOTIF_START, EFFECT, NOISE, BASE = "CACGTGAC", -60, 2.5, 0.3, 2.0
UPSTREAM, GENE, SPACING = 1000, 400, 2000
COMPLEMENT = str.maketrans("ACGT", "TGCA")


def revcomp(s: str) -> str:
    return s.translate(COMPLEMENT)[::-1]


def build_planted(out: Path, *, genes: int = 2000, seed: int = 0, motif: str = MOTIF, start: int = MOTIF_START,
                  effect: float = EFFECT) -> dict:
    """Write genome.fa, genes.gff3, tpm.tsv (leaf, root), families.tsv (every gene its own family) into
    ``out``; returns {gene_id: carries the motif}. Genes alternate strands; a promoter is the UPSTREAM bases
    5' of the TSS on the gene's strand, its bases drawn with A. thaliana-like composition (A/T 0.32, C/G
    0.18); the motif sits at ``start`` .. ``start + len(motif) - 1`` of carriers, and no non-carrier has it
    there (nor anywhere in its promoter)."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    probs = [0.32, 0.18, 0.18, 0.32]
    chrom, gff, tpm, carriers = [], ["##gff-version 3"], ["gene_id\tleaf\troot"], {}
    pos = 0
    for i in range(genes):
        gid = f"PL{i:05d}"
        has = i % 2 == 0  # exactly half, on both strands
        while True:
            promoter = "".join(rng.choice(list("ACGT"), UPSTREAM, p=probs))
            if motif not in promoter and revcomp(motif) not in promoter:
                break
        if has:
            k = UPSTREAM + start
            promoter = promoter[:k] + motif + promoter[k + len(motif):]
        body = "".join(rng.choice(list("ACGT"), GENE, p=probs))
        spacer = "".join(rng.choice(list("ACGT"), SPACING - UPSTREAM - GENE, p=probs))
        strand = "+" if i % 4 < 2 else "-"
        if strand == "+":  # promoter then gene, 5'->3' on +
            block = spacer + promoter + body
            g_start = pos + len(spacer) + UPSTREAM  # 0-based first base of the gene
        else:  # on -, the gene's 5' end is on the right: (gene body, promoter) reverse-complemented
            block = spacer + revcomp(promoter + body)
            g_start = pos + len(spacer)
        gff.append(f"chr1\tplanted\tgene\t{g_start + 1}\t{g_start + GENE}\t.\t{strand}\t.\t"
                   f"ID=gene-{gid};locus_tag={gid};gene_biotype=protein_coding")
        chrom.append(block)
        pos += len(block)
        y = BASE + effect * has + rng.normal(0, NOISE, 2)
        leaf, root = np.exp(y) - 1
        tpm.append(f"{gid}\t{max(leaf, 0):.6f}\t{max(root, 0):.6f}")
        carriers[gid] = has
    chrom.append("".join(rng.choice(list("ACGT"), SPACING, p=probs)))
    seq = "".join(chrom)
    with open(out / "genome.fa", "w") as fh:
        fh.write(">chr1\n")
        for k in range(0, len(seq), 80):
            fh.write(seq[k:k + 80] + "\n")
    (out / "genes.gff3").write_text("\n".join(gff) + "\n")
    (out / "tpm.tsv").write_text("\n".join(tpm) + "\n")
    (out / "families.tsv").write_text("gene_id\tfamily_id\n" + "".join(f"{g}\t{g}\n" for g in carriers))
    return carriers


def florabert(*args, log=None) -> float:
    """Run the CLI (this Python's florabert); returns its wall time; stops the script on an error."""
    cmd = [sys.executable, "-m", "florabert", *map(str, args)]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    if log is not None:
        log.write(f"$ {shlex.join(cmd[2:])}\n{res.stdout}{res.stderr}\n")
        log.flush()
    if res.returncode != 0:
        sys.exit(f"failed: {shlex.join(cmd[2:])}\n{res.stderr[-2000:]}")
    return time.perf_counter() - t0


def run_chain(root: Path, kind: str, wide: bool, *, pretrain_args: str = "", finetune_args: str = "",
              explain: bool = True, log=None, motif: str = MOTIF, start: int = MOTIF_START) -> dict:
    """The CLI chain on the set in ``root`` for one tokenizer kind; returns R², peak and timings."""
    run = root / f"{kind}-{'wide' if wide else 'deep'}"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    times = {}
    if not (root / "promoters.parquet").exists():
        times["promoters"] = florabert("promoters", "--genome", root / "genome.fa", "--annotation",
                                       root / "genes.gff3", "--out", root / "promoters.parquet", log=log)
        florabert("expression", "--tpm", root / "tpm.tsv", "--promoters", root / "promoters.parquet",
                  "--families", root / "families.tsv", "--out", root / "data", log=log)
    tok_args = {"bpe": ["--kind", "bpe", "--vocab-size", "1000"], "kmer": ["--kind", "kmer", "--k", "6"],
                "kmer1": ["--kind", "kmer", "--k", "6", "--stride", "1"], "nucleotide": ["--kind", "nucleotide"]}
    times["tokenizer"] = florabert("tokenizer", "train", "--corpus", root / "promoters.parquet", *tok_args[kind],
                                   "--out", run / "tok", log=log)
    times["pretrain"] = florabert("pretrain", "--corpus", root / "promoters.parquet", "--tokenizer", run / "tok",
                                  "--preset", "tiny", "--max-steps", "100", *shlex.split(pretrain_args),
                                  "--out", run / "pre", log=log)
    extra = []
    if not wide:
        (run / "deep_only.yaml").write_text("wide_kmers: []\nwide_gene_model: false\nwide_motifs: false\n")
        extra = ["--config", run / "deep_only.yaml"]
    times["finetune"] = florabert("finetune", "--model", run / "pre", "--data", root / "data", "--out", run / "ft",
                                  *extra, *shlex.split(finetune_args), log=log)
    metrics = json.loads((run / "ft" / "metrics.json").read_text())
    pre = json.loads((run / "pre" / "metrics.json").read_text())
    result = {"kind": kind, "wide": wide, "test_r2": metrics["test"]["test_r2_all"],
              "steps": metrics["steps"], "mlm_loss": pre["metrics"]["eval_loss"],
              "wide_r2": (metrics.get("wide") or {}).get("validation_r2"), "times": times}
    if explain:
        import pyarrow.parquet as pq

        lines = (root / "data" / "split.tsv").read_text().split("\n")[1:]
        split = dict(line.split("\t") for line in lines if line)
        table = pq.read_table(root / "promoters.parquet")
        test = [i for i, g in enumerate(table.column("gene_id").to_pylist()) if split.get(g) == "test"]
        pq.write_table(table.take(test), run / "test_promoters.parquet")
        times["explain"] = florabert("explain", "positional", "--model", run / "ft", "--promoters",
                                     run / "test_promoters.parquet", "--out", run / "explain", log=log)
        summary = json.loads((run / "explain" / "summary.json").read_text())
        peaks = {int(k): v for k, v in summary["peak_position"].items()}
        result["peaks"] = peaks
        lo, hi = start, start + len(motif) - 1
        # an L-mer starting at p covers p .. p+L-1: it hits the motif when it overlaps -60..-53
        result["peak_on_motif"] = all(v is not None and lo - int(k) + 1 <= int(v) <= hi for k, v in peaks.items())
    result["pass"] = result["test_r2"] >= 0.85 and result.get("peak_on_motif", True)
    return result


# The diagnosis grid: (label, pre-trained model kind, fine-tuning options). Every run fine-tunes for a fixed
# number of steps without early stopping, so the curves show when (and whether) the motif is learned.
FLORABERT = {"optimizer": "lamb", "learning_rate": 1e-2, "layer_lr_factor": 0.5, "unfreeze_every": 400,
             "unfreeze_layers": 2, "freeze_embeddings": True, "head_pooling": "mean"}
MEAN = {"head_pooling": "mean"}
DIAGNOSIS = [
    ("tokens: FloraBERT recipe (LAMB 1e-2, head alone for 400 steps, frozen embeddings, mean pooling) [old "
     "default]", "tokens", FLORABERT),
    ("tokens: LAMB 1e-2, every layer from step 0, frozen embeddings, mean pooling", "tokens",
     {**FLORABERT, "unfreeze_every": 0}),
    ("tokens: AdamW 1e-3, every layer from step 0, frozen embeddings, mean pooling", "tokens",
     {**MEAN, "freeze_embeddings": True}),
    ("tokens: AdamW 1e-3, every layer and the embeddings from step 0, mean pooling", "tokens", MEAN),
    ("tokens: the same, attention pooling", "tokens", {"head_pooling": "attention"}),
    ("tokens: the same, mean pooling, random init (no pre-training)", "tokens-random", MEAN),
    ("stem: FloraBERT recipe (mean + max pooling)", "stem", {**FLORABERT, "head_pooling": "meanmax"}),
    ("stem: AdamW, every layer from step 0, mean pooling", "stem", MEAN),
    ("stem: AdamW, every layer from step 0, mean + max pooling [new default]", "stem", {}),
    ("stem: new default, random init (no pre-training)", "stem-random", {}),
    ("tokens: AdamW, every layer from step 0, mean + max pooling [--architecture tokens]", "tokens", {}),
]


def diagnose(root: Path, out: Path, steps: int, only: list[int] | None = None) -> list[dict]:
    """Fine-tune every variant of :data:`DIAGNOSIS` for ``steps`` steps (no early stopping; wide path off) on the
    planted set in ``root``; returns validation R² per 100 steps and the final test R²."""
    import csv

    import torch

    from florabert.config import FinetuneConfig, PretrainConfig, load_config
    from florabert.modeling import FloraBertConfig, FloraBertForMaskedLM
    from florabert.tokenization import DNATokenizer, train_tokenizer
    from florabert.training.finetune import finetune
    from florabert.training.pretrain import pretrain

    quiet = lambda m: None  # noqa: E731
    corpus = root / "promoters.parquet"
    models = {}
    for kind in ("tokens", "stem"):
        pre = out / f"pre-{kind}"
        if not (pre / "model.safetensors").exists():
            if kind == "tokens" and not (out / "tok_bpe" / "tokenizer.json").exists():
                train_tokenizer(corpus, kind="bpe", vocab_size=1000, show_progress=False).save(out / "tok_bpe")
            cfg = load_config(PretrainConfig, preset="tiny",
                              overrides={"max_steps": 100, "model.architecture": kind})
            pretrain(corpus, out / "tok_bpe" if kind == "tokens" else None, pre, cfg, log=quiet)
        models[kind] = pre
        rand = out / f"pre-{kind}-random"
        if not (rand / "model.safetensors").exists():
            torch.manual_seed(0)
            FloraBertForMaskedLM(FloraBertConfig.from_pretrained(pre)).save_pretrained(rand)
            DNATokenizer.load(pre).write_files(rand)
        models[f"{kind}-random"] = rand
    rows = []
    for i, (label, kind, options) in enumerate(DIAGNOSIS):
        if only and i not in only:
            continue
        run = out / f"diag{i}"
        cfg = load_config(FinetuneConfig, overrides={
            "max_steps": steps, "eval_steps": 100, "early_stopping_patience": 10_000, "wide_kmers": [], **options})
        t0 = time.perf_counter()
        metrics = finetune(models[kind], root / "data", run, cfg, log=quiet, force=True)
        seconds = time.perf_counter() - t0
        with open(run / "logs" / "log.csv") as fh:
            curve = {int(r["step"]): float(r["eval_r2_all"]) for r in csv.DictReader(fh) if r.get("eval_r2_all")}
        rows.append({"label": label, "curve": curve, "test_r2": metrics["test"]["test_r2_all"],
                     "best_step": metrics["best_checkpoint"], "seconds": seconds})
        marks = "  ".join(f"{s}:{curve[s]:+.2f}" for s in sorted(curve) if s % 200 == 0)
        print(f"{label}\n    test R² {rows[-1]['test_r2']:.3f} ({seconds:.0f} s); validation R² by step {marks}",
              flush=True)
    (out / "diagnosis.json").write_text(json.dumps(rows, indent=2) + "\n")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("bench_out/planted"))
    ap.add_argument("--kinds", nargs="+", default=["bpe", "kmer", "nucleotide"],
                    choices=["bpe", "kmer", "kmer1", "nucleotide"], help="tokenizer kinds (kmer1: overlapping)")
    ap.add_argument("--wide", nargs="+", default=["on", "off"], choices=["on", "off"])
    ap.add_argument("--genes", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--motif", default=MOTIF, help="the planted motif")
    ap.add_argument("--position", type=int, default=MOTIF_START, help="its first base (TSS coordinates, -1 is "
                    "the base next to the TSS)")
    ap.add_argument("--effect", type=float, default=EFFECT, help="its effect on ln(TPM + 1)")
    ap.add_argument("--no-explain", action="store_true")
    ap.add_argument("--diagnose", type=int, metavar="STEPS", help="instead of the CLI chain: fine-tune the "
                    "diagnosis grid (recipes x architectures) for STEPS steps each and print the curves")
    ap.add_argument("--only", type=int, nargs="+", help="with --diagnose: only these rows (0-based)")
    ap.add_argument("--pretrain-args", default="", help="extra pretrain options (e.g. '--architecture tokens')")
    ap.add_argument("--finetune-args", default="", help="extra options for finetune (e.g. '--recipe florabert')")
    args = ap.parse_args()
    if not -UPSTREAM <= args.position <= -len(args.motif) or set(args.motif) - set("ACGT"):
        ap.error(f"--motif must be ACGT and fit in the {UPSTREAM}-base promoter (--position -{UPSTREAM}.."
                 f"-{len(args.motif)})")
    custom = (args.motif, args.position, args.effect) != (MOTIF, MOTIF_START, EFFECT)
    root = args.out / (f"set{args.seed}-{args.genes}"
                       + (f"-{args.motif}{args.position}x{args.effect:g}" if custom else ""))
    if not (root / "genes.gff3").exists():
        build_planted(root, genes=args.genes, seed=args.seed, motif=args.motif, start=args.position,
                      effect=args.effect)
    ceiling = args.effect ** 2 / 4 / (args.effect ** 2 / 4 + NOISE ** 2)
    print(f"planted set {root}: {args.motif} at {args.position}..{args.position + len(args.motif) - 1}, effect "
          f"{args.effect:g}, noise sd {NOISE}: a perfect model reaches R² {ceiling:.3f}", flush=True)
    if args.diagnose:
        if not (root / "data" / "dataset.parquet").exists():
            florabert("promoters", "--genome", root / "genome.fa", "--annotation", root / "genes.gff3", "--out",
                      root / "promoters.parquet")
            florabert("expression", "--tpm", root / "tpm.tsv", "--promoters", root / "promoters.parquet",
                      "--families", root / "families.tsv", "--out", root / "data")
        diagnose(root, args.out / "diagnosis", args.diagnose, args.only)
        return
    rows = []
    with open(args.out / "commands.log", "a") as log:
        for kind in args.kinds:
            for wide in args.wide:
                r = run_chain(root, kind, wide == "on", pretrain_args=args.pretrain_args,
                              finetune_args=args.finetune_args, explain=not args.no_explain, log=log,
                              motif=args.motif, start=args.position)
                rows.append(r)
                t = r["times"]
                print(f"{kind:10s} wide {wide:3s}  test R² {r['test_r2']:.3f}  steps {r['steps']}  MLM loss "
                      f"{r['mlm_loss']:.3f}  peak {r.get('peaks')}  {'PASS' if r['pass'] else 'FAIL'}  "
                      f"(pretrain {t['pretrain']:.0f} s, finetune {t['finetune']:.0f} s, explain "
                      f"{t.get('explain', 0):.0f} s)", flush=True)
    (args.out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"{sum(r['pass'] for r in rows)}/{len(rows)} pass (R² >= 0.85 and the importance peak on the motif)")


if __name__ == "__main__":
    main()
