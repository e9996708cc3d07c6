"""``florabert evaluate``: models and baselines scored on the same test genes, with tables and figures.

Writes ``metrics.csv`` (one row per model x tissue, tissue "All" = all test cells pooled),
``metrics.md``, ``predictions/<model>.tsv`` (the ``florabert predict`` format, test genes only) and
figures (PNG + SVG): normalized MSE bars (each tissue's MSEs divided by its worst model, as in the
FloraBERT/CornBERT papers), R² per tissue, predicted vs observed (hexbin, all cells) per model.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from florabert.evaluation.metrics import add_reductions, score
from florabert.plotting import savefig

COLUMNS = ["model", "tissue", "r2", "r2_lo", "r2_hi", "pearson", "spearman", "mse", "mse_lo", "mse_hi", "mae_tpm",
           "mse_reduction_pct", "mae_reduction_pct"]
DEFAULT_BASELINES = ("const_mean", "kmer_linear", "kmer_lgbm", "motif_lgbm")


def _write_predictions(path: Path, genes, y_hat, targets, offset) -> None:
    from florabert.predict import prediction_rows

    with open(path, "w") as fh:
        fh.write("\t".join(["gene_id", *targets, *(f"{t}_tpm" for t in targets)]) + "\n")
        fh.writelines("\t".join(row) + "\n" for row in prediction_rows(genes, y_hat, offset, digits=9))


def evaluate(data_dir, out, *, models=(), baselines=DEFAULT_BASELINES, bootstrap: int = 1000, seed: int = 0,
             seeds: int = 1, force: bool = False, log=print) -> list[dict]:
    """Fit ``baselines`` on the training genes, predict the test genes with them and with every model
    directory in ``models``, score everything, write the report into ``out``; returns the metric rows.

    ``seeds`` > 1 refits every seeded baseline (LightGBM, CNN) with seeds ``seed`` .. ``seed + seeds - 1``
    and writes ``metrics_seeds.csv`` (mean and sd over the fits, per model and tissue); metrics.csv and
    predictions/ stay those of the first seed, so they remain recomputable from each other. Models are named
    by their folder (``a/model`` and ``b/model``: ``a-model``, ``b-model``). ``out``: the ``--out`` rule of
    :mod:`florabert.outputs`."""
    from florabert.data.dataset import load_expression_dataset
    from florabert.errors import FloraBertError
    from florabert.evaluation.baselines import make_baseline
    from florabert.outputs import claim_dir, output_dir
    from florabert.predict import Predictor

    if seeds < 1:
        raise FloraBertError("--seeds must be at least 1")
    if bootstrap < 0:
        raise FloraBertError(f"--bootstrap must be >= 0 (got {bootstrap})")
    if not baselines and not models:
        raise FloraBertError("nothing to evaluate: give --models and/or --baselines")
    claim_dir(out, "evaluate", force=force)
    labels = model_labels(models, reserved=baselines)
    data = load_expression_dataset(data_dir)
    predictors = [Predictor(m) for m in models]  # fail before any fitting: model folders, then baseline names
    if data.transform.get("kind") == "class":
        return evaluate_classes(data, out, models=models, predictors=predictors, labels=labels,
                                baselines=baselines, bootstrap=bootstrap, seed=seed, force=force, log=log)
    for name in baselines:
        make_baseline(name, seed=seed, layout=data.layout)
    train, test = data.part("train"), data.part("test")
    if test.num_rows == 0:
        raise FloraBertError(f"{data_dir}: no test genes to evaluate on")
    offset = float(data.transform.get("offset", 1.0))
    genes = test.column("gene_id").to_pylist()
    seqs_te, y_te = test.column("sequence").to_pylist(), data.labels("test")
    seqs_tr, y_tr = train.column("sequence").to_pylist(), data.labels("train")
    preds: dict[str, np.ndarray] = {}
    extra: dict[str, list[np.ndarray]] = {}  # predictions of the seeds after the first
    genes_tr, genes_te = _dataset_genes(data, train), _dataset_genes(data, test)
    val = data.part("validation")
    for name in baselines:
        log(f"baseline {name}: fitting on {len(seqs_tr):,} training genes")
        first = make_baseline(name, seed=seed, layout=data.layout)
        needs = getattr(first, "needs_genes", False)
        g_tr, g_te = ({"genes": genes_tr}, {"genes": genes_te}) if needs else ({}, {})
        if getattr(first, "uses_validation", False) and val.num_rows:  # its epoch is chosen on these genes
            g_tr["validation"] = (val.column("sequence").to_pylist(), data.labels("validation"))
        preds[name] = first.fit(seqs_tr, y_tr, **g_tr).predict(seqs_te, **g_te)
        if seeds > 1 and getattr(first, "seeded", False):
            log(f"baseline {name}: {seeds - 1} more fits (seeds {seed + 1}..{seed + seeds - 1})")
            extra[name] = [make_baseline(name, seed=seed + k, layout=data.layout).fit(seqs_tr, y_tr, **g_tr)
                           .predict(seqs_te, **g_te) for k in range(1, seeds)]
    for m, name, p in zip(models, labels, predictors, strict=True):
        if list(p.config.targets) != list(data.targets):
            raise FloraBertError(f"{m}: its targets ({', '.join(p.config.targets[:3])}...) are not the dataset's")
        log(f"model {name}: predicting {len(seqs_te):,} test genes")
        preds[name] = p.predict(_model_inputs(m, p.config, data, seqs_te), genes=_gene_inputs(m, p, data, test))
    rows = []
    with output_dir(out, "evaluate", force=force) as tmp:
        (tmp / "predictions").mkdir()
        for name, y_hat in preds.items():
            # score exactly what the prediction file says, so metrics.csv can be recomputed from it
            y_hat = np.vectorize(lambda v: float(f"{v:.9g}"))(np.asarray(y_hat, np.float64))
            preds[name] = y_hat
            _write_predictions(tmp / "predictions" / f"{name}.tsv", genes, y_hat, data.targets, offset)
            rows += [{"model": name, **r} for r in score(y_te, y_hat, data.targets, offset=offset,
                                                          bootstrap=bootstrap, seed=seed)]
        if "const_mean" in preds:
            add_reductions(rows)
        with open(tmp / "metrics.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
        _paired(tmp / "paired.csv", y_te, preds, list(labels), bootstrap, seed)
        seed_rows = _seed_summary(tmp, rows, extra, y_te, data.targets, offset) if seeds > 1 else None
        _markdown(tmp / "metrics.md", rows, data, len(genes), seed_rows)
        _figures(tmp, rows, preds, y_te, data.targets)
    return rows


def _paired(path: Path, y, preds: dict, models: list[str], bootstrap: int, seed: int) -> None:
    """paired.csv: every model against every other model and baseline, R² (all cells) difference with its paired
    bootstrap 95 % interval over test genes (metrics.paired_r2)."""
    from florabert.evaluation.metrics import paired_r2

    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["model", "versus", "r2_model", "r2_versus", "difference", "difference_lo", "difference_hi"])
        for a in models:
            for b in preds:
                if b != a:
                    d = paired_r2(y, preds[a], preds[b], bootstrap=bootstrap, seed=seed)
                    w.writerow([a, b, *(f"{d[k]:.6g}" for k in ("r2_a", "r2_b", "difference", "lo", "hi"))])


CLASS_BASELINES = ("const_prior", "kmer_logistic", "kmer_lgbm")
CLASS_COLUMNS = ["model", "mcc", "mcc_lo", "mcc_hi", "accuracy", "accuracy_lo", "accuracy_hi", "f1", "f1_lo",
                 "f1_hi", "auroc", "auroc_lo", "auroc_hi"]


def evaluate_classes(data, out, *, models, predictors, labels, baselines, bootstrap: int, seed: int,
                     force: bool, log=print) -> list[dict]:
    """The classification report of a task dataset (``florabert tasks``): MCC, accuracy, macro F1 and AUROC
    with bootstrap 95 % CIs, for k-mer logistic regression, LightGBM, the class prior and each model; the
    regression defaults are replaced by :data:`CLASS_BASELINES`."""
    import json

    from florabert.errors import FloraBertError
    from florabert.evaluation.baselines import CLASSIFIERS
    from florabert.evaluation.metrics import score_classes
    from florabert.htmlreport import md_escape
    from florabert.outputs import output_dir

    baselines = list(CLASS_BASELINES) if tuple(baselines) == DEFAULT_BASELINES else list(baselines)
    unknown = [b for b in baselines if b not in CLASSIFIERS]
    if unknown:
        raise FloraBertError(f"unknown classification baseline {unknown[0]!r} (known: {', '.join(CLASSIFIERS)})")
    classes = json.loads((Path(data.path) / "targets.json").read_text()).get("classes") or []
    train, test = data.part("train"), data.part("test")
    if test.num_rows == 0:
        raise FloraBertError(f"{data.path}: no test examples to evaluate on")
    y_tr = data.labels("train")[:, 0].astype(int)
    y_te = data.labels("test")[:, 0].astype(int)
    n_classes = max(len(classes), int(max(y_tr.max(), y_te.max())) + 1)
    seqs_tr, seqs_te = train.column("sequence").to_pylist(), test.column("sequence").to_pylist()
    probs: dict[str, np.ndarray] = {}
    for name in baselines:
        log(f"baseline {name}: fitting on {len(seqs_tr):,} training examples")
        if name == "const_prior":
            prior = np.bincount(y_tr, minlength=n_classes) / len(y_tr)
            probs[name] = np.tile(prior, (len(y_te), 1))
            continue
        p = CLASSIFIERS[name](seed=seed) if getattr(CLASSIFIERS[name], "seeded", False) else CLASSIFIERS[name]()
        fitted = p.fit(seqs_tr, y_tr).predict_proba(seqs_te)
        full = np.zeros((len(y_te), n_classes))
        full[:, p.model_.classes_] = fitted
        probs[name] = full
    for m, name, pred in zip(models, labels, predictors, strict=True):
        log(f"model {name}: predicting {len(seqs_te):,} test examples")
        logits = pred.predict(_model_inputs(m, pred.config, data, seqs_te)).astype(np.float64)
        e = np.exp(logits - logits.max(1, keepdims=True))
        probs[name] = e / e.sum(1, keepdims=True)
    rows = [{"model": name, **score_classes(y_te, p, bootstrap=bootstrap, seed=seed)}
            for name, p in probs.items()]
    ids = test.column("gene_id").to_pylist()
    with output_dir(out, "evaluate", force=force) as tmp:
        (tmp / "predictions").mkdir()
        for name, p in probs.items():
            with open(tmp / "predictions" / f"{name}.tsv", "w") as fh:
                names = [classes[k] if k < len(classes) else str(k) for k in range(n_classes)]
                fh.write("\t".join(["gene_id", "label", "class", *(f"p_{n}" for n in names)]) + "\n")
                fh.writelines("\t".join([g, str(t), str(int(q.argmax())), *(f"{v:.6g}" for v in q)]) + "\n"
                              for g, t, q in zip(ids, y_te, p, strict=True))
        with open(tmp / "metrics.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=CLASS_COLUMNS, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
        balance = ", ".join(f"{md_escape(classes[k] if k < len(classes) else k)} {n:,}"
                            for k, n in enumerate(np.bincount(y_te, minlength=n_classes)))
        lines = [f"# Classification on {len(y_te):,} test examples ({balance})", "",
                 "95 % CIs: bootstrap over test examples. F1: macro; AUROC: one-vs-rest macro for > 2 classes.",
                 "",
                 "| model | MCC | 95 % CI | accuracy | F1 | AUROC |", "|---|---|---|---|---|---|"]
        lines += [f"| {md_escape(r['model'])} | {r['mcc']:.4f} | {ci_text(r, 'mcc')} | {r['accuracy']:.4f} | "
                  f"{r['f1']:.4f} | {r['auroc']:.4f} |" for r in rows]
        (tmp / "metrics.md").write_text("\n".join(lines) + "\n")
    return rows


def model_labels(models, *, reserved=()) -> list[str]:
    """A distinct name per model directory: its folder name, prefixed by parent folders while two share one
    (or one is a baseline's name), then numbered."""
    paths = [Path(m).resolve() for m in models]
    depth = [1] * len(paths)

    def label(i: int) -> str:
        return "-".join(paths[i].parts[-depth[i]:]) or str(i + 1)

    for _ in range(8):
        names = [label(i) for i in range(len(paths))]
        clash = [i for i, n in enumerate(names) if names.count(n) > 1 or n in reserved]
        if not clash:
            return names
        for i in clash:
            depth[i] = min(depth[i] + 1, len(paths[i].parts))
    names = [label(i) for i in range(len(paths))]
    return [f"{n}-{i + 1}" if names.count(n) > 1 or n in reserved else n for i, n in enumerate(names)]


def _dataset_genes(data, part):
    """The gene-model inputs of a dataset part (every gm_* column it has), or None without them."""
    from florabert.features import gene_values
    from florabert.genome.genemodel import GENE_MODEL_COLUMNS

    names = [c for c in GENE_MODEL_COLUMNS if c in part.column_names]
    return gene_values(part, names, Path(data.path) / "dataset.parquet") if names else None


def _gene_inputs(model_dir, predictor, data, part):
    """The gene-model inputs of ``part`` (a dataset table) for a model that reads them (None otherwise)."""
    if not predictor.gene_features:
        return None
    from florabert.errors import FloraBertError
    from florabert.features import gene_values

    missing = [c for c in predictor.gene_features if c not in part.column_names]
    if missing:
        raise FloraBertError(f"{model_dir}: reads gene-model features the dataset {data.path} lacks "
                             f"({', '.join(missing[:3])}); build it from a florabert promoter table")
    return gene_values(part, predictor.gene_features, Path(data.path) / "dataset.parquet")


def _model_inputs(model_dir, config, data, seqs: list[str]) -> list[str]:
    """The test genes' windows as ``model_dir`` reads them: the dataset's, or the model's own layout cut from
    them (a promoter-only model scored on a gene-structure dataset reads its TSS window)."""
    from florabert.errors import FloraBertError
    from florabert.layout import LayoutError, cut_windows

    if not config.promoter_window or not data.promoter_window:
        return seqs
    try:
        return cut_windows(seqs, data.layout, config.layout)
    except LayoutError as exc:
        raise FloraBertError(f"{model_dir}: reads {config.layout.spec}, which the dataset's windows "
                             f"({data.layout.spec}) do not contain ({exc})") from None


SEED_METRICS = ("r2", "pearson", "spearman", "mse", "mae_tpm")


def _seed_summary(out: Path, rows, extra: dict, y_te, targets, offset) -> list[dict]:
    """metrics_seeds.csv: mean and sd (ddof 1) of each metric over the seeded refits; models and
    deterministic baselines appear with n_seeds 1 and sd 0."""
    per = {}  # (model, tissue) -> list of metric dicts, first seed first
    for r in rows:
        per.setdefault((r["model"], r["tissue"]), []).append(r)
    for name, fits in extra.items():
        for y_hat in fits:
            for r in score(y_te, y_hat, targets, offset=offset, bootstrap=0):
                per[(name, r["tissue"])].append(r)
    out_rows = []
    for (model, tissue), runs in per.items():
        row = {"model": model, "tissue": tissue, "n_seeds": len(runs)}
        for m in SEED_METRICS:
            v = np.array([r[m] for r in runs], dtype=np.float64)
            row[f"{m}_mean"] = float(v.mean())
            row[f"{m}_sd"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
        out_rows.append(row)
    with open(out / "metrics_seeds.csv", "w", newline="") as fh:  # out: evaluate's staging folder
        w = csv.DictWriter(fh, fieldnames=list(out_rows[0]))
        w.writeheader()
        w.writerows(out_rows)
    return out_rows


def ci_text(row: dict, key: str) -> str:
    """``lo to hi`` of a metric's bootstrap CI, or ``-`` without one (``--bootstrap 0``)."""
    lo, hi = row.get(f"{key}_lo"), row.get(f"{key}_hi")
    if lo is None or hi is None or lo != lo or hi != hi:
        return "-"
    return f"{lo:.4f} to {hi:.4f}"


def _markdown(path: Path, rows, data, n_test: int, seed_rows=None) -> None:
    from florabert.htmlreport import md_code, md_escape

    lines = [f"# Evaluation on {n_test:,} test genes", "",
             f"Dataset {md_code(data.path)}; targets ln(TPM + {data.transform.get('offset')}); 95 % CIs: "
             "bootstrap over test genes. 'All' pools every test cell.", "",
             "| model | R² (All) | 95 % CI | Pearson | Spearman | MSE | MAE (TPM) | MSE reduction vs const_mean |",
             "|---|---|---|---|---|---|---|---|"]
    for r in (r for r in rows if r["tissue"] == "All"):
        red = r.get("mse_reduction_pct")
        lines.append(f"| {md_escape(r['model'])} | {r['r2']:.4f} | {ci_text(r, 'r2')} | {r['pearson']:.3f} | "
                     f"{r['spearman']:.3f} | {r['mse']:.4f} | {r['mae_tpm']:.2f} | "
                     f"{'-' if red is None or red != red else f'{red:.1f} %'} |")
    models = list(dict.fromkeys(r["model"] for r in rows))
    lines += ["", "R² per tissue:", "", "| tissue | " + " | ".join(map(md_escape, models)) + " |",
              "|---|" + "---|" * len(models)]
    for t in data.targets:
        vals = {r["model"]: r["r2"] for r in rows if r["tissue"] == t}
        lines.append(f"| {md_escape(t)} | " + " | ".join(f"{vals[m]:.4f}" for m in models) + " |")
    if seed_rows:
        lines += ["", "Mean ± sd over seeds (All; seeded baselines refitted, others fitted once):", "",
                  "| model | seeds | R² | Pearson | MSE |", "|---|---|---|---|---|"]
        for r in (r for r in seed_rows if r["tissue"] == "All"):
            lines.append(f"| {md_escape(r['model'])} | {r['n_seeds']} | {r['r2_mean']:.4f} ± {r['r2_sd']:.4f} | "
                         f"{r['pearson_mean']:.3f} ± {r['pearson_sd']:.3f} | "
                         f"{r['mse_mean']:.4f} ± {r['mse_sd']:.4f} |")
    path.write_text("\n".join(lines) + "\n")


def _heatmap(plt, out: Path, fname: str, values: np.ndarray, models: list[str], tissues: list[str], title: str,
             fmt: str, cmap: str) -> None:
    """models x tissues as a heatmap with every value written in its cell (legible at page width, unlike
    grouped bars of many models x many runs)."""
    fig, ax = plt.subplots(figsize=(min(max(6.0, 0.5 * len(tissues) + 2.6), 9.5), 0.42 * len(models) + 1.9),
                           layout="constrained")
    im = ax.imshow(values, aspect="auto", cmap=cmap)
    ax.set_xticks(range(len(tissues)), tissues, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(models)), models, fontsize=9)
    ax.axvline(len(tissues) - 1.5, color="white", lw=2)  # "All" apart from the runs
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = values[i, j]
            level = (v - lo) / (hi - lo + 1e-12)  # viridis is dark at its low end, viridis_r at its high end
            dark = level < 0.55 if cmap == "viridis" else level > 0.45
            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=7,
                    color="white" if dark else "black")
    ax.set_title(title, fontsize=10, loc="left")
    fig.colorbar(im, ax=ax, fraction=0.025, pad=0.01)
    for ext in ("png", "svg"):
        savefig(fig, out / f"{fname}.{ext}", dpi=130)
    plt.close(fig)


def _figures(out: Path, rows, preds, y_te, targets) -> None:
    from florabert.plotting import pyplot

    plt = pyplot()

    models = list(preds)
    tissues = [*targets, "All"]
    mse = np.array([[next(r["mse"] for r in rows if r["model"] == m and r["tissue"] == t) for t in tissues]
                    for m in models])
    r2s = np.array([[next(r["r2"] for r in rows if r["model"] == m and r["tissue"] == t) for t in tissues]
                    for m in models])
    order = np.argsort(-r2s[:, -1])  # best model (R² over all cells) on top
    for fname, values, title, fmt, cmap in (
            ("normalized_mse", mse / mse.max(axis=0, keepdims=True),
             "MSE / the worst model's MSE per run (lower is better)", "{:.3f}", "viridis_r"),
            ("r2_per_tissue", r2s, "R² on the test genes per run", "{:+.2f}", "viridis")):
        _heatmap(plt, out, fname, values[order], [models[i] for i in order], tissues, title, fmt, cmap)
    cols = min(3, len(models))
    rows_n = -(-len(models) // cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(4.4 * cols, 3.6 * rows_n), squeeze=False, layout="constrained")
    lo, hi = float(y_te.min()), float(y_te.max())
    for ax, m in zip(axes.ravel(), models, strict=False):
        hb = ax.hexbin(y_te.ravel(), preds[m].ravel(), gridsize=40, bins="log", extent=(lo, hi, lo, hi),
                       cmap="viridis", mincnt=1)
        fig.colorbar(hb, ax=ax, label="gene x run cells (log scale)", pad=0.01)
        ax.plot([lo, hi], [lo, hi], color="tab:red", lw=0.8, ls="--")  # y = x
        ax.set_title(m, fontsize=9)
        ax.set_xlabel("observed ln(TPM + offset)")
        ax.set_ylabel("predicted")
    for ax in axes.ravel()[len(models):]:
        ax.axis("off")
    for ext in ("png", "svg"):
        savefig(fig, out / f"predicted_vs_observed.{ext}", dpi=130)
    plt.close(fig)
