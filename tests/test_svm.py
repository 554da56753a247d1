"""TTT4AS's SVM solver: the minimum of scikit-learn's LinearSVC objective, reached exactly."""

import warnings

import numpy as np
import pytest
from sklearn.svm import LinearSVC

from topotta_lite.operators._svm import squared_hinge_svm


def _problem(seed: int, n: int = 600, d: int = 8, n_pos: int = 40, shift: float = 1.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = np.zeros(n, bool)
    y[:n_pos] = True
    x[:n_pos, : d // 2] += shift  # overlapping classes: some margins violated at the minimum
    return x, y


def _weights(y, C):
    """Balanced per-sample costs and the +-1 labels, written out independently of the solver."""
    n, n_pos = len(y), int(y.sum())
    return np.where(y, C * n / (2 * n_pos), C * n / (2 * (n - n_pos))), np.where(y, 1.0, -1.0)


def _objective(x, y, C, coef, intercept):
    c, s = _weights(y, C)
    slack = np.maximum(0.0, 1.0 - s * (x @ coef + intercept))
    return 0.5 * (coef @ coef + intercept**2) + np.sum(c * slack**2)


def _gradient(x, y, C, coef, intercept):
    c, s = _weights(y, C)
    z = np.hstack([x, np.ones((len(y), 1))]) * s[:, None]
    w = np.r_[coef, intercept]
    m = np.maximum(0.0, 1.0 - z @ w)
    return w - 2.0 * z.T @ (c * m), -2.0 * z.T @ c


@pytest.mark.parametrize("C", [1e-3, 0.1, 10.0, 1e3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_minimum_is_liblinears_minimum_and_the_gradient_vanishes(seed, C):
    x, y = _problem(seed)
    fit = squared_hinge_svm(x, y, C)
    assert fit.converged and fit.n_iter <= 60
    g, g0 = _gradient(x, y, C, fit.coef, fit.intercept)
    assert np.linalg.norm(g) <= 1e-8 * np.linalg.norm(g0)
    ref = LinearSVC(C=C, class_weight="balanced", dual=False, tol=1e-10, max_iter=100_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.fit(x, y)
    ours = _objective(x, y, C, fit.coef, fit.intercept)
    theirs = _objective(x, y, C, ref.coef_[0], ref.intercept_[0])
    assert ours <= theirs * (1 + 1e-9)  # never worse than liblinear at its finest tolerance
    scale = np.abs(ref.decision_function(x)).max()
    assert np.abs(ref.decision_function(x) - (x @ fit.coef + fit.intercept)).max() <= 1e-5 * scale


def test_the_order_of_the_samples_does_not_matter():
    x, y = _problem(3, n=900)
    fit = squared_hinge_svm(x, y, 10.0)
    perm = np.random.default_rng(0).permutation(len(y))
    other = squared_hinge_svm(x[perm], y[perm], 10.0)
    np.testing.assert_allclose(other.coef, fit.coef, rtol=0, atol=1e-9 * np.abs(fit.coef).max())
    assert abs(other.intercept - fit.intercept) <= 1e-9 * max(1.0, abs(fit.intercept))


@pytest.mark.parametrize("C", [1e-6, 1e6])
def test_the_extremes_of_C_finish_and_separable_data_are_separated(C):
    x, y = _problem(4, shift=6.0)  # separable
    fit = squared_hinge_svm(x, y, C, tol=1e-12, max_iter=10_000)
    assert fit.converged and fit.n_iter <= 60
    if C >= 1.0:
        assert np.array_equal(x @ fit.coef + fit.intercept > 0, y)


def test_max_iter_stops_the_solver_and_says_so():
    x, y = _problem(5)
    fit = squared_hinge_svm(x, y, 10.0, max_iter=1)
    assert fit.n_iter == 1 and not fit.converged


@pytest.mark.parametrize("y", [np.zeros(10, bool), np.ones(10, bool)])
def test_one_class_is_refused(y):
    with pytest.raises(ValueError, match="both classes"):
        squared_hinge_svm(np.zeros((10, 2)), y, 1.0)
