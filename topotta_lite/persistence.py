"""Cubical persistent homology of 2D/3D score maps, with birth/death cell locations.

One entry point, :func:`cubical_persistence`, returns a :class:`PersistenceDiagram` whose
features carry the pixel (voxel) that creates and the one that kills each feature, so that
pseudo-label masks can be grown from them.

Backends
--------
``"fast"`` (default, ``"auto"``)
    Our numba engine. H0 is an elder-rule union-find in the filtration order, ties broken
    by pixel index (C order): every pixel is contracted into the basin of its steepest
    descent and only the edges between basins are sorted (by a radix sort of integer keys:
    the level codes when ``levels`` is given, the IEEE bits of the values otherwise); noise
    maps, with too many basins, fall back to sorting every pixel. The top homology
    dimension (H1 in 2D, H2 in 3D) comes from Alexander duality: H_{n-1} of the sublevel
    filtration with connectivity ``c`` equals H0 of the superlevel filtration with the
    dual connectivity (4 <-> 8 in 2D, 6 <-> 26 in 3D), once an "outside" component, born
    at +inf and adjacent to every border pixel, is added; births and deaths swap. **H1 of
    a 3D map is delegated to cripser** (a real boundary matrix reduction), whose cell
    locations are pixel coordinates of the map.
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
    """Levels 0..n-1 (integer-valued float64) of the min-max normalised map.

    ``round((arr - lo) / (hi - lo) * (n - 1))``, computed in place; a constant map gives
    zeros.
    """
    lo, hi = float(arr.min()), float(arr.max())
    if hi == lo:
        return np.zeros(arr.shape)
    t = arr - lo
    t /= hi - lo
    t *= n - 1
    return np.rint(t, out=t)


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
# Every pass runs on uint64 sort keys that increase in the pass's filtration order; equal
# keys are ordered by pixel index, so (key, index) is the pass's strict total order. The
# maps are padded with _PAD_KEY, above every pixel's key (a +inf border).
_PAD_KEY = np.uint64(np.iinfo(np.uint64).max)


@numba.njit(cache=True)
def _fill_keys(src, shape3, is3d, descending, levels, kp):  # pragma: no cover - numba
    """Write the sort keys of the flat C-order map ``src`` into the padded flat ``kp``.

    With ``levels > 0``, ``src`` holds level codes 0..levels-1 (integer-valued floats) and
    a code is its own key (``levels - 1 - code`` when ``descending``): small keys, sorted
    in one radix pass. Otherwise a value's key is its IEEE bit pattern with the sign
    folded in, so that keys are in the order of the values (-0.0 and 0.0 share a key);
    ``descending`` keys ``-value``.
    """
    D, H, W = shape3
    zo = 1 if is3d else 0
    zero, one, s63 = np.uint64(0), np.uint64(1), np.uint64(63)
    sign = one << s63
    flip = sign if descending else zero
    top = levels - 1
    bits = src.view(np.uint64)
    for z in range(D):
        for y in range(H):
            row = kp[((z + zo) * (H + 2) + y + 1) * (W + 2) + 1:][:W]  # slices: no wraparound
            i0 = (z * H + y) * W
            if levels > 0:
                codes = src[i0:i0 + W]
                for x in range(W):
                    code = np.int64(codes[x])
                    row[x] = top - code if descending else code
            else:
                values = bits[i0:i0 + W]
                for x in range(W):
                    b = values[x]
                    if b << one == zero:
                        b = zero  # -0.0 -> 0.0
                    b ^= flip  # -value
                    row[x] = b ^ ((zero - (b >> s63)) | sign)  # negative: ~b, else b | sign


@numba.njit(cache=True)
def _radix_sort_by(keys, order):  # pragma: no cover - numba
    """A copy of ``order``, a permutation of ``range(keys.size)``, stably sorted by keys.

    ``keys`` are non-negative integers (any width); LSD radix sort over the bytes that are
    not the same in every key, so small keys (level codes) take a single pass. The keys
    travel with the permutation, so that every pass reads memory in order.
    """
    n = order.size
    varying = np.uint64(0)
    for i in range(n):
        varying |= np.uint64(keys[i]) ^ np.uint64(keys[0])
    cur = np.empty(n, np.uint64)
    for i in range(n):
        cur[i] = np.uint64(keys[order[i]])
    order = order.copy()
    tmp = np.empty_like(order)
    tmp_keys = np.empty_like(cur)
    start = np.empty(257, np.int64)
    byte = np.uint64(255)
    for b in range(8):
        shift = np.uint64(8 * b)
        if (varying >> shift) & byte == 0:
            continue
        start[:] = 0
        for i in range(n):
            start[np.int64((cur[i] >> shift) & byte) + 1] += 1
        for v in range(256):
            start[v + 1] += start[v]
        for i in range(n):
            v = np.int64((cur[i] >> shift) & byte)
            tmp[start[v]] = order[i]
            tmp_keys[start[v]] = cur[i]
            start[v] += 1
        order, tmp = tmp, order
        cur, tmp_keys = tmp_keys, cur
    return order


@numba.njit(cache=True)
def _reversed_runs(order, keys):  # pragma: no cover - numba
    """The stable argsort of ``keys`` from ``order``, that of keys in the opposite order.

    The runs of equal keys come in reverse order, each keeping its (ascending) order.
    """
    n = order.size
    out = np.empty_like(order)
    j = 0
    end = n
    while end > 0:
        start = end - 1
        while start > 0 and keys[order[start - 1]] == keys[order[end - 1]]:
            start -= 1
        out[j:j + end - start] = order[start:end]
        j += end - start
        end = start
    return out


@numba.njit(cache=True, inline="always")
def _find(parent, x):  # pragma: no cover - numba
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@numba.njit(cache=True)
def _union_find(keys, order, D, H, W, offsets, outside, is3d):  # pragma: no cover - numba
    """Elder-rule union-find over the pixels in ``order`` (the stable argsort of ``keys``).

    Returns (young, killer, root): pixel ``young[i]`` creates the component that pixel
    ``killer[i]`` merges into an older one (zero-length pairs are not recorded); ``root``
    is the oldest pixel. With ``outside``, a virtual oldest component touches every border
    pixel.
    """
    n = keys.size
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
    for i in range(n):
        p = order[i]
        parent[p] = p
        rank[p] = i
        done[p] = 1
        r = p
        kp = keys[p]
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
            if keys[yng] != kp:
                young[cnt] = yng
                killer[cnt] = p
                cnt += 1
            r = older
    root = _find(parent, order[0]) if n > 0 else -1
    return young[:cnt], killer[:cnt], root


@numba.njit(cache=True, inline="always")
def _unpadded(i, Hp, Wp, is3d):  # pragma: no cover - numba
    """C-order index in the map of the padded flat index ``i``."""
    z = i // (Hp * Wp)
    rem = i - z * Hp * Wp
    y = rem // Wp
    x = rem - y * Wp
    if is3d:
        z -= 1
    return (z * (Hp - 2) + y - 1) * (Wp - 2) + x - 1


@numba.njit(cache=True)
def _descent(kp, Dp, Hp, Wp, is3d, foffs, label):  # pragma: no cover - numba
    """Point every pixel to its lowest neighbour in (key, index) order; count the minima.

    ``label[p]`` becomes that neighbour (``p`` itself at a local minimum).
    """
    HW = Hp * Wp
    K = foffs.size
    half = K // 2  # foffs[:half] point to earlier pixels, foffs[half:] to later ones
    z0, z1 = (1, Dp - 1) if is3d else (0, 1)
    nmin = 0
    for z in range(z0, z1):
        for y in range(1, Hp - 1):
            p0 = np.uint64(z * HW + y * Wp)
            for p in range(p0 + np.uint64(1), p0 + np.uint64(Wp - 1)):
                best = p + foffs[0]
                bk = kp[best]
                for k in range(1, half):
                    q = p + foffs[k]
                    if kp[q] < bk:
                        best = q
                        bk = kp[q]
                if kp[p] < bk:
                    best = p
                    bk = kp[p]
                for k in range(half, K):
                    q = p + foffs[k]
                    if kp[q] < bk:
                        best = q
                        bk = kp[q]
                label[p] = best
                if best == p:
                    nmin += 1
    return nmin


@numba.njit(cache=True)
def _basin_edges(kp, Dp, Hp, Wp, is3d, foffs, outside, label, ew, eb):  # pragma: no cover
    """Contract the descent trees into basins and list the edges between two basins.

    Pointer chasing with path compression turns ``label[p]`` into the minimum of p's
    basin. Edge i joins pixel ``ew[i]``, the later endpoint in (key, index) order, to
    basin ``eb[i]``, that of the earlier one; with ``outside``, every border pixel is
    joined to the outside component ``kp.size``. Repeats of a pixel's last edge are
    skipped. Returns the number of edges, or -1 when ``ew`` is too short (the call can
    then be repeated with longer arrays).
    """
    n = kp.size
    HW = Hp * Wp
    half = foffs.size // 2
    z0, z1 = (1, Dp - 1) if is3d else (0, 1)
    none = np.uint32(0xFFFFFFFF)
    last = np.full(n, none, np.uint32)  # the basin of each pixel's last edge
    cap = ew.size
    e = 0
    for z in range(z0, z1):
        for y in range(1, Hp - 1):
            p0 = np.uint64(z * HW + y * Wp)
            border_row = y == 1 or y == Hp - 2 or (is3d and (z == 1 or z == Dp - 2))
            for p in range(p0 + np.uint64(1), p0 + np.uint64(Wp - 1)):
                r = label[label[p]]
                if label[r] != r:
                    while label[r] != r:
                        r = label[r]
                    x = p
                    while x != r:
                        nxt = label[x]
                        label[x] = r
                        x = nxt
                else:
                    label[p] = r
                k_p = kp[p]
                for k in range(half):  # earlier neighbours: their basin is known
                    q = p + foffs[k]
                    lq = label[q]
                    if lq != r and lq != none:
                        if kp[q] <= k_p:
                            w, b = p, lq
                        else:
                            w, b = q, r
                        if last[w] != b:
                            if e == cap:
                                return -1
                            last[w] = b
                            ew[e] = w
                            eb[e] = b
                            e += 1
                if outside and (border_row or p == p0 + 1 or p == p0 + Wp - 2):
                    if e == cap:
                        return -1
                    ew[e] = p
                    eb[e] = n
                    e += 1
    return e


@numba.njit(cache=True)
def _kruskal(kp, Hp, Wp, is3d, label, ew, eb, nmin):  # pragma: no cover - numba
    """Merge the basins along the edges in (key, index) order of ``ew`` (elder rule).

    Returns (young, killer) as C-order indices of the unpadded map: the basin of minimum
    ``young[i]`` dies when pixel ``killer[i]`` joins it to an older component
    (zero-length pairs are not recorded).
    """
    out = np.uint32(kp.size)
    e = ew.size
    ekey = np.empty(e, np.uint64)
    for i in range(e):
        ekey[i] = kp[ew[i]]
    order = _radix_sort_by(ekey, _radix_sort_by(ew, np.arange(e).astype(np.uint32)))
    young = np.empty(nmin, np.int64)
    killer = np.empty(nmin, np.int64)
    cnt = 0
    for i in range(e):
        j = order[i]
        w = ew[j]
        kw = ekey[j]
        r = _find(label, label[w])
        b = _find(label, eb[j])
        if b == r:
            continue
        if b == out or (r != out and (kp[b] < kp[r] or (kp[b] == kp[r] and b < r))):
            older = b
            yng = r
        else:
            older = r
            yng = b
        label[yng] = older
        if kp[yng] != kw:
            young[cnt] = _unpadded(yng, Hp, Wp, is3d)
            killer[cnt] = _unpadded(w, Hp, Wp, is3d)
            cnt += 1
    return young[:cnt], killer[:cnt]


@numba.njit(cache=True)
def _basin_h0(kp, Dp, Hp, Wp, is3d, foffs, outside, max_minima):  # pragma: no cover - numba
    """H0 pairs of the padded flat key map ``kp`` by basin contraction + Kruskal.

    Every pixel points to its lowest neighbour in the total order (key, index); the
    resulting trees (basins) are contracted, and the edges between two basins, taken in
    the order of their later endpoint, are merged with the elder rule, so no global sort
    of the pixels is needed. The result is that of :func:`_union_find` in the same order,
    cell for cell. With ``outside``, a virtual oldest component is adjacent to every
    border pixel. ``foffs`` are the neighbour offsets in ``kp`` in ascending order
    (negative first), as uint64 (modulo 2**64): indices stay unsigned, which keeps
    numba's negative-index wraparound out of the loops. Returns
    ``(ok, young, killer, root)`` as C-order indices of the unpadded map (``root`` -1
    with ``outside``); ``ok=False`` when the map has more than ``max_minima`` local
    minima (noise), where the sorted union-find wins.
    """
    n = kp.size
    # label: the descent pointers, then the basins; basin minima, merged by Kruskal, make
    # the union-find forest (the padding has no label; n is the outside component)
    label = np.full(n + 1, np.uint32(0xFFFFFFFF), np.uint32)
    label[n] = n
    nmin = _descent(kp, Dp, Hp, Wp, is3d, foffs, label)
    if nmin > max_minima:
        empty = np.empty(0, np.int64)
        return False, empty, empty, -1
    cap = n // 2 + 64
    while True:
        ew = np.empty(cap, np.uint32)
        eb = np.empty(cap, np.uint32)
        e = _basin_edges(kp, Dp, Hp, Wp, is3d, foffs, outside, label, ew, eb)
        if e >= 0:
            break
        cap *= 4
    young, killer = _kruskal(kp, Hp, Wp, is3d, label, ew[:e], eb[:e], nmin)
    root = -1
    if not outside:
        first = (Hp * Wp if is3d else 0) + Wp + 1  # any pixel: all are in the root's component
        root = _unpadded(_find(label, label[first]), Hp, Wp, is3d)
    return True, young, killer, root


def _offsets(ndim: int, full: bool) -> np.ndarray:
    """Neighbour offsets (dz, dy, dx): faces only (4/6) or full (8/26), C order."""
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


def _max_minima(n_pixels: int) -> int:
    """Above this many local minima (noise) the sorted union-find beats basin contraction."""
    return max(64, n_pixels // 12)


class _PreparedMap:
    """A checked map and the sort keys of its two directions, shared by every pass.

    Parameters
    ----------
    arr : numpy.ndarray
        The float64 map the diagrams report (already quantised when ``codes`` is given).
    codes : numpy.ndarray or None
        The level codes of ``arr`` (``levels`` given, see :func:`_codes`), used as sort
        keys; None: the keys come from the float values.
    n_levels : int or None
        Number of levels of ``codes``.
    """

    def __init__(self, arr: np.ndarray, codes: np.ndarray | None, n_levels: int | None):
        self.arr, self.codes, self.n_levels = arr, codes, n_levels
        self.flat = arr.ravel()
        self.is3d = arr.ndim == 3
        self.shape3 = arr.shape if self.is3d else (1,) + arr.shape
        D, H, W = self.shape3
        self.padded_shape = (D + 2 if self.is3d else 1, H + 2, W + 2)
        self.lo, self.hi = float(self.flat.min()), float(self.flat.max())
        self.constant = self.lo == self.hi
        self._cache: dict = {}

    def _cached(self, what: str, ascending: bool, make):
        key = (what, ascending)
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def padded_keys(self, ascending: bool) -> np.ndarray:
        """The flat uint64 sort keys on the padded grid (border: ``_PAD_KEY``).

        They increase in the filtration order: ``ascending`` for the sublevel one.
        """

        def make():
            kp = np.full(int(np.prod(self.padded_shape)), _PAD_KEY, np.uint64)
            src = self.flat if self.codes is None else self.codes.ravel()
            levels = 0 if self.codes is None else self.n_levels
            _fill_keys(src, self.shape3, self.is3d, not ascending, levels, kp)
            return kp

        return self._cached("padded", ascending, make)

    def keys(self, ascending: bool) -> np.ndarray:
        """The flat sort keys of the pixels (:meth:`padded_keys` without the border)."""

        def make():
            inner = (slice(1, -1) if self.is3d else slice(None), slice(1, -1), slice(1, -1))
            return self.padded_keys(ascending).reshape(self.padded_shape)[inner].ravel()

        return self._cached("keys", ascending, make)

    def order(self, ascending: bool) -> np.ndarray:
        """Stable argsort of :meth:`keys`: the pixels in (key, index) order.

        When the other direction's order is known, this one is read from it (its runs of
        equal keys in reverse order) instead of sorting again.
        """

        def make():
            if ("order", not ascending) in self._cache:
                return _reversed_runs(self._cache[("order", not ascending)], self.keys(ascending))
            identity = np.arange(self.flat.size, dtype=np.int32)
            return _radix_sort_by(self.keys(ascending), identity)

        return self._cached("order", ascending, make)


def _prepare(arr: np.ndarray, levels: int | None) -> _PreparedMap:
    """Quantise a checked map to ``levels`` (None: keep it) and wrap it for the engine."""
    if levels is None:
        return _PreparedMap(arr, None, None)
    codes = _codes(arr, levels)
    return _PreparedMap(codes / (levels - 1), codes, levels)


def _h0_pass(prep: _PreparedMap, ascending: bool, offsets: np.ndarray, outside: bool):
    """(young, killer, root) flat C-order indices of one H0 pass (basins, or sorted UF)."""
    Dp, Hp, Wp = prep.padded_shape
    foffs = (offsets @ np.array([Hp * Wp, Wp, 1], np.int64)).astype(np.uint64)  # mod 2**64
    ok, young, killer, root = _basin_h0(
        prep.padded_keys(ascending), Dp, Hp, Wp, prep.is3d, foffs, outside,
        _max_minima(prep.flat.size),
    )
    if ok:
        return young, killer, root
    D, H, W = prep.shape3
    return _union_find(
        prep.keys(ascending), prep.order(ascending), D, H, W, offsets, outside, prep.is3d
    )


def _fast_pairs(prep: _PreparedMap, filtration, construction, dims):
    """All requested pairs from union-find passes (plus cripser for 3D H1)."""
    arr, flat = prep.arr, prep.flat
    ndim = arr.ndim
    full = construction == "T"
    sub = filtration == "sublevel"
    out_d, out_b, out_e, out_ess, out_bf, out_df = [], [], [], [], [], []
    if 0 in dims:
        # H0: process in filtration order with the construction's connectivity
        young, killer, root = _h0_pass(prep, sub, _OFFSETS[(ndim, full)], False)
        out_d += [np.zeros(len(young) + 1, np.int64)]
        out_b += [flat[young], [flat[root]]]
        end = prep.hi if sub else prep.lo
        out_e += [flat[killer], [end]]
        out_ess += [np.zeros(len(young), bool), [True]]
        out_bf += [young, [root]]
        out_df += [killer, [-1]]
    top = ndim - 1
    if top in dims:
        # H_{n-1} by Alexander duality: opposite order, dual connectivity, outside component
        young, killer, _ = _h0_pass(prep, not sub, _OFFSETS[(ndim, not full)], True)
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
    ref = _fast_pairs(_PreparedMap(arr, None, None), filtration, construction, dims)
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
    prep = _prepare(arr, None if levels is None else _check_levels(levels))
    return _diagram(prep, filtration, construction, dims_t, backend)


def _dims_mask(dims: np.ndarray, wanted: Iterable[int]) -> np.ndarray:
    """Boolean mask of the entries of ``dims`` that are in ``wanted`` (a few ints)."""
    keep = np.zeros(dims.shape, bool)
    for d in wanted:
        keep |= dims == d
    return keep


def _essential_h0(prep: _PreparedMap, filtration: str, construction: str) -> PersistenceDiagram:
    """The essential H0 class of a prepared, non-constant map, alone, without any pass.

    It is born at the pixel that comes first in the filtration order (the global minimum for
    the sublevel filtration, the maximum for the superlevel one; the lowest index among equal
    values, the engine's tie convention) and never dies; its bar spans the whole range, as in
    the full diagram. This is what a Top-1 selection that may take the essential class returns
    whenever H0 is among its dims (see :func:`~topotta_lite.pseudolabels.pseudo_label_masks`).
    """
    flat = prep.flat
    sub = filtration == "sublevel"
    root = int(np.argmin(flat) if sub else np.argmax(flat))
    end = prep.hi if sub else prep.lo
    return _assemble(prep.arr, [0], [flat[root]], [end], [True], [root], [-1], filtration,
                     construction)


def _diagram(
    prep: _PreparedMap, filtration: str, construction: str, dims: tuple[int, ...], backend: str
) -> PersistenceDiagram:
    """:func:`cubical_persistence` of a prepared map, the arguments already checked."""
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
    keep = _dims_mask(d, dims)
    return _assemble(
        arr, d[keep], b[keep], e[keep], ess[keep], bf[keep], df[keep], filtration, construction
    )
