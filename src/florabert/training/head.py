"""How the expression head starts and ends: standardized pooled states and a linear-probe start (options), and
keeping the start when it validates better than fine-tuning's best checkpoint (README "The deep path on real
genes")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from florabert.evaluation.metrics import r2
from florabert.training.batches import predict_in_order
from florabert.training.wide import WideRidge


def start_head(model, parts: dict, collator, config, log, *, rows: int = 4096) -> dict:
    """Before fine-tuning, from the pooled states of (up to ``rows`` of) the training genes: with
    ``config.head_standardize``, set the model's ``pool_mean``/``pool_std`` to their mean and sd (the head then
    reads how a gene differs from the others, not the large part all genes' pooled states share); with
    ``config.head_init`` "probe" (regression), set the head's output layer to the ridge fit of the targets (less
    the wide path's ridge prediction, when there is one) on the head's hidden layer: fine-tuning starts from a
    linear probe of the pre-trained features instead of a random readout whose large first gradients distort
    them (LP-FT, Kumar et al. 2022). Returns what it measured (README "The deep path on real genes")."""
    train = parts["train"]
    standardize = hasattr(model, "pool_mean")  # the model was made with config.head_standardize
    if standardize:
        with torch.no_grad():  # new buffers of a model loaded from a checkpoint without them hold no values yet
            model.pool_mean.zero_()
            model.pool_std.fill_(1.0)
    x = predict_in_order(model, collator, train, pooled=True, rows=rows)
    info = {"genes": len(x)}
    if standardize:
        mean, sd = x.mean(0), x.std(0)
        info["pooled_sd_ratio"] = float(np.median(sd / (np.abs(mean) + 1e-9)))
        sd = np.where(sd > 1e-6, sd, 1.0)
        with torch.no_grad():
            model.pool_mean.copy_(torch.as_tensor(mean))
            model.pool_std.copy_(torch.as_tensor(sd))
        x = (x - mean) / sd
    if config.head_init == "probe" and config.problem == "regression":
        y = np.asarray(train["labels"][: len(x)], dtype=np.float64)
        if hasattr(model, "wide_ridge") and not config.wide_stack:  # stacked: the deep path fits the targets
            y = y - model.wide_ridge.predict(np.asarray(train["wide_features"][: len(x)], dtype=np.float64))
        with torch.no_grad():
            z = torch.as_tensor(x, dtype=model.head[0].weight.dtype)
            hidden = model.head[1](model.head[0](z)).double().numpy()  # dense -> GELU (dropout is off here)
            fit = WideRidge(hidden, y)
            coef = np.atleast_2d(fit.coef) / fit.std
            model.head[-1].weight.copy_(torch.as_tensor(coef))
            bias = np.atleast_1d(fit.intercept) - coef @ fit.mean
            model.head[-1].bias.copy_(torch.as_tensor(bias))
        info["probe_train_r2"] = r2(y, hidden @ coef.T + bias)
    model.train()
    log(f"head: {'standardized pooled states, ' if standardize else ''}"
        + ("output layer from a ridge fit (linear probe) on " if "probe_train_r2" in info else "measured on ")
        + f"{len(x):,} training genes"
        + (f" (their pooled states differ by {info['pooled_sd_ratio']:.0%} of their size)" if standardize else "")
        + (f"; the probe's training R² {info['probe_train_r2']:.4f}" if "probe_train_r2" in info else ""))
    return info


def weights(model) -> dict:
    """A copy of the model's state dict (weights and buffers) that later training leaves alone."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def keep_better_start(trainer, model, val_ds, start_file: Path, log) -> dict:
    """After fine-tuning: the model as it started (the wide path's ridge fit and the head's start, random or a
    probe) when that has the lower validation loss, else the fine-tuned one; the start's weights file is removed
    either way."""
    tuned = weights(model)
    tuned_loss = trainer.evaluate(val_ds, metric_key_prefix="check")["check_loss"]
    model.load_state_dict(torch.load(start_file, weights_only=True))
    start_loss = trainer.evaluate(val_ds, metric_key_prefix="check")["check_loss"]
    kept = start_loss < tuned_loss or not np.isfinite(tuned_loss)  # a run that diverged returns its start
    if kept:
        log(f"the model as it started has a lower validation loss than fine-tuning's best checkpoint "
            f"({start_loss:.4f} vs {tuned_loss:.4f}): the model is the start (keep_better_start)")
    else:
        model.load_state_dict(tuned)
    start_file.unlink()
    start_file.with_suffix(".json").unlink(missing_ok=True)
    return {"kept_start": bool(kept), "validation_loss_start": float(start_loss),
            "validation_loss_tuned": float(tuned_loss)}


__all__ = ["keep_better_start", "start_head", "weights"]
