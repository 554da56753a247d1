"""A linear SVM with the squared hinge loss, solved exactly by a finite Newton method.

TTT4AS trains one linear SVM per test image on a few thousand pseudo-labelled locations of a
few dozen feature channels: many more samples than dimensions. Its objective is the one of
scikit-learn's ``LinearSVC`` (liblinear's L2-regularised, L2-loss primal, with the intercept as
an extra feature of value 1 that is regularised like the weights, and balanced class weights):

    f(w) = 1/2 |w|^2 + sum_i c_i max(0, 1 - y_i w . [x_i, 1])^2,   c_i = C n / (2 n_{y_i}),

with ``y_i`` in {-1, +1} and ``n_k`` the number of samples of class ``k``. ``f`` is strictly
convex and piecewise quadratic, so it has one minimum. On the set ``A`` of samples that violate
their margin, ``f`` is a quadratic whose Hessian is ``I + 2 Z_A' diag(c_A) Z_A`` (``Z`` holds the
rows ``y_i [x_i, 1]``): a ``(d + 1) x (d + 1)`` matrix, small when the channels are few. The
finite Newton method (Mangasarian 2002; Keerthi and DeCoste 2005) takes the Newton step of that
quadratic, moves along it to the exact minimum of ``f`` on the line (``f`` restricted to a line
has a piecewise linear, non-decreasing derivative, whose root a few linear pieces find), and
stops when the set of violators no longer changes (the step then landed on the minimum of the
quadratic that ``f`` is near it) or the gradient is ``tol`` times smaller than at the start.
A few dozen steps, each one pass over the samples and one small linear solve, reach the
minimum to machine precision, where liblinear's conjugate-gradient Newton iterations stop at a
tolerance: on TTT4AS's images this solver is many times faster (``benchmarks/bench_operators.py``
times TTT4AS), and its solution, unlike an early-stopped one, does not depend on the order in
which the processor's BLAS sums (``tests/test_svm.py`` checks it against liblinear's).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> x = rng.normal(size=(200, 3)); y = x[:, 0] + 0.1 * rng.normal(size=200) > 1.0
>>> fit = squared_hinge_svm(x, y, C=10.0)
>>> bool(fit.converged), bool(np.mean((x @ fit.coef + fit.intercept > 0) == y) > 0.95)
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve

__all__ = ["SVMFit", "squared_hinge_svm"]


@dataclass(frozen=True)
class SVMFit:
    """The minimiser: ``decision(x) = x @ coef + intercept``; ``n_iter`` Newton steps taken;
    ``converged`` is False only when ``max_iter`` stopped the solver first."""

    coef: np.ndarray
    intercept: float
    n_iter: int
    converged: bool


def _line_search(w: np.ndarray, step: np.ndarray, margin: np.ndarray, q: np.ndarray,
                 c: np.ndarray, max_pieces: int = 200) -> float:
    """The ``t >= 0`` that minimises ``f(w + t step)`` exactly.

    ``margin = 1 - Z w`` and ``q = Z step``, so sample ``i`` violates its margin at ``t`` when
    ``margin_i - t q_i > 0``. On each linear piece of ``phi'(t) = w.step + t step.step -
    2 sum_active c_i (margin_i - t q_i) q_i``, its root is one division; the search moves to the
    piece that root lies in (kept inside a bracket, bisected when it leaves it) until the root
    lies in the piece that produced it.
    """
    ws, ss = float(w @ step), float(step @ step)
    lo, hi, t = 0.0, np.inf, 1.0
    for _ in range(max_pieces):
        active = margin - t * q > 0
        cq = c[active] * q[active]
        a = ws - 2.0 * float(cq @ margin[active])
        b = ss + 2.0 * float(cq @ q[active])
        slope = a + b * t
        if slope == 0.0:
            return t
        if slope < 0.0:
            lo = t
        else:
            hi = t
        root = -a / b
        if np.array_equal(margin - root * q > 0, active):
            return max(root, 0.0)
        t = root if lo < root < hi else (2.0 * lo if np.isinf(hi) else 0.5 * (lo + hi))
    return t


def squared_hinge_svm(x: np.ndarray, y: np.ndarray, C: float, *, tol: float = 1e-10,
                      max_iter: int = 100) -> SVMFit:
    """Minimise the squared-hinge SVM objective (module docstring) with balanced class weights.

    Parameters
    ----------
    x : ndarray, shape (n, d)
        Samples (any real dtype; computed in float64).
    y : ndarray of bool, shape (n,)
        True for the positive class; both classes must be present.
    C : float
        Regularisation (> 0): larger fits the samples more closely.
    tol : float
        Stop when the gradient's norm is ``tol`` times its norm at ``w = 0`` (or the set of
        margin violators stops changing, whichever comes first).
    max_iter : int
        At most this many Newton steps.

    Returns
    -------
    SVMFit
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=bool)
    n = len(y)
    n_pos = int(y.sum())
    if x.ndim != 2 or len(x) != n or n_pos in (0, n):
        raise ValueError("x must be (n, d) with n labels of both classes")
    sign = np.where(y, 1.0, -1.0)
    c = np.where(y, C * n / (2.0 * n_pos), C * n / (2.0 * (n - n_pos)))
    z = np.empty((n, x.shape[1] + 1))
    z[:, :-1] = x * sign[:, None]
    z[:, -1] = sign
    eye = np.eye(z.shape[1])
    w = np.zeros(z.shape[1])
    margin = np.ones(n)
    active = np.ones(n, bool)
    g0 = None
    for it in range(max_iter):
        za, ca = z[active], c[active]
        grad = w - 2.0 * (za.T @ (ca * margin[active]))
        norm = float(np.linalg.norm(grad))
        g0 = norm if g0 is None else g0
        if norm <= tol * g0:
            return SVMFit(w[:-1].copy(), float(w[-1]), it, True)
        hess = eye + 2.0 * ((za * ca[:, None]).T @ za)
        step = -cho_solve(cho_factor(hess), grad)
        q = z @ step
        t = _line_search(w, step, margin, q, c)
        w = w + t * step
        margin = 1.0 - z @ w
        now = margin > 0
        if np.array_equal(now, active):  # the step reached the minimum of this quadratic piece
            return SVMFit(w[:-1].copy(), float(w[-1]), it + 1, True)
        active = now
    return SVMFit(w[:-1].copy(), float(w[-1]), max_iter, False)
