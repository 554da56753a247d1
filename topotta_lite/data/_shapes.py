"""Seeded 2D mask primitives whose topology is known by construction (used by 2D and 2.5D).

Every function returns a boolean ``(H, W)`` mask and takes a ``numpy.random.Generator``.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import ndimage as ndi


def _grid(shape):
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    return yy.astype(np.float64), xx.astype(np.float64)


def disc(shape, center, radius) -> np.ndarray:
    """Filled disc."""
    yy, xx = _grid(shape)
    return (yy - center[0]) ** 2 + (xx - center[1]) ** 2 <= radius**2


def pick_point(rng: np.random.Generator, support: np.ndarray, margin: int = 0) -> tuple[int, int]:
    """A random pixel of ``support`` at least ``margin`` pixels inside it."""
    inner = ndi.binary_erosion(support, iterations=margin) if margin > 0 else support
    if not inner.any():
        inner = support
    ys, xs = np.nonzero(inner)
    k = int(rng.integers(len(ys)))
    return int(ys[k]), int(xs[k])


def polyline_mask(shape, points: np.ndarray, width: float) -> np.ndarray:
    """Rasterise a polyline (``(n, 2)`` float (y, x) points) with the given full width."""
    out = np.zeros(shape, bool)
    for (y0, x0), (y1, x1) in itertools.pairwise(points):
        n = int(np.ceil(max(abs(y1 - y0), abs(x1 - x0)) * 2)) + 1
        ys = np.round(np.linspace(y0, y1, n)).astype(int)
        xs = np.round(np.linspace(x0, x1, n)).astype(int)
        ok = (ys >= 0) & (ys < shape[0]) & (xs >= 0) & (xs < shape[1])
        out[ys[ok], xs[ok]] = True
    r = max(0.0, (width - 1) / 2)
    if r >= 0.5:
        k = int(np.ceil(r))
        yy, xx = np.mgrid[-k : k + 1, -k : k + 1]
        out = ndi.binary_dilation(out, structure=(yy**2 + xx**2) <= r * r + 0.25)
    else:  # make the 1-px path 4-connected so it is one component in any connectivity
        out |= ndi.binary_dilation(out, structure=np.array([[0, 0, 0], [0, 1, 1], [0, 0, 0]], bool))
    return out


def random_walk(rng, start, n_steps, step=2.0, turn=0.35, heading=None, support=None):
    """Smooth random walk with momentum; stops when it leaves ``support``. Returns (n, 2)."""
    pts = [np.asarray(start, float)]
    ang = rng.uniform(0, 2 * np.pi) if heading is None else heading
    for _ in range(n_steps):
        ang += rng.normal(0, turn)
        nxt = pts[-1] + step * np.array([np.sin(ang), np.cos(ang)])
        iy, ix = round(nxt[0]), round(nxt[1])
        if support is not None and (
            not (0 <= iy < support.shape[0] and 0 <= ix < support.shape[1]) or not support[iy, ix]
        ):
            break
        pts.append(nxt)
    return np.array(pts)


def two_way_walk(rng, support, n_steps, turn, margin=8, tries=6):
    """Walk both ways from a random start; keep the longest of a few tries. Returns (n, 2)."""
    best = None
    for _ in range(tries):
        start = pick_point(rng, support, margin=margin)
        a = rng.uniform(0, 2 * np.pi)
        fwd = random_walk(rng, start, n_steps // 2, 2.0, turn, heading=a, support=support)
        bwd = random_walk(
            rng, start, n_steps - n_steps // 2, 2.0, turn, heading=a + np.pi, support=support
        )
        pts = np.concatenate([bwd[::-1], fwd[1:]])
        if best is None or len(pts) > len(best):
            best = pts
        if len(best) >= 0.8 * n_steps:
            break
    return best


def crack(rng, shape, support, length=(40, 90), width=(1.5, 3.0), branch_p=0.5) -> np.ndarray:
    """A thin connected crack (one component), optionally branched, inside ``support``."""
    n = int(rng.integers(*length)) // 2
    main = two_way_walk(rng, support, n, turn=0.3)
    w = rng.uniform(*width)
    m = polyline_mask(shape, main, w)
    if rng.random() < branch_p and len(main) > 8:
        j = int(rng.integers(len(main) // 3, len(main) - 2))
        d = main[j + 1] - main[j]
        ang = np.arctan2(d[0], d[1]) + rng.choice([-1, 1]) * rng.uniform(0.5, 1.1)
        br = random_walk(rng, main[j], n // 2, step=2.0, turn=0.3, heading=ang, support=support)
        m |= polyline_mask(shape, br, max(1.0, w - 0.7))
    m &= support
    return _largest_component(m)


def scratch(rng, shape, support, length=(60, 140), width=(1.0, 2.2)) -> np.ndarray:
    """A long, nearly straight thin line (one component) inside ``support``."""
    n = int(rng.integers(*length)) // 2
    line = two_way_walk(rng, support, n, turn=0.04)
    m = polyline_mask(shape, line, rng.uniform(*width)) & support
    return _largest_component(m)


def ring(rng, shape, support, radius=(7, 16), width=(2.0, 4.0)) -> np.ndarray:
    """An annulus (one component, one hole) fully inside ``support``."""
    for _ in range(20):
        r = rng.uniform(*radius)
        c = pick_point(rng, support, margin=int(r + 4))
        w = rng.uniform(*width)
        m = disc(shape, c, r + w / 2) & ~disc(shape, c, r - w / 2)
        if (m & ~support).sum() == 0:
            return m
    return m & support


def spots(rng, shape, support, n=(5, 12), radius=(1.6, 3.5), spread=40) -> np.ndarray:
    """Several small separated discs (many components) in a cluster inside ``support``."""
    k = int(rng.integers(*n))
    center = np.array(pick_point(rng, support, margin=10), float)
    m = np.zeros(shape, bool)
    placed = 0
    for _ in range(k * 10):
        if placed == k:
            break
        c = center + rng.normal(0, spread / 2, 2)
        r = rng.uniform(*radius)
        d = disc(shape, c, r)
        if not d.any() or (d & ~support).any():
            continue
        if (ndi.binary_dilation(d, iterations=3) & m).any():
            continue  # keep spots separate
        m |= d
        placed += 1
    return m


def blob(rng, shape, support, radius=(10, 22)) -> np.ndarray:
    """One irregular simply-connected blob (no holes) inside ``support``."""
    r = rng.uniform(*radius)
    c = pick_point(rng, support, margin=int(r * 0.8))
    yy, xx = _grid(shape)
    ang = np.arctan2(yy - c[0], xx - c[1])
    rad = np.hypot(yy - c[0], xx - c[1])
    wob = np.zeros_like(ang)
    for f in range(2, 6):
        wob += rng.normal(0, 0.09) * np.cos(f * ang + rng.uniform(0, 2 * np.pi))
    m = (rad <= r * (1 + wob)) & support
    m = ndi.binary_fill_holes(_largest_component(m))
    return m


def _largest_component(m: np.ndarray) -> np.ndarray:
    lab, n = ndi.label(m, structure=np.ones((3, 3), bool))
    if n <= 1:
        return m
    sizes = ndi.sum(m, lab, index=np.arange(1, n + 1))
    return lab == (1 + int(np.argmax(sizes)))


def smooth_noise(rng, shape, sigma: float) -> np.ndarray:
    """Gaussian-smoothed white noise rescaled to zero mean, unit std."""
    n = ndi.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return (n - n.mean()) / (n.std() + 1e-12)


def lighting(rng, shape, strength=0.12) -> np.ndarray:
    """A multiplicative linear lighting gradient around 1."""
    yy, xx = _grid(shape)
    a = rng.uniform(0, 2 * np.pi)
    g = ((yy / shape[0] - 0.5) * np.sin(a) + (xx / shape[1] - 0.5) * np.cos(a)) * 2
    return 1.0 + rng.uniform(-strength, strength) * g
