"""Scoring models and baselines on the same test genes (``florabert evaluate``).

Importing this package is cheap; the models (torch) load only when :func:`evaluate` scores one."""

from florabert.evaluation.baselines import BASELINES, make_baseline
from florabert.evaluation.evaluate import evaluate, model_labels
from florabert.evaluation.metrics import add_reductions, point_metrics, r2, score, to_tpm

__all__ = ["BASELINES", "add_reductions", "evaluate", "make_baseline", "model_labels", "point_metrics", "r2",
           "score", "to_tpm"]
