"""Metrics of predicted vs observed log expression, per target and over all test cells.

Definitions (y = observed ln(TPM + offset), ŷ = predicted; genes x targets):
- ``r2``: 1 - Σ(y - ŷ)² / Σ(y - ȳ)²; per target with that target's mean; for "All" over every test cell
  pooled, ȳ being the grand mean of all cells (``sklearn.metrics.r2_score`` on the flattened arrays).
- ``pearson``, ``spearman``: correlation of ŷ with y (per target; "All": pooled cells).
- ``mse``: mean squared error of the log values; ``mae_tpm``: mean absolute error after mapping both back
  to TPM (exp(v) - offset, clipped at 0).
- Bootstrap 95 % intervals resample test *genes* (rows), keeping their targets together.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from florabert.data.expression import inverse_transform

to_tpm = inverse_transform  # predicted or observed ln(TPM + offset) -> TPM


def pearson(y: np.ndarray, y_hat: np.ndarray) -> float:
    """Pearson r of two blocks of cells (NaN when either is constant)."""
    return _corr(stats.pearsonr, y, y_hat)


def r2(y: np.ndarray, y_hat: np.ndarray) -> float:
    y, y_hat = np.asarray(y, np.float64).ravel(), np.asarray(y_hat, np.float64).ravel()
    ss_tot = ((y - y.mean()) ** 2).sum()
    return float(1.0 - ((y - y_hat) ** 2).sum() / ss_tot) if ss_tot > 0 else float("nan")


def _corr(fn, y, y_hat) -> float:
    y, y_hat = np.ravel(y), np.ravel(y_hat)
    if np.ptp(y) == 0 or np.ptp(y_hat) == 0:  # constant: correlation undefined
        return float("nan")
    return float(fn(y, y_hat)[0])


def point_metrics(y: np.ndarray, y_hat: np.ndarray, offset: float) -> dict[str, float]:
    """Metrics of one block of cells (one target's column, or every cell for "All")."""
    return {
        "r2": r2(y, y_hat),
        "pearson": pearson(y, y_hat),
        "spearman": _corr(stats.spearmanr, y, y_hat),
        "mse": float(np.mean((np.ravel(y) - np.ravel(y_hat)) ** 2)),
        "mae_tpm": float(np.mean(np.abs(to_tpm(y, offset) - to_tpm(y_hat, offset)))),
    }


def score(y: np.ndarray, y_hat: np.ndarray, targets: list[str], *, offset: float, bootstrap: int = 1000,
          seed: int = 0) -> list[dict]:
    """One row per target and one for "All": point metrics + bootstrap 95 % CI of r2 and mse."""
    y, y_hat = np.asarray(y, np.float64), np.asarray(y_hat, np.float64)
    if y.shape != y_hat.shape or y.ndim != 2 or y.shape[1] != len(targets):
        raise ValueError(f"shapes differ: observed {y.shape}, predicted {y_hat.shape}, {len(targets)} targets")
    rng = np.random.default_rng(seed)
    draws = np.array([rng.integers(0, len(y), len(y)) for _ in range(bootstrap)]).reshape(bootstrap, len(y))
    r2s, mses = _bootstrap_r2_mse(y, y_hat, draws)
    rows = []
    for j, name in enumerate([*targets, "All"]):
        cols = slice(None) if name == "All" else slice(j, j + 1)
        row = {"tissue": name, **point_metrics(y[:, cols], y_hat[:, cols], offset)}
        if bootstrap:
            row.update(r2_lo=float(np.nanpercentile(r2s[:, j], 2.5)),
                       r2_hi=float(np.nanpercentile(r2s[:, j], 97.5)),
                       mse_lo=float(np.percentile(mses[:, j], 2.5)), mse_hi=float(np.percentile(mses[:, j], 97.5)))
        rows.append(row)
    return rows


def _bootstrap_r2_mse(y: np.ndarray, y_hat: np.ndarray, draws: np.ndarray, chunk: int = 64):
    """R² and MSE of every resample (rows of ``draws``: gene indices), per target and, in the last column, of
    all cells: (resamples, targets + 1) each. Vectorized over ``chunk`` resamples at a time."""
    r2s = np.empty((len(draws), y.shape[1] + 1))
    mses = np.empty_like(r2s)
    with np.errstate(divide="ignore", invalid="ignore"):
        for start in range(0, len(draws), chunk):
            d = draws[start:start + chunk]
            yd, hd = y[d], y_hat[d]  # (chunk, genes, targets)
            res = ((yd - hd) ** 2).sum(1)
            tot = ((yd - yd.mean(1, keepdims=True)) ** 2).sum(1)
            tot_all = ((yd - yd.mean((1, 2), keepdims=True)) ** 2).sum((1, 2))
            res_all = res.sum(1)
            sl = slice(start, start + len(d))
            r2s[sl, :-1] = np.where(tot > 0, 1.0 - res / tot, np.nan)
            r2s[sl, -1] = np.where(tot_all > 0, 1.0 - res_all / tot_all, np.nan)
            mses[sl, :-1], mses[sl, -1] = res / y.shape[0], res_all / (y.shape[0] * y.shape[1])
    return r2s, mses


def paired_r2(y: np.ndarray, a: np.ndarray, b: np.ndarray, *, bootstrap: int = 1000, seed: int = 0) -> dict:
    """R² (all cells) of predictions ``a`` minus that of ``b`` on the same genes, with the 95 % interval of the
    difference over ``bootstrap`` resamples of the genes (both models scored on each resample: a paired test)."""
    y, a, b = (np.asarray(v, np.float64) for v in (y, a, b))
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(bootstrap):
        d = rng.integers(0, len(y), len(y))
        diffs.append(r2(y[d], a[d]) - r2(y[d], b[d]))
    return {"r2_a": r2(y, a), "r2_b": r2(y, b), "difference": r2(y, a) - r2(y, b),
            "lo": float(np.nanpercentile(diffs, 2.5)) if diffs else float("nan"),
            "hi": float(np.nanpercentile(diffs, 97.5)) if diffs else float("nan")}


def add_reductions(rows: list[dict], baseline: str = "const_mean") -> None:
    """Add % reduction of MSE and of MAE (TPM) relative to ``baseline``'s row for the same tissue."""
    ref = {r["tissue"]: r for r in rows if r["model"] == baseline}
    for r in rows:
        b = ref.get(r["tissue"])
        r["mse_reduction_pct"] = 100.0 * (1 - r["mse"] / b["mse"]) if b and b["mse"] > 0 else float("nan")
        r["mae_reduction_pct"] = (100.0 * (1 - r["mae_tpm"] / b["mae_tpm"]) if b and b["mae_tpm"] > 0
                                  else float("nan"))


def class_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """MCC, accuracy, macro F1 and AUROC (one-vs-rest macro for more than two classes) of class
    probabilities ``proba`` (examples, classes) against integer labels ``y``."""
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef, roc_auc_score

    y = np.asarray(y).astype(int).ravel()
    pred = proba.argmax(1)
    out = {"mcc": float(matthews_corrcoef(y, pred)), "accuracy": float(accuracy_score(y, pred)),
           "f1": float(f1_score(y, pred, average="macro", labels=list(range(proba.shape[1])), zero_division=0))}
    present = np.unique(y)
    if len(present) < 2 or (proba.shape[1] > 2 and len(present) < proba.shape[1]):
        out["auroc"] = float("nan")  # undefined without every class (a small bootstrap resample)
        return out
    try:
        if proba.shape[1] == 2:
            out["auroc"] = float(roc_auc_score(y, proba[:, 1]))
        else:
            out["auroc"] = float(roc_auc_score(y, proba, multi_class="ovr", average="macro",
                                               labels=list(range(proba.shape[1]))))
    except ValueError:  # a class missing from this (re)sample
        out["auroc"] = float("nan")
    return out


def score_classes(y: np.ndarray, proba: np.ndarray, *, bootstrap: int = 1000, seed: int = 0) -> dict:
    """:func:`class_metrics` with bootstrap 95 % CIs (examples resampled with replacement)."""
    y = np.asarray(y).astype(int).ravel()
    row = class_metrics(y, proba)
    if bootstrap:
        rng = np.random.default_rng(seed)
        picks = (rng.integers(0, len(y), len(y)) for _ in range(bootstrap))
        with warnings.catch_warnings():  # a resample may lack a class: MCC/F1 then warn, AUROC is NaN
            warnings.simplefilter("ignore")
            draws = [class_metrics(y[i], proba[i]) for i in picks]
        for key in ("mcc", "accuracy", "f1", "auroc"):
            vals = np.array([d[key] for d in draws], dtype=float)
            vals = vals[np.isfinite(vals)]
            lo, hi = (np.percentile(vals, 2.5), np.percentile(vals, 97.5)) if len(vals) else (np.nan, np.nan)
            row[f"{key}_lo"], row[f"{key}_hi"] = float(lo), float(hi)
    return row
