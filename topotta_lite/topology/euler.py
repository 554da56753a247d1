"""Euler characteristic and Betti numbers of 2D/3D binary masks (fast, on plain arrays).

``chi = n_0 - n_1 + n_2 (- n_3)`` where ``n_k`` counts the k-cells of the mask's cubical complex in
the chosen construction (see :mod:`topotta_lite.topology.cubical`):

* ``"V"``: pixels are vertices; chi of the 4-connected (2D) / 6-connected (3D) foreground.
  Equals ``skimage.measure.euler_number(mask, connectivity=1)``.
* ``"T"``: pixels are top cells; chi of the 8-connected (2D) / 26-connected (3D) foreground.
  Equals ``skimage.measure.euler_number(mask, connectivity=mask.ndim)``.

In 2D chi = (#components) - (#holes); in 3D chi = b0 - b1 + b2. :func:`betti_numbers` counts
components and holes by labelling, with the same connectivities.
"""

from __future__ import annotations

import itertools

import numba
import numpy as np
from scipy import ndimage

from topotta_lite._validation import as_mask
from topotta_lite.topology.connectivity import connectivity_structure
from topotta_lite.vocabulary import CONSTRUCTIONS, check_choice

__all__ = ["betti_numbers", "cell_counts", "euler_characteristic", "euler_curve"]


def _and_along(arr: np.ndarray, axis: int) -> np.ndarray:
    """Cells spanning two neighbouring pixels along ``axis`` (both must be present)."""
    n = arr.shape[axis]
    lo = [slice(None)] * arr.ndim
    hi = [slice(None)] * arr.ndim
    lo[axis] = slice(0, n - 1)
    hi[axis] = slice(1, n)
    return arr[tuple(lo)] & arr[tuple(hi)]


def _or_between(arr: np.ndarray, axis: int) -> np.ndarray:
    """Cells on the n + 1 pixel boundaries along ``axis`` (either neighbour brings it)."""
    shape = list(arr.shape)
    shape[axis] += 1
    out = np.zeros(shape, dtype=bool)
    lo = [slice(None)] * arr.ndim
    hi = [slice(None)] * arr.ndim
    lo[axis] = slice(0, -1)
    hi[axis] = slice(1, None)
    out[tuple(lo)] = arr
    out[tuple(hi)] |= arr
    return out


def cell_counts(mask, construction: str = "V") -> list[int]:
    """Numbers of k-cells ``[n_0, ..., n_ndim]`` of a mask's cubical complex, vectorised.

    A cell type is the set S of axes along which it spans a unit interval (|S| = its dimension).
    V: a cell of type S is present when the 2^|S| pixels it spans are all foreground (logical AND
    of shifted slices). T: it is present when any foreground top cell (pixel) has it as a face
    (logical OR over the pixels on either side along each axis not in S).

    Examples
    --------
    >>> cell_counts([[1, 1], [1, 1]], "V")
    [4, 4, 1]
    >>> cell_counts([[1, 1], [1, 1]], "T")
    [9, 12, 4]
    """
    m = as_mask(mask, name="mask")
    check_choice("construction", construction, CONSTRUCTIONS)
    counts = [0] * (m.ndim + 1)
    for span in itertools.product((False, True), repeat=m.ndim):
        arr = m
        for axis, spans in enumerate(span):
            if construction == "V" and spans:
                arr = _and_along(arr, axis)
            elif construction == "T" and not spans:
                arr = _or_between(arr, axis)
        counts[sum(span)] += int(np.count_nonzero(arr))
    return counts


def euler_characteristic(mask, construction: str = "V") -> int:
    """Euler characteristic of a 2D/3D binary mask in the V or T cubical construction.

    Parameters
    ----------
    mask : array_like of bool or 0/1, shape (H, W) or (D, H, W)
        The foreground.
    construction : {"V", "T"}
        "V": 4/6-connected foreground (pixels are vertices); "T": 8/26-connected foreground
        (pixels are top cells).

    Returns
    -------
    int
        ``n_0 - n_1 + n_2 (- n_3)``; 0 for an empty mask.

    Examples
    --------
    >>> ring = np.ones((3, 3), dtype=bool); ring[1, 1] = False
    >>> euler_characteristic(ring)          # one component, one hole
    0
    >>> euler_characteristic([[1, 0], [0, 1]], "V"), euler_characteristic([[1, 0], [0, 1]], "T")
    (2, 1)
    """
    m = as_mask(mask, name="mask")
    check_choice("construction", construction, CONSTRUCTIONS)
    if m.ndim == 2:
        return _chi_2d(m, construction)
    return int(sum((-1) ** k * n for k, n in enumerate(cell_counts(m, construction))))


def _chi_2d(m: np.ndarray, construction: str) -> int:
    """2D fast path (the same counts as :func:`cell_counts`, fewer temporaries)."""
    cnt = np.count_nonzero
    if construction == "V":
        h = m[:, :-1] & m[:, 1:]
        v = m[:-1, :] & m[1:, :]
        return int(cnt(m) - cnt(h) - cnt(v) + cnt(h[:-1, :] & h[1:, :]))
    # T: squares = pixels; an edge / vertex is present when any adjacent pixel is
    p = np.zeros((m.shape[0] + 2, m.shape[1] + 2), dtype=bool)
    p[1:-1, 1:-1] = m
    h_edges = p[:-1, 1:-1] | p[1:, 1:-1]  # (H+1, W): horizontal edges between pixel rows
    v_edges = p[1:-1, :-1] | p[1:-1, 1:]  # (H, W+1)
    r = p[:-1, :] | p[1:, :]
    verts = r[:, :-1] | r[:, 1:]  # (H+1, W+1)
    return int(cnt(verts) - cnt(h_edges) - cnt(v_edges) + cnt(m))


def betti_numbers(mask, construction: str = "V") -> tuple[int, ...]:
    """Betti numbers of a binary mask: ``(b0, b1)`` in 2D, ``(b0, b1, b2)`` in 3D.

    ``construction="V"`` treats the foreground as 4-connected (6 in 3D), ``"T"`` as 8-connected
    (26 in 3D; pixels as closed squares, the connectivity of AUPRO's GT regions). b0 counts
    foreground components; the top Betti number counts bounded background components (holes /
    cavities) under the dual connectivity; in 3D b1 = b0 + b2 - chi (Euler characteristic).

    Examples
    --------
    >>> ring = np.ones((3, 3), bool); ring[1, 1] = False
    >>> betti_numbers(ring)
    (1, 1)
    >>> betti_numbers([[1, 0], [0, 1]], "V"), betti_numbers([[1, 0], [0, 1]], "T")
    ((2, 0), (1, 0))

    The exact (slow) computation over Z2 is :meth:`CubicalComplex.betti_numbers`; the tests
    check that the two agree.
    """
    m = as_mask(mask, name="mask")
    fg = connectivity_structure(m.ndim, construction)
    bg = connectivity_structure(m.ndim, construction, dual=True)
    _, b0 = ndimage.label(m, structure=fg)
    padded = np.pad(~m, 1, constant_values=True)
    _, nb = ndimage.label(padded, structure=bg)
    cavities = nb - 1  # the outer background is one component of the padded complement
    if m.ndim == 2:
        return int(b0), int(cavities)
    chi = euler_characteristic(m, construction)
    return int(b0), int(b0 + cavities - chi), int(cavities)


def euler_curve(codes, n_levels: int, construction: str = "V") -> np.ndarray:
    """Euler characteristic of every sublevel set of an integer-valued map, in one pass.

    ``curve[t] = euler_characteristic(codes <= t, construction)`` for ``t = 0 .. n_levels - 1``:
    each cell of the complex enters at one level (V: the largest value of its pixels; T: the
    smallest value of the pixels that have it), so one pass over the cells, counted with the
    sign of their dimension at their level, and a running sum give them all.

    Parameters
    ----------
    codes : array_like of int, shape (H, W) or (D, H, W)
        Levels ``0 .. n_levels - 1``.
    n_levels : int
    construction : {"V", "T"}

    Returns
    -------
    np.ndarray of int64, shape (n_levels,)

    Examples
    --------
    >>> codes = np.array([[0, 2, 0], [2, 1, 2], [0, 2, 0]])
    >>> euler_curve(codes, 3).tolist()   # four corners, then the centre, then one ring piece
    [4, 5, 1]
    >>> [euler_characteristic(codes <= t) for t in range(3)]
    [4, 5, 1]
    """
    check_choice("construction", construction, CONSTRUCTIONS)
    c = np.asarray(codes)
    if c.ndim not in (2, 3) or c.dtype.kind not in "iu":
        raise ValueError(f"codes must be a 2D or 3D array of integers, got {c.dtype} {c.shape}")
    if c.size and (c.min() < 0 or c.max() >= n_levels):
        raise ValueError(f"codes must lie in 0..{n_levels - 1}")
    c3 = np.ascontiguousarray(c.reshape((1,) * (3 - c.ndim) + c.shape), dtype=np.int64)
    return np.cumsum(_cells_per_level(c3, int(n_levels), construction == "T"))


@numba.njit(cache=True)
def _cells_per_level(codes, n_levels, t_construction):  # pragma: no cover - numba
    """Signed cell counts per entry level (:func:`euler_curve`), on doubled coordinates: a
    coordinate is even where the cell is a point along that axis, odd where it spans; its
    dimension is the number of odd coordinates."""
    D, H, W = codes.shape
    hist = np.zeros(n_levels, np.int64)
    sizes = np.array([D, H, W])
    ext = 1 if t_construction else -1  # T cells reach the outer boundary, V cells do not
    lo = np.empty((3, 2 * max(D, H, W) + 1), np.int64)  # pixels on each side of a coordinate
    hi = np.empty((3, 2 * max(D, H, W) + 1), np.int64)
    for a in range(3):
        for c in range(2 * sizes[a] + ext):
            if t_construction:
                if c % 2:
                    lo[a, c] = hi[a, c] = (c - 1) // 2
                else:
                    lo[a, c] = max(c // 2 - 1, 0)
                    hi[a, c] = min(c // 2, sizes[a] - 1)
            else:
                lo[a, c] = c // 2
                hi[a, c] = (c + 1) // 2
    for cz in range(2 * D + ext):
        for cy in range(2 * H + ext):
            for cx in range(2 * W + ext):
                dim = cz % 2 + cy % 2 + cx % 2
                if t_construction:
                    value = n_levels
                    for z in range(lo[0, cz], hi[0, cz] + 1):
                        for y in range(lo[1, cy], hi[1, cy] + 1):
                            for x in range(lo[2, cx], hi[2, cx] + 1):
                                value = min(value, codes[z, y, x])
                else:
                    value = -1
                    for z in range(lo[0, cz], hi[0, cz] + 1):
                        for y in range(lo[1, cy], hi[1, cy] + 1):
                            for x in range(lo[2, cx], hi[2, cx] + 1):
                                value = max(value, codes[z, y, x])
                hist[value] += 1 - 2 * (dim % 2)
    return hist
