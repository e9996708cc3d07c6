"""Ridge regression with the penalty chosen per target by exact leave-one-out error.

The same fit as scikit-learn's ``RidgeCV(alphas, alpha_per_target=True)`` (its efficient leave-one-out mode;
the tests use it as the oracle), from one eigendecomposition of the centred inputs' Gram matrix — features x
features when there are more genes than features, genes x genes otherwise — after which every penalty and
every refit to new targets costs a few matrix products. On the demo's wide path (3,155 genes, 2,750 features,
14 targets, 15 penalties) a fit takes 3 s where ``RidgeCV`` takes 22 s and a thin SVD alone 8 s.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

ALPHAS = np.logspace(-1, 6, 15)


class RidgeBasis:
    """Centred inputs ``xc`` (genes, features) decomposed once. With ``lam`` the Gram matrix's eigenvalues, the
    ridge fit of centred targets ``yc`` at penalty ``a`` is ``coef = back @ ((basis.T @ yc) / (lam + a))``, its
    fitted values ``fitted @ ((basis.T @ yc) / (lam + a))`` and the hat matrix's diagonal
    ``(fitted * basis) @ (1 / (lam + a))``: no division by a vanishing eigenvalue anywhere."""

    def __init__(self, xc: np.ndarray):
        n, p = xc.shape
        if p <= n:  # eigenvectors v of xc'xc: basis = fitted = xc v, back = v
            lam, v = np.linalg.eigh(xc.T @ xc)
            self.basis = self.fitted = xc @ v
            self.back = v
        else:  # eigenvectors q of xc xc': basis = q, fitted = xc xc' q = q lam, back = xc' q
            lam, q = np.linalg.eigh(xc @ xc.T)
            self.basis, self.back = q, xc.T @ q
            self.fitted = q * np.clip(lam, 0.0, None)
        self.lam = np.clip(lam, 0.0, None)
        self.n = n

    def loo_alphas(self, yc: np.ndarray, alphas=ALPHAS) -> np.ndarray:
        """The penalty of ``alphas`` with the least leave-one-out squared error, per column of ``yc`` (targets
        centred on their mean). The intercept is unpenalized: it adds 1/n to the hat matrix's diagonal. Ties go
        to the first penalty, as in scikit-learn."""
        by = self.basis.T @ yc
        cross = self.fitted * self.basis
        errors = np.empty((len(alphas), yc.shape[1]))
        for i, alpha in enumerate(alphas):
            inv = 1.0 / (self.lam + alpha)
            leverage = np.minimum(cross @ inv + 1.0 / self.n, 1.0 - 1e-12)
            residual = (yc - self.fitted @ (inv[:, None] * by)) / (1.0 - leverage)[:, None]
            errors[i] = (residual ** 2).mean(0)
        return np.asarray(alphas, dtype=np.float64)[errors.argmin(0)]

    def coef(self, yc: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        """(targets, features): the ridge fit of centred targets ``yc`` (genes, targets), one penalty each."""
        return (self.back @ ((self.basis.T @ yc) / (self.lam[:, None] + np.asarray(alpha)[None, :]))).T


class LooRidge(RegressorMixin, BaseEstimator):
    """A scikit-learn regressor: ``fit(x, y)`` picks each target's penalty by leave-one-out error and
    fits the ridge with an unpenalized intercept; ``alpha_`` (targets,), ``coef_`` (targets, features),
    ``intercept_`` (targets,); ``predict`` returns (genes,) for a 1-D ``y`` and (genes, targets) otherwise."""

    def __init__(self, alphas=ALPHAS):
        self.alphas = alphas

    def fit(self, x, y):
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        self._vector = y.ndim == 1
        y2 = y.reshape(len(y), -1)
        x_mean, y_mean = x.mean(0), y2.mean(0)
        basis = RidgeBasis(x - x_mean)
        yc = y2 - y_mean
        self.alpha_ = basis.loo_alphas(yc, self.alphas)
        self.coef_ = basis.coef(yc, self.alpha_)
        self.intercept_ = y_mean - self.coef_ @ x_mean
        return self

    def predict(self, x):
        out = np.asarray(x, dtype=np.float64) @ self.coef_.T + self.intercept_
        return out[:, 0] if self._vector else out
