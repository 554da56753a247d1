"""Texture classes of the embedded 2D benchmark, built on scikit-image's texture photographs.

Nominal images are random crops of ``skimage.data.brick()``, ``grass()`` and ``gravel()`` with a
small rotation and zoom, tinted to a material colour with per-image colour jitter. (The lighting
gradient and sensor noise are added afterwards by :mod:`topotta_lite.data.embedded`.)
Defects are painted with a material-like change (darkening, stains, foreign texture) inside an
exact mask, so the image differs from its nominal twin only inside the ground truth.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import skimage.data
from scipy import ndimage as ndi

from . import _shapes as sh

SIZE = 224

# category -> (source photograph, dark colour, light colour)
_MATERIALS = {
    "brick": ("brick", (0.28, 0.11, 0.07), (0.86, 0.55, 0.40)),
    "grass": ("grass", (0.06, 0.16, 0.04), (0.62, 0.82, 0.35)),
    "gravel": ("gravel", (0.18, 0.16, 0.14), (0.86, 0.83, 0.76)),
}
# which other material a "foreign" blob is made of
_FOREIGN = {"brick": "gravel", "grass": "brick", "gravel": "grass"}

DEFECTS: dict[str, tuple[str, ...]] = {
    cat: ("crack", "ring", "spots", "blob", "scratch") for cat in _MATERIALS
}


@cache
def _photo(name: str) -> np.ndarray:
    img = getattr(skimage.data, name)().astype(np.float64)
    lo, hi = np.percentile(img, [1, 99])
    return np.clip((img - lo) / (hi - lo), 0, 1)


def crop(name: str, rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """A random rotated, zoomed crop of a scikit-image photograph, gray in [0, 1].

    Examples
    --------
    >>> crop("brick", np.random.default_rng(0)).shape
    (224, 224)
    """
    src = _photo(name)
    ang = np.deg2rad(rng.uniform(-8, 8))
    scale = rng.uniform(1.0, 1.35)
    half = size * scale * 0.75
    cy = rng.uniform(half, src.shape[0] - half)
    cx = rng.uniform(half, src.shape[1] - half)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    yy -= (size - 1) / 2
    xx -= (size - 1) / 2
    sy = cy + scale * (np.cos(ang) * yy - np.sin(ang) * xx)
    sx = cx + scale * (np.sin(ang) * yy + np.cos(ang) * xx)
    return ndi.map_coordinates(src, [sy, sx], order=1, mode="reflect")


def tint(gray: np.ndarray, category: str, rng: np.random.Generator | None = None) -> np.ndarray:
    """Map gray values to the material's colour ramp (with optional colour jitter)."""
    _, dark, light = _MATERIALS[category]
    dark, light = np.asarray(dark), np.asarray(light)
    rgb = dark + (light - dark) * gray[..., None]
    if rng is not None:
        rgb = rgb * (1 + rng.normal(0, 0.035, 3)) + rng.normal(0, 0.015)
    return rgb


def render(category: str, defect: str, rng_base, rng_defect, size: int = SIZE):
    """Render one texture image (before lighting/noise) and its exact GT mask.

    Parameters
    ----------
    category : {"brick", "grass", "gravel"}
    defect : "good" or one of ``DEFECTS[category]``
    rng_base, rng_defect : numpy.random.Generator
        Separate streams: the nominal appearance depends on ``rng_base`` only, so the same
        ``rng_base`` state gives the nominal twin of a defective image.

    Returns
    -------
    image : (H, W, 3) float64, mask : (H, W) bool

    Examples
    --------
    >>> img, m = render("grass", "crack", np.random.default_rng(0), np.random.default_rng(1))
    >>> img.shape, bool(m.any())
    ((224, 224, 3), True)
    """
    if category not in _MATERIALS:
        raise ValueError(f"unknown texture category {category!r}; choose from {sorted(_MATERIALS)}")
    name = _MATERIALS[category][0]
    img = tint(crop(name, rng_base, size), category, rng_base)
    shape = (size, size)
    mask = np.zeros(shape, bool)
    if defect == "good":
        return img, mask
    if defect not in DEFECTS[category]:
        raise ValueError(
            f"unknown defect {defect!r} for {category!r}; choose from {DEFECTS[category]}"
        )
    support = np.zeros(shape, bool)
    support[6:-6, 6:-6] = True
    r = rng_defect
    jitter = 0.85 + 0.15 * sh.smooth_noise(r, shape, 2.0).clip(-1, 1)
    if defect == "crack":
        mask = sh.crack(r, shape, support, length=(60, 140), width=(2.6, 3.8))
        target = img * r.uniform(0.15, 0.3) * np.array([1.0, 0.95, 0.9])
        alpha = 0.95
    elif defect == "ring":
        mask = sh.ring(r, shape, support, radius=(9, 18), width=(3.0, 5.0))
        target = np.broadcast_to(np.array([0.55, 0.30, 0.10]) * r.uniform(0.7, 1.1), img.shape)
        alpha = 0.7
    elif defect == "spots":
        mask = sh.spots(r, shape, support, radius=(2.0, 4.0))
        col = [0.08, 0.07, 0.06] if r.random() < 0.5 else [0.95, 0.93, 0.85]
        target = np.broadcast_to(np.array(col), img.shape)
        alpha = 0.8
    elif defect == "blob":
        mask = sh.blob(r, shape, support, radius=(12, 24))
        other = _FOREIGN[category]
        target = tint(crop(_MATERIALS[other][0], r, size), other, r)
        alpha = 0.9
    else:  # scratch
        mask = sh.scratch(r, shape, support, width=(2.0, 3.0))
        target = np.broadcast_to(np.array([0.95, 0.93, 0.88]), img.shape)
        alpha = 0.8
    a = (alpha * jitter * mask)[..., None]
    return img * (1 - a) + target * a, mask
