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
``n_pos x n_neg`` dissimilar pairs are formed; the GPU engine keeps the plain ``n x n`` matrix, which
batches simply. On the CPU the
whole training loop is one compiled numba function (calls to a small BLAS, fused element-wise
loops); torch's per-operation overhead on tiny tensors would cost more than the arithmetic. On a
GPU the torch engine trains a whole batch of images at once, one network per image, with batched
matrix products. ``tests/test_pces.py`` checks the analytic gradient against autograd and the two
engines against each other.

GELU on the CPU uses a float32 rational approximation of ``erf`` on ``[-4, 4]`` (the form used by
Eigen and XLA, |error| < 2e-6 in GELU and 1e-5 in its slope, tested) and the exact derivative of that
approximation, so that the loop vectorises; torch uses its own ``erf``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numba
import numpy as np
import torch

__all__ = ["cpu_embed", "cpu_loss_and_grads", "cpu_train", "gelu_and_slope", "init_weights",
           "torch_embed", "torch_loss_and_grads", "torch_train"]

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
    ``+-1/sqrt(fan_in)``. The same seed gives the same weights on every engine and device.

    Examples
    --------
    >>> [w.shape for w, _ in init_weights([5, 4, 4, 2], seed=0)]
    [(5, 4), (4, 4), (4, 2)]
    """
    rng = np.random.default_rng([int(seed), 7919])
    out = []
    for fan_in, fan_out in zip(dims[:-1], dims[1:]):
        bound = 1.0 / math.sqrt(fan_in)
        w = ((rng.random((fan_in, fan_out)) * 2 - 1) * bound).astype(np.float32)
        b = ((rng.random(fan_out) * 2 - 1) * bound).astype(np.float32)
        out.append((w, b))
    return out


# --------------------------------------------------------------------------------------------
# CPU engine (numba)
# --------------------------------------------------------------------------------------------
_JIT = {"cache": True, "fastmath": True, "error_model": "numpy"}


@numba.njit(**_JIT)
def _gelu_inplace(a, slope, want_slope):  # pragma: no cover - numba
    """``a <- GELU(a)``; with ``want_slope`` also ``slope <- GELU'(a)`` (same shape as ``a``)."""
    af = a.ravel()
    sf = slope.ravel()
    p0, p1, p2, p3, p4, p5, p6 = _P
    q0, q1, q2, q3, q4 = _Q
    for i in range(af.size):
        v = af[i]
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
        af[i] = v * phi
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
            sf[i] = phi + v * np.float32(0.5 * _SQRT1_2) * de


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
def _pair_grad(z, y, margin, gz):  # pragma: no cover - numba
    """Loss of Eq. 10 over all pairs of ``z`` (labels ``y``); writes ``gz = dL/dz``.

    Pairs of one class need no pairwise matrix: their squared distances sum to
    ``n_c * sum_i ||z_i - mu_c||**2`` (``mu_c`` the class mean), whose gradient is
    ``2 n_c (z_i - mu_c)``. Only the ``n_pos x n_neg`` cross pairs are formed one by one.
    """
    n, e = z.shape
    inv = np.float32(2.0 / (n * (n - 1)))  # 1 / P
    m = np.float32(margin)
    pos = np.flatnonzero(y > 0.5)
    neg = np.flatnonzero(y <= 0.5)
    loss = 0.0
    for idx in (pos, neg):  # similar pairs
        nc = idx.size
        if nc == 0:
            continue
        mu = np.zeros(e, np.float32)
        for i in idx:
            mu += z[i]
        mu /= np.float32(nc)
        scale = np.float32(2.0 * nc) * inv
        for i in idx:
            for k in range(e):
                dv = z[i, k] - mu[k]
                loss += nc * dv * dv
                gz[i, k] = scale * dv
    zp = z[pos]
    zn = z[neg]
    cross = np.dot(zp, zn.T)
    sq_p = (zp * zp).sum(axis=1)
    sq_n = (zn * zn).sum(axis=1)
    push = np.empty_like(cross)  # -(m - d) / d for dissimilar pairs closer than the margin
    row = np.zeros(pos.size, np.float32)
    col = np.zeros(neg.size, np.float32)
    for a in range(pos.size):
        acc = np.float32(0.0)
        la = np.float32(0.0)
        for b in range(neg.size):
            d2 = max(sq_p[a] + sq_n[b] - np.float32(2.0) * cross[a, b], np.float32(0.0))
            d = math.sqrt(d2)
            hinge = max(m - d, np.float32(0.0))
            h = -hinge / d if d2 > np.float32(_D2_EPS) else np.float32(0.0)
            la += hinge * hinge
            push[a, b] = h
            acc += h
            col[b] += h
        row[a] = acc
        loss += la
    hn = np.dot(push, zn)
    hp = np.dot(push.T, zp)
    two = np.float32(2.0) * inv
    for a in range(pos.size):
        for k in range(e):
            gz[pos[a], k] += two * (row[a] * zp[a, k] - hn[a, k])
    for b in range(neg.size):
        for k in range(e):
            gz[neg[b], k] += two * (col[b] * zn[b, k] - hp[b, k])
    return loss * inv


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
def _forward3(x, w1, b1, w2, b2, w3, b3, want_slopes):  # pragma: no cover - numba
    """The three layers' outputs ``h1, h2, z`` and, with ``want_slopes``, their GELU slopes."""
    rows = x.shape[0] if want_slopes else 0
    s1 = np.empty((rows, w1.shape[1]), np.float32)
    s2 = np.empty((rows, w2.shape[1]), np.float32)
    s3 = np.empty((rows, w3.shape[1]), np.float32)
    h1 = np.dot(x, w1) + b1
    _gelu_inplace(h1, s1, want_slopes)
    h2 = np.dot(h1, w2) + b2
    _gelu_inplace(h2, s2, want_slopes)
    z = np.dot(h2, w3) + b3
    _gelu_inplace(z, s3, want_slopes)
    return h1, h2, z, s1, s2, s3


@numba.njit(**_JIT)
def _grads3(x, y, w1, b1, w2, b2, w3, b3, margin):  # pragma: no cover - numba
    """Loss over all pairs and its gradient with respect to every weight (3-layer encoder)."""
    h1, h2, z, s1, s2, s3 = _forward3(x, w1, b1, w2, b2, w3, b3, True)
    g3 = np.empty_like(z)
    loss = _pair_grad(z, y, margin, g3)
    g3 *= s3  # dL/da3
    g2 = np.dot(g3, w3.T) * s2
    g1 = np.dot(g2, w2.T) * s1
    return (loss, np.dot(x.T, g1), g1.sum(axis=0), np.dot(h1.T, g2), g2.sum(axis=0),
            np.dot(h2.T, g3), g3.sum(axis=0))


@numba.njit(**_JIT)
def _train3(x, y, w1, b1, w2, b2, w3, b3, epochs, lr, wd, margin):  # pragma: no cover - numba
    mw1, vw1, mb1, vb1 = np.zeros_like(w1), np.zeros_like(w1), np.zeros_like(b1), np.zeros_like(b1)
    mw2, vw2, mb2, vb2 = np.zeros_like(w2), np.zeros_like(w2), np.zeros_like(b2), np.zeros_like(b2)
    mw3, vw3, mb3, vb3 = np.zeros_like(w3), np.zeros_like(w3), np.zeros_like(b3), np.zeros_like(b3)
    curve = np.zeros(epochs)
    for ep in range(epochs):
        loss, gw1, gb1, gw2, gb2, gw3, gb3 = _grads3(x, y, w1, b1, w2, b2, w3, b3, margin)
        curve[ep] = loss
        t = ep + 1
        _adam_step(w1, gw1, mw1, vw1, t, lr, wd)
        _adam_step(b1, gb1, mb1, vb1, t, lr, wd)
        _adam_step(w2, gw2, mw2, vw2, t, lr, wd)
        _adam_step(b2, gb2, mb2, vb2, t, lr, wd)
        _adam_step(w3, gw3, mw3, vw3, t, lr, wd)
        _adam_step(b3, gb3, mb3, vb3, t, lr, wd)
    return curve


@numba.njit(**_JIT)
def _embed3(x, w1, b1, w2, b2, w3, b3):  # pragma: no cover - numba
    return _forward3(x, w1, b1, w2, b2, w3, b3, False)[2]


def _flat3(weights):
    if len(weights) != 3:
        raise ValueError(f"the PCES encoder has 3 layers, got {len(weights)}")
    return [np.ascontiguousarray(a, dtype=np.float32) for wb in weights for a in wb]


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
    curve = _train3(np.ascontiguousarray(x, np.float32), np.ascontiguousarray(y, np.float32),
                    *flat, int(epochs), float(lr), float(weight_decay), float(margin))
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
    out = _grads3(np.ascontiguousarray(x, np.float32), np.ascontiguousarray(y, np.float32),
                  *_flat3(weights), float(margin))
    return float(out[0]), [(out[1], out[2]), (out[3], out[4]), (out[5], out[6])]


def cpu_embed(x: np.ndarray, weights) -> np.ndarray:
    """Embeddings ``(n, E)`` of the rows of ``x`` (n, C) through the trained encoder."""
    return _embed3(np.ascontiguousarray(x, np.float32), *_flat3(weights))


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
