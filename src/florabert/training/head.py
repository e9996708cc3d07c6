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


def widen_head(model, parts: dict, collator, config, log, *, epochs: int = 40, patience: int = 5,
               feature_dropout: float = 0.5) -> dict:
    """After the deep path has fine-tuned on the bases (``config.head_wide_after``): the head learns to read the
    wide features too (``config.head_wide`` from then on). Its first layer grows columns for the standardized
    wide features, starting at zero, so training starts from the fine-tuned deep path's own outputs; the encoder
    is frozen, so the head trains on the genes' pooled states, computed once (seconds). Dropout
    ``feature_dropout`` on the features, AdamW at the fine-tuning rate and weight decay; the epoch with the best
    validation R² is kept, and when none beats the deep path as it was the head stays as it was.

    Reading the features from the first step instead (``head_wide: true``) lets the head fit them before the
    bases are learned: on a planted position-dependent motif the deep path then never finds it."""
    import copy

    torch.manual_seed(config.seed)
    dtype, device = model.head[0].weight.dtype, model.head[0].weight.device
    pooled, wide, y = {}, {}, {}
    for name in ("train", "validation"):
        pooled[name] = torch.as_tensor(predict_in_order(model, collator, parts[name], pooled=True), dtype=dtype,
                                       device=device)
        with torch.no_grad():
            features = torch.as_tensor(np.asarray(parts[name]["wide_features"]), device=device)
            wide[name] = model.wide_inputs(features).to(dtype)
        y[name] = np.asarray(parts[name]["labels"], dtype=np.float64).reshape(len(pooled[name]), -1)
    old = model.head
    n_pooled, n_wide = pooled["train"].shape[1], wide["train"].shape[1]
    first = torch.nn.Linear(n_pooled + n_wide, old[0].out_features, device=device, dtype=dtype)
    with torch.no_grad():
        first.weight.zero_()
        first.weight[:, :n_pooled] = old[0].weight
        first.bias.copy_(old[0].bias)
    head = torch.nn.Sequential(first, *(copy.deepcopy(layer) for layer in old[1:]))

    def predict(name: str) -> np.ndarray:
        head.eval()
        with torch.no_grad():
            return head(torch.cat([pooled[name], wide[name]], 1)).double().cpu().numpy()

    start = r2(y["validation"], predict("validation"))
    best, state, since = start, None, 0
    opt = torch.optim.AdamW(head.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    target = torch.as_tensor(y["train"], dtype=dtype, device=device)
    rng = np.random.default_rng(config.seed)
    for epoch in range(1, epochs + 1):
        head.train()
        for batch in np.array_split(rng.permutation(len(target)), max(len(target) // config.batch_size, 1)):
            z = torch.nn.functional.dropout(wide["train"][batch], feature_dropout)
            loss = torch.nn.functional.mse_loss(head(torch.cat([pooled["train"][batch], z], 1)), target[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
        score = r2(y["validation"], predict("validation"))
        if score > best:
            best, state, since = score, (epoch, copy.deepcopy(head.state_dict())), 0
        elif (since := since + 1) >= patience:
            break
    info = {"validation_r2_before": start, "validation_r2_after": best, "epoch": state[0] if state else 0}
    if state is None:
        log(f"head: reading the wide features too did not beat the deep path's validation R² {start:.4f}: "
            "the head stays on the bases alone")
        return info
    head.load_state_dict(state[1])
    model.head = head
    model.config.head_wide = True
    log(f"head: learned to read the {n_wide:,} wide features beside the bases (encoder frozen, epoch "
        f"{state[0]}): the deep path's validation R² {start:.4f} -> {best:.4f}")
    return info


def fit_readout(model, parts: dict, collator, log, *, grid: int = 10) -> dict:
    """After fine-tuning (``config.deep_readout``): the deep path's linear read-out of the windows' means of the
    stem's per-base features (per codon position in a coding window), a ridge fit on the training genes
    (standardized means, the penalty per target by leave-one-out), mixed with the head as
    ``(1 - w) x head + w x read-out``; w in steps of 1 / ``grid`` chosen on the validation genes (ties: the
    smaller). With w = 0 the model stays as it was.

    The head reads the bins after max-pooling and the encoder's states; the means keep what each first-layer
    filter finds across the whole window, the composition a ridge reads best from a few thousand genes."""
    if hasattr(model, "readout"):  # fine-tuned again from a model with a read-out: the head alone, then a new one
        del model.readout
        model.config.readout_weight = 0.0
    if not len(parts["validation"]) or not len(parts["train"]):
        log("read-out: no validation genes to choose its share: the deep path is its head alone")
        return {"weight": 0.0}
    y, x = {}, {}
    for name in ("train", "validation"):
        x[name] = predict_in_order(model, collator, parts[name], means=True)
        y[name] = np.asarray(parts[name]["labels"], dtype=np.float64).reshape(len(x[name]), -1)
    head = predict_in_order(model, collator, parts["validation"], deep=True)
    fit = WideRidge(x["train"], y["train"])
    ridge = fit.predict(x["validation"])
    scores = [r2(y["validation"], (1 - k / grid) * head + k / grid * ridge) for k in range(grid + 1)]
    k = int(np.argmax(scores))
    info = {"weight": k / grid, "validation_r2_head": scores[0], "validation_r2_readout": scores[-1],
            "validation_r2": scores[k], "alpha_median": float(np.median(fit.alpha))}
    if k == 0:
        log(f"read-out: the windows' means (validation R² {scores[-1]:.4f}) do not add to the head's "
            f"{scores[0]:.4f}: the deep path is its head alone")
        return info
    model.config.readout_weight = k / grid
    model.add_readout()
    with torch.no_grad():
        coef = np.atleast_2d(fit.coef) / fit.std
        model.readout.weight.copy_(torch.as_tensor(coef))
        model.readout.bias.copy_(torch.as_tensor(np.atleast_1d(fit.intercept) - coef @ fit.mean))
    log(f"read-out: the deep path mixes {k / grid:.0%} of a ridge on its {x['train'].shape[1]:,} window means "
        f"(validation R² {scores[-1]:.4f}) with its head ({scores[0]:.4f}): {scores[k]:.4f}")
    return info


__all__ = ["fit_readout", "keep_better_start", "start_head", "weights", "widen_head"]
