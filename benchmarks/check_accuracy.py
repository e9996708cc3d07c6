"""Accuracy ablation on the bundled data: which inputs and which model parts predict leaf expression of genes
never seen in training.

Everything is fitted on the training part of a paralog-family split of the bundled training genes (the
project's own held-back genes are not in the bundle) and scored on its test part (R² over all cells, Pearson r;
mean ± sd over seeds, the 95 % bootstrap CI over genes of the first seed, and for the comparisons the paired
bootstrap CI of the R² difference on the average of the seeds' predictions). Fine-tuning runs use the demo's
pre-trained stem model and its recipe (600 steps of 32 genes) unless a row says otherwise. Rows:

- baselines on the same windows: ridge on k-mer counts, ridge on the wide path's groups, LightGBM on the wide
  features, the ``cnn`` baseline (3 seeds), and the cnn with ReLU, its earlier activation (``--only ReLU``);
- the deep path alone (``configs/deep_alone.yaml``), the wide path alone (``configs/wide_alone.yaml``), the full
  model (the demo's), and the comparisons the deep-path issue asks for;
- the diagnosis: the deep path alone with the earlier head (the encoder's states pooled over all windows, RoBERTa's
  initialisation) and with one fix at a time; the deep path trained on the out-of-fold residual of the wide path;
  the earlier way of joining the wide path (backfitting);
- ``--curves``: training and validation R² per half epoch of the deep path alone (3 seeds, the demo recipe and
  1,500 steps) and per epoch of the cnn baseline, as ``curves.csv`` and ``curves.png``;
- ``--pretrain-curve``: the deep path alone from random weights, from the demo's pre-training, and from 3,000
  steps on both annotated genomes plus the tiled unannotated assemblies (3 seeds each, paired CIs);
- ``--scaling``: the deep path alone on 25 / 50 / 100 % of the training genes and at half and double width;
- ``--averaging``: the deep path alone with the weights of its last K checkpoints averaged (K chosen on the
  validation genes) against its best checkpoint (3 seeds, paired CI);
- ``--variants``: the deep path alone with its training windows shifted by up to 4, 8 or 16 bases at every step
  (``shift_augment``), and without dropout on the attention weights (``attention_dropout: 0``), each against the
  same recipe without (3 seeds, paired CIs; ``--only "up to 8 bases"`` for one); with default options, with and
  without the cool-down from the best checkpoint (``cooldown_steps`` 0 / 300 / 600), at half the learning rate,
  and the head with RoBERTa's init (``head_init: random``);
- ``--lr-cv``: the default options' learning rate (1e-3 or 5e-4) chosen by 3-fold cross-validation over the
  training genes' paralog families (validation R² of each run's kept checkpoint, pooled over the folds; the test
  genes left out), as ``lr_cv.json``;
- ``--wide-deep``: the full model against the same model whose deep path's head also reads the wide features
  (``head_wide: true``, also with ``head_wide_dropout: 0.5``; ``head_wide_after: true``: only after the deep path
  has fine-tuned), each with its deep and wide parts (3 seeds, paired CIs);
- ``--blend-parts``: what the blend can use beside ridge and LightGBM: the deep path alone, or a two-layer network
  on the wide features themselves (no bases), weights chosen on the validation genes (paired CIs); and an upper
  bound: every cached bases-only run averaged, its weight beside the wide path chosen on the test genes.

    python benchmarks/check_accuracy.py --out bench_out/accuracy [--seeds 3] [--only TEXT] [--redo]
    python benchmarks/check_accuracy.py --out bench_out/accuracy --curves|--pretrain-curve|--scaling|--averaging
    python benchmarks/check_accuracy.py --out bench_out/accuracy --variants
    python benchmarks/check_accuracy.py --out bench_out/accuracy --blend-parts|--wide-deep|--lr-cv

Stages are cached in ``--out`` (corpora, pre-trained models, fine-tuned runs' predictions); rows already in
``results.json`` are kept unless ``--redo`` (which scores the cached predictions again). Each row records the
commit it was measured with; a row kept from other code is named as such when reused, and only a new ``--out``
measures it again.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import shutil
import time
from pathlib import Path

import numpy as np

from florabert import demo  # the demo's settings: its model is the "[demo]" row


def _code() -> str:
    """The commit the rows are measured with (``+changes`` when src/ differs from it): a cached row measured
    with other code is named when it is reused."""
    import subprocess

    def git(*args):
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True,
                                  cwd=Path(__file__).parent).stdout.strip()
        except OSError:  # no git: a copy outside a repository
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("+changes" if git("status", "--porcelain", "--", "../src") else "")


CODE = _code()

GENE_LAYOUT, PROMOTER_LAYOUT = demo.DEMO_LAYOUT, demo.PROMOTER_LAYOUT
QUIET = lambda m: None  # noqa: E731
DEEP_ONLY = {"wide_kmers": [], "wide_gene_model": False, "wide_motifs": False}  # = configs/deep_alone.yaml
# the pre-training rows and the recipe variants' reference were measured with the pre-trained model's attention
# dropout (0.1), before attention_dropout: 0 became the default: their keys keep that setting
DEEP_ONLY_01 = {**DEEP_ONLY, "attention_dropout": None}
NO_MOTIFS = {"wide_motifs": False}
WIDE_ONLY = {"deep_path": False}  # = configs/wide_alone.yaml
# the head before this release: the encoder's final states pooled over all windows together, RoBERTa's init
EARLIER_HEAD = {"head_windows": False, "head_stem": False, "head_init": "random"}
RECIPE = {"max_steps": demo.DEMO_FINETUNE_STEPS, "eval_steps": 50, "warmup_steps": 50,
          "batch_size": demo.DEMO_FINETUNE_BATCH, "early_stopping_min_steps": 0, "cooldown_steps": 0}
DEFAULTS = {k: None for k in RECIPE}  # a row with these settings trains with finetune's defaults instead


def chosen(only: str, name: str) -> bool:
    """``--only`` selects the rows whose name has its text, or one of its texts separated by ``|``."""
    return not only or any(part in name for part in only.split("|"))


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


def pretrained(out: Path, corpus: Path, steps: tuple[int, int], *, extra: dict | None = None) -> Path:
    """Stage 1 (every species of ``corpus``) then stage 2 (A. thaliana), the demo's recipe (cached)."""
    from florabert.config import PretrainConfig, load_config
    from florabert.demo import A_THALIANA
    from florabert.training.pretrain import pretrain

    for name, n, kw, over in (("stage1", steps[0], {}, {}),
                              ("stage2", steps[1], {"init_from": out / "stage1", "species": [A_THALIANA]},
                               {"learning_rate": 5e-4, "warmup_steps": 10})):
        if n and not (out / name / "model.safetensors").exists():
            cfg = load_config(PretrainConfig, preset="tiny", overrides={
                "max_steps": n, "eval_steps": n, "save_steps": n, "batch_size": demo.DEMO_BATCH,
                **(extra or {}), **over})
            pretrain(corpus, None, out / name, cfg, log=QUIET, **kw)
    return out / ("stage2" if steps[1] else "stage1")


def random_init(like: Path, out: Path, **changes) -> Path:
    """A model with ``like``'s configuration (with ``changes``, e.g. another width) and fresh weights."""
    import torch

    from florabert.modeling import FloraBertConfig, FloraBertForMaskedLM
    from florabert.tokenization import DNATokenizer

    if not (out / "model.safetensors").exists():
        torch.manual_seed(0)
        FloraBertForMaskedLM(FloraBertConfig.from_pretrained(like, **changes)).save_pretrained(out)
        DNATokenizer.load(like).write_files(out)
    return out


def train_curve_callback(rows: list, data_dir: Path, tok, n: int = 600):
    """A TrainerCallback recording, at every evaluation, the validation R² and the deep path's R² on the first
    ``n`` training genes: the learning curve."""
    from transformers import TrainerCallback

    from florabert.data.dataset import load_expression_dataset
    from florabert.evaluation.metrics import r2
    from florabert.training.batches import PadCollator, as_arrays, predict_in_order
    from florabert.training.finetune import _tokenized

    part = load_expression_dataset(data_dir).part("train").slice(0, n)
    y = np.asarray(part.column("labels").to_pylist())
    cache: dict = {}

    class Curve(TrainerCallback):
        def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
            if "eval_r2_all" not in (metrics or {}):
                return
            if "rows" not in cache:
                cache["rows"] = as_arrays(_tokenized(part, tok, model.config.positions_length, False))
            pred = predict_in_order(model, PadCollator(tok.hf.pad_token_id), cache["rows"], deep=True)
            model.train()
            rows.append({"step": state.global_step, "epoch": state.epoch, "train_r2": r2(y, pred),
                         "validation_r2": metrics["eval_r2_all"]})

    return Curve()


def run_finetune(model_dir: Path, data_dir: Path, out: Path, seed: int, overrides: dict,
                 curve: bool = False) -> tuple[np.ndarray, float]:
    """Fine-tune (cached: predictions.npy) and return the test genes' predictions and the wall time; with
    ``curve``, also ``curve.json`` (training and validation R² at every evaluation). A stacked model's parts
    (the deep path alone, the wide path alone: florabert.training.wide.save_part, as the demo saves them) are
    predicted too: ``predictions_deep.npy``, ``predictions_wide.npy``."""
    from florabert.config import FinetuneConfig, load_config
    from florabert.data.dataset import load_expression_dataset
    from florabert.evaluation.evaluate import _gene_inputs
    from florabert.predict import Predictor
    from florabert.tokenization import DNATokenizer
    from florabert.training.finetune import finetune

    cache = out / "predictions.npy"
    if cache.exists():
        return np.load(cache), float((out / "seconds.txt").read_text())
    shutil.rmtree(out, ignore_errors=True)
    cfg = load_config(FinetuneConfig, overrides={**RECIPE, "seed": seed, **overrides})
    rows: list = []
    callbacks = []
    if curve:
        tok = DNATokenizer.load(model_dir)
        tok.layout = load_expression_dataset(data_dir).layout
        callbacks.append(train_curve_callback(rows, data_dir, tok))
    t0 = time.perf_counter()
    finetune(model_dir, data_dir, out, cfg, log=QUIET, callbacks=callbacks)
    seconds = time.perf_counter() - t0
    data = load_expression_dataset(data_dir)
    test = data.part("test")
    predictor = Predictor(out)
    pred = predictor.predict(test.column("sequence").to_pylist(), genes=_gene_inputs(out, predictor, data, test))
    metrics = json.loads((out / "metrics.json").read_text())
    if (metrics.get("wide") or {}).get("blend_weights") and "validation_r2_deep" in metrics["wide"]:
        from florabert.training.wide import save_part

        for part in ("deep", "wide"):
            folder = save_part(out, out / f"{part}_alone", part)
            p = Predictor(folder)
            np.save(out / f"predictions_{part}.npy",
                    p.predict(test.column("sequence").to_pylist(), genes=_gene_inputs(folder, p, data, test)))
    if (metrics.get("head") or {}).get("readout", {}).get("weight"):  # the same run's deep path, its head alone
        folder = out / "deep_alone" if (out / "deep_alone").exists() else out
        p = Predictor(folder)
        p.model.config.readout_weight = 0.0
        np.save(out / "predictions_head.npy",
                p.predict(test.column("sequence").to_pylist(), genes=_gene_inputs(folder, p, data, test)))
    np.save(cache, pred)
    (out / "seconds.txt").write_text(f"{seconds:.1f}\n")
    if curve:
        (out / "curve.json").write_text(json.dumps(rows))
    return pred, seconds


class Table:
    """Rows of the ablation, kept in ``results.json`` as they finish (a rerun skips finished rows)."""

    def __init__(self, out: Path, y_te, targets, redo: bool):
        self.path, self.y_te, self.targets = out / "results.json", y_te, targets
        self.rows = [] if redo or not self.path.exists() else json.loads(self.path.read_text())
        self.preds: dict[str, np.ndarray] = {}  # average of the seeds' predictions, by row (this invocation)

    def done(self, name: str) -> bool:
        row = next((r for r in self.rows if r["variant"] == name), None)
        if row and not row.get("comparison") and row.get("code") != CODE:
            print(f"{name}: kept from results.json, measured with other code ({row.get('code', 'unrecorded')}; "
                  f"now {CODE}): a new --out measures it again", flush=True)
        return row is not None

    def report(self, name: str, preds: list[np.ndarray], seconds: list[float], **extra) -> None:
        from florabert.evaluation.metrics import score

        def score_all(p, bootstrap=0):
            return next(r for r in score(self.y_te, np.asarray(p), self.targets, offset=1.0, bootstrap=bootstrap)
                        if r["tissue"] == "All")

        per = [score_all(p) for p in preds]
        first = score_all(preds[0], bootstrap=1000)
        r2 = np.array([r["r2"] for r in per])
        row = {"variant": name, "r2_mean": float(r2.mean()),
               "r2_sd": float(r2.std(ddof=1)) if len(r2) > 1 else 0.0, "r2_lo": first["r2_lo"],
               "r2_hi": first["r2_hi"], "pearson": float(np.mean([r["pearson"] for r in per])),
               "seeds": len(preds), "seconds": float(np.median(seconds)), "code": CODE, **extra}
        self.preds[name] = np.mean(preds, axis=0)
        self.rows = [r for r in self.rows if r["variant"] != name] + [row]
        self.path.write_text(json.dumps(self.rows, indent=2))
        print(f"{name:70s} R² {row['r2_mean']:+.4f} ± {row['r2_sd']:.4f} "
              f"(CI {row['r2_lo']:+.3f}..{row['r2_hi']:+.3f})  r {row['pearson']:.3f}  {row['seconds']:.0f} s",
              flush=True)

    def compare(self, a: str, b: str) -> None:
        """Paired bootstrap of R²(a) - R²(b) over test genes, on the seeds' average predictions."""
        from florabert.evaluation.metrics import paired_r2

        if a not in self.preds or b not in self.preds:
            return
        d = paired_r2(self.y_te, self.preds[a], self.preds[b], bootstrap=1000)
        name = f"difference: {a} - {b}"
        row = {"variant": name, "r2_mean": d["difference"], "r2_sd": 0.0, "r2_lo": d["lo"], "r2_hi": d["hi"],
               "pearson": float("nan"), "seeds": 0, "seconds": 0.0, "comparison": True}
        self.rows = [r for r in self.rows if r["variant"] != name] + [row]
        self.path.write_text(json.dumps(self.rows, indent=2))
        print(f"{name}: {d['difference']:+.4f} (paired 95 % CI {d['lo']:+.4f} to {d['hi']:+.4f})", flush=True)

    def markdown(self) -> str:
        lines = ["| variant | test R² (mean ± sd) | 95 % CI | Pearson r | seeds | s / run |",
                 "|---|---:|---:|---:|---:|---:|"]
        for r in self.rows:
            if r.get("comparison"):
                lines.append(f"| {r['variant']} | {r['r2_mean']:+.4f} | {r['r2_lo']:+.4f} to {r['r2_hi']:+.4f} "
                             "(paired) | | | |")
            else:
                lines.append(f"| {r['variant']} | {r['r2_mean']:.4f} ± {r['r2_sd']:.4f} | {r['r2_lo']:+.3f} to "
                             f"{r['r2_hi']:+.3f} | {r['pearson']:.3f} | {r['seeds']} | {r['seconds']:.0f} |")
        return "\n".join(lines) + "\n"


BASELINE_LABELS = {
    "kmer_linear": "ridge on 2-5-mer counts", "composition": "ridge on composition (1-4-mers, codons)",
    "gene_model": "ridge on the gene model (14 numbers)", "wide": "ridge on composition + gene model",
    "wide_lgbm": "LightGBM on composition + gene model", "cnn": "cnn baseline (plain CNN, one-hot)",
    f"kmer_linear@{PROMOTER_LAYOUT}": "ridge on 2-5-mer counts of the promoter's 150 bases",
    "motifs": "ridge on the JASPAR motif features alone",
    "wide_motifs": "ridge on composition + gene model + JASPAR motifs",
    "wide_lgbm_motifs": "LightGBM on composition + gene model + JASPAR motifs",
    "motif_lgbm": "motif_lgbm: LightGBM on the JASPAR motif features",
    "motif_lgbm_place": "motif_lgbm_place: LightGBM on 17 hand-picked plant elements"}


def baselines(table: Table, data_dir: Path, which: list[str], seeds: range, out: Path, only: str = "") -> None:
    from florabert.data.dataset import load_expression_dataset
    from florabert.evaluation.baselines import make_baseline
    from florabert.evaluation.evaluate import _dataset_genes

    ds = load_expression_dataset(data_dir)
    tr, te, va = ds.part("train"), ds.part("test"), ds.part("validation")
    s_tr, s_te, y_tr = tr.column("sequence").to_pylist(), te.column("sequence").to_pylist(), ds.labels("train")
    g_tr, g_te = _dataset_genes(ds, tr), _dataset_genes(ds, te)
    for base in which:
        label = f"baseline: {BASELINE_LABELS.get(base, base)}"
        if not chosen(only, label) or table.done(label):
            continue
        preds, secs, history = [], [], []
        for s in seeds if base in ("cnn", "wide_lgbm", "wide_lgbm_motifs") else [0]:
            t0 = time.perf_counter()
            b = make_baseline(base, seed=s, layout=ds.layout)
            kw = ({"genes": g_tr}, {"genes": g_te}) if getattr(b, "needs_genes", False) else ({}, {})
            if getattr(b, "uses_validation", False):  # the cnn: the validation genes pick its epoch
                kw[0]["validation"] = (va.column("sequence").to_pylist(), ds.labels("validation"))
            preds.append(b.fit(s_tr, y_tr, **kw[0]).predict(s_te, **kw[1]))
            secs.append(time.perf_counter() - t0)
            history.append(getattr(b, "history_", None))
        table.report(label, preds, secs)
        if base == "cnn":
            (out / "cnn_history.json").write_text(json.dumps(history))
            np.save(out / "cnn_predictions.npy", np.stack(preds))  # per seed: for paired comparisons later


def cnn_activation(table: Table, data_dir: Path, seeds: range) -> None:
    """The cnn baseline with ReLU (its activation before this release) instead of GELU, same recipe: the
    defect that kept it near the constant mean."""
    from florabert.data.dataset import load_expression_dataset
    from florabert.evaluation.cnn import OneHotCNN

    name = "baseline: cnn baseline with ReLU instead of GELU (the earlier activation)"
    if table.done(name):
        return
    ds = load_expression_dataset(data_dir)
    seqs = {p: ds.part(p).column("sequence").to_pylist() for p in ("train", "validation", "test")}
    preds, secs = [], []
    for s in seeds:
        t0 = time.perf_counter()
        cnn = OneHotCNN(seed=s, layout=ds.layout, activation="relu")
        cnn.fit(seqs["train"], ds.labels("train"), validation=(seqs["validation"], ds.labels("validation")))
        preds.append(cnn.predict(seqs["test"]))
        secs.append(time.perf_counter() - t0)
        print(f"  seed {s}: validation R² per epoch "
              + ", ".join(f"{h['validation_r2']:.2f}" for h in cnn.history_), flush=True)
    table.report(name, preds, secs)
    cnn_file = table.path.parent / "cnn_predictions.npy"
    if cnn_file.exists():
        table.preds.setdefault("baseline: cnn baseline (plain CNN, one-hot)", np.load(cnn_file).mean(0))
    table.compare("baseline: cnn baseline (plain CNN, one-hot)", name)


# fine-tuning options added after the cached runs began: they enter a run's key only through a row's own settings
# (RECIPE sets cooldown_steps: 0 for every demo-recipe row; DEFAULTS rows name it): older runs keep their keys
LATER_OPTIONS = ("shift_augment", "head_wide", "cooldown_steps", "head_wide_dropout", "head_wide_after",
                 "deep_readout")


def run_key(name: str, settings: dict, model) -> str:
    """The cache key of a row's fine-tuning runs: stable across invocations (unlike hash()); a change of the row's
    settings or of finetune's defaults (but those of :data:`LATER_OPTIONS`) makes a new key (no stale cached
    predictions)."""
    import dataclasses

    from florabert.config import FinetuneConfig

    d = FinetuneConfig()
    defaults = "FinetuneConfig(" + ", ".join(f"{f.name}={getattr(d, f.name)!r}" for f in dataclasses.fields(d)
                                             if f.repr and f.name not in LATER_OPTIONS) + ")"
    return hashlib.md5(f"{name}|{sorted(settings.items())}|{defaults}|{model}".encode()).hexdigest()[:10]


def models(table: Table, variants: list[tuple], seeds: range, out: Path, only: str, curve: bool = False,
           parts: dict | None = None) -> None:
    """Fine-tune each variant (per seed) and report it; ``parts`` = {variant: (deep row, wide row[, head row])}
    reports a stacked model's deep and wide parts (and a read-out model's deep path with its head alone) from the
    same runs as rows of their own."""
    for name, model, data_dir, overrides in variants:
        if not chosen(only, name):
            continue
        settings = {k: v for k, v in overrides.items() if not k.startswith("_")}
        key = run_key(name, settings, model)
        runs = [out / "ft" / f"{key}_{s}" for s in (seeds if overrides.get("_seeds", True) else [0])]
        part_rows = [(row, f"predictions_{part}") for part, row in
                     zip(("deep", "wide", "head"), (parts or {}).get(name, ()), strict=False) if row]
        if table.done(name):  # its cached predictions (and its parts') still serve the comparisons
            for row, file in [(name, "predictions"), *part_rows]:
                if all((d / f"{file}.npy").exists() for d in runs):
                    table.preds[row] = np.mean([np.load(d / f"{file}.npy") for d in runs], axis=0)
            continue
        preds, secs, dirs = [], [], []
        for d in runs:
            s = int(d.name.rsplit("_", 1)[1])
            p, t = run_finetune(model, data_dir, d, s, settings, curve=curve)
            preds.append(p)
            secs.append(t)
            dirs.append(d)
        table.report(name, preds, secs)
        for row, file in part_rows:
            if all((d / f"{file}.npy").exists() for d in dirs):
                table.report(row, [np.load(d / f"{file}.npy") for d in dirs], secs)


def wide_matrix(data_dir: Path, motifs: bool):
    """(the expression dataset, its genes' wide features as fine-tuning builds them: composition of k = 1..4 and
    the gene model, and with ``motifs`` the JASPAR motifs of the TSS windows)."""
    from florabert.config import FinetuneConfig
    from florabert.data.dataset import load_expression_dataset
    from florabert.features import gene_values, motif_windows, wide_inputs
    from florabert.training.finetune import _gene_feature_columns

    d = load_expression_dataset(data_dir)
    genes = gene_values(d.table, _gene_feature_columns(d, FinetuneConfig()), Path(data_dir) / "dataset.parquet")
    return d, wide_inputs(d.table.column("sequence").to_pylist(), [1, 2, 3, 4], d.layout, genes,
                          motifs=motif_windows(d.layout, "tss") if motifs else False)


def residual_data(data_dir: Path, out: Path) -> Path:
    """The dataset with every target replaced by what the wide path (0.3 x ridge + 0.7 x LightGBM, the demo's
    blend) leaves unexplained: out of fold on the training genes (5 folds by family), fitted on all training
    genes for validation and test. A deep path that learns sequence the composition misses predicts it."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.model_selection import GroupKFold

    from florabert.training.wide import WideRidge, fit_trees

    if (out / "dataset.parquet").exists():
        return out
    d, x = wide_matrix(data_dir, motifs=False)
    t = d.table
    y = np.array(t.column("labels").to_pylist())
    split, family = np.array(t.column("split").to_pylist()), np.array(t.column("family").to_pylist())
    tr = np.where(split == "train")[0]
    pred = np.zeros_like(y)

    def fit_predict(a, b, seed):
        ridge, trees = WideRidge(x[a], y[a]), fit_trees(x[a], y[a], seed)
        return 0.3 * ridge.predict(x[b]) + 0.7 * trees.offset(x[b])

    for k, (a, b) in enumerate(GroupKFold(5).split(tr, groups=family[tr])):
        pred[tr[b]] = fit_predict(tr[a], tr[b], k)
    rest = np.where(split != "train")[0]
    pred[rest] = fit_predict(tr, rest, 42)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(data_dir, tmp)
    pq.write_table(t.set_column(t.column_names.index("labels"), "labels", pa.array((y - pred).tolist())),
                   tmp / "dataset.parquet")
    tmp.rename(out)
    return out


def main_rows(table: Table, args, gene_data: Path, stem: Path, seeds: range) -> None:
    only = args.only
    if not only or "ReLU" in only:
        cnn_activation(table, gene_data, seeds)
    if only and "ReLU" in only:
        return
    if not only or "baseline" in only:
        baselines(table, gene_data, ["kmer_linear", f"kmer_linear@{PROMOTER_LAYOUT}", "composition", "gene_model",
                                     "wide", "wide_lgbm", "motifs", "wide_motifs", "wide_lgbm_motifs",
                                     "motif_lgbm", "motif_lgbm_place", "cnn"], seeds, args.out, only)
        for a, b in (("wide_motifs", "wide"), ("wide_lgbm_motifs", "wide_lgbm")):
            table.compare(f"baseline: {BASELINE_LABELS[a]}", f"baseline: {BASELINE_LABELS[b]}")
    rand = random_init(stem, args.out / "random_init")
    # the full model's runs give the deep path alone and the wide path alone as its parts (as the demo saves them):
    # the deep part was fine-tuned alone on the targets before the wide path joined (wide_stack)
    deep, wide, full = ("deep path alone (configs/deep_alone.yaml) [demo recipe]",
                        "wide path alone (configs/wide_alone.yaml: ridge + LightGBM blend, motifs)",
                        "full model: deep path + ridge + LightGBM, blended, motifs [demo]")
    full_nm, wide_nm, deep_nm = ("full model without the motif features (wide_motifs: false)",
                                 "wide path alone without the motif features",
                                 "deep path alone (the runs without motifs: 3 more seeds)")
    parts = {full: (deep, wide), full_nm: (deep_nm, wide_nm)}
    variants = [  # most telling first: each row is saved as it completes
        (full, stem, gene_data, {}),
        (full_nm, stem, gene_data, NO_MOTIFS),
        ("deep path alone, random init (no pre-training)", rand, gene_data, DEEP_ONLY),
        ("deep path alone, earlier head: encoder states pooled over all windows, RoBERTa init", stem, gene_data,
         {**DEEP_ONLY, **EARLIER_HEAD, "_seeds": False}),
        ("deep path alone, earlier head + PyTorch's init", stem, gene_data,
         {**DEEP_ONLY, **EARLIER_HEAD, "head_init": "pytorch", "_seeds": False}),
        ("deep path alone, earlier head + PyTorch's init + each window pooled on its own", stem, gene_data,
         {**DEEP_ONLY, **EARLIER_HEAD, "head_init": "pytorch", "head_windows": True, "_seeds": False}),
        ("deep path alone, earlier head + the stem's bins read beside the encoder's states", stem, gene_data,
         {**DEEP_ONLY, **EARLIER_HEAD, "head_stem": True, "_seeds": False}),
        ("full model, the earlier joining: ridge from the first step, backfitted (wide_stack: false)", stem,
         gene_data, {"wide_stack": False, "_seeds": False}),
        ("deep path alone, default options (configs/deep_alone.yaml, 3,000 steps, early stopping)", stem,
         gene_data, {**DEEP_ONLY, **DEFAULTS, "_seeds": False}),
    ]
    models(table, variants[:2], seeds, args.out, only, curve=True, parts=parts)
    models(table, variants[2:], seeds, args.out, only)
    table.compare(full, wide)
    table.compare(full, deep)
    table.compare(full, full_nm)
    table.compare(wide, wide_nm)
    table.compare(deep, "baseline: cnn baseline (plain CNN, one-hot)")
    table.compare(deep, "deep path alone, random init (no pre-training)")
    name = "deep path alone trained on the wide path's out-of-fold residual (R² of the residual)"
    if (not only or "residual" in only) and not table.done(name):
        resid = residual_data(gene_data, args.out / "residual_data")
        from florabert.data.dataset import load_expression_dataset

        rd = load_expression_dataset(resid)
        p, t = run_finetune(stem, resid, args.out / "ft" / "residual_0", 0, dict(DEEP_ONLY))
        residual_table = Table(args.out / "residual_tmp", rd.labels("test"), rd.targets, True)
        (args.out / "residual_tmp").mkdir(exist_ok=True)
        residual_table.report(name, [p], [t])
        table.rows = [r for r in table.rows if r["variant"] != name] + residual_table.rows
        table.path.write_text(json.dumps(table.rows, indent=2))


def curves(table: Table, args, gene_data: Path, stem: Path, seeds: range) -> None:
    """Learning curves of the deep path alone (the demo recipe, and 1,500 steps) and of the cnn baseline."""
    runs = [("curve: deep path alone, demo recipe (600 steps)", {}),
            ("curve: deep path alone, 1,500 steps", {"max_steps": 1500})]
    for name, over in runs:
        models(table, [(name, stem, gene_data, {**DEEP_ONLY, **over})], seeds, args.out, args.only, curve=True)
    import yaml

    rows = []
    for run in sorted((args.out / "ft").glob("*/curve.json")):
        steps = yaml.safe_load((run.parent / "config.yaml").read_text())["max_steps"]
        for r in json.loads(run.read_text()):
            seed = run.parent.name.rsplit("_", 1)[1]
            rows.append({"model": f"deep path alone, {steps} steps", "seed": seed, **r})
    history = args.out / "cnn_history.json"
    if history.exists():
        for s, h in enumerate(json.loads(history.read_text())):
            rows += [{"model": "cnn baseline", "seed": s, "step": r["epoch"], **r} for r in h or []]
    if rows:
        write_curves(rows, args.out)


def averaging(table: Table, args, gene_data: Path, stem: Path, seeds: range) -> None:
    """The deep path alone (the demo recipe) with the weights of its last K evaluated checkpoints averaged, K
    chosen on the validation genes, against the single best checkpoint of the same runs."""
    import torch
    from transformers import TrainerCallback

    from florabert.config import FinetuneConfig, load_config
    from florabert.data.dataset import load_expression_dataset
    from florabert.evaluation.metrics import r2
    from florabert.predict import Predictor
    from florabert.training.finetune import finetune

    plain, averaged = ("averaging: deep path alone, the best checkpoint (demo recipe)",
                       "averaging: deep path alone, the last K checkpoints averaged, K chosen on validation genes")
    if not chosen(args.only, "averaging") or (table.done(plain) and table.done(averaged)):
        return

    class Snapshots(TrainerCallback):
        """The weights at every evaluation, in ``into``."""

        def __init__(self, into: list):
            self.into = into

        def on_evaluate(self, args_, state, control, metrics=None, model=None, **kwargs):
            if "eval_r2_all" in (metrics or {}):
                weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
                self.into.append((state.global_step, weights))

    data = load_expression_dataset(gene_data)
    val_seqs, test_seqs = (data.part(p).column("sequence").to_pylist() for p in ("validation", "test"))
    y_val = np.asarray(data.labels("validation"))
    got: dict[str, list] = {plain: [], averaged: []}
    secs = []
    for s in seeds:
        out = args.out / "averaging" / f"seed_{s}"
        if not (out / "averaged.npy").exists():
            snaps: list[tuple[int, dict]] = []
            shutil.rmtree(out, ignore_errors=True)
            cfg = load_config(FinetuneConfig, overrides={**RECIPE, "seed": s, **DEEP_ONLY})
            t0 = time.perf_counter()
            finetune(stem, gene_data, out / "model", cfg, log=QUIET, callbacks=[Snapshots(snaps)])
            (out / "seconds.txt").write_text(f"{time.perf_counter() - t0:.1f}\n")
            pred = Predictor(out / "model")
            np.save(out / "plain.npy", pred.predict(test_seqs))
            choices = []
            for k in (1, 2, 3, 4, 6, 8):
                if k > len(snaps):
                    break
                last = [sd for _, sd in snaps[-k:]]
                avg = {n: (torch.stack([sd[n].float() for sd in last]).mean(0).to(t.dtype)
                           if t.is_floating_point() else t) for n, t in last[-1].items()}
                pred.model.load_state_dict(avg)
                choices.append((r2(y_val, pred.predict(val_seqs)), k, avg))
            v, k, avg = max(choices, key=lambda c: c[0])
            pred.model.load_state_dict(avg)
            np.save(out / "averaged.npy", pred.predict(test_seqs))
            (out / "choice.json").write_text(json.dumps({"k": k, "validation_r2": v, "steps": [
                st for st, _ in snaps[-k:]], "by_k": {c[1]: c[0] for c in choices}}))
            print(f"seed {s}: K = {k} (validation R² by K: "
                  f"{', '.join(f'{c[1]}: {c[0]:.4f}' for c in choices)})", flush=True)
        got[plain].append(np.load(out / "plain.npy"))
        got[averaged].append(np.load(out / "averaged.npy"))
        secs.append(float((out / "seconds.txt").read_text()))
    for name in (plain, averaged):
        table.report(name, got[name], secs)
    table.compare(averaged, plain)


def write_curves(rows: list[dict], out: Path) -> None:
    """curves.csv and curves.png: training and validation R² against epochs, one panel per model."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(out / "curves.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, ["model", "seed", "step", "epoch", "train_r2", "validation_r2"],
                           extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    names = sorted({r["model"] for r in rows})
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4), sharey=True, layout="constrained")
    for ax, name in zip(np.atleast_1d(axes), names, strict=True):
        for seed in sorted({str(r["seed"]) for r in rows if r["model"] == name}):
            rs = [r for r in rows if r["model"] == name and str(r["seed"]) == seed]
            ep = [float(r["epoch"]) for r in rs]
            ax.plot(ep, [r["train_r2"] for r in rs], color="tab:blue", alpha=0.7,
                    label="training genes" if seed == "0" else None)
            ax.plot(ep, [r["validation_r2"] for r in rs], color="tab:orange", alpha=0.9,
                    label="validation genes" if seed == "0" else None)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epoch (passes over the 3,155 training genes)")
        ax.axhline(0, color="grey", lw=0.5)
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("R² (all 14 runs)")
    np.atleast_1d(axes)[0].legend(loc="upper left", fontsize=8)
    fig.savefig(out / "curves.png", dpi=110)
    plt.close(fig)


def pretrain_curve(table: Table, args, gene_data: Path, stem: Path, seeds: range) -> None:
    """The deep path alone from random weights, the demo's pre-training, and 3,000 steps on four assemblies."""
    from florabert.demo import write_demo_manifest
    from florabert.genome.corpus import build_corpus

    names = {"random": "pre-training: deep path alone from random weights",
             "demo": "pre-training: deep path alone from the demo's pre-training (150 steps)",
             "long": "pre-training: deep path alone from 3,000 steps on 4 assemblies"}
    long = None  # its corpus and 3,000 pre-training steps only when its row is chosen (--only "random|demo's")
    if chosen(args.only, names["long"]) and not table.done(names["long"]):
        corpus = args.out / "corpus_all"
        if not (corpus / "manifest.json").exists():
            build_corpus(write_demo_manifest(args.out / "genomes_all.yaml", unannotated=True), corpus, workers=2,
                         layout=GENE_LAYOUT, log=QUIET)
        long = pretrained(args.out / "pre_all_3000", corpus, (3000, 0), extra={"save_steps": 500})
    rand = random_init(stem, args.out / "random_init")
    models(table, [(names["random"], rand, gene_data, DEEP_ONLY_01),
                   (names["demo"], stem, gene_data, DEEP_ONLY_01), (names["long"], long, gene_data, DEEP_ONLY_01)],
           seeds, args.out, args.only)
    table.compare(names["demo"], names["random"])
    table.compare(names["long"], names["random"])
    table.compare(names["long"], names["demo"])


def recipe_variants(table: Table, args, gene_data: Path, stem: Path, seeds: range) -> None:
    """Changes to the deep path's recipe, each against the same runs without it (the pre-training rows' runs from
    the demo's stem, demo recipe): its training windows shifted by up to 4 / 8 / 16 bases at every step
    (``shift_augment``), no dropout on the attention weights (``attention_dropout: 0``, which lets the fused
    attention kernel run on the CPU), and this release's default options instead of the demo recipe."""
    plain = "pre-training: deep path alone from the demo's pre-training (150 steps)"
    rows = [(f"augmentation: deep path alone, training windows shifted by up to {n} bases (shift_augment: {n})",
             stem, gene_data, {**DEEP_ONLY_01, "shift_augment": n}) for n in (4, 8, 16)]
    rows.append(("recipe: deep path alone, no dropout on the attention weights (attention_dropout: 0)", stem,
                 gene_data, {**DEEP_ONLY, "attention_dropout": 0.0}))
    no_attn = rows[-1][0]
    head = ("recipe: deep path alone, RoBERTa's head init (head_init: random; attention_dropout: 0)", stem,
            gene_data, {**DEEP_ONLY, "attention_dropout": 0.0, "head_init": "random"})
    # what `florabert finetune --config configs/deep_alone.yaml` trains: this release's defaults, no demo recipe
    rows.append(("recipe: deep path alone, default options without the cool-down (cooldown_steps: 0; up to 3,000 "
                 "steps, early stopping)", stem, gene_data, {**DEEP_ONLY, **DEFAULTS, "cooldown_steps": 0}))
    defaults = rows[-1][0]
    cool = ("recipe: deep path alone, default options of this release (configs/deep_alone.yaml: up to 3,000 "
            "steps, early stopping, then a 300-step cool-down from the best checkpoint)", stem, gene_data,
            {**DEEP_ONLY, **DEFAULTS})
    longer = ("recipe: deep path alone, default options with a 600-step cool-down (cooldown_steps: 600)", stem,
              gene_data, {**DEEP_ONLY, **DEFAULTS, "cooldown_steps": 600})
    half = ("recipe: deep path alone, default options at half the learning rate (learning_rate: 5e-4)", stem,
            gene_data, {**DEEP_ONLY, **DEFAULTS, "learning_rate": 5e-4})
    models(table, [(plain, stem, gene_data, DEEP_ONLY_01), *rows, cool, longer, head, half], seeds, args.out,
           args.only + "|" + "|".join((plain, defaults, cool[0], no_attn)) if args.only else "")
    for name, *_ in rows:
        table.compare(name, plain)
    table.compare(cool[0], defaults)
    table.compare(longer[0], cool[0])
    table.compare(cool[0], no_attn)  # default options against the demo's recipe as the demo trains it
    table.compare(head[0], no_attn)
    table.compare(half[0], cool[0])


def wide_deep(table: Table, args, gene_data: Path, stem: Path, seeds: range) -> None:
    """The full model (demo recipe, this release's defaults) against the same model whose deep path's head also
    reads the wide features (``head_wide: true``; Wide & Deep; also with dropout 0.5 on them), and against the
    same model whose head learns to read them after the deep path has fine-tuned (``head_wide_after: true``):
    each with its parts, the deep path alone and the wide path alone (3 seeds, paired CIs)."""
    full, full_hw = ("wide & deep: full model, this release's defaults [demo recipe]",
                     "wide & deep: full model, the deep path's head reads the wide features (head_wide: true)")
    deep, deep_hw = ("wide & deep: its deep path alone (the bases)",
                     "wide & deep: its deep path alone (the bases and, through the head, the wide features)")
    wide = "wide & deep: the wide path alone (ridge + LightGBM)"
    drop = ("wide & deep: full model, head_wide: true, dropout 0.5 on the features the head reads "
            "(head_wide_dropout: 0.5)", "wide & deep: its deep path alone (head_wide_dropout: 0.5)")
    after = ("wide & deep: full model, the head reads the wide features after the deep path has fine-tuned "
             "(head_wide_after: true)",
             "wide & deep: its deep path (the bases, then through the head the wide features)")
    models(table, [(full, stem, gene_data, {}), (full_hw, stem, gene_data, {"head_wide": True}),
                   (drop[0], stem, gene_data, {"head_wide": True, "head_wide_dropout": 0.5}),
                   (after[0], stem, gene_data, {"head_wide_after": True})], seeds, args.out, args.only,
           parts={full: (deep, wide), full_hw: (deep_hw, None), drop[0]: (drop[1], None),
                  after[0]: (after[1], None)})
    table.compare(full, wide)
    table.compare(full_hw, wide)
    table.compare(full_hw, full)
    table.compare(deep_hw, deep)
    for variant in (drop[0], after[0]):
        table.compare(variant, wide)
        table.compare(variant, full)
    table.compare(drop[0], full_hw)


def readout(table: Table, args, gene_data: Path, stem: Path, seeds: range) -> None:
    """The deep path's read-out (``deep_readout: true``: after fine-tuning, a ridge on each window's mean of the
    stem's first-layer features, per codon position in the coding window, mixed with the head at a share chosen on
    the validation genes): the deep path alone with the demo recipe and with default options, and the full model,
    each against the same runs' head alone (the read-out's share set to 0) and the full model against its wide
    path alone (3 seeds, paired CIs)."""
    deep = ("read-out: deep path alone, head + read-out (deep_readout: true) [demo recipe]",
            "read-out: the same runs' deep path, its head alone [demo recipe]")
    default = ("read-out: deep path alone, head + read-out, default options (configs/deep_alone.yaml)",
               "read-out: the same runs' deep path, its head alone (default options)")
    full = ("read-out: full model with deep_readout: true [demo recipe]",
            "read-out: its deep path alone (head + read-out)", "read-out: its wide path alone (ridge + LightGBM)",
            "read-out: its deep path, the head alone")
    models(table, [(deep[0], stem, gene_data, {**DEEP_ONLY, "deep_readout": True}),
                   (full[0], stem, gene_data, {"deep_readout": True}),
                   (default[0], stem, gene_data, {**DEEP_ONLY, **DEFAULTS, "deep_readout": True})],
           seeds, args.out, args.only,
           parts={deep[0]: (None, None, deep[1]), default[0]: (None, None, default[1]), full[0]: full[1:]})
    table.compare(deep[0], deep[1])
    table.compare(default[0], default[1])
    table.compare(full[0], full[2])
    table.compare(full[1], full[3])


def feature_mlp(x: np.ndarray, y: np.ndarray, tr: np.ndarray, va: np.ndarray, seed: int,
                epochs: int = 60) -> np.ndarray:
    """A two-layer network (256 GELU units, dropout 0.2 on the inputs and 0.5 on the hidden layer; AdamW 1e-3,
    weight decay 0.01, batch 64) on the standardized wide features, targets standardized on the training genes;
    the epoch with the best validation R² is kept. Returns its predictions for every row of ``x``."""
    import torch

    from florabert.evaluation.metrics import r2

    torch.manual_seed(seed)
    mu, sd = x[tr].mean(0), x[tr].std(0) + 1e-8
    xs = torch.tensor((x - mu) / sd, dtype=torch.float32)
    ym, ys = y[tr].mean(0), y[tr].std(0)
    yt = torch.tensor((y - ym) / ys, dtype=torch.float32)
    net = torch.nn.Sequential(torch.nn.Dropout(0.2), torch.nn.Linear(x.shape[1], 256), torch.nn.GELU(),
                              torch.nn.Dropout(0.5), torch.nn.Linear(256, y.shape[1]))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.01)
    rng, best = np.random.default_rng(seed), (-np.inf, None)
    for _ in range(epochs):
        net.train()
        order = rng.permutation(tr)
        for i in range(0, len(order), 64):
            b = order[i:i + 64]
            loss = ((net(xs[b]) - yt[b]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            pred = net(xs).numpy().astype(np.float64) * ys + ym
        if (v := r2(y[va], pred[va])) > best[0]:
            best = (v, pred)
    return best[1]


def blend_parts(table: Table, args, gene_data: Path, stem: Path, seeds: range) -> None:
    """What the blend can use beside the wide path's ridge and LightGBM: the deep path alone (the bases; the
    demo-recipe runs of the pre-training rows) or a neural network on the wide features themselves (no bases;
    3 seeds averaged). Weights in steps of 0.05 chosen on the validation genes; rows report the test genes."""
    from florabert.predict import Predictor
    from florabert.training.wide import WideRidge, _best, fit_trees

    deep_runs = "pre-training: deep path alone from the demo's pre-training (150 steps)"  # its runs (cached)
    d, x = wide_matrix(gene_data, motifs=True)
    t = d.table
    seqs = t.column("sequence").to_pylist()
    y = np.array(t.column("labels").to_pylist())
    split = np.array(t.column("split").to_pylist())
    tr, va, te = (np.flatnonzero(split == k) for k in ("train", "validation", "test"))
    deep_dirs = [args.out / "ft" / f"{run_key(deep_runs, DEEP_ONLY, stem)}_{s}" for s in seeds]
    for s, run in zip(seeds, deep_dirs, strict=True):
        run_finetune(stem, gene_data, run, s, DEEP_ONLY)  # cached
    parts = {"ridge": WideRidge(x[tr], y[tr]).predict(x), "trees": fit_trees(x[tr], y[tr], 42).offset(x),
             "deep": np.mean([Predictor(run).predict(seqs) for run in deep_dirs], axis=0),
             "mlp": np.mean([feature_mlp(x, y, tr, va, s) for s in seeds], axis=0)}
    labels = {("ridge", "trees"): "blend parts: ridge + LightGBM (the wide path)",
              ("ridge", "trees", "deep"): "blend parts: ridge + LightGBM + the deep path (bases)",
              ("ridge", "trees", "mlp"): "blend parts: ridge + LightGBM + a network on the wide features",
              ("ridge", "trees", "mlp", "deep"): "blend parts: ridge + LightGBM + that network + the deep path"}
    chosen_weights = {}
    for group, name in labels.items():
        weights, validation = _best({k: parts[k][va] for k in group}, y[va], list(group), step=0.05)
        chosen_weights[group] = weights
        print(f"{name}: weights {weights}", flush=True)
        table.report(name, [sum(weights[k] * parts[k][te] for k in group)], [0.0], weights=weights,
                     validation_r2=validation)
        if len(group) > 2:
            table.compare(name, labels[("ridge", "trees")])
    table.report("blend parts: a network on the wide features alone (3 seeds averaged)", [parts["mlp"][te]],
                 [0.0])
    wide = sum(w * parts[k][te] for k, w in chosen_weights[("ridge", "trees")].items())
    deep_ensemble_bound(table, args.out, wide)


def deep_ensemble_bound(table: Table, out: Path, wide: np.ndarray) -> None:
    """An upper bound on what the deep path's bases add to the wide path: the test predictions of every cached
    fine-tuning run of the deep path on the bases alone (any recipe; the deep part of stacked runs without
    ``head_wide`` or ``head_wide_after``; runs whose kept checkpoint scores validation R² < 0.2 left out,
    identical runs counted once) averaged into one ensemble, and its weight beside the wide path chosen on the
    *test* genes (steps of 0.05): more than any blend chosen on validation genes can reach."""
    import yaml

    from florabert.evaluation.metrics import r2

    y, seen, runs = table.y_te, set(), []
    for d in sorted((out / "ft").glob("*_*")):
        config, metrics = d / "config.yaml", d / "metrics.json"
        if not (config.exists() and metrics.exists() and (d / "predictions.npy").exists()):
            continue
        c, m = yaml.safe_load(config.read_text()), json.loads(metrics.read_text())
        if c.get("head_wide") or c.get("head_wide_after"):  # their deep part reads the wide features too
            continue
        stacked = (m.get("wide") or {}).get("validation_r2_deep")
        if stacked is None and (c.get("wide_kmers") or c.get("wide_gene_model") or c.get("wide_motifs")):
            continue  # a model with a wide path but no saved deep part
        validation = stacked if stacked is not None else m["validation"]["validation_r2_mean"]
        pred = np.load(d / ("predictions_deep.npy" if stacked is not None else "predictions.npy"))
        if validation < 0.2 or pred.shape != y.shape or (h := hashlib.md5(pred.tobytes()).hexdigest()) in seen:
            continue
        seen.add(h)
        runs.append(pred)
    ensemble = np.mean(runs, axis=0)
    table.report("blend parts: the deep path alone, an ensemble of every cached bases-only run", [ensemble], [0.0],
                 runs=len(runs))
    curve = {round(float(w), 2): r2(y, (1 - w) * wide + w * ensemble) for w in np.arange(0, 1.0001, 0.05)}
    w = max(curve, key=curve.get)
    name = "blend parts: the wide path + that ensemble, its weight chosen on the test genes (upper bound)"
    print(f"{name}: test R² by the ensemble's weight {curve}", flush=True)
    table.report(name, [(1 - w) * wide + w * ensemble], [0.0], weight=w, runs=len(runs))
    table.compare(name, "blend parts: ridge + LightGBM (the wide path)")


def scaling(table: Table, args, gene_data: Path, stem: Path) -> None:
    """The deep path alone on fewer training genes (same validation and test genes) and at other widths."""
    import pyarrow as pa


    variants = []
    for share in (25, 50):
        def fewer(t, share=share):
            train = np.array(t.column("split").to_pylist()) == "train"
            drop = train & (np.random.default_rng(0).random(len(train)) > share / 100)
            return t.filter(pa.array((~drop).tolist()))

        d = derived_data(gene_data, args.out / f"genes_{share}", fewer)
        variants.append((f"scaling: deep path alone on {share} % of the training genes", stem, d, DEEP_ONLY))
    for width in (32, 128):
        m = random_init(stem, args.out / f"random_width_{width}", hidden_size=width, intermediate_size=2 * width,
                        stem={"channels": width})
        variants.append((f"scaling: deep path alone, width {width} (random init)", m, gene_data, DEEP_ONLY))
    variants.append(("scaling: deep path alone, width 64 (random init)",
                     random_init(stem, args.out / "random_init"), gene_data, DEEP_ONLY))
    models(table, [(n, m, d, {**o, "_seeds": False}) for n, m, d, o in variants], range(1), args.out, args.only)


def derived_data(gene_data: Path, out: Path, change) -> Path:
    """A copy of the dataset folder ``gene_data`` in ``out`` whose table is ``change(table)`` (cached)."""
    import pyarrow.parquet as pq

    from florabert.data.dataset import load_expression_dataset

    if not (out / "dataset.parquet").exists():
        shutil.copytree(gene_data, out, dirs_exist_ok=True)
        pq.write_table(change(load_expression_dataset(gene_data).table), out / "dataset.parquet")
    return out


def lr_cv(args, gene_data: Path, stem: Path, rates=(1e-3, 5e-4), folds: int = 3) -> None:
    """Which learning rate of the default options, chosen by cross-validation over the training genes' paralog
    families (never the test genes): each fold's families are the validation genes of a run trained on the
    others (the test genes left out of its dataset), one run per fold and rate (seed = fold); reported: the
    validation R² of each run's kept checkpoint, per fold and pooled over the folds' genes. ``lr_cv.json``; the
    runs are cached by fold and rate (``lr_cv/fold{k}_lr{rate}``: delete them after a change of the defaults)."""
    import pyarrow as pa

    from florabert.config import FinetuneConfig, load_config
    from florabert.data.dataset import load_expression_dataset
    from florabert.evaluation.metrics import r2
    from florabert.predict import Predictor
    from florabert.training.finetune import finetune

    t = load_expression_dataset(gene_data).table
    split = np.array(t.column("split").to_pylist())
    families = np.array(t.column("family").to_pylist())
    # the largest families first, each into the fold with the fewest genes so far (folds of about equal size)
    sizes = collections.Counter(families[split == "train"])
    fold_of, filled = {}, [0] * folds
    for fam, n in sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0])):
        fold_of[fam] = int(np.argmin(filled))
        filled[fold_of[fam]] += n
    fold = np.array([fold_of.get(f, -1) for f in families])  # -1: a family without training genes

    def fold_table(t, k):  # the training genes only: fold k's families validate, the others train
        new_split = np.where(fold == k, "validation", "train")
        sub = t.set_column(t.column_names.index("split"), "split", pa.array(new_split.tolist()))
        return sub.filter(pa.array((split == "train").tolist()))

    results = []
    for k in range(folds):
        fold_dir = derived_data(gene_data, args.out / "lr_cv" / f"fold{k}", lambda t, k=k: fold_table(t, k))
        data = load_expression_dataset(fold_dir)
        val = data.part("validation")
        y = np.asarray(val.column("labels").to_pylist(), dtype=np.float64)
        for rate in rates:
            out = args.out / "lr_cv" / f"fold{k}_lr{rate:g}"
            if not (out / "validation.npy").exists():
                cfg = load_config(FinetuneConfig, overrides={**DEEP_ONLY, "seed": k, "learning_rate": rate})
                t0 = time.perf_counter()
                shutil.rmtree(out, ignore_errors=True)
                finetune(stem, fold_dir, out, cfg, log=QUIET)
                (out / "seconds.txt").write_text(f"{time.perf_counter() - t0:.1f}\n")
                np.save(out / "validation.npy", Predictor(out).predict(val.column("sequence").to_pylist()))
            pred = np.load(out / "validation.npy").reshape(y.shape)
            results.append({"fold": k, "learning_rate": rate, "genes": len(y), "validation_r2": r2(y, pred),
                            "seconds": float((out / "seconds.txt").read_text()), "y": y, "pred": pred})
            print(f"fold {k} ({len(y):,} validation genes), learning rate {rate:g}: validation R² "
                  f"{results[-1]['validation_r2']:.4f} ({results[-1]['seconds']:.0f} s)", flush=True)
    summary, pooled = [], {}  # pooled[rate] = (every fold's genes' labels, the rate's predictions of them)
    for rate in rates:
        mine = [r for r in results if r["learning_rate"] == rate]
        pooled[rate] = (np.concatenate([r["y"] for r in mine]), np.concatenate([r["pred"] for r in mine]))
        score = r2(*pooled[rate])
        summary.append({"learning_rate": rate, "per_fold": [r["validation_r2"] for r in mine],
                        "pooled": score, "seconds": [r["seconds"] for r in mine]})
        print(f"learning rate {rate:g}: per fold {', '.join(f'{v:.4f}' for v in summary[-1]['per_fold'])}; "
              f"pooled over {len(pooled[rate][0]):,} genes {score:.4f}", flush=True)
    if len(rates) == 2:
        from florabert.evaluation.metrics import paired_r2

        (y, first), (_, second) = pooled[rates[0]], pooled[rates[1]]
        d = paired_r2(y, second, first, bootstrap=1000)
        summary.append({"difference": f"{rates[1]:g} - {rates[0]:g}", **d})
        print(f"pooled, {rates[1]:g} - {rates[0]:g}: {d['difference']:+.4f} (paired 95 % CI {d['lo']:+.4f} to "
              f"{d['hi']:+.4f})", flush=True)
    (args.out / "lr_cv.json").write_text(json.dumps(summary, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench_out/accuracy"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--only", default="",
                        help="run only the rows whose name has this text (or one of several, separated by |)")
    parser.add_argument("--curves", action="store_true", help="learning curves (deep path alone, cnn)")
    parser.add_argument("--pretrain-curve", action="store_true", help="random init vs pre-training rows")
    parser.add_argument("--scaling", action="store_true", help="fewer training genes, other widths")
    parser.add_argument("--averaging", action="store_true", help="the last checkpoints' weights averaged")
    parser.add_argument("--variants", action="store_true",
                        help="recipe changes vs the same runs without: shift_augment, attention_dropout")
    parser.add_argument("--blend-parts", action="store_true",
                        help="the deep path vs a network on the wide features, each beside ridge and LightGBM")
    parser.add_argument("--wide-deep", action="store_true",
                        help="the full model with and without the wide features in the deep path's head")
    parser.add_argument("--lr-cv", action="store_true",
                        help="the default options' learning rate, chosen by cross-validation on training genes")
    parser.add_argument("--readout", action="store_true",
                        help="the deep path's read-out of its stem's window means (deep_readout) against its head")
    parser.add_argument("--redo", action="store_true", help="forget results.json")
    args = parser.parse_args()

    from florabert.data.dataset import load_expression_dataset

    t_all = time.perf_counter()
    gene_data = build_data(args.out / "gene_structure", GENE_LAYOUT)
    data = load_expression_dataset(gene_data)
    table = Table(args.out, data.labels("test"), data.targets, args.redo)
    print(f"{data.part('train').num_rows:,} training, {data.part('validation').num_rows:,} validation and "
          f"{data.part('test').num_rows:,} test genes x {len(data.targets)} leaf runs; layout {GENE_LAYOUT}",
          flush=True)
    stem = pretrained(args.out / "gene_structure" / "pretrain", args.out / "gene_structure" / "corpus",
                      demo.DEMO_PRETRAIN_STEPS)
    seeds = range(args.seeds)
    if args.curves:
        curves(table, args, gene_data, stem, seeds)
    elif args.pretrain_curve:
        pretrain_curve(table, args, gene_data, stem, seeds)
    elif args.scaling:
        scaling(table, args, gene_data, stem)
    elif args.averaging:
        averaging(table, args, gene_data, stem, seeds)
    elif args.variants:
        recipe_variants(table, args, gene_data, stem, seeds)
    elif args.blend_parts:
        blend_parts(table, args, gene_data, stem, seeds)
    elif args.wide_deep:
        wide_deep(table, args, gene_data, stem, seeds)
    elif args.readout:
        readout(table, args, gene_data, stem, seeds)
    elif args.lr_cv:
        lr_cv(args, gene_data, stem)
        return
    else:
        main_rows(table, args, gene_data, stem, seeds)
    md = table.markdown()
    (args.out / "results.md").write_text(md)
    print(md)
    print(f"total {time.perf_counter() - t_all:.0f} s; {args.out / 'results.md'}")


if __name__ == "__main__":
    main()
