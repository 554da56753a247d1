"""Exact cubical homology of small binary masks, over Z2 (teaching size, slow on purpose).

This module is the oracle the notebooks show and the fast code is tested against. A binary mask
of shape (H, W) or (D, H, W) becomes a cubical complex in one of two ways:

* **V construction** (``"V"``): every foreground pixel is a *vertex*; an edge, square or cube is
  present when all of its vertices are foreground. Foreground connectivity is 4 (2D) / 6 (3D).
* **T construction** (``"T"``): every foreground pixel is a *top cell* (a unit square / cube)
  together with all of its faces. Foreground connectivity is 8 (2D) / 26 (3D).

Cells are stored in *doubled coordinates*: a cell is an integer point whose coordinate along an
axis is even where the cell is a single point along that axis and odd where it spans a unit
interval. Its dimension is the number of odd coordinates. In the V construction pixel ``p`` is the
vertex ``2 p``; in the T construction it is the top cell ``2 p + 1``.

Homology is computed the textbook way: boundary matrices over Z2, their ranks by Gaussian
elimination over GF(2) (:func:`rank_z2`), and ``b_k = n_k - rank d_k - rank d_{k+1}``.

Examples
--------
>>> ring = [[1, 1, 1], [1, 0, 1], [1, 1, 1]]
>>> CubicalComplex.from_mask(ring).betti_numbers()
[1, 1, 0]
"""

from __future__ import annotations

import itertools

import numpy as np
import scipy.sparse as sp

from topotta_lite._validation import as_mask
from topotta_lite.vocabulary import CONSTRUCTIONS, check_choice

__all__ = ["CubicalComplex", "rank_z2"]


def _check_construction(construction: str) -> str:
    check_choice("construction", construction, CONSTRUCTIONS)
    return construction


def rank_z2(matrix) -> int:
    """Rank of a 0/1 matrix over the field with two elements, GF(2).

    Gaussian elimination where each row is held as a Python integer (bit ``j`` = column ``j``),
    so adding one row to another is a single XOR. Entries are read modulo 2.

    Parameters
    ----------
    matrix : array_like or scipy.sparse matrix
        A 2D matrix of integers (or booleans).

    Returns
    -------
    int
        The rank over GF(2).

    Examples
    --------
    >>> rank_z2([[1, 1, 0], [0, 1, 1], [1, 0, 1]])  # rows sum to zero mod 2
    2
    >>> rank_z2(np.eye(3, dtype=int))
    3
    """
    if sp.issparse(matrix):
        matrix = matrix.toarray()
    arr = np.asarray(matrix)
    if arr.ndim != 2:
        raise ValueError(f"matrix must be 2D, got an array of shape {arr.shape}")
    if arr.size == 0:
        return 0
    bits = (np.mod(arr.astype(np.int64), 2) != 0).astype(np.uint8)
    packed = np.packbits(bits, axis=1)  # big-endian bit order within each row
    pivots: dict[int, int] = {}  # leading bit -> reduced row holding it
    for row_bytes in packed:
        row = int.from_bytes(row_bytes.tobytes(), "big")
        while row:
            lead = row.bit_length() - 1
            if lead not in pivots:
                pivots[lead] = row
                break
            row ^= pivots[lead]
    return len(pivots)


class CubicalComplex:
    """A cubical complex built from a binary mask, with exact Z2 homology.

    Use :meth:`from_mask` to build one. ``cells`` is the boolean occupancy of the doubled grid
    (see the module docstring).

    Examples
    --------
    >>> cc = CubicalComplex.from_mask([[1, 0], [0, 1]], construction="V")
    >>> cc.betti_numbers(), cc.euler_characteristic()
    ([2, 0, 0], 2)
    >>> CubicalComplex.from_mask([[1, 0], [0, 1]], construction="T").betti_numbers()
    [1, 0, 0]
    """

    def __init__(self, cells: np.ndarray, construction: str):
        self.cells = np.asarray(cells, dtype=bool)
        self.construction = _check_construction(construction)
        self.ndim = self.cells.ndim
        self._cubes: dict[int, np.ndarray] = {}
        coords = np.argwhere(self.cells)  # C order = lexicographic order
        dims = (coords % 2).sum(axis=1) if len(coords) else np.zeros(0, dtype=int)
        for k in range(self.ndim + 1):
            self._cubes[k] = coords[dims == k]

    @classmethod
    def from_mask(cls, mask, construction: str = "V") -> CubicalComplex:
        """Build the V- or T-construction complex of a 2D/3D binary mask.

        Parameters
        ----------
        mask : array_like of bool or 0/1, shape (H, W) or (D, H, W)
            Foreground pixels.
        construction : {"V", "T"}
            Pixels as vertices ("V") or as top cells with all their faces ("T").

        Returns
        -------
        CubicalComplex

        Examples
        --------
        >>> CubicalComplex.from_mask(np.ones((2, 2)), "V").cubes(2).tolist()
        [[1, 1]]
        >>> len(CubicalComplex.from_mask(np.ones((2, 2)), "T").cubes(2))
        4
        """
        m = as_mask(mask, name="mask")
        construction = _check_construction(construction)
        if construction == "V":
            grid = tuple(2 * n - 1 for n in m.shape)
        else:
            grid = tuple(2 * n + 1 for n in m.shape)
        cells = np.zeros(grid, dtype=bool)
        # An explicit loop over the doubled grid: slow, but each line says what a cell is.
        for c in itertools.product(*(range(g) for g in grid)):
            if construction == "V":
                # the cell's vertices: round each odd coordinate down and up; all must be pixels
                choices = [(x // 2,) if x % 2 == 0 else (x // 2, x // 2 + 1) for x in c]
                cells[c] = all(m[p] for p in itertools.product(*choices))
            else:
                # the top cells containing it: each even coordinate touches the pixel before and
                # after it (when inside the image); any foreground one brings the cell along
                choices = [
                    (x // 2,)
                    if x % 2 == 1
                    else tuple(q for q in (x // 2 - 1, x // 2) if 0 <= q < n)
                    for x, n in zip(c, m.shape)
                ]
                cells[c] = any(m[p] for p in itertools.product(*choices))
        return cls(cells, construction)

    def cubes(self, k: int) -> np.ndarray:
        """The elementary ``k``-cubes, as doubled coordinates of shape (n_k, ndim), C order.

        Examples
        --------
        >>> CubicalComplex.from_mask([[1, 1]]).cubes(1).tolist()
        [[0, 1]]
        """
        if k < 0 or k > self.ndim:
            return np.zeros((0, self.ndim), dtype=np.int64)
        return self._cubes[k]

    def num_cubes(self) -> list[int]:
        """Numbers of cubes ``[n_0, ..., n_ndim]``.

        Examples
        --------
        >>> CubicalComplex.from_mask([[1, 1]], "T").num_cubes()
        [6, 7, 2]
        """
        return [len(self._cubes[k]) for k in range(self.ndim + 1)]

    def boundary_matrix(self, k: int, sparse: bool = False):
        """Z2 boundary matrix of dimension ``k``: rows are (k-1)-cubes, columns are k-cubes.

        The boundary of a cube is the sum of its 2k codimension-one faces, found by moving one
        odd coordinate by -1 and +1. Row/column order is the order of :meth:`cubes`.

        Parameters
        ----------
        k : int
            1 <= k <= ndim gives a real matrix; other k give an empty one with the right shape.
        sparse : bool
            Return a ``scipy.sparse.csr_matrix`` instead of a dense uint8 array.

        Examples
        --------
        >>> CubicalComplex.from_mask([[1, 1]]).boundary_matrix(1)
        array([[1],
               [1]], dtype=uint8)
        """
        rows = self.cubes(k - 1)
        cols = self.cubes(k)
        shape = (len(rows), len(cols))
        r_idx: list[int] = []
        c_idx: list[int] = []
        if shape[0] and shape[1]:
            index = {tuple(c): i for i, c in enumerate(rows.tolist())}
            for j, cube in enumerate(cols.tolist()):
                for axis, x in enumerate(cube):
                    if x % 2 == 1:
                        for step in (-1, 1):
                            face = list(cube)
                            face[axis] = x + step
                            r_idx.append(index[tuple(face)])
                            c_idx.append(j)
        data = np.ones(len(r_idx), dtype=np.uint8)
        mat = sp.csr_matrix((data, (r_idx, c_idx)), shape=shape, dtype=np.uint8)
        return mat if sparse else mat.toarray()

    def betti_numbers(self) -> list[int]:
        """Betti numbers ``[b_0, ..., b_ndim]`` over Z2 from boundary ranks.

        ``b_ndim`` is always 0 for a complex inside R^ndim; it is kept for honesty.

        Examples
        --------
        >>> hollow = np.ones((3, 3, 3), dtype=bool)
        >>> hollow[1, 1, 1] = False
        >>> CubicalComplex.from_mask(hollow, "V").betti_numbers()
        [1, 0, 1, 0]
        """
        n = self.num_cubes()
        ranks = [0] + [
            rank_z2(self.boundary_matrix(k, sparse=True)) for k in range(1, self.ndim + 1)
        ]
        ranks.append(0)
        return [int(n[k] - ranks[k] - ranks[k + 1]) for k in range(self.ndim + 1)]

    def euler_characteristic(self) -> int:
        """Alternating sum of cell counts, ``n_0 - n_1 + n_2 - ...``.

        Examples
        --------
        >>> CubicalComplex.from_mask([[1, 1, 1], [1, 0, 1], [1, 1, 1]]).euler_characteristic()
        0
        """
        return int(sum((-1) ** k * n for k, n in enumerate(self.num_cubes())))
