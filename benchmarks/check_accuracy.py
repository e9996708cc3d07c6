"""Accuracy ablation on the bundled data: which layout and which model parts predict leaf expression of genes
never seen in training.

Everything is fitted on the training part of a paralog-family split of the bundled training genes (the
project's own held-back genes are not in the bundle) and scored on its test part (R² over all cells, Pearson r;
mean ± sd over seeds, and the 95 % bootstrap CI over genes of the first seed):

- FloraBERT's input (the 150 bases before the TSS, 3-mer tokens) vs the gene-structure layout;
- the transformer alone (``wide_kmers: []``), the wide path alone (ridge on the composition features, the
  state fine-tuning starts from), and both (the default);
- pre-trained (stage 1 on both genomes, stage 2 on A. thaliana) vs randomly initialised;
- the k-mer baselines of ``florabert evaluate`` reading the same windows.

    python benchmarks/check_accuracy.py --out bench_out/accuracy [--seeds 3] [--steps 600] [--quick]

Stages are cached in ``--out`` (corpora, pre-trained models); fine-tuning reruns every time.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from florabert import demo  # the demo's settings: its model is the "[demo]" row

GENE_LAYOUT, PROMOTER_LAYOUT, TOKENS = demo.DEMO_LAYOUT, demo.PROMOTER_LAYOUT, demo.DEMO_TOKENS


def build(out: Path, layout: str, quick: bool, log) -> dict:
    """Corpus, tokenizer, stage-1/2 pre-training and the expression dataset for one layout (cached)."""
    from florabert import bundled
    from florabert.config import PretrainConfig, load_config
    from florabert.data.dataset import build_expression_dataset
    from florabert.demo import A_THALIANA, write_demo_manifest
    from florabert.genome.corpus import build_corpus, corpus_files
    from florabert.tokenization import train_tokenizer
    from florabert.training.pretrain import pretrain

    out.mkdir(parents=True, exist_ok=True)
    paths = {k: out / k for k in ("corpus", "tokenizer", "stage1", "stage2", "data")}
    if not (paths["corpus"] / "manifest.json").exists():
        build_corpus(write_demo_manifest(out / "genomes.yaml"), paths["corpus"], workers=2, layout=layout,
                     log=log)
    if not (paths["tokenizer"] / "tokenizer.json").exists():
        train_tokenizer(None, kind="kmer", k=3, stride=3).save(paths["tokenizer"])
    steps1, steps2 = (60, 20) if quick else demo.DEMO_PRETRAIN_STEPS
    for name, steps, extra, kw in (("stage1", steps1, {}, {}),
                                   ("stage2", steps2, {"learning_rate": 5e-4, "warmup_steps": 10},
                                    {"init_from": paths["stage1"], "species": [A_THALIANA]})):
        if not (paths[name] / "model.safetensors").exists():
            cfg = load_config(PretrainConfig, preset="tiny", overrides={
                "max_steps": steps, "eval_steps": steps, "save_steps": steps, "model.max_length": TOKENS,
                **extra})
            pretrain(paths["corpus"], paths["tokenizer"], paths[name], cfg, log=log, **kw)
    if not (paths["data"] / "dataset.parquet").exists():
        build_expression_dataset(bundled.path("arabidopsis_leaf_tpm_train.tsv"),
                                 corpus_files(paths["corpus"], [A_THALIANA])[0], paths["data"],
                                 families=bundled.path("arabidopsis_chr1_families.tsv"), log=log)
    return paths


def random_init(paths: dict, out: Path) -> Path:
    """A model with the stage-2 model's configuration and fresh weights (no pre-training)."""
    import torch

    from florabert.modeling import FloraBertConfig, FloraBertForMaskedLM
    from florabert.tokenization import DNATokenizer

    if not (out / "model.safetensors").exists():
        torch.manual_seed(0)
        FloraBertForMaskedLM(FloraBertConfig.from_pretrained(paths["stage2"])).save_pretrained(out)
        DNATokenizer.load(paths["stage2"]).write_files(out)
    return out


def score_all(y, y_hat, targets, bootstrap: int = 0) -> dict:
    from florabert.evaluation.metrics import score

    return next(r for r in score(y, np.asarray(y_hat), targets, offset=1.0, bootstrap=bootstrap)
                if r["tissue"] == "All")


def run_finetune(model_dir, data_dir, out: Path, seed: int, steps: int, wide: bool
                 ) -> tuple[np.ndarray, float]:
    """Fine-tune and return the test genes' predictions and the wall time."""
    import shutil

    from florabert.config import FinetuneConfig, load_config
    from florabert.data.dataset import load_expression_dataset
    from florabert.predict import Predictor
    from florabert.training.finetune import finetune

    shutil.rmtree(out, ignore_errors=True)
    cfg = load_config(FinetuneConfig, overrides={
        "max_steps": steps, "eval_steps": max(steps // 4, 1), "unfreeze_every": max(steps // 3, 1), "seed": seed,
        **demo.DEMO_FINETUNE, **({} if wide else {"wide_kmers": []})})
    t0 = time.perf_counter()
    finetune(model_dir, data_dir, out, cfg, log=lambda m: None)
    seconds = time.perf_counter() - t0
    test = load_expression_dataset(data_dir).part("test")
    return Predictor(out).predict(test.column("sequence").to_pylist()), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench_out/accuracy"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=demo.DEMO_FINETUNE_STEPS, help="fine-tuning steps")
    parser.add_argument("--quick", action="store_true", help="short pre-training (a smoke test)")
    parser.add_argument("--baselines", default="kmer_linear,kmer_lgbm",
                        help="evaluate baselines to run on both layouts (kmer_lgbm takes ~5 min)")
    parser.add_argument("--only", default="", help="run only the fine-tuning variants whose name has this text")
    args = parser.parse_args()

    from florabert.data.dataset import load_expression_dataset
    from florabert.evaluation.baselines import make_baseline
    from florabert.features import window_features

    log = lambda m: None  # noqa: E731
    t_all = time.perf_counter()
    gene = build(args.out / "gene_structure", GENE_LAYOUT, args.quick, log)
    prom = build(args.out / "promoter", PROMOTER_LAYOUT, args.quick, log)
    data = load_expression_dataset(gene["data"])
    test_genes = data.part("test").column("gene_id").to_pylist()
    assert load_expression_dataset(prom["data"]).part("test").column("gene_id").to_pylist() == test_genes
    y_te = data.labels("test")
    print(f"{len(data.part('train')):,} training, {len(data.part('validation')):,} validation and "
          f"{len(test_genes):,} test genes x {len(data.targets)} leaf runs; layout {GENE_LAYOUT}", flush=True)

    rows = []

    def report(name: str, preds: list[np.ndarray], seconds: list[float]) -> None:
        per = [score_all(y_te, p, data.targets) for p in preds]
        first = score_all(y_te, preds[0], data.targets, bootstrap=1000)
        r2 = np.array([r["r2"] for r in per])
        row = {"variant": name, "r2_mean": float(r2.mean()),
               "r2_sd": float(r2.std(ddof=1)) if len(r2) > 1 else 0.0, "r2_lo": first["r2_lo"],
               "r2_hi": first["r2_hi"], "pearson": float(np.mean([r["pearson"] for r in per])),
               "seeds": len(preds), "seconds": float(np.median(seconds))}
        rows.append(row)
        print(f"{name:58s} R² {row['r2_mean']:+.4f} ± {row['r2_sd']:.4f} "
              f"(CI {row['r2_lo']:+.3f}..{row['r2_hi']:+.3f})  r {row['pearson']:.3f}  {row['seconds']:.0f} s",
              flush=True)

    seeds = range(args.seeds)
    for name, d in (("promoter 150 bp", prom["data"]), ("gene structure", gene["data"])):
        ds = load_expression_dataset(d)
        s_tr = ds.part("train").column("sequence").to_pylist()
        s_te = ds.part("test").column("sequence").to_pylist()
        y_tr = ds.labels("train")
        for base in [b for b in args.baselines.split(",") if b]:
            t0 = time.perf_counter()
            preds = [make_baseline(base, seed=s, layout=ds.layout).fit(s_tr, y_tr).predict(s_te)
                     for s in (seeds if base == "kmer_lgbm" else [0])]
            label = f"{name}: baseline {base}" + (" (2-5-mer counts)" if base == "kmer_linear" else "")
            report(label, preds, [time.perf_counter() - t0])
        from sklearn.linear_model import RidgeCV

        t0 = time.perf_counter()
        x_tr = window_features(s_tr, [1, 2, 3, 4], ds.layout)
        x_te = window_features(s_te, [1, 2, 3, 4], ds.layout)
        mean, sd = x_tr.mean(0), x_tr.std(0)
        sd[sd == 0] = 1
        ridge = RidgeCV(alphas=np.logspace(-1, 6, 15), alpha_per_target=True).fit((x_tr - mean) / sd, y_tr)
        report(f"{name}: wide path alone (ridge, 1-4-mer freq. + codons)", [ridge.predict((x_te - mean) / sd)],
               [time.perf_counter() - t0])
    variants = [
        ("promoter 150 bp: FloraBERT transformer (pre-trained)", prom["stage2"], prom["data"], False),
        ("promoter 150 bp: transformer + wide", prom["stage2"], prom["data"], True),
        ("gene structure: transformer alone (pre-trained)", gene["stage2"], gene["data"], False),
        ("gene structure: transformer alone (random init)", random_init(gene, args.out / "random_init"),
         gene["data"], False),
        ("gene structure: transformer + wide (pre-trained) [demo]", gene["stage2"], gene["data"], True),
        ("gene structure: transformer + wide (random init)", args.out / "random_init", gene["data"], True),
    ]
    for name, model, d, wide in [v for v in variants if args.only in v[0]]:
        preds, secs = [], []
        for s in seeds:
            p, t = run_finetune(model, d, args.out / "ft" / f"{len(rows)}_{s}", s, args.steps, wide)
            preds.append(p)
            secs.append(t)
        report(name, preds, secs)
    (args.out / "results.json").write_text(json.dumps(rows, indent=2))
    lines = ["| variant | test R² (mean ± sd) | 95 % CI (seed 1) | Pearson r | seeds | s / run |",
             "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['variant']} | {r['r2_mean']:.4f} ± {r['r2_sd']:.4f} | {r['r2_lo']:+.3f} to "
              f"{r['r2_hi']:+.3f} | {r['pearson']:.3f} | {r['seeds']} | {r['seconds']:.0f} |" for r in rows]
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"total {time.perf_counter() - t_all:.0f} s; {args.out / 'results.md'}")


if __name__ == "__main__":
    main()
