"""Cubical persistent homology of 2D/3D score maps, with birth/death cell locations.

One entry point, :func:`cubical_persistence`, returns a :class:`PersistenceDiagram` whose
features carry the pixel (voxel) that creates and the one that kills each feature, so that
pseudo-label masks can be grown from them.

Backends
--------
``"fast"`` (default, ``"auto"``)
    Our numba engine. H0 is an elder-rule union-find in the filtration order, ties broken
    by pixel index (C order). One read of the map gives every pixel a parent (an earlier
    neighbour) and lists the few pixels whose earlier neighbours fall apart into two groups
    inside their 3 x 3 (x 3) block, the only ones that can merge two components; those are
    sorted (a radix sort of integer keys: the level codes when ``levels`` is given, the
    IEEE bits of the values otherwise) and replayed (:mod:`._unionfind`). The top homology
    dimension (H1 in 2D, H2 in 3D) comes from Alexander duality: H_{n-1} of the sublevel
    filtration with connectivity ``c`` equals H0 of the superlevel filtration with the
    dual connectivity (4 <-> 8 in 2D, 6 <-> 26 in 3D), once an "outside" component, born
    at +inf and adjacent to every border pixel, is added; births and deaths swap. **H1 of
    a 3D map is delegated to cripser** (a real boundary matrix reduction), whose cell
    locations are pixel coordinates of the map; a Top-1 over H1 and H2 can skip it when the
    Euler curve proves no loop outlives the longest cavity (:func:`top1_3d`).
``"gudhi"``
    ``gudhi.CubicalComplex`` (``vertices=`` for V, ``top_dimensional_cells=`` for T);
    locations from ``vertices_of_persistence_pairs`` / ``cofaces_of_persistence_pairs``
    (Fortran-order flat indices, converted here).
``"cripser"``
    ``cripser.compute_ph`` with ``filtration="V"`` or ``"T"``; rows
    ``[dim, birth, death, x1, y1, z1, x2, y2, z2]`` give the locations directly.
``"giotto"``
    giotto-tda ``CubicalPersistence`` (T construction only). giotto returns values only;
    the cell locations are filled by matching every ``(dim, birth, death)`` triple, as a
    multiset, with the pairs of the ``"fast"`` engine on the same map (exact float
    equality, both are copies of map values); a triple without a match raises.

Conventions: C order, shape ``(H, W)`` or ``(D, H, W)``; the superlevel filtration is the
sublevel filtration of ``-psi`` reported in ``psi``'s units (birth >= death); the one
essential H0 class gets its death at the end of the filtration range (map max for sublevel,
map min for superlevel); zero-length bars are dropped (as gudhi does); a constant map gives
an empty diagram.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numba
import numpy as np

from topotta_lite._validation import as_score_map
from topotta_lite.topology._backends import _cripser_raw, _giotto_raw, _gudhi_raw
from topotta_lite.topology._unionfind import (
    PreparedMap,
    _codes,
    _fast_pairs,
    _h0_passes,
    _radix_sort_by,
    prepare_map,
)
from topotta_lite.topology.euler import euler_curve
from topotta_lite.vocabulary import CONSTRUCTIONS, FILTRATIONS, check_choice

__all__ = [
    "BACKENDS",
    "PersistenceDiagram",
    "PreparedMap",
    "check_dims",
    "check_levels",
    "cubical_persistence",
    "diagram_of_prepared",
    "essential_h0_diagram",
    "prepare_map",
    "quantise",
    "h1_bound_3d",
    "top1_3d",
    "top_dimension_top1",
]

BACKENDS = ("auto", "fast", "gudhi", "cripser", "giotto")


# --------------------------------------------------------------------------------------
# The diagram object
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PersistenceDiagram:
    """Persistence pairs of one filtration of one map, with cell locations.

    Attributes
    ----------
    dims : (n,) int array
        Homology dimension of each feature.
    births, deaths : (n,) float arrays
        In map units. Superlevel features have ``birth >= death``. The essential H0 class
        has its death at the end of the filtration range (map max for sublevel, map min
        for superlevel).
    essential : (n,) bool array
        True for the infinite bar (the global H0 class).
    birth_cells, death_cells : (n, ndim) int arrays
        C-order pixel/voxel index whose value creates / kills the feature; the death row
        of an essential feature is all -1.
    filtration, construction : str
        ``"sublevel"`` / ``"superlevel"`` and ``"V"`` / ``"T"``.
    shape : tuple of int
        Shape of the map the diagram was computed from.

    Features are ordered by dimension, then persistence descending (ties: birth cell
    index, then death cell index).
    """

    dims: np.ndarray
    births: np.ndarray
    deaths: np.ndarray
    essential: np.ndarray
    birth_cells: np.ndarray
    death_cells: np.ndarray
    filtration: str
    construction: str
    shape: tuple[int, ...]

    @property
    def persistence(self) -> np.ndarray:
        """``|birth - death|`` of every feature (essential: end-of-range death)."""
        return np.abs(self.births - self.deaths)

    def __len__(self) -> int:
        return int(self.dims.shape[0])

    def select(self, index_or_boolmask) -> PersistenceDiagram:
        """Return the features picked by an index array or a boolean mask (order kept).

        Examples
        --------
        >>> dg = cubical_persistence([[0.0, 1.0], [2.0, 3.0]])
        >>> len(dg.select(dg.dims == 0))
        1
        """
        idx = np.asarray(index_or_boolmask)
        if idx.dtype == bool:
            if idx.shape != self.dims.shape:
                raise ValueError(
                    f"boolean mask has shape {idx.shape}, the diagram has {len(self)} features"
                )
            idx = np.flatnonzero(idx)
        idx = np.atleast_1d(idx).astype(np.int64)
        return PersistenceDiagram(
            dims=self.dims[idx],
            births=self.births[idx],
            deaths=self.deaths[idx],
            essential=self.essential[idx],
            birth_cells=self.birth_cells[idx],
            death_cells=self.death_cells[idx],
            filtration=self.filtration,
            construction=self.construction,
            shape=self.shape,
        )

    def in_dim(self, d: int) -> PersistenceDiagram:
        """Return the features of homology dimension ``d``.

        Examples
        --------
        >>> dg = cubical_persistence([[0.0, 1.0], [2.0, 3.0]])
        >>> len(dg.in_dim(1))
        0
        """
        return self.select(self.dims == int(d))

    def top_k(self, k: int, dim: int | None = None) -> PersistenceDiagram:
        """Return the ``k`` most persistent features (of dimension ``dim`` if given).

        Ties are broken by the diagram's own (deterministic) order; the result keeps the
        diagram ordering (dimension, then persistence descending).

        Examples
        --------
        >>> dg = cubical_persistence([[0.0, 5.0, 0.0], [5.0, 1.0, 5.0], [0.0, 5.0, 2.0]])
        >>> dg.top_k(1, dim=0).births
        array([0.])
        """
        if int(k) < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        cand = np.arange(len(self)) if dim is None else np.flatnonzero(self.dims == int(dim))
        pers = self.persistence[cand]
        order = np.lexsort((cand, -pers))  # persistence descending, then diagram order
        chosen = np.sort(cand[order[: int(k)]])
        return self.select(chosen)

    def to_gudhi(self) -> list[tuple[int, tuple[float, float]]]:
        """Return the pairs as gudhi's ``CubicalComplex.persistence()`` would.

        Superlevel diagrams are given as gudhi sees ``-psi``, i.e. ``(-birth, -death)``;
        the essential death is ``inf``; zero-length bars are dropped. Ordered as gudhi
        orders them (dimension descending, then length descending).

        Examples
        --------
        >>> cubical_persistence([[0.0, 1.0], [2.0, 3.0]]).to_gudhi()
        [(0, (0.0, inf))]
        """
        sign = -1.0 if self.filtration == "superlevel" else 1.0
        b = sign * self.births
        d = np.where(self.essential, np.inf, sign * self.deaths)
        keep = self.essential | (b != d)
        idx = np.flatnonzero(keep)
        length = d[idx] - b[idx]
        order = np.lexsort((idx, -length, -self.dims[idx]))
        return [(int(self.dims[i]), (float(b[i]), float(d[i]))) for i in idx[order]]

    def __repr__(self) -> str:
        counts = {int(d): int((self.dims == d).sum()) for d in np.unique(self.dims)}
        return (
            f"PersistenceDiagram({self.filtration}, construction={self.construction}, "
            f"shape={self.shape}, features per dim={counts})"
        )


def _empty(ndim: int, filtration: str, construction: str, shape) -> PersistenceDiagram:
    return PersistenceDiagram(
        dims=np.zeros(0, np.int64),
        births=np.zeros(0),
        deaths=np.zeros(0),
        essential=np.zeros(0, bool),
        birth_cells=np.zeros((0, ndim), np.int64),
        death_cells=np.zeros((0, ndim), np.int64),
        filtration=filtration,
        construction=construction,
        shape=tuple(shape),
    )


@numba.njit(cache=True)
def _fold(x):  # pragma: no cover - numba
    """uint64 keys in the order of the float64 values ``x`` (sign folded in)."""
    bits = (x + 0.0).view(np.uint64)  # -0.0 + 0.0 = 0.0
    sign = np.uint64(1) << np.uint64(63)
    out = np.empty(x.size, np.uint64)
    for i in range(x.size):
        b = bits[i]
        out[i] = ~b if b & sign else b | sign
    return out


@numba.njit(cache=True)
def _diagram_order(dims, pers, bflat, dflat):  # pragma: no cover - numba
    """``np.lexsort((dflat, bflat, -pers, dims))``: stable radix passes by persistence, then
    dimension; runs of equal (dimension, persistence) are then ordered by the cells."""
    n = dims.size
    order = _radix_sort_by(_fold(-pers), np.arange(n).astype(np.int32))
    order = _radix_sort_by(dims.astype(np.uint64), order)
    span = np.uint64(dflat.max() + 2) if n else np.uint64(1)
    i = 0
    while i < n:
        j = i + 1
        while j < n and dims[order[j]] == dims[order[i]] and pers[order[j]] == pers[order[i]]:
            j += 1
        if j - i > 1:
            run = order[i:j].copy()
            key = np.empty(j - i, np.uint64)
            for t in range(j - i):
                key[t] = np.uint64(bflat[run[t]]) * span + np.uint64(dflat[run[t]] + 1)
            order[i:j] = run[_radix_sort_by(key, np.arange(j - i).astype(np.int32))]
        i = j
    return order


@numba.njit(cache=True)
def _cells(flat, shape):  # pragma: no cover - numba
    """C-order multi-indices (rows) of the flat indices ``flat``; -1 rows for -1."""
    nd = len(shape)
    out = np.full((flat.size, nd), -1, np.int64)
    for i in range(flat.size):
        f = flat[i]
        if f < 0:
            continue
        for a in range(nd - 1, -1, -1):
            out[i, a] = f % shape[a]
            f //= shape[a]
    return out


@numba.njit(cache=True)
def _sorted_pairs(dims, births, deaths, essential, bflat, dflat, shape):  # pragma: no cover
    """:func:`_assemble`'s arrays: zero-length bars dropped, sorted, cells unravelled."""
    keep = np.flatnonzero(essential | (births != deaths))
    dims, births, deaths = dims[keep], births[keep], deaths[keep]
    essential, bflat, dflat = essential[keep], bflat[keep], dflat[keep]
    order = _diagram_order(dims, np.abs(births - deaths), bflat, dflat)
    return (dims[order], births[order], deaths[order], essential[order],
            _cells(bflat[order], shape), _cells(dflat[order], shape))


def _assemble(arr, dims, births, deaths, essential, bflat, dflat, filtration, construction):
    """Build a sorted diagram from flat (C-order) cell indices; drop zero-length bars."""
    shape = tuple(int(n) for n in arr.shape)
    d, b, e, ess, bc, dc = _sorted_pairs(
        np.asarray(dims, np.int64), np.asarray(births, np.float64),
        np.asarray(deaths, np.float64), np.asarray(essential, bool),
        np.asarray(bflat, np.int64), np.asarray(dflat, np.int64), shape)
    return PersistenceDiagram(dims=d, births=b, deaths=e, essential=ess, birth_cells=bc,
                              death_cells=dc, filtration=filtration, construction=construction,
                              shape=shape)


def check_levels(n) -> int:
    """``n`` as an int, or a ``ValueError`` unless it is an integer >= 2.

    Examples
    --------
    >>> check_levels(256)
    256
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or int(n) < 2:
        raise ValueError(f"levels must be an integer >= 2 (or None), got {n!r}")
    return int(n)


def quantise(score_map, n: int = 256) -> np.ndarray:
    """Min-max normalise a copy of ``score_map`` to [0, 1] and quantise it to ``n`` levels.

    ``q = round(x * (n - 1)) / (n - 1)`` with ``x`` the normalised map; a constant map
    becomes all zeros.

    Parameters
    ----------
    score_map : array_like
        2D (H, W) or 3D (D, H, W) finite real map.
    n : int
        Number of levels (>= 2).

    Returns
    -------
    numpy.ndarray
        float64 array of the same shape with values in ``{0, 1/(n-1), ..., 1}``.

    Examples
    --------
    >>> quantise([[0.0, 0.4], [0.6, 2.0]], n=3)
    array([[0. , 0. ],
           [0.5, 1. ]])
    """
    arr = as_score_map(score_map)
    n = check_levels(n)
    return _codes(arr, n) / (n - 1)


# --------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------
def check_dims(dims, ndim: int) -> tuple[int, ...]:
    """Sorted unique homology dimensions ``0..ndim-1`` (None: all), or a ``ValueError``.

    Examples
    --------
    >>> check_dims([1, 0, 1], 2)
    (0, 1)
    """
    if dims is None:
        return tuple(range(ndim))
    if isinstance(dims, int | np.integer):
        dims = (dims,)
    try:
        items = list(dims)
    except TypeError:
        raise ValueError(f"dims must be an iterable of ints, got {dims!r}") from None
    out = []
    for d in items:
        if isinstance(d, bool) or not isinstance(d, int | np.integer) or not 0 <= d < ndim:
            raise ValueError(
                f"dims must hold integers in 0..{ndim - 1} for a {ndim}D map, got {d!r}"
            )
        out.append(int(d))
    return tuple(sorted(set(out)))


def cubical_persistence(
    score_map,
    filtration: str = "sublevel",
    construction: str = "V",
    levels: int | None = None,
    dims: Iterable[int] | None = None,
    backend: str = "auto",
) -> PersistenceDiagram:
    """Cubical persistence diagram of a 2D/3D map, with birth and death cell locations.

    Parameters
    ----------
    score_map : array_like
        (H, W) or (D, H, W) finite real map (numpy, or torch on CPU). C order; never
        transposed.
    filtration : {"sublevel", "superlevel"}
        Superlevel = sublevel of ``-psi``, reported in ``psi``'s units (birth >= death).
    construction : {"V", "T"}
        V: pixels are vertices (4/6-connectivity, gudhi ``vertices=``); T: pixels are top
        cells (8/26-connectivity, gudhi ``top_dimensional_cells=``).
    levels : int or None
        If given, compute on ``quantise(score_map, levels)`` (min-max normalised copy,
        ``levels`` levels); None uses the values as given.
    dims : iterable of int or None
        Homology dimensions to return (default all, ``0..ndim-1``).
    backend : {"auto", "fast", "gudhi", "cripser", "giotto"}
        "auto" = "fast", our numba union-find + Alexander duality engine (H1 of 3D maps
        is delegated to cripser). "giotto" supports the T construction only and fills
        cell locations by matching with the fast engine's pairs.

    Returns
    -------
    PersistenceDiagram
        Sorted by dimension, then persistence descending. Constant map: empty diagram.

    Examples
    --------
    >>> psi = [[0, 0, 0, 0], [0, 5, 9, 0], [0, 4, 2, 0], [0, 0, 0, 0]]
    >>> dg = cubical_persistence(psi, "sublevel", dims=[1])  # a hole in the low set
    >>> float(dg.births[0]), float(dg.deaths[0]), dg.death_cells[0].tolist()
    (0.0, 9.0, [1, 2])
    >>> up = cubical_persistence(psi, "superlevel", dims=[0])
    >>> float(up.births[0]), float(up.deaths[0]), bool(up.essential[0])
    (9.0, 0.0, True)
    """
    arr = as_score_map(score_map)
    check_choice("filtration", filtration, FILTRATIONS)
    check_choice("construction", construction, CONSTRUCTIONS)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    dims_t = check_dims(dims, arr.ndim)
    prep = prepare_map(arr, None if levels is None else check_levels(levels))
    return diagram_of_prepared(prep, filtration, construction, dims_t, backend)


def _dims_mask(dims: np.ndarray, wanted: Iterable[int]) -> np.ndarray:
    """Boolean mask of the entries of ``dims`` that are in ``wanted`` (a few ints)."""
    keep = np.zeros(dims.shape, bool)
    for d in wanted:
        keep |= dims == d
    return keep


def essential_h0_diagram(prep: PreparedMap, filtration: str, construction: str) -> PersistenceDiagram:
    """The essential H0 class of a prepared, non-constant map, alone, without any pass.

    It is born at the pixel that comes first in the filtration order (the global minimum for
    the sublevel filtration, the maximum for the superlevel one; the lowest index among equal
    values, the engine's tie convention) and never dies; its bar spans the whole range, as in
    the full diagram. This is what a Top-1 selection that may take the essential class returns
    whenever H0 is among its dims (see :func:`~topotta_lite.method.pseudolabels.pseudo_label_masks`).
    """
    flat = prep.flat
    sub = filtration == "sublevel"
    root = int(np.argmin(flat) if sub else np.argmax(flat))
    ndim = prep.arr.ndim
    return PersistenceDiagram(
        dims=np.zeros(1, np.int64),
        births=np.array([flat[root]]),
        deaths=np.array([prep.hi if sub else prep.lo]),
        essential=np.ones(1, bool),
        birth_cells=np.array([np.unravel_index(root, prep.arr.shape)], np.int64).reshape(1, ndim),
        death_cells=np.full((1, ndim), -1, np.int64),
        filtration=filtration,
        construction=construction,
        shape=tuple(prep.arr.shape),
    )


def _one_feature(prep: PreparedMap, filtration: str, construction: str, dim: int,
                 bflat: np.ndarray, dflat: np.ndarray) -> PersistenceDiagram:
    """The longest of the bars (birth cell ``bflat[i]``, death cell ``dflat[i]``) of one
    dimension, ties broken as the diagram orders them (birth cell, then death cell)."""
    if not len(bflat):
        return _empty(prep.arr.ndim, filtration, construction, prep.arr.shape)
    flat = prep.flat
    births, deaths = flat[bflat], flat[dflat]
    pers = np.abs(births - deaths)
    tied = np.flatnonzero(pers == pers.max())
    i = tied[np.lexsort((dflat[tied], bflat[tied]))[0]] if len(tied) > 1 else tied[0]
    shape = tuple(prep.arr.shape)
    return PersistenceDiagram(
        dims=np.array([dim], np.int64),
        births=births[i:i + 1].copy(),
        deaths=deaths[i:i + 1].copy(),
        essential=np.zeros(1, bool),
        birth_cells=np.array([np.unravel_index(bflat[i], shape)], np.int64).reshape(1, -1),
        death_cells=np.array([np.unravel_index(dflat[i], shape)], np.int64).reshape(1, -1),
        filtration=filtration,
        construction=construction,
        shape=shape,
    )


def top_dimension_top1(prep: PreparedMap, filtration: str, construction: str) -> PersistenceDiagram:
    """The most persistent feature of the top dimension (H1 in 2D, H2 in 3D) alone.

    One union-find pass (the dual one, see :func:`cubical_persistence`), then the longest bar,
    ties broken as the diagram orders them (birth cell, then death cell): what a Top-1
    selection over that dimension returns (see
    :func:`~topotta_lite.method.pseudolabels.pseudo_label_masks`). Empty when there is none.

    Examples
    --------
    >>> psi = np.zeros((7, 7)); psi[1:6, 1:6] = 0.5; psi[2:5, 2:5] = 0.0; psi[3, 3] = 1.0
    >>> top = top_dimension_top1(prepare_map(psi, None), "sublevel", "V")
    >>> float(top.births[0]), float(top.deaths[0]), top.death_cells[0].tolist()
    (0.0, 1.0, [3, 3])
    """
    if prep.constant:
        return _empty(prep.arr.ndim, filtration, construction, prep.arr.shape)
    sub = filtration == "sublevel"
    young, killer, _ = _h0_passes(prep, [(not sub, construction != "T", True)])[0]
    # the dual pass: its killer is the feature's birth cell, its young one the death cell
    return _one_feature(prep, filtration, construction, prep.arr.ndim - 1, killer, young)


def _levels_in_order(prep: PreparedMap, sub: bool) -> tuple[np.ndarray, np.ndarray]:
    """Integer levels of the pixels in the filtration's order, and each level's value."""
    if prep.codes is not None:
        top = prep.n_levels - 1
        codes = prep.codes.astype(np.int64)
        values = np.arange(prep.n_levels) / top
    else:
        values, codes = np.unique(prep.flat, return_inverse=True)
        codes = codes.reshape(prep.arr.shape)
        top = len(values) - 1
    if not sub:
        codes, values = top - codes, values[::-1]
    return codes, values


def h1_bound_3d(prep: PreparedMap, filtration: str, construction: str):
    """An upper bound on the persistence of every H1 bar of a 3D map, without computing H1.

    In 3D, ``b1 = b0 + b2 - chi`` at every level: ``chi`` from one pass over the cells
    (:func:`~topotta_lite.topology.euler.euler_curve`), ``b0`` and ``b2`` from the two
    union-find passes. An H1 bar is alive at every level from its birth to its death, so it
    lasts no longer than the longest run of levels where ``b1 >= 1``. Returns ``(bound,
    h2_pairs)``: the bound (0 when there is no H1 at all) and the H2 bars' (birth, death)
    cells, which the passes gave on the way.

    Examples
    --------
    >>> x = np.zeros((6, 6, 6)); x[1:5, 1:5, 1:5] = 1.0; x[2:4, 2:4, 2:4] = 0.0   # a shell
    >>> bound, (births, deaths) = h1_bound_3d(prepare_map(x, None), "sublevel", "V")
    >>> bound, len(births)                              # a cavity, no loop
    (0.0, 1)
    """
    sub = filtration == "sublevel"
    full = construction == "T"
    (young0, killer0, root), (young2, killer2, _) = _h0_passes(
        prep, [(sub, full, False), (not sub, not full, True)])
    codes, values = _levels_in_order(prep, sub)
    n_levels = len(values)
    flat = codes.ravel()
    alive = np.zeros(n_levels + 1, np.int64)
    np.add.at(alive, flat[young0], 1)  # H0: born at the young pixel, killed at the killer
    np.add.at(alive, flat[killer0], -1)
    alive[flat[root]] += 1  # the essential class
    np.add.at(alive, flat[killer2], 1)  # H2 (the dual pass): born at the killer
    np.add.at(alive, flat[young2], -1)
    b1 = np.cumsum(alive)[:n_levels] - euler_curve(codes, n_levels, construction)
    bound = 0.0
    on = np.flatnonzero(b1 >= 1)
    if len(on):
        starts = on[np.r_[True, np.diff(on) > 1]]
        ends = on[np.r_[np.diff(on) > 1, True]] + 1  # a run ends before the next level
        ends = np.minimum(ends, n_levels - 1)
        bound = float(np.abs(values[ends] - values[starts]).max())
    return bound, (killer2, young2)


def top1_3d(prep: PreparedMap, filtration: str, construction: str) -> PersistenceDiagram | None:
    """The Top-1 feature of a 3D map over H1 and H2 when H1 provably cannot hold it, else None.

    H2 comes from a union-find pass; H1 needs a matrix reduction (cripser), the slow part of
    3D persistence. :func:`h1_bound_3d` bounds every H1 bar's length from the Euler curve:
    when the longest H2 bar is longer than that bound, it is the Top-1 (H1 would win a tie,
    being the lower dimension), and no H1 is computed.

    Examples
    --------
    >>> x = np.zeros((6, 6, 6)); x[1:5, 1:5, 1:5] = 1.0; x[2:4, 2:4, 2:4] = 0.0
    >>> top1_3d(prepare_map(x, None), "sublevel", "V").dims.tolist()
    [2]
    """
    if prep.constant:
        return _empty(3, filtration, construction, prep.arr.shape)
    bound, (bflat, dflat) = h1_bound_3d(prep, filtration, construction)
    top = _one_feature(prep, filtration, construction, 2, bflat, dflat)
    if len(top) and float(top.persistence[0]) > bound:
        return top
    if bound == 0.0:  # no H1 bar at all (and no H2 bar either)
        return top
    return None


def diagram_of_prepared(
    prep: PreparedMap, filtration: str, construction: str, dims: tuple[int, ...], backend: str
) -> PersistenceDiagram:
    """:func:`cubical_persistence` of a :class:`PreparedMap`, the arguments already checked.

    Use it to compute several diagrams of one map with shared sort keys.

    Examples
    --------
    >>> prep = prepare_map(np.array([[0.0, 1.0], [2.0, 3.0]]), None)
    >>> diagram_of_prepared(prep, "sublevel", "V", (0,), "fast").births.tolist()
    [0.0]
    """
    arr = prep.arr
    if prep.constant or not dims:
        return _empty(arr.ndim, filtration, construction, arr.shape)
    if backend in ("auto", "fast"):
        raw = _fast_pairs(prep, filtration, construction, dims)
    elif backend == "gudhi":
        raw = _gudhi_raw(arr, filtration, construction)
    elif backend == "cripser":
        raw = _cripser_raw(arr, filtration, construction, maxdim=max(dims))
    else:
        raw = _giotto_raw(arr, filtration, construction, dims)
    d, b, e, ess, bf, df = raw
    if backend not in ("auto", "fast"):  # the others return every dimension
        keep = _dims_mask(d, dims)
        d, b, e, ess, bf, df = d[keep], b[keep], e[keep], ess[keep], bf[keep], df[keep]
    return _assemble(arr, d, b, e, ess, bf, df, filtration, construction)
