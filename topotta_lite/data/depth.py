"""2.5D classes (MVTec-3D-AD-like): a torus "bagel" and a disc "cookie" seen by a depth camera.

Objects are height fields (in pixels of height) on a table. :func:`to_depth_and_rgb` turns a
height field into a camera-distance depth map and a Lambert-shaded RGB rendering. Geometric
defects (dents, bumps, cracks, holes, a bite) change the height; "contamination" changes only
the colour. The GT mask is exactly the set of pixels whose height or albedo changed.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from . import _shapes as sh

SIZE = 224
CAMERA_MM = 500.0  # table distance from the camera
MM_PER_PX = 0.25

DEFECTS: dict[str, tuple[str, ...]] = {
    "bagel": ("dent", "bump", "crack", "hole", "contamination"),
    "cookie": ("dent", "crack", "hole", "bite", "contamination"),
}

_TABLE = np.array([0.36, 0.36, 0.38])


def _grid(rng, shape, shift=5.0):
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    cy = (shape[0] - 1) / 2 + rng.normal(0, shift / 2)
    cx = (shape[1] - 1) / 2 + rng.normal(0, shift / 2)
    a = rng.uniform(0, 2 * np.pi)
    y, x = yy - cy, xx - cx
    return np.cos(a) * y + np.sin(a) * x, -np.sin(a) * y + np.cos(a) * x


def _bagel(rng, shape):
    y, x = _grid(rng, shape)
    ell = 1 + rng.normal(0, 0.03)
    rho = np.hypot(y * ell, x / ell)
    R = 58 * (1 + rng.normal(0, 0.03))
    r = 26 * (1 + rng.normal(0, 0.04))
    h = 0.8 * np.sqrt(np.clip(r**2 - (rho - R) ** 2, 0, None))
    obj = h > 0
    h = h + obj * 0.5 * sh.smooth_noise(rng, shape, 4.0)
    h = np.clip(h, 0, None)
    obj = h > 0
    base = np.array([0.70, 0.45, 0.20]) * (1 + rng.normal(0, 0.04, 3))
    bake = np.clip(h / (0.8 * r), 0, 1)
    alb = base * (1.05 - 0.35 * bake)[..., None]
    alb = alb * (1 + 0.06 * sh.smooth_noise(rng, shape, 2.0))[..., None]
    alb = np.where(obj[..., None], alb, _TABLE)
    zone = h > 0.55 * 0.8 * r
    return h, alb, obj, zone


def _cookie(rng, shape):
    y, x = _grid(rng, shape)
    rho = np.hypot(y, x)
    Rc = 74 * (1 + rng.normal(0, 0.025))
    hmax = 12 * (1 + rng.normal(0, 0.05))
    t = np.clip((Rc - rho) / 9.0, 0, 1)
    h = hmax * t * t * (3 - 2 * t)
    obj = rho < Rc
    h = h + obj * 0.6 * sh.smooth_noise(rng, shape, 3.0) * t
    base = np.array([0.82, 0.64, 0.40]) * (1 + rng.normal(0, 0.04, 3))
    alb = base * (1 + 0.07 * sh.smooth_noise(rng, shape, 2.5))[..., None]
    chips = np.zeros(shape, bool)
    for _ in range(int(rng.integers(6, 11))):  # chocolate chips: nominal bumps
        a, d = rng.uniform(0, 2 * np.pi), Rc * np.sqrt(rng.uniform(0, 0.6))
        cr = rng.uniform(4.5, 7.5)
        dd = np.hypot(y - d * np.sin(a), x - d * np.cos(a))
        bump = np.clip(1 - (dd / cr) ** 2, 0, None)
        h = h + 3.5 * bump
        chips |= bump > 0.3
    h = np.clip(h, 0, None)
    alb = np.where(chips[..., None], np.array([0.26, 0.14, 0.08]), alb)
    alb = np.where(obj[..., None], alb, _TABLE)
    zone = (rho < Rc - 14) & ~chips
    return h, alb, obj, zone


def render(category: str, defect: str, rng_base, rng_defect, size: int = SIZE):
    """Height field (pixels), albedo (H, W, 3) and exact GT mask of one 2.5D sample.

    Examples
    --------
    >>> h, alb, m = render("cookie", "hole", np.random.default_rng(0), np.random.default_rng(1))
    >>> h.shape, alb.shape, bool(m.any())
    ((224, 224), (224, 224, 3), True)
    """
    if category not in DEFECTS:
        raise ValueError(f"unknown 2.5D category {category!r}; choose from {sorted(DEFECTS)}")
    if defect != "good" and defect not in DEFECTS[category]:
        raise ValueError(
            f"unknown defect {defect!r} for {category!r}; choose from {DEFECTS[category]}"
        )
    shape = (size, size)
    h, alb, obj, zone = (_bagel if category == "bagel" else _cookie)(rng_base, shape)
    if defect == "good":
        return h, alb, np.zeros(shape, bool)
    r = rng_defect
    h0, alb0 = h.copy(), alb.copy()
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    if defect in ("dent", "bump"):
        rad = r.uniform(8, 15)
        c = sh.pick_point(r, zone, margin=4)
        d = np.hypot(yy - c[0], xx - c[1])
        prof = np.clip(1 - (d / rad) ** 2, 0, None) * obj
        amp = r.uniform(3.0, 5.5) * (-1 if defect == "dent" else 1)
        h = np.clip(h + amp * prof, 0, None)
    elif defect == "crack":
        inner = ndi.binary_erosion(obj, iterations=10)
        m = sh.crack(
            r, shape, zone if category == "bagel" else inner, length=(40, 90), width=(2.0, 3.0)
        )
        h = np.where(m, np.clip(h - r.uniform(3, 6), 0, None), h)
        alb = np.where(m[..., None], alb * 0.45, alb)
    elif defect == "hole":
        c = sh.pick_point(r, zone, margin=8)
        m = sh.disc(shape, c, r.uniform(5, 9)) & obj
        h = np.where(m, 0.0, h)
        alb = np.where(m[..., None], _TABLE, alb)
    elif defect == "bite":
        a = r.uniform(0, 2 * np.pi)
        ys, xs = np.nonzero(obj)
        cy, cx = ys.mean(), xs.mean()
        Rc = np.sqrt(obj.sum() / np.pi)
        m = sh.disc(shape, (cy + Rc * np.sin(a), cx + Rc * np.cos(a)), r.uniform(14, 22)) & obj
        h = np.where(m, 0.0, h)
        alb = np.where(m[..., None], _TABLE, alb)
    else:  # contamination: colour only
        m = sh.blob(r, shape, zone, radius=(7, 13))
        col = np.array([0.15, 0.22, 0.10]) if r.random() < 0.5 else np.array([0.95, 0.93, 0.88])
        alb = np.where(m[..., None], 0.2 * alb + 0.8 * col, alb)
    mask = (np.abs(h - h0) > 1e-9) | np.any(np.abs(alb - alb0) > 1e-9, axis=-1)
    return h, alb, mask


def to_depth_and_rgb(height: np.ndarray, albedo: np.ndarray, rng=None):
    """Camera-distance depth (mm, float32) and Lambert-shaded RGB in [0, 1] (float32).

    ``rng`` adds a slight table tilt, lighting gradient and sensor noise (depth and colour).

    Examples
    --------
    >>> d, rgb = to_depth_and_rgb(np.zeros((8, 8)), np.full((8, 8, 3), 0.5))
    >>> float(d[0, 0]), rgb.shape
    (500.0, (8, 8, 3))
    """
    gy, gx = np.gradient(height)
    n = np.stack([-gx, -gy, np.ones_like(height)], axis=-1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    light = np.array([0.45, -0.40, 0.80])
    light /= np.linalg.norm(light)
    shade = 0.30 + 0.75 * np.clip(n @ light, 0, None)
    rgb = albedo * shade[..., None]
    depth = CAMERA_MM - MM_PER_PX * height
    if rng is not None:
        shape = height.shape
        yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]] / max(shape)
        depth = depth + rng.normal(0, 0.3) * (yy - 0.5) + rng.normal(0, 0.3) * (xx - 0.5)
        depth = depth + rng.normal(0, 0.02, shape)
        rgb = rgb * sh.lighting(rng, shape, 0.08)[..., None]
        rgb = rgb + rng.normal(0, 0.01, rgb.shape)
    return depth.astype(np.float32), np.clip(rgb, 0, 1).astype(np.float32)
