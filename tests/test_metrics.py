import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import mean_squared_error, r2_score

from florabert.evaluation.metrics import add_reductions, r2, score


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    y = rng.normal(2.0, 1.5, (200, 3))
    return y, y + rng.normal(0, 0.8, y.shape)


def test_per_target_metrics_match_scikit_learn_and_scipy(data):
    y, p = data
    rows = {r["tissue"]: r for r in score(y, p, ["a", "b", "c"], offset=1.0, bootstrap=0)}
    for j, t in enumerate("abc"):
        assert rows[t]["r2"] == pytest.approx(r2_score(y[:, j], p[:, j]))
        assert rows[t]["mse"] == pytest.approx(mean_squared_error(y[:, j], p[:, j]))
        assert rows[t]["pearson"] == pytest.approx(stats.pearsonr(y[:, j], p[:, j])[0])
        assert rows[t]["spearman"] == pytest.approx(stats.spearmanr(y[:, j], p[:, j])[0])
        tpm = lambda v: np.clip(np.exp(v) - 1.0, 0, None)  # noqa: E731
        assert rows[t]["mae_tpm"] == pytest.approx(np.mean(np.abs(tpm(y[:, j]) - tpm(p[:, j]))))


def test_all_r2_pools_every_cell_by_hand():
    y = np.array([[1.0, 2.0], [3.0, 6.0]])
    p = np.array([[1.0, 3.0], [2.0, 6.0]])
    # grand mean 3; SS_tot = 4 + 1 + 0 + 9 = 14; SS_res = 0 + 1 + 1 + 0 = 2
    assert r2(y, p) == pytest.approx(1 - 2 / 14)
    rows = score(y, p, ["a", "b"], offset=1.0, bootstrap=0)
    assert rows[-1]["tissue"] == "All" and rows[-1]["r2"] == pytest.approx(1 - 2 / 14)
    assert rows[-1]["r2"] != pytest.approx(np.mean([rows[0]["r2"], rows[1]["r2"]]))  # not the mean of tissues


def test_bootstrap_interval_brackets_the_estimate_and_reductions(data):
    y, p = data
    rows = score(y, p, ["a", "b", "c"], offset=1.0, bootstrap=300, seed=1)
    for r in rows:
        assert r["r2_lo"] <= r["r2"] <= r["r2_hi"] and r["mse_lo"] <= r["mse"] <= r["mse_hi"]
    const = score(y, np.broadcast_to(y.mean(0), y.shape), ["a", "b", "c"], offset=1.0, bootstrap=0)
    table = [{**r, "model": "m"} for r in rows] + [{**r, "model": "const_mean"} for r in const]
    add_reductions(table)
    m_all = next(r for r in table if r["model"] == "m" and r["tissue"] == "All")
    c_all = next(r for r in table if r["model"] == "const_mean" and r["tissue"] == "All")
    assert m_all["mse_reduction_pct"] == pytest.approx(100 * (1 - m_all["mse"] / c_all["mse"]))
    assert c_all["mse_reduction_pct"] == 0


def test_shape_errors(data):
    y, p = data
    with pytest.raises(ValueError, match="shapes"):
        score(y, p[:, :2], ["a", "b", "c"], offset=1.0)


def test_every_bootstrap_resample_is_scored_as_scikit_learn_scores_it(data):
    from florabert.evaluation.metrics import _bootstrap_r2_mse

    y, y_hat = (np.asarray(v, np.float64) for v in data[:2])
    rng = np.random.default_rng(3)
    draws = rng.integers(0, len(y), (150, len(y)))  # more than one chunk of resamples
    r2s, mses = _bootstrap_r2_mse(y, y_hat, draws)
    for i in (0, 63, 64, 149):
        d = draws[i]
        for j in range(y.shape[1]):
            assert r2s[i, j] == pytest.approx(r2_score(y[d, j], y_hat[d, j]), abs=1e-12)
            assert mses[i, j] == pytest.approx(mean_squared_error(y[d, j], y_hat[d, j]), abs=1e-12)
        assert r2s[i, -1] == pytest.approx(r2_score(y[d].ravel(), y_hat[d].ravel()), abs=1e-12)
        assert mses[i, -1] == pytest.approx(mean_squared_error(y[d].ravel(), y_hat[d].ravel()), abs=1e-12)
