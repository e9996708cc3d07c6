"""Accuracy ablation on the bundled data: which inputs and which model parts predict leaf expression of genes
never seen in training.

Everything is fitted on the training part of a paralog-family split of the bundled training genes (the
project's own held-back genes are not in the bundle) and scored on its test part (R² over all cells, Pearson r;
mean ± sd over seeds, and the 95 % bootstrap CI over genes of the first seed). Rows:

- baselines on the same windows: ridge on k-mer counts, the wide path alone (ridge on window composition, on
  the gene-model features, on both), LightGBM on the wide features, the one-hot CNN (the deep path's peer);
- FloraBERT (the promoter's 150 bases, RoBERTa over 3-mers, ``--recipe florabert``) as it ran before;
- the deep path alone (the stem model, ``wide_kmers: []``, ``wide_gene_model: false``), pre-trained and randomly
  initialised, with the default head (a random output layer; the start kept when it validates better), the
  earlier one (rows "[random head]": without keep_better_start) and the previous release's (rows "[probe head,
  standardized]": standardized pooled states, output layer at a linear probe), with the encoder frozen, at lower
  learning rates; the full model (deep + wide path, the demo's); the average of the seeds' predictions;
- linear probes without fine-tuning: ridge on the pre-trained stem's pooled states, alone and with the wide
  features (``--only probe`` runs these and the probe-start rows);
- ``--pretrain-curve``: models pre-trained 0 / 300 / 3,000 / ``--long`` steps on both annotated genomes plus the
  tiled unannotated assemblies: each one's linear probe (ridge on its pooled states) and its deep path alone
  fine-tuned, with its held-out MLM loss against the unigram loss.

    python benchmarks/check_accuracy.py --out bench_out/accuracy [--seeds 3] [--steps 800] [--only TEXT]
    python benchmarks/check_accuracy.py --out bench_out/accuracy --pretrain-curve --long 20000

Stages are cached in ``--out`` (corpora, pre-trained models, fine-tuned runs' predictions); rows already in
``results.json`` are kept unless ``--redo``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np

from florabert import demo  # the demo's settings: its model is the "[demo]" row

GENE_LAYOUT, PROMOTER_LAYOUT = demo.DEMO_LAYOUT, demo.PROMOTER_LAYOUT
FLORABERT_TOKENS = 52  # 150 bases as 3-mers + <s> </s>: FloraBERT's transformer on the promoter's 150 bases
QUIET = lambda m: None  # noqa: E731


def build_data(out: Path, layout: str) -> Path:
    """Corpus (both annotated genomes, gene-model columns) and the expression dataset of one layout (cached)."""
    from florabert import bundled
    from florabert.data.dataset import build_expression_dataset
    from florabert.demo import A_THALIANA, write_demo_manifest
    from florabert.genome.corpus import build_corpus, corpus_files

    out.mkdir(parents=True, exist_ok=True)
    if not (out / "corpus" / "manifest.json").exists():
        build_corpus(write_demo_manifest(out / "genomes.yaml"), out / "corpus", workers=2, layout=layout,
                     log=QUIET)
    if not (out / "data" / "dataset.parquet").exists():
        build_expression_dataset(bundled.path("arabidopsis_leaf_tpm_train.tsv"),
                                 corpus_files(out / "corpus", [A_THALIANA])[0], out / "data",
                                 families=bundled.path("arabidopsis_chr1_families.tsv"), log=QUIET)
    return out / "data"


def pretrained(out: Path, corpus: Path, steps: tuple[int, int], *, architecture: str = "stem",
               extra: dict | None = None) -> Path:
    """Stage 1 (every species of ``corpus``) then stage 2 (A. thaliana), the demo's recipe (cached)."""
    from florabert.config import PretrainConfig, load_config
    from florabert.demo import A_THALIANA
    from florabert.tokenization import train_tokenizer
    from florabert.training.pretrain import pretrain

    tok = None
    if architecture == "tokens":
        tok = out / "tokenizer"
        if not (tok / "tokenizer.json").exists():
            train_tokenizer(None, kind="kmer", k=3, stride=3).save(tok)
    for name, n, kw, over in (("stage1", steps[0], {}, {}),
                              ("stage2", steps[1], {"init_from": out / "stage1", "species": [A_THALIANA]},
                               {"learning_rate": 5e-4, "warmup_steps": 10})):
        if n and not (out / name / "model.safetensors").exists():
            cfg = load_config(PretrainConfig, preset="tiny", overrides={
                "max_steps": n, "eval_steps": n, "save_steps": n, "model.architecture": architecture,
                "batch_size": demo.DEMO_BATCH, **(extra or {}), **over})
            pretrain(corpus, tok, out / name, cfg, log=QUIET, **kw)
    return out / ("stage2" if steps[1] else "stage1")


def random_init(like: Path, out: Path) -> Path:
    """A model with ``like``'s configuration and fresh weights (no pre-training)."""
    import torch

    from florabert.modeling import FloraBertConfig, FloraBertForMaskedLM
    from florabert.tokenization import DNATokenizer

    if not (out / "model.safetensors").exists():
        torch.manual_seed(0)
        FloraBertForMaskedLM(FloraBertConfig.from_pretrained(like)).save_pretrained(out)
        DNATokenizer.load(like).write_files(out)
    return out


def score_all(y, y_hat, targets, bootstrap: int = 0) -> dict:
    from florabert.evaluation.metrics import score

    return next(r for r in score(y, np.asarray(y_hat), targets, offset=1.0, bootstrap=bootstrap)
                if r["tissue"] == "All")


def run_finetune(model_dir: Path, data_dir: Path, out: Path, seed: int, steps: int, overrides: dict
                 ) -> tuple[np.ndarray, float]:
    """Fine-tune (cached: predictions.npy) and return the test genes' predictions and the wall time."""
    import shutil

    from florabert.config import FinetuneConfig, load_config
    from florabert.data.dataset import load_expression_dataset
    from florabert.evaluation.evaluate import _gene_inputs
    from florabert.predict import Predictor
    from florabert.training.finetune import finetune

    cache = out / "predictions.npy"
    if cache.exists():
        return np.load(cache), float((out / "seconds.txt").read_text())
    shutil.rmtree(out, ignore_errors=True)
    preset = overrides.pop("_recipe", None)
    steps = overrides.pop("_steps", steps)
    cfg = load_config(FinetuneConfig, preset=preset, overrides={  # the demo's fine-tuning settings
        "max_steps": steps, "eval_steps": max(steps // 4, 1), "batch_size": demo.DEMO_BATCH, "seed": seed,
        **overrides})
    t0 = time.perf_counter()
    finetune(model_dir, data_dir, out, cfg, log=QUIET)
    seconds = time.perf_counter() - t0
    data = load_expression_dataset(data_dir)
    test = data.part("test")
    predictor = Predictor(out)
    pred = predictor.predict(test.column("sequence").to_pylist(), genes=_gene_inputs(out, predictor, data, test))
    np.save(cache, pred)
    (out / "seconds.txt").write_text(f"{seconds:.1f}\n")
    return pred, seconds


DEEP_ONLY = {"wide_kmers": [], "wide_gene_model": False}


class Table:
    """Rows of the ablation, kept in ``results.json`` as they finish (a rerun skips finished rows)."""

    def __init__(self, out: Path, y_te, targets, redo: bool):
        self.path, self.y_te, self.targets = out / "results.json", y_te, targets
        self.rows = [] if redo or not self.path.exists() else json.loads(self.path.read_text())

    def done(self, name: str) -> bool:
        return any(r["variant"] == name for r in self.rows)

    def report(self, name: str, preds: list[np.ndarray], seconds: list[float], **extra) -> None:
        per = [score_all(self.y_te, p, self.targets) for p in preds]
        first = score_all(self.y_te, preds[0], self.targets, bootstrap=1000)
        r2 = np.array([r["r2"] for r in per])
        row = {"variant": name, "r2_mean": float(r2.mean()),
               "r2_sd": float(r2.std(ddof=1)) if len(r2) > 1 else 0.0, "r2_lo": first["r2_lo"],
               "r2_hi": first["r2_hi"], "pearson": float(np.mean([r["pearson"] for r in per])),
               "seeds": len(preds), "seconds": float(np.median(seconds)), **extra}
        self.rows = [r for r in self.rows if r["variant"] != name] + [row]
        self.path.write_text(json.dumps(self.rows, indent=2))
        print(f"{name:70s} R² {row['r2_mean']:+.4f} ± {row['r2_sd']:.4f} "
              f"(CI {row['r2_lo']:+.3f}..{row['r2_hi']:+.3f})"
              f"  r {row['pearson']:.3f}  {row['seconds']:.0f} s", flush=True)

    def markdown(self) -> str:
        lines = ["| variant | test R² (mean ± sd) | 95 % CI (seed 1) | Pearson r | seeds | s / run |",
                 "|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['variant']} | {r['r2_mean']:.4f} ± {r['r2_sd']:.4f} | {r['r2_lo']:+.3f} to "
                  f"{r['r2_hi']:+.3f} | {r['pearson']:.3f} | {r['seeds']} | {r['seconds']:.0f} |"
                  for r in self.rows]
        return "\n".join(lines) + "\n"


def baselines(table: Table, name: str, data_dir: Path, which: list[str], seeds: range) -> None:
    from florabert.data.dataset import load_expression_dataset
    from florabert.evaluation.baselines import make_baseline
    from florabert.evaluation.evaluate import _dataset_genes

    ds = load_expression_dataset(data_dir)
    tr, te = ds.part("train"), ds.part("test")
    s_tr, s_te, y_tr = tr.column("sequence").to_pylist(), te.column("sequence").to_pylist(), ds.labels("train")
    g_tr, g_te = _dataset_genes(ds, tr), _dataset_genes(ds, te)
    labels = {"kmer_linear": "ridge on 2-5-mer counts", "composition": "wide path: composition alone (ridge)",
              "gene_model": "wide path: gene-model features alone (ridge)",
              "wide": "wide path: composition + gene model (ridge) = the wide path alone",
              "wide_lgbm": "LightGBM on the wide features", "cnn": "one-hot CNN (deepCRE-style)"}
    for base in which:
        label = f"{name}: {labels.get(base, base)}"
        if table.done(label):
            continue
        preds, secs = [], []
        for s in seeds if base in ("cnn", "wide_lgbm") else [0]:
            t0 = time.perf_counter()
            b = make_baseline(base, seed=s, layout=ds.layout)
            kw = ({"genes": g_tr}, {"genes": g_te}) if getattr(b, "needs_genes", False) else ({}, {})
            preds.append(b.fit(s_tr, y_tr, **kw[0]).predict(s_te, **kw[1]))
            secs.append(time.perf_counter() - t0)
        table.report(label, preds, secs)


def models(table: Table, variants: list[tuple], steps: int, seeds: range, out: Path, only: str) -> None:
    from florabert.config import FinetuneConfig

    for name, model, data_dir, overrides in variants:
        if only not in name or table.done(name):
            continue
        preds, secs = [], []
        for s in seeds:
            # stable across runs (unlike hash()); a change of the row's settings or of finetune's defaults
            # makes a new key (no stale cached predictions)
            key = hashlib.md5(f"{name}|{sorted(overrides.items())}|{FinetuneConfig()}".encode()).hexdigest()[:8]
            p, t = run_finetune(model, data_dir, out / "ft" / name.split(":")[0].replace(" ", "_")
                                / f"{key}_{s}", s, steps, dict(overrides))
            preds.append(p)
            secs.append(t)
        table.report(name, preds, secs)
        if len(preds) > 1:
            table.report(f"{name}, average of the {len(preds)} seeds' predictions", [np.mean(preds, axis=0)],
                         [float(np.sum(secs))])


def pooled_and_wide(model_dir: Path, data_dir: Path, *, wide: bool = True) -> tuple[dict, list]:
    """The model's pooled states (mean + max over the bins: what the head reads, no fine-tuning) and (``wide``)
    the wide features of the training and test genes, and the training genes' labels:
    ({part: (pooled, wide or None)}, labels)."""
    import torch
    from transformers import DataCollatorWithPadding

    from florabert.data.dataset import load_expression_dataset
    from florabert.features import gene_values, wide_inputs
    from florabert.modeling import FloraBertForExpression, loading
    from florabert.tokenization import DNATokenizer
    from florabert.training.finetune import _predict_in_order

    ds = load_expression_dataset(data_dir)
    torch.manual_seed(0)
    with loading(model_dir):
        model = FloraBertForExpression.from_pretrained(str(model_dir), num_labels=1, head_pooling="meanmax")
    tok = DNATokenizer.load(model_dir)
    tok.layout = ds.layout
    collator = DataCollatorWithPadding(tok.hf)
    gene_columns = [c for c in ds.table.column_names if c.startswith("gm_")]
    out = {}
    for part in ("train", "test"):
        t = ds.part(part)
        seqs = t.column("sequence").to_pylist()
        ids = tok(seqs, truncation=True, max_length=model.config.positions_length)["input_ids"]
        pooled = _predict_in_order(model, collator, [{"input_ids": x} for x in ids], pooled=True)
        out[part] = pooled, (wide_inputs(seqs, [1, 2, 3, 4], ds.layout, gene_values(t, gene_columns, data_dir))
                             if wide else None)
    return out, ds.labels("train")


def ridge_predict(x_tr: np.ndarray, y: np.ndarray, x_te: np.ndarray) -> np.ndarray:
    """Ridge (penalty by leave-one-out CV on the training genes, florabert's own fit) -> test predictions."""
    from florabert.training.finetune import _ridge

    fit, mean, std = _ridge(x_tr.astype(np.float64), np.asarray(y, dtype=np.float64))
    return fit.predict((x_te - mean) / std)


def probe_rows(table: Table, stem: Path, data_dir: Path) -> None:
    """Linear probes of the pre-trained stem model, no fine-tuning: ridge on its pooled states, alone and beside
    the wide features."""
    names = ("gene structure: deep path alone, linear probe: ridge on the pre-trained stem's pooled states",
             "gene structure: wide path + the pre-trained stem's pooled states (one ridge)")
    if all(table.done(n) for n in names):
        return
    t0 = time.perf_counter()
    x, y = pooled_and_wide(stem, data_dir)
    (p_tr, w_tr), (p_te, w_te) = x["train"], x["test"]
    for name, x_tr, x_te in ((names[0], p_tr, p_te),
                             (names[1], np.hstack([w_tr, p_tr]), np.hstack([w_te, p_te]))):
        table.report(name, [ridge_predict(x_tr, y, x_te)], [time.perf_counter() - t0])


def pretrain_curve(table: Table, out: Path, data_dir: Path, steps: int, seeds: range, long: int,
                   only: str) -> None:
    """Models pre-trained 0 / 300 / 3,000 / ``long`` steps on the big corpus: each one's linear probe and its deep
    path alone fine-tuned."""
    from florabert.config import FinetuneConfig
    from florabert.demo import write_demo_manifest
    from florabert.genome.corpus import build_corpus

    corpus = out / "corpus_all"
    if not (corpus / "manifest.json").exists():
        build_corpus(write_demo_manifest(out / "genomes_all.yaml", unannotated=True), corpus, workers=2,
                     layout=GENE_LAYOUT, log=QUIET)
    points = [0, 300, 3000] + ([long] if long else [])
    key = hashlib.md5(f"{FinetuneConfig()}".encode()).hexdigest()[:8]  # new defaults: new runs
    for n in points:
        name = f"gene structure: deep path alone, pre-trained {n:,} steps on 4 assemblies"
        probe = f"gene structure: linear probe of the model pre-trained {n:,} steps on 4 assemblies"
        if only not in name or (table.done(name) and table.done(probe)):
            continue
        if n:
            model = pretrained(out / f"pre_all_{n}", corpus, (n, 0), extra={"save_steps": max(n // 10, 100)})
        else:
            model = random_init(pretrained(out / "pre_all_300", corpus, (300, 0)), out / "pre_all_0")
        extra = {"pretrain_steps": n}
        if n:
            extra.update(mlm_loss=json.loads((model / "metrics.json").read_text())["metrics"]["eval_loss"],
                         unigram_loss=unigram_loss(model))
        if not table.done(probe):  # what the features hold: ridge on the pooled states, no fine-tuning
            t0 = time.perf_counter()
            x, y = pooled_and_wide(model, data_dir, wide=False)
            table.report(probe, [ridge_predict(x["train"][0], y, x["test"][0])], [time.perf_counter() - t0],
                         **extra)
        preds, secs = [], []
        for s in seeds:
            p, t = run_finetune(model, data_dir, out / "ft" / f"curve_{n}_{key}_{s}", s, steps, dict(DEEP_ONLY))
            preds.append(p)
            secs.append(t)
        table.report(name, preds, secs, **extra)


def unigram_loss(model_dir: Path) -> float:
    """Cross-entropy (nats) of predicting each masked base from the base frequencies alone, on the held-out genes
    the model was evaluated on: the level a model that learned no context stays at."""
    import pyarrow.parquet as pq

    from florabert.genome.corpus import corpus_files
    from florabert.training.mlm_data import held_out

    corpus = json.loads((model_dir / "metrics.json").read_text())["corpus"]
    counts = np.zeros(4)
    for f in corpus_files(corpus):
        t = pq.read_table(f, columns=["gene_id", "sequence"])
        for g, s in zip(t.column("gene_id").to_pylist(), t.column("sequence").to_pylist(), strict=True):
            if held_out(g, 0.02):
                counts += [s.count(b) for b in "ACGT"]
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum()) if counts.sum() else math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench_out/accuracy"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=demo.DEMO_FINETUNE_STEPS, help="fine-tuning steps")
    parser.add_argument("--baselines", default="kmer_linear,composition,gene_model,wide,wide_lgbm,cnn",
                        help="baselines on the gene-structure windows (cnn and wide_lgbm run --seeds times)")
    parser.add_argument("--only", default="", help="run only the rows whose name has this text")
    parser.add_argument("--pretrain-curve", action="store_true", help="the pre-training curve rows instead")
    parser.add_argument("--long", type=int, default=0, help="with --pretrain-curve: the longest pre-training")
    parser.add_argument("--redo", action="store_true", help="forget results.json")
    args = parser.parse_args()

    from florabert.data.dataset import load_expression_dataset

    t_all = time.perf_counter()
    gene_data = build_data(args.out / "gene_structure", GENE_LAYOUT)
    prom_data = build_data(args.out / "promoter", PROMOTER_LAYOUT)
    data = load_expression_dataset(gene_data)
    test_genes = data.part("test").column("gene_id").to_pylist()
    assert load_expression_dataset(prom_data).part("test").column("gene_id").to_pylist() == test_genes
    table = Table(args.out, data.labels("test"), data.targets, args.redo)
    print(f"{data.part('train').num_rows:,} training, {data.part('validation').num_rows:,} validation and "
          f"{len(test_genes):,} test genes x {len(data.targets)} leaf runs; layout {GENE_LAYOUT}", flush=True)
    seeds = range(args.seeds)
    if args.pretrain_curve:
        pretrain_curve(table, args.out, gene_data, args.steps, seeds, args.long, args.only)
    else:
        if "promoter" in args.only or not args.only:
            baselines(table, "promoter 150 bp", prom_data, ["kmer_linear", "composition"], seeds)
        if not args.only or "gene structure" in args.only:
            baselines(table, "gene structure", gene_data, [b for b in args.baselines.split(",") if b], seeds)
        stem = pretrained(args.out / "gene_structure" / "pretrain", args.out / "gene_structure" / "corpus",
                          demo.DEMO_PRETRAIN_STEPS)
        florabert = pretrained(args.out / "promoter" / "pretrain_tokens", args.out / "promoter" / "corpus",
                               demo.DEMO_PRETRAIN_STEPS, architecture="tokens",
                               extra={"model.max_length": FLORABERT_TOKENS})
        rand = random_init(stem, args.out / "random_init")
        mean = {"head_pooling": "mean"}
        # the earlier default head, without keep_better_start (rows named "[random head]")
        old = {"head_init": "random", "head_standardize": False, "keep_better_start": False}
        # the previous release's default head: standardized pooled states, output layer at a linear probe; it
        # stops a planted motif from being learned (README "How the head starts"), so no longer the default
        probe = {"head_init": "probe", "head_standardize": True}
        tuned = {"keep_better_start": False}
        pt = " [probe head, standardized]"
        variants = [  # most telling first: each row is saved as it completes
            ("gene structure: full model, deep + wide path + blend (pre-trained) [demo]", stem, gene_data, {}),
            ("gene structure: deep path alone (stem, pre-trained)", stem, gene_data, DEEP_ONLY),
            (f"gene structure: full model, deep + wide path + blend (pre-trained){pt}", stem, gene_data, probe),
            (f"gene structure: deep path alone (stem, pre-trained){pt}", stem, gene_data, {**DEEP_ONLY, **probe}),
            # fine-tuning's own end, not the start it may fall back to (keep_better_start)
            (f"gene structure: deep path alone (stem, pre-trained){pt}, without keep_better_start", stem,
             gene_data, {**DEEP_ONLY, **probe, **tuned}),
            (f"gene structure: deep path alone (stem, pre-trained, encoder frozen: the head on its features){pt}, "
             "without keep_better_start", stem, gene_data,
             {**DEEP_ONLY, "layer_lr_factor": 0.0, **probe, **tuned}),
            (f"gene structure: deep path alone (stem, pre-trained, head 1e-4 / encoder 1e-5){pt}, without "
             "keep_better_start", stem, gene_data, {**DEEP_ONLY, "learning_rate": 1e-4, "layer_lr_factor": 0.1,
                                                    **probe, **tuned}),
            (f"gene structure: full model, deep + wide path + blend (pre-trained){pt}, without keep_better_start",
             stem, gene_data, {**probe, **tuned}),
            ("gene structure: deep + wide path (ridge), no blend", stem, gene_data, {"wide_model": "ridge"}),
            ("gene structure: full model, deep + wide path + blend (pre-trained) [random head]", stem, gene_data,
             old),
            ("gene structure: deep path alone (stem, pre-trained) [random head]", stem, gene_data,
             {**DEEP_ONLY, **old}),
            ("gene structure: deep + wide path (ridge), no blend [random head]", stem, gene_data,
             {"wide_model": "ridge", **old}),
            ("gene structure: deep path alone (stem, pre-trained, mean pooling) [random head]", stem, gene_data,
             {**DEEP_ONLY, **mean, **old}),
            ("promoter 150 bp: deep path alone (stem, mean pooling) [random head]", stem, prom_data,
             {**DEEP_ONLY, **mean, **old}),
            ("promoter 150 bp: FloraBERT (3-mer RoBERTa, --recipe florabert, transformer alone)", florabert,
             prom_data, {**DEEP_ONLY, "_recipe": "finetune_florabert"}),
            ("gene structure: deep path alone (stem, random init) [random head]", rand, gene_data,
             {**DEEP_ONLY, **old}),
            ("gene structure: deep path alone (stem, mean pooling, 1,500 steps) [random head]", stem, gene_data,
             {**DEEP_ONLY, **mean, "_steps": 1500, **old}),
            ("gene structure: full model (random init) [random head]", rand, gene_data, old),
            ("gene structure: deep + wide path (ridge, mean pooling), no blend", stem, gene_data,
             {"wide_model": "ridge", **mean}),
            ("promoter 150 bp: deep path alone (stem, mean + max pooling)", stem, prom_data, DEEP_ONLY),
        ]
        if not args.only or "probe" in args.only:
            probe_rows(table, stem, gene_data)
        models(table, variants, args.steps, seeds, args.out, args.only)
    md = table.markdown()
    (args.out / "results.md").write_text(md)
    print(md)
    print(f"total {time.perf_counter() - t_all:.0f} s; {args.out / 'results.md'}")


if __name__ == "__main__":
    main()
