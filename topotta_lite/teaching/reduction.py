"""The standard algorithm of persistent homology: reduce a filtered boundary matrix over Z2.

Everything a library does to compute a persistence diagram is here, at teaching size and in
plain Python, so that a student can follow it and compare it with gudhi:

1. **The filtered complex.** Every cell of the cubical complex of a small image gets a value:
   in the V construction a cell takes the largest value of its vertices (the pixels), in the T
   construction the smallest value of the pixels (top cells) it is a face of. Sorting the cells
   by (value, dimension) is a *filtration*: every face comes before the cells it bounds, so each
   prefix of the order is a complex, and the prefix of the cells of value ``<= t`` is the
   sublevel complex ``K_t``. (:func:`filtered_complex`; the cells come from
   :class:`topotta_lite.topology.CubicalComplex`.)
2. **The filtered boundary matrix** ``D``: column ``j`` holds the faces of cell ``j``, rows and
   columns in the filtration order, entries in Z2.
3. **Column reduction.** ``low(j)`` is the row of the lowest 1 of column ``j`` (undefined for a
   zero column). Going left to right, while another column ``k < j`` has ``low(k) = low(j)``, add
   column ``k`` to column ``j`` (over Z2: XOR). At the end no two non-zero columns share a
   ``low``: the matrix ``R`` is *reduced* (:func:`reduce_boundary`).
4. **Reading the pairs.** ``low(j) = i`` pairs cell ``i`` (it creates a class of dimension
   ``dim(i)``) with cell ``j`` (it kills it): the point ``(value(i), value(j))``. A cell whose
   column is zero and that is nobody's ``low`` creates a class that never dies (an essential
   class). Pairs with equal values (zero persistence) are not features (:func:`reduction_pairs`).

Nothing here is fast (the matrix is dense and the loop is Python); libraries add clearing, the
dual (cohomology) algorithm and discrete Morse reductions to the same idea. It gives every
homology dimension directly, while :func:`topotta_lite.topology.cubical_persistence` computes the
top dimension (H1 of a 2D map) through duality: the notebooks check that the two agree.

Examples
--------
>>> image = np.array([[2, 7, 1], [5, 9, 6], [3, 8, 4]], dtype=float)
>>> reduction_pairs(image)[["dim", "birth", "death"]].values.tolist()
[[0.0, 1.0, inf], [0.0, 2.0, 7.0], [0.0, 3.0, 5.0], [0.0, 4.0, 6.0], [1.0, 8.0, 9.0]]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from topotta_lite._validation import as_score_map
from topotta_lite.topology.cubical import CubicalComplex, rank_z2
from topotta_lite.vocabulary import CONSTRUCTIONS, FILTRATIONS, check_choice

__all__ = [
    "FilteredComplex",
    "Reduction",
    "describe_cell",
    "filtered_complex",
    "gudhi_pairs",
    "kernel_z2",
    "pairs_in_quadrant",
    "persistent_betti_by_ranks",
    "pieces_alive",
    "reduce_boundary",
    "reduction_pairs",
]


def _as_image(values) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 1:
        arr = arr[None, :]
    return as_score_map(arr, name="values")


def _cell_values(arr: np.ndarray, construction: str) -> np.ndarray:
    """The value of every cell of the doubled grid (V: max over its vertices; T: min over the
    pixels it is a face of), one axis at a time (the max / min over a product set is separable).
    """
    out = arr
    for axis in range(arr.ndim):
        out = np.moveaxis(out, axis, 0)
        n = out.shape[0]
        if construction == "V":  # doubled length 2n - 1: pixels at even places, pairs between
            grid = np.empty((2 * n - 1, *out.shape[1:]))
            grid[0::2] = out
            grid[1::2] = np.maximum(out[:-1], out[1:])
        else:  # doubled length 2n + 1: pixels at odd places, each even place sees its neighbours
            grid = np.empty((2 * n + 1, *out.shape[1:]))
            grid[1::2] = out
            grid[0], grid[-1] = out[0], out[-1]
            grid[2:-1:2] = np.minimum(out[:-1], out[1:])
        out = np.moveaxis(grid, 0, axis)
    return out


@dataclass(frozen=True)
class FilteredComplex:
    """The cells of a small image's cubical complex in filtration order, with their values.

    Attributes
    ----------
    cells : (n, ndim) int array
        Doubled coordinates of each cell (odd along the axes it spans), in filtration order.
    dims : (n,) int array
        Dimension of each cell (its number of odd coordinates).
    values : (n,) float array
        The value at which each cell enters (in the filtration's own order: for the superlevel
        filtration, minus the map's value).
    filtration, construction : str
    shape : tuple of int
        Shape of the image.
    """

    cells: np.ndarray
    dims: np.ndarray
    values: np.ndarray
    filtration: str
    construction: str
    shape: tuple[int, ...]

    def __len__(self) -> int:
        return int(self.dims.shape[0])

    def boundary_matrix(self) -> np.ndarray:
        """The filtered boundary matrix ``D`` over Z2 (dense uint8, rows and columns in order).

        Examples
        --------
        >>> fc = filtered_complex([[0.0, 1.0]])
        >>> fc.dims.tolist(), fc.boundary_matrix().tolist()
        ([0, 0, 1], [[0, 0, 1], [0, 0, 1], [0, 0, 0]])
        """
        index = {tuple(c): i for i, c in enumerate(self.cells.tolist())}
        d = np.zeros((len(self), len(self)), dtype=np.uint8)
        for j, cube in enumerate(self.cells.tolist()):
            for axis, x in enumerate(cube):
                if x % 2 == 1:  # a unit interval along this axis: its two end faces
                    for step in (-1, 1):
                        face = list(cube)
                        face[axis] = x + step
                        d[index[tuple(face)], j] = 1
        return d

    def map_values(self) -> np.ndarray:
        """The values in the map's units (the superlevel filtration's values negated back)."""
        return self.values if self.filtration == "sublevel" else -self.values

    def sublevel_cells(self, t: float) -> np.ndarray:
        """Boolean mask (over the cells, in order) of the complex ``K_t``: the cells entered by
        ``t`` (in the filtration's own order). It is always a prefix of the order."""
        return self.values <= t


def filtered_complex(values, filtration: str = "sublevel",
                     construction: str = "V") -> FilteredComplex:
    """The filtered cubical complex of a small 2D (or 1D, or 3D) image.

    Parameters
    ----------
    values : array_like
        The image (a 1D signal is read as a one-row image). Keep it small (a few hundred cells):
        the boundary matrix is dense.
    filtration : {"sublevel", "superlevel"}
        Superlevel: the sublevel filtration of ``-values`` (cells enter from the highest value).
    construction : {"V", "T"}
        V: pixels are vertices, a cell takes the largest value of its vertices; T: pixels are
        top cells, a cell takes the smallest value of the pixels it is a face of.

    Returns
    -------
    FilteredComplex
        Cells sorted by value, then dimension (a face never comes after a cell it bounds), then
        position.

    Examples
    --------
    >>> fc = filtered_complex([[1.0, 3.0], [4.0, 2.0]])
    >>> fc.dims.tolist()
    [0, 0, 0, 1, 1, 0, 1, 1, 2]
    >>> fc.values.tolist()
    [1.0, 2.0, 3.0, 3.0, 3.0, 4.0, 4.0, 4.0, 4.0]
    """
    check_choice("filtration", filtration, FILTRATIONS)
    check_choice("construction", construction, CONSTRUCTIONS)
    arr = _as_image(values)
    sign = 1.0 if filtration == "sublevel" else -1.0
    full = CubicalComplex.from_mask(np.ones(arr.shape, dtype=bool), construction)
    cells = np.concatenate([full.cubes(k) for k in range(arr.ndim + 1)])
    dims = (cells % 2).sum(axis=1)
    grid = _cell_values(sign * arr, construction)
    vals = grid[tuple(cells.T)]
    flat = np.ravel_multi_index(tuple(cells.T), grid.shape)
    order = np.lexsort((flat, dims, vals))
    return FilteredComplex(cells=cells[order], dims=dims[order].astype(np.int64),
                           values=vals[order].astype(float), filtration=filtration,
                           construction=construction, shape=tuple(arr.shape))


_KIND = {0: "vertex", 1: "edge", 2: "square", 3: "cube"}


def describe_cell(cell, construction: str = "V") -> str:
    """A cell of a 2D complex in words, by the pixels it is made of.

    V: a vertex is a pixel, an edge joins two pixels, a square fills a 2 x 2 block of pixels
    (named by its top-left pixel). T: a square is a pixel, its edges and vertices are on the
    pixel grid's lines (named by their doubled coordinates).

    Examples
    --------
    >>> describe_cell((0, 2)), describe_cell((1, 2)), describe_cell((1, 1))
    ('vertex (0, 1)', 'edge (0, 1)-(1, 1)', 'square (0, 0)')
    >>> describe_cell((1, 3), "T")
    'square (0, 1)'
    """
    check_choice("construction", construction, CONSTRUCTIONS)
    c = [int(x) for x in cell]
    dim = sum(x % 2 for x in c)
    kind = _KIND.get(dim, f"{dim}-cube")
    if construction == "T":
        if dim == len(c):
            return f"{kind} {tuple(x // 2 for x in c)}"
        return f"{kind} at {tuple(c)} (doubled coordinates)"
    low = tuple(x // 2 for x in c)
    if dim == 1:
        high = tuple((x + 1) // 2 for x in c)
        return f"{kind} {low}-{high}"
    return f"{kind} {low}"


@dataclass
class Reduction:
    """The result of reducing a filtered boundary matrix.

    Attributes
    ----------
    reduced : (n, n) uint8 array
        ``R``: the reduced matrix (no two non-zero columns share their lowest 1).
    low : (n,) int array
        ``low(j)``: the row of the lowest 1 of column ``j`` of ``R``, ``-1`` for a zero column.
    additions : list of (int, int)
        Every column addition, in order: ``(k, j)`` means "column ``k`` added to column ``j``".
    """

    reduced: np.ndarray
    low: np.ndarray
    additions: list[tuple[int, int]] = field(default_factory=list)

    def pairs(self) -> list[tuple[int, int]]:
        """The pairs ``(i, j)`` with ``low(j) = i``: cell ``i`` creates what cell ``j`` kills."""
        return [(int(i), int(j)) for j, i in enumerate(self.low) if i >= 0]

    def unpaired(self) -> list[int]:
        """Cells whose column is zero and that are nobody's ``low``: essential classes."""
        lows = set(self.low[self.low >= 0].tolist())
        return [i for i in range(len(self.low)) if self.low[i] < 0 and i not in lows]


def reduce_boundary(matrix) -> Reduction:
    """The standard column reduction of a boundary matrix over Z2.

    For ``j`` from left to right: while some column ``k < j`` has the same lowest 1 as column
    ``j``, add column ``k`` to column ``j`` (mod 2). Each column is held as a Python integer
    (bit ``i`` = row ``i``), so an addition is one XOR.

    Parameters
    ----------
    matrix : (n, m) array_like of 0/1
        A boundary matrix whose rows and columns are in filtration order.

    Returns
    -------
    Reduction

    Examples
    --------
    >>> d = [[0, 0, 0, 1, 0, 1],   # three vertices, then the edges 01, 12, 02
    ...      [0, 0, 0, 1, 1, 0],
    ...      [0, 0, 0, 0, 1, 1],
    ...      [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]]
    >>> red = reduce_boundary(d)
    >>> red.low.tolist(), red.additions, red.pairs(), red.unpaired()
    ([-1, -1, -1, 1, 2, -1], [(4, 5), (3, 5)], [(1, 3), (2, 4)], [0, 5])
    """
    arr = np.asarray(matrix)
    if arr.ndim != 2:
        raise ValueError(f"matrix must be 2D, got an array of shape {arr.shape}")
    bits = np.mod(arr.astype(np.int64), 2) != 0
    n_rows, n_cols = bits.shape
    columns = [sum(1 << int(i) for i in np.flatnonzero(bits[:, j])) for j in range(n_cols)]
    owner: dict[int, int] = {}  # low -> the column that has it
    additions: list[tuple[int, int]] = []
    low = np.full(n_cols, -1, dtype=np.int64)
    for j in range(n_cols):
        col = columns[j]
        while col and (col.bit_length() - 1) in owner:
            k = owner[col.bit_length() - 1]
            col ^= columns[k]
            additions.append((k, j))
        columns[j] = col
        if col:
            low[j] = col.bit_length() - 1
            owner[int(low[j])] = j
    reduced = np.zeros((n_rows, n_cols), dtype=np.uint8)
    for j, col in enumerate(columns):
        while col:
            i = col.bit_length() - 1
            reduced[i, j] = 1
            col ^= 1 << i
    return Reduction(reduced=reduced, low=low, additions=additions)


def reduction_pairs(values, filtration: str = "sublevel", construction: str = "V", *,
                    keep_zero: bool = False) -> pd.DataFrame:
    """The persistence pairs of a small image by the standard algorithm, every dimension.

    Parameters
    ----------
    values : array_like
        A small image (see :func:`filtered_complex`).
    filtration, construction : str
        As in :func:`filtered_complex`.
    keep_zero : bool
        Keep the pairs of zero persistence (a cell paired with one entering at the same value).

    Returns
    -------
    pandas.DataFrame
        One row per pair, sorted by dimension, birth, death: ``dim``, ``birth``, ``death`` (in
        the map's units; superlevel births are above deaths; an essential class dies at
        ``+inf`` for the sublevel filtration, ``-inf`` for the superlevel one), ``persistence``
        (death minus birth in the filtration's own order), ``birth_cell``, ``death_cell``
        (doubled coordinates; ``None`` for an essential class).

    Examples
    --------
    >>> reduction_pairs([3, 1, 4, 1, 5, 9, 2, 6])[["dim", "birth", "death"]].values.tolist()
    [[0.0, 1.0, 4.0], [0.0, 1.0, inf], [0.0, 2.0, 9.0]]
    >>> reduction_pairs([3, 1, 4, 1, 5, 9, 2, 6], "superlevel")["death"].tolist()
    [-inf, 2.0, 1.0, 1.0]
    """
    fc = filtered_complex(values, filtration, construction)
    red = reduce_boundary(fc.boundary_matrix())
    sign = 1.0 if filtration == "sublevel" else -1.0
    rows = []
    for i, j in red.pairs():
        rows.append((int(fc.dims[i]), fc.values[i], fc.values[j], tuple(fc.cells[i].tolist()),
                     tuple(fc.cells[j].tolist())))
    for i in red.unpaired():
        rows.append((int(fc.dims[i]), fc.values[i], np.inf, tuple(fc.cells[i].tolist()), None))
    table = pd.DataFrame(rows, columns=["dim", "birth", "death", "birth_cell", "death_cell"])
    table["persistence"] = table["death"] - table["birth"]
    if not keep_zero:
        table = table[table["persistence"] > 0]
    table["birth"], table["death"] = sign * table["birth"], sign * table["death"]
    table = table.sort_values(["dim", "birth", "death"], key=lambda s: s if s.name == "dim"
                              else sign * s, kind="stable").reset_index(drop=True)
    return table[["dim", "birth", "death", "persistence", "birth_cell", "death_cell"]]


def gudhi_pairs(values, filtration: str = "sublevel", construction: str = "V") -> list:
    """gudhi's persistence pairs of a small image: sorted ``(dim, birth, death)`` triples.

    In the map's units, zero-persistence pairs dropped, essential classes dying at ``+inf``
    (sublevel) or ``-inf`` (superlevel); the same form as :func:`reduction_pairs`'s rows, so the
    two can be compared with ``==``. V: ``gudhi.CubicalComplex(vertices=...)``; T:
    ``top_dimensional_cells=...``; coefficients in Z2.

    Examples
    --------
    >>> gudhi_pairs([[2, 7, 1], [5, 9, 6], [3, 8, 4]])[-1]
    (1, 8.0, 9.0)
    """
    import gudhi

    check_choice("filtration", filtration, FILTRATIONS)
    check_choice("construction", construction, CONSTRUCTIONS)
    sign = 1.0 if filtration == "sublevel" else -1.0
    v = sign * _as_image(values)
    key = "vertices" if construction == "V" else "top_dimensional_cells"
    cx = gudhi.CubicalComplex(**{key: v})
    out = [(int(d), sign * float(b), sign * float(e))
           for d, (b, e) in cx.persistence(homology_coeff_field=2, min_persistence=-1.0)
           if e > b]
    return sorted(out, key=lambda p: (p[0], sign * p[1], sign * p[2]))


def _triples(table: pd.DataFrame) -> list:
    return [(int(d), float(b), float(e)) for d, b, e in table[["dim", "birth", "death"]].values]


# ------------------------------------------------------------------ persistent Betti numbers
def kernel_z2(matrix) -> np.ndarray:
    """A basis of the null space of a 0/1 matrix over Z2, one basis vector per column.

    Gaussian elimination to reduced row echelon form; each free column gives one vector.

    Examples
    --------
    >>> kernel_z2([[1, 1, 0], [0, 1, 1]]).T.tolist()   # the three edges of a triangle
    [[1, 1, 1]]
    >>> kernel_z2(np.zeros((0, 2))).shape
    (2, 2)
    """
    a = (np.mod(np.asarray(matrix, dtype=np.int64), 2) != 0).astype(np.uint8)
    if a.ndim != 2:
        raise ValueError(f"matrix must be 2D, got an array of shape {a.shape}")
    a = a.copy()
    n_rows, n_cols = a.shape
    pivots: list[int] = []
    r = 0
    for c in range(n_cols):
        hits = np.flatnonzero(a[r:, c]) + r if r < n_rows else np.array([], dtype=int)
        if hits.size == 0:
            continue
        a[[r, hits[0]]] = a[[hits[0], r]]
        others = np.flatnonzero(a[:, c])
        others = others[others != r]
        a[others] ^= a[r]
        pivots.append(c)
        r += 1
    free = [c for c in range(n_cols) if c not in pivots]
    basis = np.zeros((n_cols, len(free)), dtype=np.uint8)
    for k, f in enumerate(free):
        basis[f, k] = 1
        for row, p in enumerate(pivots):
            basis[p, k] = a[row, f]
    return basis


def persistent_betti_by_ranks(values, s: float, t: float, dim: int,
                              filtration: str = "sublevel", construction: str = "V") -> int:
    """The persistent Betti number ``beta_dim^{s,t}`` from its definition, by linear algebra.

    ``beta_k^{s,t}`` is the rank of the map ``H_k(K_s) -> H_k(K_t)`` induced by the inclusion of
    the complex at level ``s`` into the complex at level ``t >= s``: the number of independent
    k-dimensional classes that exist at ``s`` and are still alive at ``t``. In terms of cycles
    and boundaries it is ``dim Z_k(K_s) - dim(Z_k(K_s) ∩ B_k(K_t))``, computed here as
    ``rank [Z_k(K_s) | ∂_{k+1}(K_t)] - rank ∂_{k+1}(K_t)`` over Z2, with no reduction and no
    diagram: the Fundamental Lemma says it equals the number of diagram points in the quadrant
    ``birth <= s``, ``death > t`` (:func:`pairs_in_quadrant`).

    Parameters
    ----------
    values : array_like
        A small image.
    s, t : float
        Levels, ``s <= t`` in the filtration's own order (map units; for the superlevel
        filtration ``s >= t`` in the map's units).
    dim : int
        Homology dimension.
    filtration, construction : str
        As in :func:`filtered_complex`.

    Examples
    --------
    >>> signal = [3, 1, 4, 1, 5, 9, 2, 6]
    >>> persistent_betti_by_ranks(signal, 2, 4, 0), persistent_betti_by_ranks(signal, 2, 3.5, 0)
    (2, 3)
    """
    fc = filtered_complex(values, filtration, construction)
    sign = 1.0 if filtration == "sublevel" else -1.0
    s_, t_ = sign * float(s), sign * float(t)
    if s_ > t_:
        raise ValueError(f"need s <= t in the filtration's order, got s={s}, t={t} "
                         f"({filtration})")
    d = fc.boundary_matrix()
    in_s, in_t = fc.sublevel_cells(s_), fc.sublevel_cells(t_)
    k_cells_s = np.flatnonzero(in_s & (fc.dims == dim))
    if k_cells_s.size == 0:
        return 0
    rows_t = np.flatnonzero(in_t & (fc.dims == dim))  # the k-cells of K_t (a superset)
    faces = np.flatnonzero(fc.dims == dim - 1) if dim > 0 else np.array([], dtype=int)
    cycles = kernel_z2(d[np.ix_(faces, k_cells_s)]) if faces.size else \
        np.eye(k_cells_s.size, dtype=np.uint8)
    z = np.zeros((rows_t.size, cycles.shape[1]), dtype=np.uint8)  # Z_k(K_s) inside C_k(K_t)
    z[np.searchsorted(rows_t, k_cells_s)] = cycles
    cofaces_t = np.flatnonzero(in_t & (fc.dims == dim + 1))
    b = d[np.ix_(rows_t, cofaces_t)]
    return int(rank_z2(np.hstack([z, b])) - rank_z2(b))


def pairs_in_quadrant(pairs, s: float, t: float, dim: int, filtration: str = "sublevel") -> int:
    """The number of diagram points of dimension ``dim`` with ``birth <= s`` and ``death > t``.

    ``pairs`` is a table with ``dim``, ``birth``, ``death`` columns (e.g. from
    :func:`reduction_pairs`) or a sequence of ``(dim, birth, death)``; values in the map's units
    (for the superlevel filtration the inequalities are read in its own order: ``birth >= s``,
    ``death < t``).

    Examples
    --------
    >>> pts = [(0, 1.0, 4.0), (0, 1.0, np.inf), (0, 2.0, 9.0)]
    >>> pairs_in_quadrant(pts, 2, 4, 0), pairs_in_quadrant(pts, 2, 3.5, 0)
    (2, 3)
    """
    if isinstance(pairs, pd.DataFrame):
        pairs = _triples(pairs)
    sign = 1.0 if filtration == "sublevel" else -1.0
    return sum(1 for d, b, e in pairs
               if int(d) == dim and sign * b <= sign * s and sign * e > sign * t)


def pieces_alive(values, s: float, t: float, filtration: str = "sublevel",
                 construction: str = "V") -> tuple[np.ndarray, int]:
    """The pieces of the set at level ``t`` that hold a point of the set at level ``s``.

    For H0 the persistent Betti number has a picture: ``beta_0^{s,t}`` is the number of
    connected pieces of ``K_t`` that meet ``K_s`` (each piece of ``K_s`` lies in one piece of
    ``K_t``, and pieces of ``K_s`` inside the same piece of ``K_t`` have merged). Counted here by
    labelling, for maps of any size, without a diagram.

    Parameters
    ----------
    values : array_like, 2D or 3D
    s, t : float
        Levels, ``s`` entered before ``t`` (sublevel: ``s <= t``; superlevel: ``s >= t``).
    filtration, construction : str
        The sets are ``{x <= level}`` (sublevel) or ``{x >= level}`` (superlevel), connected in
        the construction's sense (V: 4/6-neighbours, T: 8/26-neighbours).

    Returns
    -------
    labels : int array
        The surviving pieces of the set at ``t``, numbered ``1..count`` (``0`` elsewhere).
    count : int
        ``beta_0^{s,t}``.

    Examples
    --------
    >>> pieces_alive([[3, 1, 4, 1, 5, 9, 2, 6]], 2, 4)[1], pieces_alive([[3, 1, 4, 1, 5, 9, 2, 6]], 2, 3.5)[1]
    (2, 3)
    """
    from scipy import ndimage as ndi

    from topotta_lite.topology.connectivity import connectivity_structure

    check_choice("filtration", filtration, FILTRATIONS)
    check_choice("construction", construction, CONSTRUCTIONS)
    arr = _as_image(values)
    sign = 1.0 if filtration == "sublevel" else -1.0
    if sign * s > sign * t:
        raise ValueError(f"level s={s} must enter before t={t} in the {filtration} filtration")
    at_s, at_t = sign * arr <= sign * s, sign * arr <= sign * t
    labels, _ = ndi.label(at_t, structure=connectivity_structure(arr.ndim, construction))
    alive = np.unique(labels[at_s])
    alive = alive[alive > 0]
    out = np.zeros_like(labels)
    for k, lab in enumerate(alive, 1):
        out[labels == lab] = k
    return out, int(alive.size)
