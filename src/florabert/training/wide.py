"""The wide path of an expression model: ridge on the windows' composition and gene model, LightGBM on the same
features, and how they join the deep path.

By default (``wide_stack``) the deep path is fine-tuned alone, on the full targets, with the wide layer held at
zero; after fine-tuning the ridge fit and the trees (both fitted on the training genes only) join it as a
weighted average whose weights are chosen on the validation genes (:func:`blend`): the model's outputs become
``a x deep + b x ridge + c x trees``. Each part is a model of its own, so the blend is as good as the best of
them on the validation genes, and the deep path stays a model of the bases (README "The deep path on real
genes": trained on the ridge's residual, it learns nothing). ``wide_stack: false`` keeps the earlier schemes:
the ridge added to the deep path from the first step and refitted to its residual before every evaluation
(``wide_backfit``), frozen, or trained by gradient (``wide_lr_factor``).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import torch

from florabert.evaluation.metrics import r2
from florabert.training.batches import predict_in_order


class WideRidge:
    """The wide path's ridge fit (standardized features, the penalty per target by exact leave-one-out error on
    the training genes: :mod:`florabert.ridge`), refittable: the features are decomposed once, so refitting the
    same penalties to new targets (the residual the deep path leaves, :func:`backfit_callback`) is two matrix
    products."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        from florabert.ridge import RidgeBasis

        self.mean, self.std = x.mean(0), x.std(0)
        self.std[self.std == 0] = 1.0
        self.basis = RidgeBasis((x - self.mean) / self.std)
        y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        self.alpha = self.basis.loo_alphas(y - y.mean(0))
        self.coef, self.intercept = self.solve(y)

    def solve(self, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(coef (outputs, features), intercept (outputs,)) of the ridge fit of ``targets`` (genes, outputs)."""
        centre = targets.mean(0)
        return self.basis.coef(targets - centre, self.alpha), centre

    def predict(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std) @ self.coef.T + self.intercept


def fit_trees(x: np.ndarray, y: np.ndarray, seed: int):
    """The trees of the blend, fitted on the training genes: LightGBM boosters of the targets' leading principal
    components (as many as explain 95 % of their variance, at most 4: one for highly correlated runs of one
    tissue, two for tissues that move in opposite directions), and the least-squares map from the boosters'
    outputs to every target. Returns a :class:`florabert.features.WideTrees` (weight 1)."""
    import lightgbm

    from florabert.features import LGBM_PARAMS, WideTrees

    centred = y - y.mean(0)
    _, sv, vt = np.linalg.svd(centred, full_matrices=False)
    share = np.cumsum(sv ** 2) / max(float((sv ** 2).sum()), 1e-12)
    k = int(min(4, np.searchsorted(share, 0.95) + 1, y.shape[1]))
    scores = centred @ vt[:k].T
    boosters = [lightgbm.LGBMRegressor(**LGBM_PARAMS, random_state=seed + j, n_jobs=torch.get_num_threads())
                .fit(x, scores[:, j]).booster_ for j in range(k)]
    trees = WideTrees(boosters, np.zeros((k + 1, y.shape[1])), 1.0)
    design = trees.design(x)
    trees.coef = np.linalg.lstsq(design, y, rcond=None)[0]
    return trees


def set_wide(model, coef: np.ndarray, intercept: np.ndarray) -> None:
    """Set the model's wide layer (on standardized features) to ``coef`` (outputs, features), ``intercept``."""
    with torch.no_grad():
        model.wide.weight.copy_(torch.as_tensor(coef.reshape(model.wide.weight.shape)))
        model.wide.bias.copy_(torch.as_tensor(np.atleast_1d(intercept)))


def _arrays(parts: dict, name: str) -> tuple[np.ndarray, np.ndarray]:
    part = parts[name]
    return (np.asarray(part["wide_features"], dtype=np.float64), np.asarray(part["labels"], dtype=np.float64))


def fit_wide(model, parts: dict, config, log=print, groups: dict | None = None) -> dict:
    """Fit the wide path by ridge on the training genes and keep the fit as ``model.wide_ridge``. With
    ``config.wide_stack`` the wide layer stays at zero while the deep path fine-tunes alone (:func:`blend` sets
    it after); else it starts at the ridge fit and the head's output bias at 0. Returns the ridge's validation R²
    (all cells) and, with several feature ``groups`` (name -> number of features, in input order), each group's
    validation R² alone and without it."""
    x, y = _arrays(parts, "train")
    xv, yv = _arrays(parts, "validation")
    ridge = WideRidge(x, y)
    model.wide_ridge = ridge
    with torch.no_grad():
        model.wide_mean.copy_(torch.as_tensor(ridge.mean))
        model.wide_std.copy_(torch.as_tensor(ridge.std))
    if config.wide_stack:
        set_wide(model, np.zeros_like(ridge.coef), np.zeros_like(ridge.intercept))
    else:
        set_wide(model, ridge.coef, ridge.intercept)
        with torch.no_grad():
            # the ridge has the intercept; the head's weights keep their random start: zeroed, they leave the
            # deep path without gradient (README "Why fine-tuning learned no sequence")
            model.head[-1].bias.zero_()
    for p in model.wide.parameters():  # trained by gradient only with wide_lr_factor > 0 (not stacked, no backfit)
        p.requires_grad_(False)
    score = r2(yv, ridge.predict(xv).reshape(yv.shape))
    shares = {}
    if groups and len([n for n in groups.values() if n]) > 1:
        start = 0
        for name, n in groups.items():
            cols = np.arange(start, start + n)
            rest = np.setdiff1d(np.arange(x.shape[1]), cols)
            start += n
            if not n:
                continue
            alone, without = WideRidge(x[:, cols], y), WideRidge(x[:, rest], y)
            shares[name] = {"features": int(n),
                            "validation_r2_alone": r2(yv, alone.predict(xv[:, cols])),
                            "validation_r2_without": r2(yv, without.predict(xv[:, rest]))}
    what = " + ".join(f"{k} ({v:,})" for k, v in (groups or {"composition": x.shape[1]}).items() if v)
    log(f"wide path: ridge on {what} features of {x.shape[0]:,} training genes (penalty "
        f"{np.median(ridge.alpha):.3g}); validation R² {score:.4f}"
        + "".join(f"; {k} alone {v['validation_r2_alone']:.4f}" for k, v in shares.items())
        + ("; the deep path fine-tunes alone, the wide path joins it after (wide_stack)" if config.wide_stack
           else ""))
    return {"features": int(x.shape[1]), "validation_r2": score, "groups": shares,
            "alpha": [float(a) for a in ridge.alpha]}


def backfit_callback(model, train_part, collator):
    """Backfitting of the wide path (``wide_stack: false``, ``wide_backfit``; as in generalized additive models):
    before every evaluation, the ridge is refitted, with its cross-validated penalties, to what the deep path
    leaves unexplained on the training genes."""
    from transformers import TrainerCallback

    y = np.asarray(train_part["labels"], dtype=np.float64)

    class Backfit(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            at_eval = bool(args.eval_steps) and state.global_step % args.eval_steps == 0
            if at_eval or state.global_step >= state.max_steps:
                deep = predict_in_order(model, collator, train_part, deep=True).reshape(y.shape)
                set_wide(model, *model.wide_ridge.solve(y - deep))
                model.train()

    return Backfit()


def _simplex(names: list[str], step: float = 0.1) -> list[dict]:
    """Every weighting of ``names`` in steps of ``step`` that sums to 1."""
    n = round(1 / step)
    return [{k: c / n for k, c in zip(names, counts, strict=True)}
            for counts in itertools.product(range(n + 1), repeat=len(names)) if sum(counts) == n]


def _best(val: dict, yv: np.ndarray, names: list[str], step: float = 0.1) -> tuple[dict, float]:
    """The weighting of the parts ``names`` (steps of ``step``, summing to 1) with the best validation R²."""
    score = lambda w: r2(yv, sum(w[k] * val[k] for k in names))  # noqa: E731
    best = max(_simplex(names, step), key=score)
    return best, score(best)


def blend(model, collator, parts: dict, config, log) -> dict:
    """After fine-tuning: the weighted average of the model's parts that scores best on the validation genes.

    Stacked (``config.wide_stack``): the deep path, the ridge and, with ``wide_model: blend``, LightGBM on the
    wide features (fitted on the training genes), weights in steps of 0.1. Not stacked: the fine-tuned model
    (deep + ridge) and the trees, the trees' weight kept only when it beats the model alone by 0.01. The weights
    go into the model's config (``wide_blend["weights"]``; the model computes the average itself) and each part
    of ``parts`` gets its ``wide_offset`` column (the trees' weighted output). Also chosen, for
    :func:`save_part`: the weights of the wide path's parts alone (ridge and trees)."""
    x, y = _arrays(parts, "train")
    xv, yv = _arrays(parts, "validation")
    trees = fit_trees(x, y, config.seed) if config.wide_model == "blend" else None
    val = {}
    if config.wide_stack:
        val["deep"] = predict_in_order(model, collator, parts["validation"], deep=True).reshape(yv.shape)
        val["ridge"] = model.wide_ridge.predict(xv)
        set_wide(model, model.wide_ridge.coef, model.wide_ridge.intercept)  # zero while the deep path trained
    else:
        val["model"] = predict_in_order(model, collator, parts["validation"]).reshape(yv.shape)
    if trees is not None:
        val["trees"] = trees.offset(xv)
    alone = {k: r2(yv, v) for k, v in val.items()}
    best, score = _best(val, yv, list(val))
    if not config.wide_stack and trees is not None and score < alone["model"] + 0.01:
        best, score = {"model": 1.0, "trees": 0.0}, alone["model"]
    if "model" in best:
        best = {"deep": best["model"], "ridge": best["model"], "trees": best.get("trees", 0.0)}
    wide_names = [k for k in ("ridge", "trees") if k in val]
    wide_weights, wide_score = _best(val, yv, wide_names) if wide_names else ({}, float("nan"))
    model.config.wide_blend = {"weights": {**{"deep": 0.0, "ridge": 0.0, "trees": 0.0}, **best}}
    if trees is not None:
        trees.weight = best["trees"]
        for name in list(parts):
            offset = trees.offset(np.asarray(parts[name]["wide_features"], dtype=np.float64)).tolist()
            parts[name] = parts[name].add_column("wide_offset", offset)
        model.config.wide_blend.update(weight=best["trees"], coef=trees.coef.tolist(),
                                       boosters=len(trees.boosters))
        model.wide_trees = trees
    names = {"deep": "the deep path", "ridge": "the ridge", "trees": "LightGBM", "model": "the fine-tuned model"}
    log("blend (weights chosen on the validation genes): "
        + " + ".join(f"{best[k]:.1f} x {names[k]}" for k in best if k in val or config.wide_stack)
        + f" -> validation R² {score:.4f} ("
        + ", ".join(f"{names[k]} alone {v:.4f}" for k, v in alone.items()) + ")")
    return {"blend_weights": best, "validation_r2_blend": score,
            **{f"validation_r2_{k}": v for k, v in alone.items()},
            "wide_alone": {"weights": wide_weights, "validation_r2": wide_score}}


def save_part(model_dir, out, part: str) -> Path:
    """Save one part of a stacked model (``wide_stack``) in ``model_dir`` as a model of its own in ``out``:
    ``deep``, the deep path alone (the wide path removed: it reads bases only), or ``wide``, the ridge and trees
    with the weights chosen for them alone on the validation genes (the deep path held at zero). Each part was
    fitted on the training genes alone, so they are the models the full one averages."""
    import json
    import shutil

    from florabert.errors import FloraBertError
    from florabert.modeling import FloraBertForExpression, loading
    from florabert.tokenization import DNATokenizer

    model_dir, out = Path(model_dir), Path(out)
    metrics = json.loads((model_dir / "metrics.json").read_text())
    wide = metrics.get("wide") or {}
    if not (wide.get("blend_weights") and "validation_r2_deep" in wide):
        raise FloraBertError(f"{model_dir}: not a stacked model (fine-tuned with wide_stack: true and a wide "
                             "path)")
    with loading(model_dir):
        model = FloraBertForExpression.from_pretrained(str(model_dir))
    config = model.config
    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    if part == "deep" and config.head_wide:  # its head reads the wide features: they stay, the ridge weighs 0
        config.wide_blend = {"weights": {"deep": 1.0, "ridge": 0.0, "trees": 0.0}}
        model.save_pretrained(tmp)
    elif part == "deep":
        config.wide_blend, config.wide_features, config.wide_kmers, config.gene_features = {}, 0, [], []
        config.wide_groups = {}
        lean = FloraBertForExpression(config)
        lean.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("wide")})
        lean.save_pretrained(tmp)
    elif part == "wide":
        w = wide["wide_alone"]["weights"]
        config.deep_path = False
        config.wide_blend = {**config.wide_blend, "weights": {"deep": 0.0, "ridge": 0.0, "trees": 0.0, **w}}
        if "trees" in w:
            config.wide_blend["weight"] = w["trees"]
        model.save_pretrained(tmp)
        for f in model_dir.glob("wide_lgbm_*.txt"):
            shutil.copy2(f, tmp / f.name)
    else:
        raise FloraBertError(f"part must be deep or wide, not {part!r}")
    DNATokenizer.load(model_dir).write_files(tmp)
    what = {"deep": "the deep path alone (it reads the bases of its windows"
                    + (" and, through its head, the wide features)" if config.head_wide else " and nothing else)"),
            "wide": "the wide path alone (ridge and LightGBM on the windows' composition and gene model)"}[part]
    (tmp / "README.md").write_text(f"# FloraBERT expression model: a part\n\n{what.capitalize()}, taken from "
                                   f"the stacked model `{model_dir}` (florabert.training.wide.save_part).\n")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out


__all__ = ["WideRidge", "backfit_callback", "blend", "fit_trees", "fit_wide", "save_part", "set_wide"]
