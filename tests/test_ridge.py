"""florabert.ridge against scikit-learn's RidgeCV (alpha_per_target=True), the fit it replaces."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge, RidgeCV

from florabert.ridge import ALPHAS, LooRidge
from florabert.training.wide import WideRidge


def _data(n, p, targets, seed):
    rng = np.random.default_rng(seed)
    x = rng.poisson(3.0, size=(n, p)).astype(float)
    x[:, 3] = x[:, 1] + x[:, 2]  # collinear columns, as k-mer frequencies of one window are
    x[:, 4] = 7.0  # a constant column
    beta = rng.normal(size=(p, targets)) * (rng.random((p, targets)) < 0.2)
    # targets of very different signal-to-noise ratios: their penalties differ
    y = x @ beta + rng.normal(size=(n, targets)) * np.geomspace(0.3, 30.0, targets)
    return x, y


@pytest.mark.parametrize("n,p", [(400, 60), (90, 250)])  # more genes than features, and fewer
def test_the_penalties_and_predictions_are_ridgecvs(n, p):
    x, y = _data(n, p, 5, seed=n)
    oracle = RidgeCV(alphas=ALPHAS, alpha_per_target=True).fit(x, y)
    fit = LooRidge().fit(x, y)
    assert len(set(oracle.alpha_)) > 1  # the targets chose different penalties: the per-target choice is tested
    np.testing.assert_array_equal(fit.alpha_, oracle.alpha_)
    np.testing.assert_allclose(fit.predict(x), oracle.predict(x), rtol=1e-8, atol=1e-8)
    one = LooRidge().fit(x, y[:, 2])  # a 1-D target gives a 1-D prediction, as sklearn's
    assert one.predict(x).shape == (n,) and one.alpha_[0] == RidgeCV(alphas=ALPHAS).fit(x, y[:, 2]).alpha_


def test_the_wide_paths_ridge_refits_new_targets_with_its_penalties():
    x, y = _data(300, 40, 3, seed=1)
    ridge = WideRidge(x, y)
    z = (x - x.mean(0)) / np.where(x.std(0) == 0, 1.0, x.std(0))
    np.testing.assert_array_equal(ridge.alpha, RidgeCV(alphas=ALPHAS, alpha_per_target=True).fit(z, y).alpha_)
    residual = y - 0.5 * y.mean(1, keepdims=True)  # a backfit's new targets, the same penalties
    coef, intercept = ridge.solve(residual)
    for t in range(3):
        ref = Ridge(alpha=ridge.alpha[t]).fit(z, residual[:, t])
        np.testing.assert_allclose(coef[t], ref.coef_, rtol=1e-7, atol=1e-9)
        assert intercept[t] == pytest.approx(ref.intercept_)
