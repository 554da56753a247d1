"""Texture classes of the embedded 2D benchmark, built on scikit-image's texture photographs.

Nominal images are random crops of ``skimage.data.brick()``, ``grass()`` and ``gravel()`` with a
small rotation and zoom, tinted to a material colour with per-image colour jitter. (The lighting
gradient and sensor noise are added afterwards by :mod:`topotta_lite.data.embedded`.)
Defects are painted with a material-like change (darkening, stains, foreign texture) inside an
exact mask, so the image differs from its nominal twin only inside the ground truth.

Two parts, no shared pixel. Each photograph is cut into two halves along its columns
(:data:`REGIONS`): the evaluation part crops only from the right half, the development part only
from the left one. A crop reads its own half and nothing else: the half is normalised with its own
percentiles, the crop's whole footprint (rotation, zoom and the bilinear interpolation's
neighbour included) is kept inside it (:func:`crop_coordinates`), and :func:`crop` refuses
coordinates outside it. A "foreign" blob is cut from the same part of the other photograph.
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


PARTS = ("eval", "dev")
"""The two disjoint parts of the embedded benchmark (see :mod:`topotta_lite.data.embedded`)."""

REGIONS: dict[str, tuple[float, float]] = {"dev": (0.0, 0.5), "eval": (0.5, 1.0)}
"""Which columns of each source photograph a part may read, as fractions of its width
(``[start, stop)``): the development part the left half, the evaluation part the right one."""

ZOOM = (0.75, 1.0)
"""Range of the crop's zoom (source pixels per output pixel): at most 1, so that a rotated crop
fits in half a photograph."""
MAX_ROTATION_DEG = 8.0


def check_part(part: str) -> str:
    """``part`` if it is one of :data:`PARTS`, else a ValueError naming it.

    Examples
    --------
    >>> check_part("dev")
    'dev'
    """
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    return part


def region_columns(name: str, part: str) -> tuple[int, int]:
    """The columns ``[start, stop)`` of photograph ``name`` that ``part`` may read.

    Examples
    --------
    >>> region_columns("brick", "dev"), region_columns("brick", "eval")
    ((0, 256), (256, 512))
    """
    width = _raw_photo(name).shape[1]
    lo, hi = REGIONS[check_part(part)]
    return int(round(lo * width)), int(round(hi * width))


@cache
def _raw_photo(name: str) -> np.ndarray:
    return getattr(skimage.data, name)().astype(np.float64)


@cache
def _photo(name: str, part: str) -> np.ndarray:
    """The part's half of the photograph, gray in [0, 1] (normalised on its own pixels only)."""
    c0, c1 = region_columns(name, part)
    img = _raw_photo(name)[:, c0:c1]
    lo, hi = np.percentile(img, [1, 99])
    return np.clip((img - lo) / (hi - lo), 0, 1)


def crop_coordinates(rng: np.random.Generator, size: int, shape: tuple[int, int]):
    """Source coordinates ``(sy, sx)`` of a random rotated, zoomed ``size`` x ``size`` crop that
    lies entirely inside an array of ``shape`` (bilinear neighbours included).

    Examples
    --------
    >>> sy, sx = crop_coordinates(np.random.default_rng(0), 224, (512, 256))
    >>> sy.shape, bool(sx.min() >= 0 and sx.max() <= 255)
    ((224, 224), True)
    """
    ang = np.deg2rad(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG))
    scale = rng.uniform(*ZOOM)
    half = scale * (size - 1) / 2 * (abs(np.cos(ang)) + abs(np.sin(ang)))
    room = [(half, n - 1 - half) for n in shape]
    if any(lo > hi for lo, hi in room):
        raise ValueError(f"a {size}-pixel crop does not fit in a source of shape {shape}")
    cy = rng.uniform(*room[0])
    cx = rng.uniform(*room[1])
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    yy -= (size - 1) / 2
    xx -= (size - 1) / 2
    sy = cy + scale * (np.cos(ang) * yy - np.sin(ang) * xx)
    sx = cx + scale * (np.sin(ang) * yy + np.cos(ang) * xx)
    # float rounding must not step outside: the footprint stays in [0, n - 1]
    return np.clip(sy, 0, shape[0] - 1), np.clip(sx, 0, shape[1] - 1)


def _read(name: str, part: str, sy: np.ndarray, sx: np.ndarray) -> np.ndarray:
    """Bilinear samples of photograph ``name`` at ``(sy, sx)`` (the photograph's own pixel
    coordinates), read from ``part``'s half only; a coordinate outside that half is an error."""
    c0, c1 = region_columns(name, part)
    rows = _raw_photo(name).shape[0]
    if sy.min() < 0 or sy.max() > rows - 1 or sx.min() < c0 or sx.max() > c1 - 1:
        raise ValueError(f"crop coordinates leave the {part!r} part's columns [{c0}, {c1}) of "
                         f"{name!r}")
    return ndi.map_coordinates(_photo(name, part), [sy, sx - c0], order=1, mode="nearest")


def crop(name: str, rng: np.random.Generator, size: int = SIZE, part: str = "eval") -> np.ndarray:
    """A random rotated, zoomed crop of one part's half of a scikit-image photograph, gray in [0, 1].

    Examples
    --------
    >>> crop("brick", np.random.default_rng(0)).shape
    (224, 224)
    """
    src = _photo(name, check_part(part))
    sy, sx = crop_coordinates(rng, size, src.shape)
    return _read(name, part, sy, sx + region_columns(name, part)[0])


def tint(gray: np.ndarray, category: str, rng: np.random.Generator | None = None) -> np.ndarray:
    """Map gray values to the material's colour ramp (with optional colour jitter)."""
    _, dark, light = _MATERIALS[category]
    dark, light = np.asarray(dark), np.asarray(light)
    rgb = dark + (light - dark) * gray[..., None]
    if rng is not None:
        rgb = rgb * (1 + rng.normal(0, 0.035, 3)) + rng.normal(0, 0.015)
    return rgb


def render(category: str, defect: str, rng_base, rng_defect, size: int = SIZE,
           part: str = "eval"):
    """Render one texture image (before lighting/noise) and its exact GT mask.

    Parameters
    ----------
    category : {"brick", "grass", "gravel"}
    defect : "good" or one of ``DEFECTS[category]``
    rng_base, rng_defect : numpy.random.Generator
        Separate streams: the nominal appearance depends on ``rng_base`` only, so the same
        ``rng_base`` state gives the nominal twin of a defective image.
    size : int
        Side of the image.
    part : {"eval", "dev"}
        Which half of the photographs the crops come from (:data:`REGIONS`).

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
    check_part(part)
    name = _MATERIALS[category][0]
    img = tint(crop(name, rng_base, size, part), category, rng_base)
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
        target = tint(crop(_MATERIALS[other][0], r, size, part), other, r)
        alpha = 0.9
    else:  # scratch
        mask = sh.scratch(r, shape, support, width=(2.0, 3.0))
        target = np.broadcast_to(np.array([0.95, 0.93, 0.88]), img.shape)
        alpha = 0.8
    a = (alpha * jitter * mask)[..., None]
    return img * (1 - a) + target * a, mask
