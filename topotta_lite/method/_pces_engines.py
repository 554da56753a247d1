"""The two numerical engines of PCES: numba on the CPU, batched torch on a GPU.

Both train the same network the same way, with hand-written gradients (no autograd):

* the encoder is three linear layers, each followed by the exact GELU ``x * Phi(x)``;
* the loss is Eq. 10 averaged over **all** ``n (n - 1) / 2`` pairs of the sampled points: a pair
  with equal pseudo-labels pays ``d**2``, a pair with different ones ``max(0, m - d)**2``;
* its gradient with respect to the embeddings ``Z`` is ``4 (diag(G 1) Z - G Z)`` with
  ``G_ij = dL/d(d_ij**2)``: ``1 / (2P)`` for a similar pair, ``-(m - d) / (d 2P)`` for a
  dissimilar pair closer than the margin, 0 otherwise (``P`` the number of pairs);
* the weights are updated by Adam with L2 weight decay, exactly as ``torch.optim.Adam`` does.

Working with matrices instead of a list of pairs makes the loss exact (every pair, every epoch) and
cheap. The CPU engine goes one step further: the pairs within a class need no pairwise matrix at all
(their squared distances sum to ``n_c`` times the class's spread about its mean), so only the
``n_pos x n_neg`` dissimilar pairs are formed (the points are reordered positives first, so each
class is a contiguous block); the GPU engine keeps the plain ``n x n`` matrix, which batches simply.
On the CPU the whole training loop is one compiled numba function (calls to a small BLAS, fused
element-wise loops, every buffer allocated once per training); torch's per-operation overhead on
tiny tensors would cost more than the arithmetic. Classifying every location (:func:`cpu_margins`)
embeds the locations a chunk at a time, standardising each chunk on the fly, so the feature map is
read once and never copied. On a GPU the torch engine trains a whole batch of images at once, one
network per image, with batched matrix products. ``tests/test_pces.py`` checks the analytic
gradient against autograd, the margins against the reference network, and the two engines against
each other.

GELU on the CPU uses a float32 rational approximation of ``erf`` on ``[-4, 4]`` (the form used by
Eigen and XLA; ``tests/test_pces.py`` bounds its error against torch's exact GELU) and the exact
derivative of that approximation, so that the loop vectorises; torch uses its own ``erf``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numba
import numpy as np
import torch

__all__ = ["cpu_embed", "cpu_fit_margins", "cpu_loss_and_grads", "cpu_margins", "cpu_train",
           "gelu_and_slope", "init_weights", "torch_embed", "torch_loss_and_grads", "torch_margins",
           "torch_margins_batch", "torch_train"]

_SQRT1_2 = 0.7071067811865476
_ADAM_BETAS = (0.9, 0.999)
_ADAM_EPS = 1e-8
_D2_EPS = 1e-10  # below this squared distance a dissimilar pair pushes with zero gradient

# erf(x) ~ x P(x^2) / Q(x^2) on [-4, 4]
_P = (-1.60960333262415e-02, -2.95459980854025e-03, -7.34990630326855e-04,
      -5.69250639462346e-05, -2.10102402082508e-06, 2.77068142495902e-08,
      -2.72614225801306e-10)
_Q = (-1.42647390514189e-02, -7.37332916720468e-03, -1.68282697438203e-03,
      -2.13374055278905e-04, -1.45660718464996e-05)


def init_weights(dims: Sequence[int], seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Seeded float32 ``(W, b)`` per layer, drawn like ``torch.nn.Linear``'s default init.

    ``W`` has shape ``(fan_in, fan_out)`` (so a layer is ``x @ W + b``); every entry is uniform in
    ``+-1/sqrt(fan_in)``. The same seed gives the same weights on every engine and device. The
    arrays are fresh copies (training updates them in place).

    Examples
    --------
    >>> [w.shape for w, _ in init_weights([5, 4, 4, 2], seed=0)]
    [(5, 4), (4, 4), (4, 2)]
    """
    return [(w.copy(), b.copy()) for w, b in _drawn_weights(tuple(int(d) for d in dims), int(seed))]


@functools.lru_cache(maxsize=64)
def _drawn_weights(dims: tuple[int, ...], seed: int) -> tuple:
    """The draw behind :func:`init_weights`, cached: every image of a run shares the seed."""
    rng = np.random.default_rng([seed, 7919])
    out = []
    for fan_in, fan_out in zip(dims[:-1], dims[1:]):
        bound = 1.0 / math.sqrt(fan_in)
        w = ((rng.random((fan_in, fan_out)) * 2 - 1) * bound).astype(np.float32)
        b = ((rng.random(fan_out) * 2 - 1) * bound).astype(np.float32)
        w.flags.writeable = b.flags.writeable = False
        out.append((w, b))
    return tuple(out)


# --------------------------------------------------------------------------------------------
# CPU engine (numba)
# --------------------------------------------------------------------------------------------
# No fastmath: with it, LLVM may reorder sums and fuse multiply-adds differently for each CPU and even
# between a fresh compile and one loaded from numba's cache, so the loss curve (and masks) changed
# in the last bits; without it, both give the same bytes, at some cost in speed.
_JIT = {"cache": True, "fastmath": False, "error_model": "numpy"}


@numba.njit(inline="always", **_JIT)
def _gelu1(v, want_slope):  # pragma: no cover - numba
    """``(GELU(v), GELU'(v))`` of one float32 (the slope is 0 unless ``want_slope``).

    Inlined into the loops that call it, which LLVM then vectorises (no reduction, no call).
    """
    p0, p1, p2, p3, p4, p5, p6 = _P
    q0, q1, q2, q3, q4 = _Q
    x = v * np.float32(_SQRT1_2)
    inside = np.float32(1.0) if abs(x) <= np.float32(4.0) else np.float32(0.0)
    x = min(max(x, np.float32(-4.0)), np.float32(4.0))
    x2 = x * x
    p = np.float32(p6)
    p = p * x2 + np.float32(p5)
    p = p * x2 + np.float32(p4)
    p = p * x2 + np.float32(p3)
    p = p * x2 + np.float32(p2)
    p = p * x2 + np.float32(p1)
    p = p * x2 + np.float32(p0)
    q = np.float32(q4)
    q = q * x2 + np.float32(q3)
    q = q * x2 + np.float32(q2)
    q = q * x2 + np.float32(q1)
    q = q * x2 + np.float32(q0)
    rq = np.float32(1.0) / q
    e = x * p * rq
    phi = np.float32(0.5) + np.float32(0.5) * e
    slope = np.float32(0.0)
    if want_slope:
        dp = np.float32(6.0 * p6)
        dp = dp * x2 + np.float32(5.0 * p5)
        dp = dp * x2 + np.float32(4.0 * p4)
        dp = dp * x2 + np.float32(3.0 * p3)
        dp = dp * x2 + np.float32(2.0 * p2)
        dp = dp * x2 + np.float32(p1)
        dq = np.float32(4.0 * q4)
        dq = dq * x2 + np.float32(3.0 * q3)
        dq = dq * x2 + np.float32(2.0 * q2)
        dq = dq * x2 + np.float32(q1)
        # d erf / dx of the approximation: ((x p)' q - x p q') / q^2
        de = ((p + np.float32(2.0) * x2 * dp) - e * np.float32(2.0) * x * dq) * rq * inside
        slope = phi + v * np.float32(0.5 * _SQRT1_2) * de
    return v * phi, slope


@numba.njit(**_JIT)
def _gelu_inplace(a, slope, want_slope):  # pragma: no cover - numba
    """``a <- GELU(a)``; with ``want_slope`` also ``slope <- GELU'(a)`` (same shape as ``a``)."""
    af = a.ravel()
    sf = slope.ravel()
    if want_slope:
        for i in range(af.size):
            af[i], sf[i] = _gelu1(af[i], True)
    else:
        for i in range(af.size):
            af[i] = _gelu1(af[i], False)[0]


def gelu_and_slope(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GELU and its derivative as the CPU engine computes them (float32).

    Examples
    --------
    >>> h, s = gelu_and_slope(np.array([0.0, 1.0], np.float32))
    >>> [round(float(v), 4) for v in h], [round(float(v), 4) for v in s]
    ([0.0, 0.8413], [0.5, 1.0833])
    """
    h = np.array(a, dtype=np.float32, copy=True)
    s = np.empty_like(h)
    _gelu_inplace(h, s, True)
    return h, s


@numba.njit(**_JIT)
def _bias_gelu(a, b, slope, want_slope):  # pragma: no cover - numba
    """``a <- GELU(a + b)`` row by row (``b`` broadcast over the rows), in one pass; with
    ``want_slope`` also ``slope <- GELU'(a + b)``."""
    for i in range(a.shape[0]):
        row = a[i]
        if want_slope:
            srow = slope[i]
            for j in range(row.size):
                row[j], srow[j] = _gelu1(row[j] + b[j], True)
        else:
            for j in range(row.size):
                row[j] = _gelu1(row[j] + b[j], False)[0]


@numba.njit(**_JIT)
def _workspace(n, c, h1, h2, e, npos):  # pragma: no cover - numba
    """Every buffer one epoch writes, allocated once per training."""
    f = np.float32
    acts = (np.empty((n, h1), f), np.empty((n, h2), f), np.empty((n, e), f))
    slopes = (np.empty((n, h1), f), np.empty((n, h2), f), np.empty((n, e), f))
    deltas = (np.empty((n, h1), f), np.empty((n, h2), f), np.empty((n, e), f))
    grads = (np.empty((c, h1), f), np.empty(h1, f), np.empty((h1, h2), f), np.empty(h2, f),
             np.empty((h2, e), f), np.empty(e, f))
    # the embeddings of each class with a column of ones (see _pair_grad)
    with_ones = (np.ones((npos, e + 1), f), np.ones((n - npos, e + 1), f))
    return acts, slopes, deltas, grads, with_ones


@numba.njit(**_JIT)
def _pair_grad(z, npos, margin, gz, with_ones):  # pragma: no cover - numba
    """Loss of Eq. 10 over all pairs of ``z``, whose first ``npos`` rows are the positives;
    writes ``gz = dL/dz``.

    Pairs of one class need no pairwise matrix: their squared distances sum to
    ``n_c * sum_i ||z_i - mu_c||**2`` (``mu_c`` the class mean), whose gradient is
    ``2 n_c (z_i - mu_c)``. Only the ``n_pos x n_neg`` cross pairs are formed: their products by
    one matrix product, their pushes ``-(m - d) / d`` in a loop without reductions (vectorised),
    and the pushes' weighted sums of embeddings together with their plain sums by two more
    matrix products, against the embeddings with a column of ones (``with_ones``).
    """
    n, e = z.shape
    nneg = n - npos
    inv = np.float32(2.0 / (n * (n - 1)))  # 1 / P
    m = np.float32(margin)
    loss = 0.0
    mu = np.empty(e, np.float32)
    acc_k = np.empty(e, np.float32)
    for lo, hi in ((0, npos), (npos, n)):  # similar pairs
        nc = hi - lo
        if nc == 0:
            continue
        mu[:] = 0.0
        for i in range(lo, hi):
            zi = z[i]
            for k in range(e):
                mu[k] += zi[k]
        mu /= np.float32(nc)
        scale = np.float32(2.0 * nc) * inv
        acc_k[:] = 0.0
        for i in range(lo, hi):
            zi = z[i]
            gi = gz[i]
            for k in range(e):
                dv = zi[k] - mu[k]
                acc_k[k] += dv * dv
                gi[k] = scale * dv
        acc = np.float32(0.0)
        for k in range(e):
            acc += acc_k[k]
        loss += nc * acc
    if npos == 0 or nneg == 0:
        return loss * inv
    zp = z[:npos]
    zn = z[npos:]
    zp1, zn1 = with_ones
    # element by element: an array-to-slice assignment makes numba compile the formatting of
    # its shape-mismatch message, a large share of this module's cold compile
    for a in range(npos):
        for k in range(e):
            zp1[a, k] = zp[a, k]
    for b in range(nneg):
        for k in range(e):
            zn1[b, k] = zn[b, k]
    push = np.dot(zp, zn.T)  # the cross products, then -(m - d) / d for pairs inside the margin
    sq_n = np.empty(nneg, np.float32)
    for b in range(nneg):
        zb = zn[b]
        acc = np.float32(0.0)
        for k in range(e):
            acc += zb[k] * zb[k]
        sq_n[b] = acc
    hinge2 = np.zeros(nneg, np.float32)
    two = np.float32(2.0)
    zero = np.float32(0.0)
    eps = np.float32(_D2_EPS)
    for a in range(npos):
        za = zp[a]
        sa = np.float32(0.0)
        for k in range(e):
            sa += za[k] * za[k]
        pr = push[a]
        for b in range(nneg):
            d2 = max(sa + sq_n[b] - two * pr[b], zero)
            d = np.sqrt(d2)
            hinge = max(m - d, zero)
            hinge2[b] += hinge * hinge
            pr[b] = -hinge / d if d2 > eps else zero
    acc = np.float32(0.0)
    for b in range(nneg):
        acc += hinge2[b]
    loss += acc
    hn = np.dot(push, zn1)  # (npos, e + 1): pushes times negatives, and each row's sum
    hp = np.dot(push.T, zp1)  # (nneg, e + 1): pushes times positives, and each column's sum
    t2 = two * inv
    for a in range(npos):
        r = hn[a, e]
        za = zp[a]
        ga = gz[a]
        ha = hn[a]
        for k in range(e):
            ga[k] += t2 * (r * za[k] - ha[k])
    for b in range(nneg):
        c = hp[b, e]
        zb = zn[b]
        gb = gz[npos + b]
        hb = hp[b]
        for k in range(e):
            gb[k] += t2 * (c * zb[k] - hb[k])
    return loss * inv


@numba.njit(**_JIT)
def _scale_col_sum(g, s, out):  # pragma: no cover - numba
    """``g <- g * s`` element by element, and ``out <-`` the column sums of the product."""
    out[:] = 0.0
    for i in range(g.shape[0]):
        gr = g[i]
        sr = s[i]
        for j in range(gr.size):
            v = gr[j] * sr[j]
            gr[j] = v
            out[j] += v


@numba.njit(**_JIT)
def _forward3(x, w1, b1, w2, b2, w3, b3, acts, slopes, want_slopes):  # pragma: no cover
    """The three layers' outputs into ``acts`` and, with ``want_slopes``, GELU slopes."""
    h1, h2, z = acts
    s1, s2, s3 = slopes
    np.dot(x, w1, h1)
    _bias_gelu(h1, b1, s1, want_slopes)
    np.dot(h1, w2, h2)
    _bias_gelu(h2, b2, s2, want_slopes)
    np.dot(h2, w3, z)
    _bias_gelu(z, b3, s3, want_slopes)


@numba.njit(**_JIT)
def _grads3(x, xt, npos, w1, b1, w2, b2, w3, b3, margin, ws):  # pragma: no cover - numba
    """Loss over all pairs and its gradient with respect to every weight, into ``ws``.

    The first ``npos`` rows of ``x`` are the positives; ``xt`` is ``x.T``, C-ordered (the first
    layer's weight gradient is then a plain matrix product, which BLAS runs fastest).
    """
    acts, slopes, deltas, grads, with_ones = ws
    h1, h2, z = acts
    s1, s2, s3 = slopes
    g1, g2, g3 = deltas
    gw1, gb1, gw2, gb2, gw3, gb3 = grads
    _forward3(x, w1, b1, w2, b2, w3, b3, acts, slopes, True)
    loss = _pair_grad(z, npos, margin, g3, with_ones)
    _scale_col_sum(g3, s3, gb3)  # dL/da3 and the bias gradient
    np.dot(h2.T, g3, gw3)
    np.dot(g3, w3.T, g2)
    _scale_col_sum(g2, s2, gb2)
    np.dot(h1.T, g2, gw2)
    np.dot(g2, w2.T, g1)
    _scale_col_sum(g1, s1, gb1)
    np.dot(xt, g1, gw1)
    return loss


@numba.njit(**_JIT)
def _adam_step(p, g, m, v, t, lr, wd):  # pragma: no cover - numba
    b1, b2 = _ADAM_BETAS
    c1 = 1.0 - b1 ** t
    c2 = 1.0 - b2 ** t
    step = np.float32(lr / c1)
    rc2 = np.float32(1.0 / c2)
    pf, gf, mf, vf = p.ravel(), g.ravel(), m.ravel(), v.ravel()
    for i in range(pf.size):
        gr = gf[i] + np.float32(wd) * pf[i]
        mf[i] = np.float32(b1) * mf[i] + np.float32(1.0 - b1) * gr
        vf[i] = np.float32(b2) * vf[i] + np.float32(1.0 - b2) * gr * gr
        pf[i] -= step * mf[i] / (math.sqrt(vf[i] * rc2) + np.float32(_ADAM_EPS))


@numba.njit(**_JIT)
def _train3(x, npos, w1, b1, w2, b2, w3, b3, epochs, lr, wd, margin):  # pragma: no cover
    params = (w1, b1, w2, b2, w3, b3)
    m1 = [np.zeros_like(p) for p in (w1, w2, w3)]
    v1 = [np.zeros_like(p) for p in (w1, w2, w3)]
    m0 = [np.zeros_like(p) for p in (b1, b2, b3)]
    v0 = [np.zeros_like(p) for p in (b1, b2, b3)]
    xt = np.ascontiguousarray(x.T)
    ws = _workspace(x.shape[0], x.shape[1], w1.shape[1], w2.shape[1], w3.shape[1], npos)
    grads = ws[3]
    curve = np.zeros(epochs)
    for ep in range(epochs):
        curve[ep] = _grads3(x, xt, npos, w1, b1, w2, b2, w3, b3, margin, ws)
        t = ep + 1
        _adam_step(params[0], grads[0], m1[0], v1[0], t, lr, wd)
        _adam_step(params[1], grads[1], m0[0], v0[0], t, lr, wd)
        _adam_step(params[2], grads[2], m1[1], v1[1], t, lr, wd)
        _adam_step(params[3], grads[3], m0[1], v0[1], t, lr, wd)
        _adam_step(params[4], grads[4], m1[2], v1[2], t, lr, wd)
        _adam_step(params[5], grads[5], m0[2], v0[2], t, lr, wd)
    return curve


_CHUNK = 256  # rows embedded at a time: the layer buffers stay in the cache


@numba.njit(**_JIT)
def _embed3(x, w1, b1, w2, b2, w3, b3):  # pragma: no cover - numba
    n = x.shape[0]
    out = np.empty((n, w3.shape[1]), np.float32)
    ws = _workspace(min(n, _CHUNK), 0, w1.shape[1], w2.shape[1], w3.shape[1], 0)
    acts, slopes = ws[0], ws[1]
    for lo in range(0, n, _CHUNK):
        hi = min(n, lo + _CHUNK)
        rows = hi - lo
        part = (acts[0][:rows], acts[1][:rows], out[lo:hi])
        _forward3(x[lo:hi], w1, b1, w2, b2, w3, b3, part, slopes, False)
    return out


@numba.njit(**_JIT)
def _margins3(x_train, npos, x_cols, mean, scale, w1, b1, w2, b2, w3, b3):  # pragma: no cover
    """``||z - mu_neg|| - ||z - mu_pos||`` for every column of ``x_cols`` (C, L), standardised
    on the fly as ``(x - mean) * scale``; ``mu`` the class means of the embedded training points
    (the first ``npos`` rows of ``x_train``).

    Locations go through the encoder ``_CHUNK`` at a time: each chunk is standardised and laid
    out as rows in a small buffer that stays in the cache, so the (C, L) map is read once.
    """
    zt = _embed3(x_train, w1, b1, w2, b2, w3, b3)
    c, e = x_cols.shape[0], zt.shape[1]
    mu_p = np.zeros(e, np.float32)
    mu_n = np.zeros(e, np.float32)
    for i in range(zt.shape[0]):
        for k in range(e):
            if i < npos:
                mu_p[k] += zt[i, k]
            else:
                mu_n[k] += zt[i, k]
    mu_p /= np.float32(max(npos, 1))
    mu_n /= np.float32(max(zt.shape[0] - npos, 1))
    n = x_cols.shape[1]
    out = np.empty(n, np.float32)
    rows = np.empty((_CHUNK, c), np.float32)
    ws = _workspace(_CHUNK, 0, w1.shape[1], w2.shape[1], e, 0)
    acts, slopes = ws[0], ws[1]
    for lo in range(0, n, _CHUNK):
        m = min(n, lo + _CHUNK) - lo
        for j in range(m):
            r = rows[j]
            for i in range(c):
                r[i] = (x_cols[i, lo + j] - mean[i]) * scale[i]
        part = (acts[0][:m], acts[1][:m], acts[2][:m])
        _forward3(rows[:m], w1, b1, w2, b2, w3, b3, part, slopes, False)
        z = acts[2]
        for j in range(m):
            dp = np.float32(0.0)
            dn = np.float32(0.0)
            for k in range(e):
                a = z[j, k] - mu_p[k]
                b = z[j, k] - mu_n[k]
                dp += a * a
                dn += b * b
            out[lo + j] = math.sqrt(dn) - math.sqrt(dp)
    return out


def _flat3(weights):
    if len(weights) != 3:
        raise ValueError(f"the PCES encoder has 3 layers, got {len(weights)}")
    return [np.ascontiguousarray(a, dtype=np.float32) for wb in weights for a in wb]


def _positives_first(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, int]:
    """The rows of ``x`` with the positives (``y > 0.5``) first, and their number."""
    pos = np.asarray(y) > 0.5
    npos = int(pos.sum())
    if not pos[:npos].all():  # not already ordered
        x = np.concatenate([x[pos], x[~pos]])
    return np.ascontiguousarray(x, np.float32), npos


def cpu_train(x: np.ndarray, y: np.ndarray, weights, *, epochs: int, lr: float,
              weight_decay: float, margin: float) -> np.ndarray:
    """Train one encoder on ``x`` (n, C) with labels ``y`` (n,); ``weights`` are updated in place.

    Returns the loss before each update (one value per epoch).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(20, 3)).astype(np.float32); y = (np.arange(20) < 10).astype(np.float32)
    >>> x[y > 0] += 2
    >>> w = init_weights([3, 8, 8, 4], seed=0)
    >>> curve = cpu_train(x, y, w, epochs=20, lr=1e-2, weight_decay=0.0, margin=1.0)
    >>> bool(curve[-1] < curve[0])
    True
    """
    flat = _flat3(weights)
    xs, npos = _positives_first(x, y)
    curve = _train3(xs, npos, *flat, int(epochs), float(lr), float(weight_decay), float(margin))
    for k, (w, b) in enumerate(weights):  # in place, also when the inputs had to be converted
        w[...] = flat[2 * k]
        b[...] = flat[2 * k + 1]
    return curve


def cpu_loss_and_grads(x: np.ndarray, y: np.ndarray, weights, *, margin: float):
    """Loss over all pairs and its gradients ``[(dW, db), ...]`` (what each CPU epoch computes).

    Examples
    --------
    >>> x = np.eye(4, 3, dtype=np.float32); y = np.array([1, 1, 0, 0], np.float32)
    >>> loss, grads = cpu_loss_and_grads(x, y, init_weights([3, 5, 5, 2], 0), margin=1.0)
    >>> [g[0].shape for g in grads]
    [(3, 5), (5, 5), (5, 2)]
    """
    flat = _flat3(weights)
    xs, npos = _positives_first(x, y)
    ws = _workspace(xs.shape[0], xs.shape[1], *(flat[2 * k].shape[1] for k in range(3)), npos)
    loss = _grads3(xs, np.ascontiguousarray(xs.T), npos, *flat, float(margin), ws)
    g = ws[3]
    return float(loss), [(g[0], g[1]), (g[2], g[3]), (g[4], g[5])]


def cpu_embed(x: np.ndarray, weights) -> np.ndarray:
    """Embeddings ``(n, E)`` of the rows of ``x`` (n, C) through the trained encoder."""
    return _embed3(np.ascontiguousarray(x, np.float32), *_flat3(weights))


def cpu_margins(x_train: np.ndarray, y_train: np.ndarray, x_cols: np.ndarray, weights, *,
                mean: np.ndarray | None = None, scale: np.ndarray | None = None) -> np.ndarray:
    """Prototype margin ``||z - mu_neg|| - ||z - mu_pos||`` of every location of ``x_cols``.

    ``x_train`` is (n, C) with labels ``y_train``; ``x_cols`` is (C, L), one column per location,
    standardised on the fly as ``(x - mean) * scale`` when ``mean`` / ``scale`` (C,) are given
    (``x_train`` is already standardised). ``mu_pos`` / ``mu_neg`` are the means of the embedded
    training points of each class; a positive margin means nearer the positive prototype.

    Examples
    --------
    >>> x = np.array([[0.0], [1.0], [0.9], [0.1]], np.float32); y = np.array([0, 1, 1, 0])
    >>> w = init_weights([1, 4, 4, 2], seed=0)
    >>> cpu_margins(x, y, np.array([[1.0, 0.0]], np.float32), w).shape
    (2,)
    """
    xs, npos = _positives_first(x_train, y_train)
    c = xs.shape[1]
    mean = np.zeros(c, np.float32) if mean is None else np.asarray(mean, np.float32)
    scale = np.ones(c, np.float32) if scale is None else np.asarray(scale, np.float32)
    return _margins3(xs, npos, np.ascontiguousarray(x_cols, np.float32), mean, scale,
                     *_flat3(weights))


@numba.njit(**_JIT)
def _fit_margins3(x, npos, x_cols, mean, scale, w1, b1, w2, b2, w3, b3, epochs, lr, wd,
                  margin):  # pragma: no cover - numba
    curve = _train3(x, npos, w1, b1, w2, b2, w3, b3, epochs, lr, wd, margin)
    return curve, _margins3(x, npos, x_cols, mean, scale, w1, b1, w2, b2, w3, b3)


def cpu_fit_margins(x_train: np.ndarray, npos: int, x_cols: np.ndarray, mean: np.ndarray,
                    scale: np.ndarray, weights, *, epochs: int, lr: float, weight_decay: float,
                    margin: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`cpu_train` then :func:`cpu_margins` in one compiled call (what PCES runs per image).

    ``x_train`` (n, C) float32 holds the ``npos`` positives first; ``x_cols`` (C, L), ``mean``
    and ``scale`` (C,) are float32, C-ordered. ``weights`` are updated in place. Returns the loss
    curve and the margin of every location.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(20, 3)).astype(np.float32); x[:10] += 2
    >>> cols = np.ascontiguousarray(x.T)
    >>> curve, m = cpu_fit_margins(x, 10, cols, np.zeros(3, np.float32), np.ones(3, np.float32),
    ...                            init_weights([3, 8, 8, 4], 0), epochs=20, lr=1e-2,
    ...                            weight_decay=0.0, margin=1.0)
    >>> bool(curve[-1] < curve[0]), bool((m[:10] > 0).mean() > (m[10:] > 0).mean())
    (True, True)
    """
    return _fit_margins3(x_train, int(npos), x_cols, mean, scale, *_flat3(weights), int(epochs),
                         float(lr), float(weight_decay), float(margin))


# --------------------------------------------------------------------------------------------
# Batched torch engine (GPU; also runs on the CPU, which the tests use)
# --------------------------------------------------------------------------------------------
def _torch_gelu(a: torch.Tensor, want_slope: bool):
    phi = 0.5 * (1.0 + torch.erf(a * _SQRT1_2))
    h = a * phi
    if not want_slope:
        return h, None
    return h, phi + a * torch.exp(-0.5 * a * a) * (1.0 / math.sqrt(2 * math.pi))


def torch_embed(x: torch.Tensor, weights) -> torch.Tensor:
    """Batched forward pass: ``x`` (B, n, C), weights ``[(W (B, i, o), b (B, 1, o)), ...]``."""
    h = x
    for w, b in weights:
        h, _ = _torch_gelu(torch.baddbmm(b, h, w), False)
    return h



def torch_margins(x_train: torch.Tensor, y_train: torch.Tensor, x_all: torch.Tensor,
                  weights) -> torch.Tensor:
    """:func:`cpu_margins` for one image: ``x_train`` (n, C), ``y_train`` (n,), ``x_all`` (L, C),
    weights ``[(W (1, i, o), b (1, 1, o)), ...]``; returns (L,)."""
    zt = torch_embed(x_train[None], weights)[0]
    za = torch_embed(x_all[None], weights)[0]
    pos = y_train > 0.5
    return (torch.linalg.vector_norm(za - zt[~pos].mean(0), dim=1)
            - torch.linalg.vector_norm(za - zt[pos].mean(0), dim=1))

def torch_margins_batch(x_train: torch.Tensor, y_train: torch.Tensor, valid: torch.Tensor,
                        x_cols: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor,
                        weights) -> torch.Tensor:
    """:func:`torch_margins` for a whole batch at once (one kernel per layer, not per image).

    ``x_train`` (B, n, C) padded training points with labels ``y_train`` and ``valid`` (B, n);
    ``x_cols`` (B, C, L) every location of each image, raw, standardised here as
    ``(x - mean) * scale`` with ``mean``, ``scale`` (B, C); weights as in :func:`torch_train`.
    Returns the margins (B, L).

    Examples
    --------
    >>> x = torch.randn(2, 6, 3); y = torch.tensor([[1., 1, 0, 0, 0, 0]] * 2)
    >>> w = [(torch.randn(2, 3, 4), torch.zeros(2, 1, 4)), (torch.randn(2, 4, 2), torch.zeros(2, 1, 2))]
    >>> torch_margins_batch(x, y, torch.ones(2, 6), torch.randn(2, 3, 5), torch.zeros(2, 3),
    ...                     torch.ones(2, 3), w).shape
    torch.Size([2, 5])
    """
    zt = torch_embed(x_train, weights)
    pos = ((y_train > 0.5) & (valid > 0)).to(zt.dtype)[..., None]
    neg = ((y_train <= 0.5) & (valid > 0)).to(zt.dtype)[..., None]
    mu_p = (zt * pos).sum(1, keepdim=True) / pos.sum(1, keepdim=True).clamp_min(1.0)
    mu_n = (zt * neg).sum(1, keepdim=True) / neg.sum(1, keepdim=True).clamp_min(1.0)
    x_all = ((x_cols - mean[:, :, None]) * scale[:, :, None]).transpose(1, 2)
    za = torch_embed(x_all, weights)
    return (torch.linalg.vector_norm(za - mu_n, dim=2)
            - torch.linalg.vector_norm(za - mu_p, dim=2))


def _torch_pairs(y: torch.Tensor, valid: torch.Tensor):
    """(same, different, 1 / (2P)) pair masks of a padded batch."""
    vv = valid[:, :, None] * valid[:, None, :]
    same = (y[:, :, None] == y[:, None, :]).to(vv.dtype) * vv
    n_valid = valid.sum(1)
    inv = (1.0 / (n_valid * (n_valid - 1)).clamp_min(1.0))[:, None, None]
    return same, vv - same, inv


def _torch_grads(x, pairs, weights, margin):
    """Per-image loss (B,) and gradients ``[(dW, db), ...]`` of a padded batch."""
    same, diff, inv = pairs
    hs, slopes, h = [x], [], x
    for w, b in weights:
        h, s = _torch_gelu(torch.baddbmm(b, h, w), True)
        hs.append(h)
        slopes.append(s)
    z = h
    sq = (z * z).sum(-1)
    d2 = (sq[:, :, None] + sq[:, None, :] - 2.0 * torch.bmm(z, z.transpose(1, 2))).clamp_min(0)
    d = d2.sqrt()
    hinge = (margin - d).clamp_min(0)
    loss = (same * d2 + diff * hinge * hinge).sum((1, 2)) * inv[:, 0, 0]
    push = torch.where(d2 > _D2_EPS, hinge / d.clamp_min(1e-30), torch.zeros_like(d))
    G = (same - diff * push) * inv
    g = 4.0 * (G.sum(2, keepdim=True) * z - torch.bmm(G, z)) * slopes[-1]
    grads: list = [None] * len(weights)
    for layer in range(len(weights) - 1, -1, -1):
        grads[layer] = (torch.bmm(hs[layer].transpose(1, 2), g), g.sum(1, keepdim=True))
        if layer > 0:
            g = torch.bmm(g, weights[layer][0].transpose(1, 2)) * slopes[layer - 1]
    return loss, grads


def torch_loss_and_grads(x, y, valid, weights, *, margin: float):
    """Loss (B,) over all pairs of each padded image and gradients ``[(dW, db), ...]``."""
    return _torch_grads(x, _torch_pairs(y, valid), weights, margin)


def torch_train(x: torch.Tensor, y: torch.Tensor, valid: torch.Tensor, weights, *, epochs: int,
                lr: float, weight_decay: float, margin: float) -> torch.Tensor:
    """Train one encoder per image of a padded batch; ``weights`` are updated in place.

    Parameters
    ----------
    x : (B, n, C) tensor
        Points of each image, zero-padded to a common ``n``.
    y : (B, n) tensor
        1 for a pseudo-positive, 0 for a pseudo-negative (padding: anything).
    valid : (B, n) tensor
        1 for a real point, 0 for padding (padding takes part in no pair).
    weights : list of (W, b)
        ``W`` (B, fan_in, fan_out), ``b`` (B, 1, fan_out), on the device of ``x``.

    Returns
    -------
    (B, epochs) tensor
        The loss of each image before each update.
    """
    params = [t for wb in weights for t in wb]
    m1 = [torch.zeros_like(p) for p in params]
    m2 = [torch.zeros_like(p) for p in params]
    pairs = _torch_pairs(y, valid)
    curve = torch.zeros(x.shape[0], epochs, device=x.device, dtype=x.dtype)
    b1, b2 = _ADAM_BETAS
    for ep in range(epochs):
        curve[:, ep], grads = _torch_grads(x, pairs, weights, margin)
        t = ep + 1
        c1, c2 = 1.0 - b1 ** t, 1.0 - b2 ** t
        with torch.no_grad():
            for p, gr, a1, a2 in zip(params, (g for wb in grads for g in wb), m1, m2):
                gr = gr + weight_decay * p
                a1.mul_(b1).add_(gr, alpha=1.0 - b1)
                a2.mul_(b2).addcmul_(gr, gr, value=1.0 - b2)
                p.addcdiv_(a1, (a2 / c2).sqrt_().add_(_ADAM_EPS), value=-lr / c1)
    return curve
