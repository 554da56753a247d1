"""Cubical persistent homology of 2D/3D score maps, with birth/death cell locations.

One entry point, :func:`cubical_persistence`, returns a :class:`PersistenceDiagram` whose
features carry the pixel (voxel) that creates and the one that kills each feature, so that
pseudo-label masks can be grown from them.

Backends
--------
``"fast"`` (default, ``"auto"``)
    Our numba engine. H0 is a union-find over the pixels sorted by value (a counting sort
    when ``levels`` is given, a byte-wise radix sort of the float keys otherwise), with the
    elder rule. The top homology dimension (H1 in 2D, H2 in 3D) comes from Alexander
    duality: H_{n-1} of the sublevel filtration with connectivity ``c`` equals H0 of the
    superlevel filtration with the dual connectivity (4 <-> 8 in 2D, 6 <-> 26 in 3D), once
    an "outside" component, born at +inf and adjacent to every border pixel, is added;
    births and deaths swap. **H1 of a 3D map is delegated to cripser** (a real boundary
    matrix reduction), whose cell locations are pixel coordinates of the map.
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

__all__ = ["BACKENDS", "PersistenceDiagram", "cubical_persistence", "quantise"]

BACKENDS = ("auto", "fast", "gudhi", "cripser", "giotto")
_FILTRATIONS = ("sublevel", "superlevel")
_CONSTRUCTIONS = ("V", "T")


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


def _assemble(arr, dims, births, deaths, essential, bflat, dflat, filtration, construction):
    """Build a sorted diagram from flat (C-order) cell indices; drop zero-length bars."""
    dims = np.asarray(dims, np.int64)
    births = np.asarray(births, np.float64)
    deaths = np.asarray(deaths, np.float64)
    essential = np.asarray(essential, bool)
    bflat = np.asarray(bflat, np.int64)
    dflat = np.asarray(dflat, np.int64)
    keep = essential | (births != deaths)
    dims, births, deaths = dims[keep], births[keep], deaths[keep]
    essential, bflat, dflat = essential[keep], bflat[keep], dflat[keep]
    pers = np.abs(births - deaths)
    order = np.lexsort((dflat, bflat, -pers, dims))
    dims, births, deaths = dims[order], births[order], deaths[order]
    essential, bflat, dflat = essential[order], bflat[order], dflat[order]
    bcells = np.stack(np.unravel_index(bflat, arr.shape), axis=1).astype(np.int64)
    dcells = np.full((len(dflat), arr.ndim), -1, np.int64)
    fin = dflat >= 0
    if fin.any():
        dcells[fin] = np.stack(np.unravel_index(dflat[fin], arr.shape), axis=1)
    return PersistenceDiagram(
        dims=dims,
        births=births,
        deaths=deaths,
        essential=essential,
        birth_cells=bcells.reshape(-1, arr.ndim),
        death_cells=dcells,
        filtration=filtration,
        construction=construction,
        shape=tuple(arr.shape),
    )


# --------------------------------------------------------------------------------------
# Quantisation
# --------------------------------------------------------------------------------------
def _check_levels(n) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or int(n) < 2:
        raise ValueError(f"levels must be an integer >= 2 (or None), got {n!r}")
    return int(n)


def _codes(arr: np.ndarray, n: int) -> np.ndarray:
    """Integer levels 0..n-1 of the min-max normalised map (constant map -> zeros)."""
    lo, hi = float(arr.min()), float(arr.max())
    if hi == lo:
        return np.zeros(arr.shape, np.int64)
    return np.round((arr - lo) / (hi - lo) * (n - 1)).astype(np.int64)


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
    n = _check_levels(n)
    return _codes(arr, n) / (n - 1)


# --------------------------------------------------------------------------------------
# numba engine
# --------------------------------------------------------------------------------------
@numba.njit(cache=True)
def _counting_argsort(codes, n_levels):  # pragma: no cover - numba
    counts = np.zeros(n_levels + 1, np.int64)
    for i in range(codes.size):
        counts[codes[i] + 1] += 1
    for v in range(n_levels):
        counts[v + 1] += counts[v]
    order = np.empty(codes.size, np.int64)
    for i in range(codes.size):
        c = codes[i]
        order[counts[c]] = i
        counts[c] += 1
    return order


@numba.njit(cache=True)
def _radix_argsort(values):  # pragma: no cover - numba
    """Stable argsort of float64 values: LSD radix sort over the 8 bytes of ordered keys."""
    n = values.size
    bits = values.view(np.uint64)
    keys = np.empty(n, np.uint64)
    sign = np.uint64(1) << np.uint64(63)
    for i in range(n):
        k = bits[i]
        if k & sign:
            keys[i] = ~k
        else:
            keys[i] = k | sign
    hist = np.zeros((8, 256), np.int64)
    for i in range(n):
        k = keys[i]
        for b in range(8):
            hist[b, (k >> np.uint64(8 * b)) & np.uint64(255)] += 1
    order = np.arange(n)
    tmp = np.empty(n, np.int64)
    for b in range(8):
        skip = False
        for v in range(256):
            if hist[b, v] == n:
                skip = True
                break
        if skip:
            continue
        pos = np.empty(256, np.int64)
        s = 0
        for v in range(256):
            pos[v] = s
            s += hist[b, v]
        shift = np.uint64(8 * b)
        for i in range(n):
            j = order[i]
            v = (keys[j] >> shift) & np.uint64(255)
            tmp[pos[v]] = j
            pos[v] += 1
        order, tmp = tmp, order
    return order


@numba.njit(cache=True, inline="always")
def _find(parent, x):  # pragma: no cover - numba
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@numba.njit(cache=True)
def _union_find(values, order, reverse, D, H, W, offsets, outside, is3d):  # pragma: no cover
    """Elder-rule union-find in the order given (``reverse``: from the last element).

    Returns (young, killer, count, last_root): ``values[young[i]]`` is the birth value and
    ``values[killer[i]]`` the death value of pair i (zero-length pairs are not recorded).
    With ``outside``, a virtual oldest component touches every border pixel.
    """
    n = values.size
    out = n
    parent = np.empty(n + 1, np.int64)
    rank = np.empty(n + 1, np.int64)
    done = np.zeros(n, np.uint8)
    parent[out] = out
    rank[out] = -1
    young = np.empty(n, np.int64)
    killer = np.empty(n, np.int64)
    cnt = 0
    HW = H * W
    K = offsets.shape[0]
    root = -1
    for i in range(n):
        p = order[n - 1 - i] if reverse else order[i]
        parent[p] = p
        rank[p] = i
        done[p] = 1
        r = p
        vp = values[p]
        z = p // HW
        rem = p - z * HW
        y = rem // W
        x = rem - y * W
        for k in range(K + 1):
            if k < K:
                zz = z + offsets[k, 0]
                yy = y + offsets[k, 1]
                xx = x + offsets[k, 2]
                if zz < 0 or zz >= D or yy < 0 or yy >= H or xx < 0 or xx >= W:
                    continue
                q = zz * HW + yy * W + xx
                if done[q] == 0:
                    continue
            else:
                if not outside:
                    continue
                border = y == 0 or y == H - 1 or x == 0 or x == W - 1
                if is3d:
                    border = border or z == 0 or z == D - 1
                if not border:
                    continue
                q = out
            rq = _find(parent, q)
            if rq == r:
                continue
            if rank[rq] < rank[r]:
                older = rq
                yng = r
            else:
                older = r
                yng = rq
            parent[yng] = older
            if values[yng] != vp:
                young[cnt] = yng
                killer[cnt] = p
                cnt += 1
            r = older
        root = r
    if n > 0:
        root = _find(parent, order[n - 1] if reverse else order[0])
    return young[:cnt], killer[:cnt], cnt, root


@numba.njit(cache=True)
def _basin_h0(gp, Dp, Hp, Wp, is3d, foffs, outside, max_minima):  # pragma: no cover - numba
    """Sublevel H0 of a +inf-padded flat map ``gp`` by basin contraction + Kruskal.

    Every pixel points to its lowest neighbour in the total order (value, index); the
    resulting trees (basins) are contracted, the edges between different basins (weight:
    their later endpoint) are sorted and merged with the elder rule, so no global sort of
    the pixels is needed. With ``outside``, a virtual oldest component is adjacent to
    every border pixel. Indices are padded flat indices. Returns ``ok=False`` when the map
    has more than ``max_minima`` local minima (noise), where the sorted union-find wins.
    """
    n = gp.size
    HW = Hp * Wp
    K = foffs.size
    z0 = 1 if is3d else 0
    z1 = Dp - 1 if is3d else 1
    ptr = np.empty(n, np.int32)
    nmin = 0
    for z in range(z0, z1):
        for y in range(1, Hp - 1):
            p = z * HW + y * Wp + 1
            for _x in range(1, Wp - 1):
                best = p
                bv = gp[p]
                for k in range(K):
                    q = p + foffs[k]
                    gq = gp[q]
                    if gq < bv or (gq == bv and q < best):
                        best = q
                        bv = gq
                ptr[p] = best
                if best == p:
                    nmin += 1
                p += 1
    empty = np.empty(0, np.int64)
    if nmin > max_minima:
        return False, empty, empty, -1
    label = np.full(n, -1, np.int32)
    stack = np.empty(n, np.int32)
    for z in range(z0, z1):
        for y in range(1, Hp - 1):
            p0 = z * HW + y * Wp
            for p in range(p0 + 1, p0 + Wp - 1):
                if label[p] >= 0:
                    continue
                s = 0
                x = p
                while label[x] < 0 and ptr[x] != x:
                    stack[s] = x
                    s += 1
                    x = ptr[x]
                lab = label[x] if label[x] >= 0 else x
                label[x] = lab
                for j in range(s):
                    label[stack[j]] = lab
    # candidate death pixels: later endpoint of an edge between two basins (or a border pixel)
    cand = np.empty(n, np.int32)
    m = 0
    for z in range(z0, z1):
        for y in range(1, Hp - 1):
            p = z * HW + y * Wp + 1
            for x in range(1, Wp - 1):
                lp = label[p]
                gv = gp[p]
                hit = False
                if outside:
                    hit = y == 1 or y == Hp - 2 or x == 1 or x == Wp - 2
                    if is3d:
                        hit = hit or z == 1 or z == Dp - 2
                if not hit:
                    for k in range(K):
                        q = p + foffs[k]
                        gq = gp[q]
                        if (gq < gv or (gq == gv and q < p)) and label[q] != lp:
                            hit = True
                            break
                if hit:
                    cand[m] = p
                    m += 1
                p += 1
    keys = np.empty(m, np.float64)
    for i in range(m):
        keys[i] = gp[cand[i]]
    order = np.argsort(keys)
    parent = np.arange(n + 1).astype(np.int32)
    young = np.empty(nmin, np.int64)
    killer = np.empty(nmin, np.int64)
    cnt = 0
    out = n
    for i in range(m):
        w = cand[order[i]]
        gw = gp[w]
        r = _find(parent, label[w])
        for k in range(K + 1):
            if k < K:
                q = w + foffs[k]
                gq = gp[q]
                if not (gq < gw or (gq == gw and q < w)):
                    continue
                lq = label[q]
                if lq < 0:
                    continue
                b = _find(parent, lq)
            else:
                if not outside:
                    continue
                z = w // HW
                y = (w - z * HW) // Wp
                x = w - z * HW - y * Wp
                border = y == 1 or y == Hp - 2 or x == 1 or x == Wp - 2
                if is3d:
                    border = border or z == 1 or z == Dp - 2
                if not border:
                    continue
                b = out
            if b == r:
                continue
            if b == out or (r != out and (gp[b] < gp[r] or (gp[b] == gp[r] and b < r))):
                older = b
                yng = r
            else:
                older = r
                yng = b
            parent[yng] = older
            if gp[yng] != gw:
                young[cnt] = yng
                killer[cnt] = w
                cnt += 1
            r = older
    root = -1
    if not outside:
        root = _find(parent, label[z0 * HW + Wp + 1])
    return True, young[:cnt], killer[:cnt], root


def _offsets(ndim: int, full: bool) -> np.ndarray:
    """Neighbour offsets (dz, dy, dx): faces only (4/6) or full (8/26)."""
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
    return np.array(offs, np.int64)


_OFFSETS = {(nd, full): _offsets(nd, full) for nd in (2, 3) for full in (False, True)}


def _sorted_order(arr: np.ndarray, codes: np.ndarray | None, n_levels: int | None) -> np.ndarray:
    """Stable ascending order of the pixels: counting sort on level codes, radix otherwise."""
    if codes is not None:
        return _counting_argsort(codes.ravel(), n_levels)
    return _radix_argsort(arr.ravel())


class _Order:
    """Lazily computed sort order shared by the passes of one call (noise fallback only)."""

    def __init__(self, arr, codes, n_levels):
        self.arr, self.codes, self.n_levels, self._order = arr, codes, n_levels, None

    def get(self) -> np.ndarray:
        if self._order is None:
            self._order = _sorted_order(self.arr, self.codes, self.n_levels)
        return self._order


def _max_minima(n_pixels: int) -> int:
    """Above this many local minima (noise) the sorted union-find beats basin contraction."""
    return max(64, n_pixels // 12)


def _h0_pass(flat, ascending, shape3, offsets, outside, is3d, order: _Order):
    """(young, killer, root) flat C-order indices of one H0 pass (basins, or sorted UF)."""
    D, H, W = shape3
    g = (flat if ascending else -flat).reshape(shape3)
    Dp, Hp, Wp = (D + 2 if is3d else 1), H + 2, W + 2
    gp = np.full((Dp, Hp, Wp), np.inf)
    gp[(slice(1, -1) if is3d else slice(None)), 1:-1, 1:-1] = g
    foffs = (offsets[:, 0] * Hp * Wp + offsets[:, 1] * Wp + offsets[:, 2]).astype(np.int64)
    max_minima = _max_minima(flat.size)
    ok, young, killer, root = _basin_h0(gp.ravel(), Dp, Hp, Wp, is3d, foffs, outside, max_minima)
    if ok:
        zo = 1 if is3d else 0

        def unpad(i):
            i = np.asarray(i, np.int64)
            z, r = np.divmod(i, Hp * Wp)
            y, x = np.divmod(r, Wp)
            return ((z - zo) * H + (y - 1)) * W + (x - 1)

        return unpad(young), unpad(killer), int(unpad(root)) if root >= 0 else -1
    young, killer, _, root = _union_find(
        flat, order.get(), not ascending, D, H, W, offsets, outside, is3d
    )
    return young, killer, root


def _fast_pairs(arr, filtration, construction, dims, order: _Order):
    """All requested pairs from union-find passes (plus cripser for 3D H1)."""
    ndim = arr.ndim
    flat = arr.ravel()
    shape3 = (1,) + arr.shape if ndim == 2 else arr.shape
    full = construction == "T"
    sub = filtration == "sublevel"
    out_d, out_b, out_e, out_ess, out_bf, out_df = [], [], [], [], [], []
    if 0 in dims:
        # H0: process in filtration order with the construction's connectivity
        young, killer, root = _h0_pass(
            flat, sub, shape3, _OFFSETS[(ndim, full)], False, ndim == 3, order
        )
        out_d += [np.zeros(len(young) + 1, np.int64)]
        out_b += [flat[young], [flat[root]]]
        end = flat.max() if sub else flat.min()
        out_e += [flat[killer], [end]]
        out_ess += [np.zeros(len(young), bool), [True]]
        out_bf += [young, [root]]
        out_df += [killer, [-1]]
    top = ndim - 1
    if top in dims:
        # H_{n-1} by Alexander duality: opposite order, dual connectivity, outside component
        young, killer, _ = _h0_pass(
            flat, not sub, shape3, _OFFSETS[(ndim, not full)], True, ndim == 3, order
        )
        out_d += [np.full(len(young), top, np.int64)]
        out_b += [flat[killer]]
        out_e += [flat[young]]
        out_ess += [np.zeros(len(young), bool)]
        out_bf += [killer]
        out_df += [young]
    if ndim == 3 and 1 in dims:
        d, b, e, ess, bf, df = _cripser_raw(arr, filtration, construction, maxdim=1)
        m = d == 1
        out_d += [d[m]]
        out_b += [b[m]]
        out_e += [e[m]]
        out_ess += [ess[m]]
        out_bf += [bf[m]]
        out_df += [df[m]]
    cat = np.concatenate
    return (
        cat(out_d) if out_d else np.zeros(0, np.int64),
        cat(out_b) if out_b else np.zeros(0),
        cat(out_e) if out_e else np.zeros(0),
        cat(out_ess) if out_ess else np.zeros(0, bool),
        cat(out_bf) if out_bf else np.zeros(0, np.int64),
        cat(out_df) if out_df else np.zeros(0, np.int64),
    )


# --------------------------------------------------------------------------------------
# Reference backends
# --------------------------------------------------------------------------------------
def _gudhi_raw(arr, filtration, construction):
    import gudhi

    sign = -1.0 if filtration == "superlevel" else 1.0
    work = sign * arr
    if construction == "V":
        cc = gudhi.CubicalComplex(vertices=work)
    else:
        cc = gudhi.CubicalComplex(top_dimensional_cells=work)
    cc.compute_persistence(min_persistence=-1.0)
    if construction == "V":
        regular, essential = cc.vertices_of_persistence_pairs()
    else:
        regular, essential = cc.cofaces_of_persistence_pairs()
    flat = arr.ravel()
    d, bf, df, ess = [], [], [], []
    for dim, pairs in enumerate(regular):
        pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
        if len(pairs):
            # gudhi's flat indices are Fortran order
            bf.append(
                np.ravel_multi_index(np.unravel_index(pairs[:, 0], arr.shape, "F"), arr.shape)
            )
            df.append(
                np.ravel_multi_index(np.unravel_index(pairs[:, 1], arr.shape, "F"), arr.shape)
            )
            d.append(np.full(len(pairs), dim, np.int64))
            ess.append(np.zeros(len(pairs), bool))
    end = flat.max() if filtration == "sublevel" else flat.min()
    for dim, cells in enumerate(essential):
        cells = np.asarray(cells, np.int64).ravel()
        if len(cells):
            bf.append(np.ravel_multi_index(np.unravel_index(cells, arr.shape, "F"), arr.shape))
            df.append(np.full(len(cells), -1, np.int64))
            d.append(np.full(len(cells), dim, np.int64))
            ess.append(np.ones(len(cells), bool))
    if not d:
        i0 = np.zeros(0, np.int64)
        return i0, np.zeros(0), np.zeros(0), np.zeros(0, bool), i0, i0
    d, bf, df, ess = map(np.concatenate, (d, bf, df, ess))
    births = flat[bf]
    deaths = np.where(ess, end, flat[np.where(df >= 0, df, 0)])
    return d, births, deaths, ess, bf, df


def _cripser_raw(arr, filtration, construction, maxdim):
    import cripser

    sign = -1.0 if filtration == "superlevel" else 1.0
    # cripser mishandles singleton axes with the V construction (e.g. a (1, W) map yields
    # spurious essential classes): compute on the squeezed array, then re-insert the axes
    keep_axes = [ax for ax, n in enumerate(arr.shape) if n > 1]
    work = np.ascontiguousarray(sign * arr.reshape([arr.shape[ax] for ax in keep_axes]))
    rows = np.asarray(
        cripser.compute_ph(work, filtration=construction, maxdim=maxdim), np.float64
    ).reshape(-1, 9)
    rows = rows[rows[:, 0] <= maxdim]
    k = work.ndim
    d = rows[:, 0].astype(np.int64)
    ess = ~np.isfinite(rows[:, 2]) | (np.abs(rows[:, 2]) > 1e300)
    bc = np.zeros((len(rows), arr.ndim), np.int64)
    dc = np.zeros((len(rows), arr.ndim), np.int64)
    bc[:, keep_axes] = rows[:, 3 : 3 + k].astype(np.int64)
    dc[:, keep_axes] = rows[:, 6 : 6 + k].astype(np.int64)
    bf = np.ravel_multi_index(tuple(bc.T), arr.shape) if len(rows) else np.zeros(0, np.int64)
    df = np.full(len(rows), -1, np.int64)
    if (~ess).any():
        df[~ess] = np.ravel_multi_index(tuple(dc[~ess].T), arr.shape)
    flat = arr.ravel()
    end = flat.max() if filtration == "sublevel" else flat.min()
    births = sign * rows[:, 1]
    deaths = np.where(ess, end, sign * np.where(ess, 0.0, rows[:, 2]))
    return d, births, deaths, ess, bf, df


def _giotto_raw(arr, filtration, construction, dims):
    if construction != "T":
        raise NotImplementedError(
            "the giotto backend supports construction='T' only (giotto-tda builds "
            "top-dimensional-cell complexes); use backend='gudhi', 'cripser' or 'fast' for V"
        )
    from gtda.homology import CubicalPersistence

    sign = -1.0 if filtration == "superlevel" else 1.0
    cp = CubicalPersistence(
        homology_dimensions=tuple(sorted(dims)),
        coeff=2,
        reduced_homology=False,
        infinity_values=np.inf,
        n_jobs=1,
    )
    dg = cp.fit_transform((sign * arr)[None])[0]
    triples = [(int(t[2]), sign * t[0], sign * t[1]) for t in dg if t[0] != t[1]]
    # locations: match each triple with a pair of the fast engine (documented in the module)
    ref = _fast_pairs(arr, filtration, construction, dims, _Order(arr, None, None))
    pool: dict[tuple, list[int]] = {}
    for i, (d, b, e, es) in enumerate(zip(ref[0], ref[1], ref[2], ref[3], strict=True)):
        key = (int(d), float(b), np.inf if es else float(e))
        pool.setdefault(key, []).append(i)
    pick = []
    for d, b, e in triples:
        key = (d, float(b), np.inf if np.isinf(e) else float(e))
        if not pool.get(key):
            raise RuntimeError(f"giotto pair {key} has no match in the fast engine's pairs")
        pick.append(pool[key].pop())
    pick = np.asarray(pick, np.int64)
    return tuple(np.asarray(r)[pick] for r in ref)


# --------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------
def _check_dims(dims, ndim: int) -> tuple[int, ...]:
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
    if filtration not in _FILTRATIONS:
        raise ValueError(f"filtration must be one of {_FILTRATIONS}, got {filtration!r}")
    if construction not in _CONSTRUCTIONS:
        raise ValueError(f"construction must be one of {_CONSTRUCTIONS}, got {construction!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    dims_t = _check_dims(dims, arr.ndim)
    codes = None
    if levels is not None:
        n_levels = _check_levels(levels)
        codes = _codes(arr, n_levels)
        arr = codes / (n_levels - 1)
    if arr.max() == arr.min() or not dims_t:
        return _empty(arr.ndim, filtration, construction, arr.shape)

    if backend in ("auto", "fast"):
        order = _Order(arr, codes, None if codes is None else n_levels)
        raw = _fast_pairs(arr, filtration, construction, dims_t, order)
    elif backend == "gudhi":
        raw = _gudhi_raw(arr, filtration, construction)
    elif backend == "cripser":
        raw = _cripser_raw(arr, filtration, construction, maxdim=max(dims_t))
    else:
        raw = _giotto_raw(arr, filtration, construction, dims_t)
    d, b, e, ess, bf, df = raw
    keep = np.isin(d, dims_t)
    return _assemble(
        arr, d[keep], b[keep], e[keep], ess[keep], bf[keep], df[keep], filtration, construction
    )
