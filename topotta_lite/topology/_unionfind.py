"""The numba engine behind :func:`~topotta_lite.topology.cubical_persistence` (backend ``"fast"``).

H0 is an elder-rule union-find in the filtration order, ties broken by pixel index (C order);
pixels are first contracted into the basins of their steepest descent so that only the edges
between basins are sorted. The top dimension (H1 in 2D, H2 in 3D) comes from Alexander duality
(H0 of the opposite filtration with the dual connectivity and an outside component born at
+inf). A :class:`PreparedMap` keeps the sort keys of a map so that several passes (and the
pseudo-label region growing) share them.
"""

from __future__ import annotations

import numba
import numpy as np

from topotta_lite.topology._backends import _cripser_raw
from topotta_lite.topology.connectivity import neighbour_offsets


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


def _max_minima(n_pixels: int) -> int:
    """Above this many local minima (noise) the sorted union-find beats basin contraction."""
    return max(64, n_pixels // 12)


class PreparedMap:
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


def prepare_map(arr: np.ndarray, levels: int | None) -> PreparedMap:
    """Quantise a checked map to ``levels`` (None: keep it) and wrap it for the engine."""
    if levels is None:
        return PreparedMap(arr, None, None)
    codes = _codes(arr, levels)
    return PreparedMap(codes / (levels - 1), codes, levels)


def _h0_pass(prep: PreparedMap, ascending: bool, offsets: np.ndarray, outside: bool):
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


def _fast_pairs(prep: PreparedMap, filtration, construction, dims):
    """All requested pairs from union-find passes (plus cripser for 3D H1)."""
    arr, flat = prep.arr, prep.flat
    ndim = arr.ndim
    full = construction == "T"
    sub = filtration == "sublevel"
    out_d, out_b, out_e, out_ess, out_bf, out_df = [], [], [], [], [], []
    if 0 in dims:
        # H0: process in filtration order with the construction's connectivity
        young, killer, root = _h0_pass(prep, sub, neighbour_offsets(ndim, full), False)
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
        young, killer, _ = _h0_pass(prep, not sub, neighbour_offsets(ndim, not full), True)
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


