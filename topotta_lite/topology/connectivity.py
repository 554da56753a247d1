"""Connectivity of the two cubical constructions, in one place.

=============== ========================= ============================ ==========================
construction    pixels are                foreground connectivity      background (holes)
=============== ========================= ============================ ==========================
``"V"``         vertices of the complex   4 (2D) / 6 (3D): faces       8 / 26
``"T"``         top cells (squares/cubes) 8 (2D) / 26 (3D): full       4 / 6
=============== ========================= ============================ ==========================

Masks, Euler characteristics, pseudo-label regions and the persistence engine all read their
neighbourhoods from here, so a construction means the same thing everywhere. Pseudo-label
regions take the faces-only neighbourhood (4 / 6) in both constructions: a face-connected set is
one piece under either connectivity, and one graph for every region makes them nest
(:mod:`topotta_lite.method.pseudolabels`).
"""

from __future__ import annotations

from functools import cache

import numpy as np
from scipy import ndimage

from topotta_lite.vocabulary import CONSTRUCTIONS, check_choice

__all__ = ["connectivity_structure", "is_full", "neighbour_offsets"]


def is_full(construction: str, dual: bool = False) -> bool:
    """True when ``construction`` (or its dual, for the background) uses the full neighbourhood.

    Examples
    --------
    >>> is_full("T"), is_full("V"), is_full("V", dual=True)
    (True, False, True)
    """
    check_choice("construction", construction, CONSTRUCTIONS)
    return (construction == "T") != dual


def connectivity_structure(ndim: int, construction: str = "V", dual: bool = False) -> np.ndarray:
    """The ``scipy.ndimage`` structuring element of a construction's foreground connectivity.

    V: 4 (2D) / 6 (3D) neighbours; T: 8 / 26. ``dual=True`` gives the background's connectivity
    (the other one), which is how holes of a mask are found.

    Examples
    --------
    >>> int(connectivity_structure(2, "V").sum()), int(connectivity_structure(2, "T").sum())
    (5, 9)
    >>> int(connectivity_structure(3, "V", dual=True).sum())
    27
    """
    return _structure(ndim, is_full(construction, dual)).copy()


@cache
def _structure(ndim: int, full: bool) -> np.ndarray:
    """Faces-only (``full=False``) or full neighbourhood structuring element, built once."""
    return ndimage.generate_binary_structure(ndim, ndim if full else 1)


@cache
def _offsets(ndim: int, full: bool) -> np.ndarray:
    offs = []
    rng_z = (-1, 0, 1) if ndim == 3 else (0,)
    for dz in rng_z:
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if dz == dy == dx == 0:
                    continue
                if not full and abs(dz) + abs(dy) + abs(dx) != 1:
                    continue
                offs.append((dz, dy, dx))
    arr = np.array(offs, np.int64)
    arr.setflags(write=False)
    return arr


def neighbour_offsets(ndim: int, full: bool) -> np.ndarray:
    """Neighbour offsets ``(dz, dy, dx)`` in C order: faces only (4/6) or full (8/26); read-only.

    Examples
    --------
    >>> neighbour_offsets(2, False).tolist()
    [[0, -1, 0], [0, 0, -1], [0, 0, 1], [0, 1, 0]]
    >>> len(neighbour_offsets(3, True))
    26
    """
    if ndim not in (2, 3):
        raise ValueError(f"ndim must be 2 or 3, got {ndim!r}")
    return _offsets(ndim, bool(full))
