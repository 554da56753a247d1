"""3D voxel classes (CT-like volumes): a cast block with a bore, and a layered composite slab.

Volumes are ``(D, H, W)`` intensities in [0, 1] (background ~0.05, material 0.55-0.8, dense
inclusions ~1). Defects: pores (many small voids), an internal cavity (one void: an H2 class),
a crack (thin warped void sheet), an inclusion (dense blob), a delamination (void between two
layers). The GT mask is exactly the set of voxels the defect changed.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

DEFECTS: dict[str, tuple[str, ...]] = {
    "casting": ("pores", "cavity", "crack", "inclusion"),
    "composite": ("delamination", "inclusion", "crack", "pores"),
}
VOID = 0.05


def _noise(rng, shape, sigma):
    n = ndi.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return (n - n.mean()) / (n.std() + 1e-12)


def _coords(rng, n, shift=1.5):
    s = n / 64.0
    zz, yy, xx = np.mgrid[0:n, 0:n, 0:n].astype(np.float64)
    c = (n - 1) / 2 + rng.normal(0, shift * s, 3)
    return (zz - c[0]) / s, (yy - c[1]) / s, (xx - c[2]) / s, s


def _casting(rng, n):
    z, y, x, s = _coords(rng, n)
    half = np.array([22, 24, 20]) * (1 + rng.normal(0, 0.03, 3))
    rc = 5.0
    q = [np.clip(np.abs(v) - (h - rc), 0, None) for v, h in zip((z, y, x), half)]
    box = np.sqrt(q[0] ** 2 + q[1] ** 2 + q[2] ** 2) <= rc
    bore = np.hypot(z, y - rng.normal(6, 0.5)) <= 5.0 * (1 + rng.normal(0, 0.03))
    solid = box & ~bore
    vol = np.where(solid, 0.70 + 0.03 * _noise(rng, (n,) * 3, 3 * s), VOID)
    zone = ndi.binary_erosion(solid, iterations=max(2, round(4 * s)))
    return vol, solid, zone, (z, y, x, s)


def _composite(rng, n):
    z, y, x, s = _coords(rng, n)
    half = np.array([20, 26, 26]) * (1 + rng.normal(0, 0.02, 3))
    slab = (np.abs(z) <= half[0]) & (np.abs(y) <= half[1]) & (np.abs(x) <= half[2])
    period = 6.0
    wave = 1.2 * np.sin(x / 9.0 + rng.uniform(0, 6.3)) + 0.8 * np.sin(
        y / 13.0 + rng.uniform(0, 6.3)
    )
    zl = z + wave
    layer = np.floor(zl / (period / 2)).astype(int) % 2
    vol = np.where(slab, np.where(layer == 0, 0.55, 0.78), VOID)
    vol = vol + slab * 0.02 * _noise(rng, (n,) * 3, 2 * s)
    zone = ndi.binary_erosion(slab, iterations=max(2, round(4 * s)))
    return vol, slab, zone, (z, y, x, s, zl, period)


def _pick(rng, zone):
    idx = np.argwhere(zone)
    return idx[int(rng.integers(len(idx)))].astype(float)


def _sphere(n, c, r):
    zz, yy, xx = np.ogrid[0:n, 0:n, 0:n]
    return (zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2 <= r * r


def _sheet(rng, n, c, radius, normal=None, thick=0.75):
    """A thin warped disc-shaped sheet of voxels (a crack) centred at ``c``."""
    zz, yy, xx = np.mgrid[0:n, 0:n, 0:n].astype(np.float64)
    p = np.stack([zz - c[0], yy - c[1], xx - c[2]], axis=-1)
    if normal is None:
        normal = rng.normal(size=3)
    normal = np.asarray(normal, float) / np.linalg.norm(normal)
    dist = p @ normal
    inplane = np.linalg.norm(p - dist[..., None] * normal, axis=-1)
    warp = 1.2 * np.sin(inplane / 3.0 + rng.uniform(0, 6.3))
    edge = radius * (1 + 0.25 * np.sin(np.arctan2(p[..., 1], p[..., 2]) * 3 + rng.uniform(0, 6.3)))
    return (np.abs(dist + warp) <= thick) & (inplane <= edge)


def render(category: str, defect: str, rng_base, rng_defect, n: int = 64):
    """A volume (float64, before noise) and its exact GT mask.

    Examples
    --------
    >>> v, m = render("casting", "cavity", np.random.default_rng(0), np.random.default_rng(1), 32)
    >>> v.shape, bool(m.any())
    ((32, 32, 32), True)
    """
    if category not in DEFECTS:
        raise ValueError(f"unknown 3D category {category!r}; choose from {sorted(DEFECTS)}")
    if defect != "good" and defect not in DEFECTS[category]:
        raise ValueError(
            f"unknown defect {defect!r} for {category!r}; choose from {DEFECTS[category]}"
        )
    vol, solid, zone, geo = (_casting if category == "casting" else _composite)(rng_base, n)
    if defect == "good":
        return vol, np.zeros(vol.shape, bool)
    r = rng_defect
    s = geo[3]
    v0 = vol.copy()
    if defect == "pores":
        c0 = _pick(r, zone)
        for _ in range(int(r.integers(5, 11))):
            c = c0 + r.normal(0, 5 * s, 3)
            m = _sphere(n, c, max(1.2, r.uniform(1.2, 2.2) * s)) & solid
            vol = np.where(m, VOID, vol)
    elif defect == "cavity":
        c = _pick(r, zone)
        rad = np.array([r.uniform(3, 7), r.uniform(3, 7), r.uniform(3, 7)]) * max(s, 0.6)
        zz, yy, xx = np.ogrid[0:n, 0:n, 0:n]
        m = ((zz - c[0]) / rad[0]) ** 2 + ((yy - c[1]) / rad[1]) ** 2 + ((xx - c[2]) / rad[2]) ** 2
        vol = np.where((m <= 1) & zone, VOID, vol)
    elif defect == "crack":
        c = _pick(r, zone)
        normal = None if category == "casting" else np.array([0.1, r.normal(), r.normal()])
        m = _sheet(r, n, c, r.uniform(8, 14) * s, normal) & solid
        vol = np.where(m, 0.15, vol)
    elif defect == "inclusion":
        c = _pick(r, zone)
        rad = max(1.5, r.uniform(2.5, 5.0) * s)
        zz, yy, xx = np.mgrid[0:n, 0:n, 0:n].astype(np.float64)
        d = np.sqrt((zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2)
        ang = np.arctan2(yy - c[1], xx - c[2])
        m = (d <= rad * (1 + 0.2 * np.sin(3 * ang + r.uniform(0, 6.3)))) & solid
        vol = np.where(m, 0.98, vol)
    else:  # delamination: a thin void between two layers
        zl, period = geo[4], geo[5]
        c = _pick(r, zone)
        k = np.round((zl[tuple(c.astype(int))]) / (period / 2))
        zz, yy, xx = np.mgrid[0:n, 0:n, 0:n].astype(np.float64)
        ell = ((yy - c[1]) / (r.uniform(8, 14) * s)) ** 2 + (
            (xx - c[2]) / (r.uniform(8, 14) * s)
        ) ** 2
        m = (np.abs(zl - k * period / 2) <= 0.7) & (ell <= 1) & zone
        vol = np.where(m, VOID, vol)
    mask = np.abs(vol - v0) > 1e-9
    return vol, mask
