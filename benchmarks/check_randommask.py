"""Does RandomMask help on plant tasks? The masking ablation of "Rethinking the BERT-like Pretraining for DNA
Sequences", CPU-sized, on the bundled genomes.

The same tiny model is pre-trained on the same corpus (the 100 bases around every TSS of A. thaliana chr1 and
A. arenosa chr1-2: tss:-80:+20) with the same step budget under

- ``bert``: 15 % of tokens, one at a time;
- ``span``: fixed 6-token spans;
- ``randommask``: the curriculum (5 phases, spans 6, 8, 10, ... tokens);

for each tokenizer (overlapping 6-mers, stride 1, where the paper says plain masking leaks; non-overlapping
6-mers; BPE-512 with ``--tokenizers kmer6_overlap,kmer6,bpe``), then fine-tuned (same recipe: AdamW 3e-3, all
layers unfrozen from 1/6 of the run, same steps) on each task ``florabert tasks`` builds from
A. thaliana chr1 (``promoter``: TSS windows vs GC-matched background; ``splice``: donor / acceptor / none;
``expression``: top vs bottom third of leaf expression on the corpus's tss:-80:+20 windows),
split by paralog family. Prints test MCC mean ± sd over the seeds per (tokenizer, masking, task), with the
k-mer logistic-regression baseline on the same split, and writes ``results.json``, ``report.html`` (table and
pre-training loss curves with the RandomMask phase boundaries).

    python benchmarks/check_randommask.py --out bench_out/randommask [--seeds 3] [--steps 200]
        [--finetune-steps 400] [--tokenizers kmer6_overlap,kmer6,bpe] [--maskings bert,span,randommask]
        [--max-examples 2000]

Pre-trained models, tasks and finished fine-tuning runs (``results.json``) are kept in ``--out``: a rerun
adds only what is missing (delete ``results.json`` to fine-tune again).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import time
from pathlib import Path

import numpy as np

LAYOUT = "tss:-80:+20"
LENGTH = 100  # task windows (bases)
TOKENIZERS = {"kmer6_overlap": {"kind": "kmer", "k": 6, "stride": 1},
              "kmer6": {"kind": "kmer", "k": 6, "stride": 6}, "bpe": {"kind": "bpe", "vocab_size": 512}}
MASKINGS = {"bert": {"strategy": "bert"}, "span": {"strategy": "span", "span": 6},
            "randommask": {"strategy": "randommask", "phases": 5, "span_start": 6, "span_step": 2}}


def corpus_and_tasks(out: Path, max_examples: int, names: list[str], log) -> dict:
    from florabert import bundled
    from florabert.data.tasks import build_task
    from florabert.demo import A_THALIANA, write_demo_manifest
    from florabert.genome.corpus import build_corpus, corpus_files
    from florabert.genome.cresschrom import bundled_genomes

    corpus = out / "corpus"
    if not (corpus / "manifest.json").exists():
        build_corpus(write_demo_manifest(out / "genomes.yaml"), corpus, workers=2, layout=LAYOUT, log=log)
    at = next(g for g in bundled_genomes() if g.species == A_THALIANA)
    tasks = {}
    for task in names:
        d = out / "tasks" / task
        if not (d / "dataset.parquet").exists():
            build_task(task, d, genome=at.fasta, annotation=at.gff, length=LENGTH, max_examples=max_examples,
                       tpm=bundled.path("arabidopsis_leaf_tpm_train.tsv"),
                       promoters=corpus_files(corpus, [A_THALIANA])[0],  # the same tss:-80:+20 windows
                       families=bundled.path("arabidopsis_chr1_families.tsv"), log=log)
        tasks[task] = d
    return {"corpus": corpus, "tasks": tasks}


def tokenizer(out: Path, name: str, corpus: Path) -> Path:
    from florabert.tokenization import train_tokenizer

    d = out / "tokenizers" / name
    if not (d / "tokenizer.json").exists():
        spec = dict(TOKENIZERS[name])
        train_tokenizer(corpus if spec["kind"] == "bpe" else None, model_max_length=128, **spec).save(d)
    return d


def pretrained(out: Path, tok: str, masking: str, seed: int, steps: int, corpus: Path, log) -> Path:
    from florabert.config import PretrainConfig, load_config
    from florabert.training.pretrain import pretrain

    d = out / "pretrain" / f"{tok}-{masking}-s{seed}"
    if (d / "model.safetensors").exists():
        return d
    m = MASKINGS[masking]
    cfg = load_config(PretrainConfig, preset="tiny", overrides={
        "max_steps": steps, "eval_steps": steps, "save_steps": steps, "logging_steps": max(steps // 20, 1),
        "model.architecture": "tokens", "model.max_length": 128, "seed": seed, "warmup_steps": max(steps // 10, 1),
        **{f"masking.{k}": v for k, v in m.items()}})
    t0 = time.perf_counter()
    pretrain(corpus, tokenizer(out, tok, corpus), d, cfg, log=lambda s: None)
    log(f"  pre-trained {d.name} in {time.perf_counter() - t0:.0f} s")
    return d


def finetune_mcc(model: Path, task: Path, out: Path, steps: int, seed: int) -> float:
    from florabert.config import FinetuneConfig, load_config
    from florabert.data.dataset import load_expression_dataset
    from florabert.evaluation.metrics import class_metrics
    from florabert.predict import Predictor
    from florabert.training.finetune import finetune

    cfg = load_config(FinetuneConfig, overrides={
        "problem": "classification", "max_steps": steps, "eval_steps": max(steps // 4, 1),
        "unfreeze_every": max(steps // 6, 1), "unfreeze_layers": 2, "freeze_embeddings": False,
        "layer_lr_factor": 1.0,
        "optimizer": "adamw", "learning_rate": 3e-3, "warmup_steps": max(steps // 10, 1), "batch_size": 32,
        "early_stopping_patience": 100, "seed": seed, "wide_kmers": [], "wide_gene_model": False,
        "head_pooling": "mean"})
    finetune(model, task, out, cfg, log=lambda s: None, force=True)
    data = load_expression_dataset(task)
    test = data.part("test")
    logits = Predictor(out).predict(test.column("sequence").to_pylist()).astype(np.float64)
    proba = np.exp(logits - logits.max(1, keepdims=True))
    return class_metrics(data.labels("test")[:, 0], proba / proba.sum(1, keepdims=True))["mcc"]


def baseline_mcc(task: Path) -> float:
    from florabert.data.dataset import load_expression_dataset
    from florabert.evaluation.baselines import KmerLogistic
    from florabert.evaluation.metrics import class_metrics

    data = load_expression_dataset(task)
    tr, te = data.part("train"), data.part("test")
    p = KmerLogistic().fit(tr.column("sequence").to_pylist(), data.labels("train")[:, 0])
    return class_metrics(data.labels("test")[:, 0], p.predict_proba(te.column("sequence").to_pylist()))["mcc"]


def loss_curves(out: Path, results: list[dict], steps: int) -> Path:
    """Held-out-free view of pre-training: training MLM loss per step, one panel per tokenizer, one line per
    masking (seed 0), RandomMask's phase boundaries dashed."""
    from florabert.plotting import pyplot

    plt = pyplot()
    toks = sorted({r["tokenizer"] for r in results})
    fig, axes = plt.subplots(1, len(toks), figsize=(4.5 * len(toks), 3.6), squeeze=False)
    for ax, tok in zip(axes[0], toks, strict=True):
        for masking in MASKINGS:
            log = out / "pretrain" / f"{tok}-{masking}-s0" / "logs" / "log.csv"
            if not log.exists():
                continue
            with open(log, newline="") as fh:
                pts = [(float(r["step"]), float(r["loss"])) for r in csv.DictReader(fh) if r.get("loss")]
            if pts:
                ax.plot(*zip(*pts, strict=True), label=masking)
        for k in range(1, MASKINGS["randommask"]["phases"]):
            ax.axvline(steps * k / MASKINGS["randommask"]["phases"], color="grey", ls="--", lw=0.6)
        ax.set_title(tok)
        ax.set_xlabel("step")
        ax.set_ylabel("MLM training loss (nats)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / "pretrain_loss.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def phase_losses(out: Path, tok: str, masking: str, steps: int, phases: int = 5) -> list[float]:
    """Mean MLM training loss within each fifth of the run (RandomMask's phases), seed 0."""
    log = out / "pretrain" / f"{tok}-{masking}-s0" / "logs" / "log.csv"
    if not log.exists():
        return []
    with open(log, newline="") as fh:
        pts = [(float(r["step"]), float(r["loss"])) for r in csv.DictReader(fh) if r.get("loss")]
    return [float(np.mean([v for s, v in pts if k * steps / phases < s <= (k + 1) * steps / phases] or [np.nan]))
            for k in range(phases)]


def report(out: Path, args, results: list[dict], base: dict, tasks: list[str], seconds: float) -> None:
    """Print the MCC table and per-phase losses; write results.json, pretrain_loss.png and report.html."""
    from florabert.htmlreport import Section, write_report

    toks = list(dict.fromkeys(r["tokenizer"] for r in results))
    masks = list(dict.fromkeys(r["masking"] for r in results))
    table = []
    for tok in toks:
        for masking in masks:
            row = {"tokenizer": tok, "masking": masking}
            for task in tasks:
                v = [r["mcc"] for r in results
                     if (r["tokenizer"], r["masking"], r["task"]) == (tok, masking, task)]
                row[task] = (statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0, len(v))
            table.append(row)
    print(f"\ntest MCC, mean ± sd over seeds ({args.steps} pre-training and {args.finetune_steps} fine-tuning "
          f"steps; {seconds:.0f} s in all)")
    print(f"{'tokenizer':14s} {'masking':10s} " + " ".join(f"{t:>16s}" for t in tasks))
    for row in table:
        print(f"{row['tokenizer']:14s} {row['masking']:10s} "
              + " ".join(f"{row[t][0]:+8.3f} ± {row[t][1]:.3f}" for t in tasks))
    print(f"{'k-mer logistic':25s} " + " ".join(f"{base[t]:+8.3f}        " for t in tasks))
    phase = {f"{tok}/{m}": phase_losses(out, tok, m, args.steps) for tok in toks for m in masks}
    print("\nmean MLM training loss per fifth of the run (RandomMask's phases), seed 0:")
    for key, vals in phase.items():
        print(f"  {key:26s} " + " ".join(f"{v:.3f}" for v in vals))
    (out / "results.json").write_text(json.dumps({"settings": {k: str(v) for k, v in vars(args).items()},
                                                  "runs": results, "baseline_kmer_logistic": base,
                                                  "phase_losses": phase}, indent=2))
    png = loss_curves(out, results, args.steps)
    rows = [[r["tokenizer"], r["masking"], *(f"{r[t][0]:+.3f} ± {r[t][1]:.3f}" for t in tasks)] for r in table]
    rows.append(["k-mer logistic", "-", *(f"{base[t]:+.3f}" for t in tasks)])
    write_report(out, "RandomMask on plant tasks (CPU-sized)", [Section(
        "Test MCC", [f"Mean ± sd over seeds; {args.steps} pre-training steps of the tiny model on "
                     f"{LAYOUT} windows of the bundled genomes; {args.finetune_steps} fine-tuning steps; tasks of "
                     f"{LENGTH}-bp windows from A. thaliana chr1, split by paralog family."],
        tables=[(["tokenizer", "masking", *tasks], rows),
                (["model", *(f"phase {k + 1}" for k in range(5))],
                 [[k, *(f"{v:.3f}" for v in vals)] for k, vals in phase.items()])],
        figures=[(png, "MLM training loss per step (seed 0); dashed: RandomMask phase boundaries")])])
    print(f"-> {out}/results.json, report.html")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("bench_out/randommask"))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=200, help="pre-training steps per model")
    ap.add_argument("--finetune-steps", type=int, default=400)
    ap.add_argument("--tokenizers", default="kmer6_overlap,kmer6", help=f"of {', '.join(TOKENIZERS)}")
    ap.add_argument("--maskings", default=",".join(MASKINGS))
    ap.add_argument("--max-examples", type=int, default=2000, help="examples per task (random subset)")
    ap.add_argument("--tasks", default="promoter,splice,expression")
    ap.add_argument("--report-only", action="store_true", help="rebuild the table and report from results.json")
    args = ap.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if args.report_only:
        saved = json.loads((out / "results.json").read_text())
        tasks = list(dict.fromkeys(r["task"] for r in saved["runs"]))
        report(out, args, saved["runs"], saved["baseline_kmer_logistic"], tasks, 0.0)
        return
    made = corpus_and_tasks(out, args.max_examples, args.tasks.split(","), print)
    base = {task: baseline_mcc(d) for task, d in made["tasks"].items()}
    done = json.loads((out / "results.json").read_text())["runs"] if (out / "results.json").exists() else []
    results = [r for r in done if r["task"] in made["tasks"]]  # finished (model, task) runs are kept
    print("k-mer logistic regression (same split): " + ", ".join(f"{t} MCC {v:.3f}" for t, v in base.items()))
    for tok in args.tokenizers.split(","):
        for masking in args.maskings.split(","):
            for seed in range(args.seeds):
                model = pretrained(out, tok, masking, seed, args.steps, made["corpus"], print)
                for task, d in made["tasks"].items():
                    if any((r["tokenizer"], r["masking"], r["seed"], r["task"]) == (tok, masking, seed, task)
                           for r in results):
                        continue
                    mcc = finetune_mcc(model, d, out / "finetune" / f"{model.name}-{task}", args.finetune_steps,
                                       seed)
                    results.append({"tokenizer": tok, "masking": masking, "seed": seed, "task": task, "mcc": mcc})
                    print(f"  {tok:14s} {masking:10s} seed {seed} {task:8s} MCC {mcc:+.3f}", flush=True)
                    (out / "results.json").write_text(json.dumps({"runs": results,  # kept as it goes
                                                                  "baseline_kmer_logistic": base}))
    report(out, args, results, base, list(made["tasks"]), time.perf_counter() - t0)


if __name__ == "__main__":
    main()
