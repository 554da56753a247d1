"""Filtrations of an image other than its own values: the signed distance to a mask.

A sublevel or superlevel filtration reads a score map's *values*: a structure lives long when it
is much brighter (or calmer) than its surroundings. A binary mask, such as a thresholded map or a
pseudo-label, has only two values, so its level sets are the mask and the whole grid: every
piece of the mask gets the same bar, and nothing tells a thick blob from a thin crack.

The **signed distance** turns a mask into a filtration that reads its *geometry*:

.. math::  s(p) = \\begin{cases} -\\operatorname{dist}(p, \\text{background}) & p \\in M \\\\
           +\\operatorname{dist}(p, M) & p \\notin M \\end{cases}

(Euclidean distances between pixel centres). Its sublevel set at ``t < 0`` is the mask eroded
(the pixels deeper than ``|t|`` inside it), at ``t = 0`` the mask itself, at ``t > 0`` the mask
dilated by a disc of radius ``t``. So in its persistence diagram

* a piece of the mask is born at minus its depth (the radius of the largest disc of pixels it
  holds, roughly): thick pieces are born early, one-pixel-wide lines at ``-1``;
* two pieces merge at about half the gap between them;
* a hole dies at its depth: the distance from its deepest pixel to the mask, so large holes are
  long bars; and a ring broken by a small gap still has a hole, born when the dilation closes
  the gap.

This is one of the image filtrations of giotto-tda's ``gtda.images`` (with height, radial,
density, dilation and erosion filtrations), which uses a discrete dilation distance; here the
exact Euclidean transform of :func:`scipy.ndimage.distance_transform_edt` is used.

Examples
--------
>>> m = np.zeros((5, 7), bool); m[1:4, 1:4] = True
>>> signed_distance(m)[2].tolist()
[1.0, -1.0, -2.0, -1.0, 1.0, 2.0, 3.0]
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from topotta_lite._validation import as_mask

__all__ = ["signed_distance"]


def signed_distance(mask) -> np.ndarray:
    """The signed Euclidean distance of every pixel to a mask: negative inside, positive outside.

    A pixel of the mask gets minus its distance to the nearest pixel outside the mask; a pixel
    outside gets its distance to the nearest pixel of the mask. No pixel gets ``0``, so the
    sublevel set ``{s <= 0}`` is exactly the mask.

    Parameters
    ----------
    mask : array_like of bool, shape (H, W) or (D, H, W)
        Must hold at least one pixel inside and one outside.

    Returns
    -------
    numpy.ndarray of float64, the shape of ``mask``

    Examples
    --------
    >>> m = np.zeros((3, 4), bool); m[:, 0] = True
    >>> signed_distance(m)
    array([[-1.,  1.,  2.,  3.],
           [-1.,  1.,  2.,  3.],
           [-1.,  1.,  2.,  3.]])
    >>> bool(((signed_distance(m) <= 0) == m).all())
    True
    >>> signed_distance(np.ones((2, 2), bool))
    Traceback (most recent call last):
    ...
    ValueError: mask must have pixels inside and outside, got 4 of 4 pixels inside
    """
    m = as_mask(mask, name="mask")
    inside = int(m.sum())
    if inside in (0, m.size):
        raise ValueError(f"mask must have pixels inside and outside, got {inside} of {m.size} "
                         "pixels inside")
    depth = ndi.distance_transform_edt(m)  # inside: distance to the nearest outside pixel
    gap = ndi.distance_transform_edt(~m)  # outside: distance to the nearest mask pixel
    return np.where(m, -depth, gap).astype(np.float64)
