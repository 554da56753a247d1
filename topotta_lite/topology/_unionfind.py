"""The numba engine behind :func:`~topotta_lite.topology.cubical_persistence` (backend ``"fast"``).

H0 is an elder-rule union-find in the filtration order, ties broken by pixel index (C order).
The top dimension (H1 in 2D, H2 in 3D) comes from Alexander duality (H0 of the opposite
filtration with the dual connectivity and an outside component born at +inf).

One H0 pass reads the map once (:func:`_sweep_2d` / :func:`_sweep_3d`). Every pixel gets a
parent, one of its neighbours that comes earlier in the filtration order (itself at a local
minimum); that forest is a valid union-find state, because a pixel joins the component of any
earlier neighbour at its own time anyway. A pixel can merge two components only if its earlier
neighbours fall apart into two or more groups inside its 3 x 3 (x 3) block, counted with the
pass's connectivity (two earlier pixels of the block that touch each other were joined before);
only those *saddle candidates* (and, with the outside component, the border pixels) are sorted
and replayed by :func:`_kruskal`. On a smooth map they are a few percent of the pixels. In 2D
the masks of earlier neighbours are computed a row at a time by branch-free, vectorised loops,
on the float map (NaN border: never earlier, one read for both directions) or, for a quantised
map, on its int16 codes; thread-local scratch arrays spare the page faults of fresh memory.

The plain sorted union-find (:func:`_union_find`, every pixel in (key, index) order) is kept as
the reference the engine is tested against; :func:`_max_minima` decides when it runs instead
(never by default). A :class:`PreparedMap` keeps what several passes over one map share.
"""

from __future__ import annotations

import threading
from collections import deque
from functools import cache

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
# Lower links: how the earlier neighbours of a pixel fall apart inside its block
# --------------------------------------------------------------------------------------
# Block positions are numbered in raster order, i = 9 z + 3 y + x (2D: 3 y + x), so that a
# set of positions is a bit mask and the centre (the pixel itself) is bit 13 (2D: bit 4).
def _block_coords(ndim: int) -> list[tuple[int, ...]]:
    size = 3**ndim
    return [tuple((i // 3**(ndim - 1 - a)) % 3 for a in range(ndim)) for i in range(size)]


def lower_link_components(pre: int, ndim: int, full: bool) -> int:
    """Groups of the block positions in ``pre`` that hold a neighbour of the centre.

    ``pre`` is a bit mask of block positions (the centre's bit must be 0); two positions are
    adjacent when they are neighbours under the connectivity (``full``: 8/26, else 4/6).
    Counted are the connected groups of ``pre`` that contain a neighbour of the centre. The
    plain breadth-first definition, used to build the 2D table and to test the bit version.

    Examples
    --------
    >>> n, s, w, e = 1 << 1, 1 << 7, 1 << 3, 1 << 5
    >>> lower_link_components(n | s, 2, full=True), lower_link_components(n | e, 2, full=True)
    (2, 1)
    >>> lower_link_components(n | e, 2, full=False), lower_link_components(n | e | 1 << 2, 2, False)
    (2, 1)
    """
    coords = _block_coords(ndim)
    centre = (1,) * ndim

    def adjacent(a, b):
        d = [abs(u - v) for u, v in zip(a, b, strict=True)]
        return max(d) == 1 if full else sum(d) == 1

    members = [i for i in range(len(coords)) if pre >> i & 1]
    if (len(coords) - 1) // 2 in members:
        raise ValueError("the centre cannot be one of its own earlier neighbours")
    seen: set[int] = set()
    count = 0
    for start in members:
        if start in seen or not adjacent(coords[start], centre):
            continue
        count += 1
        queue = deque([start])
        seen.add(start)
        while queue:
            a = queue.popleft()
            for b in members:
                if b not in seen and adjacent(coords[a], coords[b]):
                    seen.add(b)
                    queue.append(b)
    return count


def lower_link_groups(pre: int, ndim: int, full: bool) -> list[int]:
    """The groups of :func:`lower_link_components` as bit masks (ordered by lowest bit).

    Examples
    --------
    >>> lower_link_groups((1 << 1) | (1 << 7), 2, full=True)
    [2, 128]
    """
    coords = _block_coords(ndim)
    centre = (1,) * ndim

    def adjacent(a, b):
        d = [abs(u - v) for u, v in zip(a, b, strict=True)]
        return max(d) == 1 if full else sum(d) == 1

    members = [i for i in range(len(coords)) if pre >> i & 1]
    seen: set[int] = set()
    groups = []
    for start in members:
        if start in seen or not adjacent(coords[start], centre):
            continue
        mask, queue = 1 << start, deque([start])
        seen.add(start)
        while queue:
            a = queue.popleft()
            for b in members:
                if b not in seen and adjacent(coords[a], coords[b]):
                    seen.add(b)
                    mask |= 1 << b
                    queue.append(b)
        groups.append(mask)
    return groups


@cache
def _tables_2d(full: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """2D tables over the 9-bit masks of earlier neighbours (centre bit 4 clear).

    ``saddle[pre]``: two or more lower groups. ``reps[pre]``: the neighbour index (0..7,
    raster order without the centre) of one member of each group that is a neighbour of the
    centre, -1 padded. ``parent[pre]``: the block position (0..8) of the neighbour a pixel
    points to, earlier-indexed ones first (4, the centre, at a local minimum).
    """
    saddle = np.zeros(512, np.bool_)
    reps = np.full((512, 4), -1, np.int8)
    parent = np.full(512, 4, np.int64)
    graph = (0, 1, 2, 3, 5, 6, 7, 8) if full else (1, 3, 5, 7)
    for pre in range(512):
        if pre & 16:
            continue
        groups = lower_link_groups(pre, 2, full)
        saddle[pre] = len(groups) >= 2
        for j, g in enumerate(groups):
            members = [b for b in range(9) if g >> b & 1 and b in graph]
            reps[pre, j] = members[0] if members[0] < 4 else members[0] - 1
        for b in (1, 3, 0, 2, 5, 7, 6, 8):
            if b in graph and pre >> b & 1:
                parent[pre] = b
                break
    for t in (saddle, reps, parent):
        t.setflags(write=False)
    return saddle, reps, parent


def _bit_masks(ndim: int) -> np.ndarray:
    """Block positions with x >= 1, x <= 1, y >= 1, y <= 1, and all of them (shift guards)."""
    coords = _block_coords(ndim)
    masks = [0] * 5
    for i, c in enumerate(coords):
        y, x = c[-2], c[-1]
        masks[0] |= (x >= 1) << i
        masks[1] |= (x <= 1) << i
        masks[2] |= (y >= 1) << i
        masks[3] |= (y <= 1) << i
        masks[4] |= 1 << i
    return np.array(masks, np.int64)


_MASKS_3D = _bit_masks(3)
_NO_REPS = np.full((1, 4), -1, np.int8)


@numba.njit(cache=True)
def _lower_groups(pre, start, full, is3d, masks):  # pragma: no cover - numba
    """Bit-parallel :func:`lower_link_components`, counted up to 2.

    ``start``: the neighbours of the centre; a group grows by dilating its bit mask inside
    the block (shifts by 1, 3 and 9 positions, guarded at the block's faces) until it stops.
    """
    xg, xl, yg, yl, every = masks[0], masks[1], masks[2], masks[3], masks[4]
    rem = pre & start
    count = 0
    while rem != 0:
        comp = rem & -rem
        while True:
            if full:  # separable 3 x 3 (x 3) dilation
                d = comp | ((comp << 1) & xg) | ((comp >> 1) & xl)
                d = d | ((d << 3) & yg) | ((d >> 3) & yl)
                if is3d:
                    d = d | ((d << 9) & every) | (d >> 9)
            else:
                d = comp | ((comp << 1) & xg) | ((comp >> 1) & xl)
                d = d | ((comp << 3) & yg) | ((comp >> 3) & yl)
                if is3d:
                    d = d | ((comp << 9) & every) | (comp >> 9)
            d &= pre
            if d == comp:
                break
            comp = d
        rem &= ~comp
        count += 1
        if count == 2:
            break
    return count


# --------------------------------------------------------------------------------------
# H0 passes: sweep (parents + saddle candidates), sort the candidates, replay them
# --------------------------------------------------------------------------------------
# The map is padded with NaN: a NaN neighbour compares False, so it never comes earlier, in
# either direction. Earlier in the ascending (sublevel) order: a smaller value, or an equal
# one at a smaller index (the neighbours before the pixel in raster order); descending: a
# larger value, or an equal one at a smaller index. Each candidate keeps the bit mask of its
# earlier neighbours (block positions), the centre bit flagging a border pixel of a pass
# with the outside component.
@numba.njit(cache=True, inline="always")
def _parents_and_candidates(row, p0, W, ptr, offs9, saddle, out, side_row, par, cand, pre_c, m):
    # pragma: no cover - numba
    """One row of one pass: each pixel's parent is the earlier neighbour the table ``ptr``
    picks from its mask (``offs9``: the block's flat offsets; the centre at a local minimum);
    one on an earlier row or to the left is replaced by its own parent, already set, which
    keeps the trees shallow. Then the saddle candidates (border pixels too with the outside
    component). Returns (m, minima in the row)."""
    minima = 0
    for x in range(W):
        k = ptr[row[x]]
        q = p0 + x + offs9[k]
        par[p0 + x] = par[q] if k < 4 else q
        minima += k == 4
    for x in range(W):
        pre = row[x]
        border = out and (side_row or x == 0 or x == W - 1)
        if saddle[pre] or border:
            cand[m] = p0 + x
            pre_c[m] = pre | (border << 4)
            m += 1
    return m, minima


@numba.njit(cache=True, inline="always")
def _row_masks(v_a, v_d, shared, base, Wp, W, do_a, do_d, row_a, row_d):  # pragma: no cover
    """9-bit masks of the earlier neighbours of the pixels of one row, in ascending order
    (from ``v_a``) and / or descending order (from ``v_d``): branch-free loops over nine
    shifted views of the padded map, which vectorise; one loop for both when they ``shared``
    one map."""
    if do_a:
        nw = v_a[base - Wp:base - Wp + W]
        n = v_a[base - Wp + 1:base - Wp + 1 + W]
        ne = v_a[base - Wp + 2:base - Wp + 2 + W]
        w = v_a[base:base + W]
        c = v_a[base + 1:base + 1 + W]
        e = v_a[base + 2:base + 2 + W]
        sw = v_a[base + Wp:base + Wp + W]
        s = v_a[base + Wp + 1:base + Wp + 1 + W]
        se = v_a[base + Wp + 2:base + Wp + 2 + W]
        if do_d and shared:
            for x in range(W):
                vp = c[x]
                row_a[x] = ((nw[x] <= vp) | ((n[x] <= vp) << 1) | ((ne[x] <= vp) << 2)
                            | ((w[x] <= vp) << 3) | ((e[x] < vp) << 5) | ((sw[x] < vp) << 6)
                            | ((s[x] < vp) << 7) | ((se[x] < vp) << 8))
                row_d[x] = ((nw[x] >= vp) | ((n[x] >= vp) << 1) | ((ne[x] >= vp) << 2)
                            | ((w[x] >= vp) << 3) | ((e[x] > vp) << 5) | ((sw[x] > vp) << 6)
                            | ((s[x] > vp) << 7) | ((se[x] > vp) << 8))
            return
        for x in range(W):
            vp = c[x]
            row_a[x] = ((nw[x] <= vp) | ((n[x] <= vp) << 1) | ((ne[x] <= vp) << 2)
                        | ((w[x] <= vp) << 3) | ((e[x] < vp) << 5) | ((sw[x] < vp) << 6)
                        | ((s[x] < vp) << 7) | ((se[x] < vp) << 8))
    if do_d:
        nw = v_d[base - Wp:base - Wp + W]
        n = v_d[base - Wp + 1:base - Wp + 1 + W]
        ne = v_d[base - Wp + 2:base - Wp + 2 + W]
        w = v_d[base:base + W]
        c = v_d[base + 1:base + 1 + W]
        e = v_d[base + 2:base + 2 + W]
        sw = v_d[base + Wp:base + Wp + W]
        s = v_d[base + Wp + 1:base + Wp + 1 + W]
        se = v_d[base + Wp + 2:base + Wp + 2 + W]
        for x in range(W):
            vp = c[x]
            row_d[x] = ((nw[x] >= vp) | ((n[x] >= vp) << 1) | ((ne[x] >= vp) << 2)
                        | ((w[x] >= vp) << 3) | ((e[x] > vp) << 5) | ((sw[x] > vp) << 6)
                        | ((s[x] > vp) << 7) | ((se[x] > vp) << 8))


@numba.njit(cache=True)
def _sweep_2d(v_a, v_d, H, W, do_a, out_a, do_d, out_d, tables_a, tables_d,
              par_a, par_d, cand_a, cand_d, pre_a, pre_d):  # pragma: no cover - numba
    """One read of the padded flat 2D map for an ascending and/or a descending pass (``v_a``
    and ``v_d``: the same NaN-padded map, read once for both, or the codes padded for each
    direction).

    Row by row, the masks of earlier neighbours are computed first (:func:`_row_masks`), then
    each pass (``do_*``; ``out_*``: with the outside component; ``tables_*``: the
    :func:`_tables_2d` of its connectivity) sets the parents ``par_*`` and lists its saddle
    candidates ``cand_*`` (index order) with their masks ``pre_*``
    (:func:`_parents_and_candidates`). Returns (m_a, m_d, minima_a, minima_d).
    """
    Wp = W + 2
    offs9 = np.array([-Wp - 1, -Wp, -Wp + 1, -1, 0, 1, Wp - 1, Wp, Wp + 1])
    ma = 0
    md = 0
    na = 0
    nd = 0
    row_a = np.zeros(W, np.int16)
    row_d = np.zeros(W, np.int16)
    shared = v_a[0] != v_a[0]  # a NaN corner: the float map, which serves both directions
    for y in range(1, H + 1):
        base = y * Wp
        side_row = y == 1 or y == H
        _row_masks(v_a, v_d, shared, base, Wp, W, do_a, do_d, row_a, row_d)
        if do_a:
            ma, low = _parents_and_candidates(row_a, base + 1, W, tables_a[2], offs9,
                                              tables_a[0], out_a, side_row, par_a, cand_a, pre_a,
                                              ma)
            na += low
        if do_d:
            md, low = _parents_and_candidates(row_d, base + 1, W, tables_d[2], offs9,
                                              tables_d[0], out_d, side_row, par_d, cand_d, pre_d,
                                              md)
            nd += low
    return ma, md, na, nd


@numba.njit(cache=True)
def _sweep_3d(v, D, H, W, ascending, full, outside, offs, pos, graph, prefer, masks,
              parent, cand, pre_c):  # pragma: no cover - numba
    """One pass over a padded flat 3D map (what :func:`_sweep_2d` does for one direction).

    ``offs`` are the 26 neighbour offsets (raster order), ``pos`` their block positions,
    ``graph`` the bit mask of the positions that are neighbours under the connectivity,
    ``prefer`` the order in which a parent is looked for (earlier-indexed ones first).
    Returns (m, minima).
    """
    Wp = W + 2
    HWp = (H + 2) * Wp
    K = offs.size
    half = K // 2
    m = 0
    nmin = 0
    for z in range(1, D + 1):
        for y in range(1, H + 1):
            base = z * HWp + y * Wp
            edge_row = outside and (z == 1 or z == D or y == 1 or y == H)
            for p in range(base + 1, base + W + 1):
                vp = v[p]
                pre = 0
                if ascending:
                    for k in range(half):
                        if v[p + offs[k]] <= vp:
                            pre |= 1 << pos[k]
                    for k in range(half, K):
                        if v[p + offs[k]] < vp:
                            pre |= 1 << pos[k]
                else:
                    for k in range(half):
                        if v[p + offs[k]] >= vp:
                            pre |= 1 << pos[k]
                    for k in range(half, K):
                        if v[p + offs[k]] > vp:
                            pre |= 1 << pos[k]
                par = p
                for j in range(prefer.size):
                    k = prefer[j]
                    if pre >> pos[k] & 1:
                        q = p + offs[k]
                        par = parent[q] if k < half else q
                        break
                parent[p] = par
                if par == p:
                    nmin += 1
                border = edge_row or (outside and (p == base + 1 or p == base + W))
                if border or _lower_groups(pre, graph, full, True, masks) >= 2:
                    cand[m] = p
                    pre_c[m] = pre | (border << 13)
                    m += 1
    return m, nmin


@numba.njit(cache=True)
def _candidate_keys(v, cand, ascending, top, coded):  # pragma: no cover - numba
    """uint64 sort keys of the candidates (padded indices into ``v``), increasing in the
    pass's order: their level codes when ``top`` >= 0 (``v`` holds the codes when
    ``coded``, else ``code / top``; ``top - code`` when descending), else the IEEE bits of
    the value (negated when descending) with the sign folded in (-0.0 and 0.0 share a key)."""
    m = cand.size
    keys = np.empty(m, np.uint64)
    if top >= 0:
        for i in range(m):
            c = np.int64(v[cand[i]]) if coded else np.int64(np.rint(v[cand[i]] * top))
            keys[i] = c if ascending else top - c
        return keys
    vals = np.empty(m, np.float64)
    for i in range(m):
        vals[i] = (v[cand[i]] if ascending else -v[cand[i]]) + 0.0  # -0.0 + 0.0 = 0.0
    bits = vals.view(np.uint64)
    sign = np.uint64(1) << np.uint64(63)
    for i in range(m):
        b = bits[i]
        keys[i] = ~b if b & sign else b | sign
    return keys


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


@numba.njit(cache=True, inline="always")
def _root(parent, x):  # pragma: no cover - numba
    """Root of ``x``, with full path compression."""
    r = x
    while parent[r] != r:
        r = parent[r]
    while parent[x] != r:
        nxt = parent[x]
        parent[x] = r
        x = nxt
    return r


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


@numba.njit(cache=True, inline="always")
def _merge(v, ascending, parent, n, r, b, w, vw, young, killer, c):  # pragma: no cover
    """Join the components of roots ``r`` and ``b`` at pixel ``w`` (elder rule); returns
    (root of the union, number of pairs recorded so far)."""
    if b == r:
        return r, c
    if b == n:
        older, yng = b, r
    elif r == n:
        older, yng = r, b
    else:
        vb = v[b]
        vr = v[r]
        if ascending:
            b_first = vb < vr or (vb == vr and b < r)
        else:
            b_first = vb > vr or (vb == vr and b < r)
        if b_first:
            older, yng = b, r
        else:
            older, yng = r, b
    parent[yng] = older
    if v[yng] != vw:
        young[c] = yng
        killer[c] = w
        c += 1
    return older, c


@numba.njit(cache=True)
def _kruskal(v, shape_p, ascending, offs, pos, graph, full, reps, masks, parent, srt, pre_srt,
             nmin):
    # pragma: no cover - numba
    """Replay the saddle candidates ``srt`` (in the pass's order) on the parent forest.

    ``pre_srt`` holds their earlier-neighbour masks (bit ``pos[k]`` for offset ``k``; the
    centre bit: a border pixel, which touches the outside component ``v.size``, oldest of
    all). Each lower group needs one root look-up, through one of its members: from the 2D
    table ``reps``, or (3D) by growing the group inside the block (shift guards ``masks``,
    :func:`_bit_masks`). Elder rule: of two
    components that meet, the one whose root (its first pixel) comes later dies. Returns
    (young, killer) as C-order indices of the unpadded map; zero-length pairs are not
    recorded.
    """
    Dp, Hp, Wp = shape_p
    is3d = Dp > 1
    centre = offs.size // 2
    n = v.size
    parent[n] = n
    young = np.empty(nmin + 1, np.int64)
    killer = np.empty(nmin + 1, np.int64)
    c = 0
    for i in range(srt.size):
        w = srt[i]
        pre = pre_srt[i]
        vw = v[w]
        r = -1
        if is3d:
            rem = pre & graph & ~(1 << 13)
            while rem != 0:
                comp = rem & -rem
                bit = 0
                while comp >> bit != 1:
                    bit += 1
                k = bit if bit < 13 else bit - 1
                b = _root(parent, w + offs[k])
                if r < 0:
                    r = b
                else:
                    r, c = _merge(v, ascending, parent, n, r, b, w, vw, young, killer, c)
                while True:  # the rest of this group
                    if full:
                        d = comp | ((comp << 1) & masks[0]) | ((comp >> 1) & masks[1])
                        d = d | ((d << 3) & masks[2]) | ((d >> 3) & masks[3])
                        d = d | ((d << 9) & masks[4]) | (d >> 9)
                    else:
                        d = comp | ((comp << 1) & masks[0]) | ((comp >> 1) & masks[1])
                        d = d | ((comp << 3) & masks[2]) | ((comp >> 3) & masks[3])
                        d = d | ((comp << 9) & masks[4]) | (comp >> 9)
                    d &= pre & ~(1 << 13)
                    if d == comp:
                        break
                    comp = d
                rem &= ~comp
        else:
            base = pre & ~16
            for j in range(4):
                k = reps[base, j]
                if k < 0:
                    break
                b = _root(parent, w + offs[k])
                if r < 0:
                    r = b
                else:
                    r, c = _merge(v, ascending, parent, n, r, b, w, vw, young, killer, c)
        if pre >> centre & 1:  # a border pixel meets the outside
            if r < 0:
                r = _root(parent, w)
            r, c = _merge(v, ascending, parent, n, r, n, w, vw, young, killer, c)
    for j in range(c):
        young[j] = _unpadded(young[j], Hp, Wp, is3d)
        killer[j] = _unpadded(killer[j], Hp, Wp, is3d)
    return young[:c], killer[:c]


# --------------------------------------------------------------------------------------
# The sorted union-find (the reference), on uint64 keys
# --------------------------------------------------------------------------------------
# Every key increases in the pass's filtration order; equal keys are ordered by pixel
# index, so (key, index) is the pass's strict total order. The maps are padded with
# _PAD_KEY, above every pixel's key (a +inf border).
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


def _max_minima(n_pixels: int) -> int:
    """Above this many local minima the sorted union-find (:func:`_union_find`) runs instead.

    Never by default: the sweep wins on noise too. Tests lower it to check the two agree.
    """
    return n_pixels


# --------------------------------------------------------------------------------------
# The prepared map and the passes
# --------------------------------------------------------------------------------------
class PreparedMap:
    """A checked map and what several passes over it share.

    Parameters
    ----------
    arr : numpy.ndarray
        The float64 map the diagrams report (already quantised when ``codes`` is given).
    codes : numpy.ndarray or None
        The integer level codes of ``arr`` (``levels`` given, see :func:`_codes`): the 2D
        passes compare them, and they are the sort keys; None: the float values are.
    n_levels : int or None
        Number of levels of ``codes``.
    padded : numpy.ndarray or None
        :meth:`padded_values`, when already made.
    bounds : (float, float) or None
        The minimum and maximum of ``arr``, when already known.
    """

    def __init__(self, arr: np.ndarray, codes: np.ndarray | None, n_levels: int | None,
                 padded: np.ndarray | None = None, bounds: tuple[float, float] | None = None):
        self.arr, self.codes, self.n_levels = arr, codes, n_levels
        self.flat = arr.ravel()
        self.is3d = arr.ndim == 3
        self.shape3 = arr.shape if self.is3d else (1,) + arr.shape
        D, H, W = self.shape3
        self.padded_shape = (D + 2 if self.is3d else 1, H + 2, W + 2)
        if bounds is None:
            bounds = float(self.flat.min()), float(self.flat.max())
        self.lo, self.hi = bounds
        self.constant = self.lo == self.hi
        self._cache: dict = {} if padded is None else {("values", True): padded}

    def _cached(self, what: str, ascending: bool, make):
        key = (what, ascending)
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def padded_values(self) -> np.ndarray:
        """The flat float64 map on the padded grid, NaN on the border (never earlier)."""

        def make():
            vp = np.full(self.padded_shape, np.nan)
            inner = (slice(1, -1) if self.is3d else 0, slice(1, -1), slice(1, -1))
            vp[inner] = self.arr
            return vp.ravel()

        return self._cached("values", True, make)

    def padded_codes(self, ascending: bool) -> np.ndarray:
        """The level codes as int16 on the padded grid, for a pass in one direction: the
        border is above every code for the ascending pass and below it for the descending
        one, so that it never comes earlier. Only with fewer than 32767 levels."""

        def make():
            pad = np.iinfo(np.int16).max if ascending else -1
            cp = np.full(self.padded_shape, pad, np.int16)
            inner = (slice(1, -1) if self.is3d else 0, slice(1, -1), slice(1, -1))
            cp[inner] = self.codes
            return cp.ravel()

        return self._cached("codes", ascending, make)

    def padded_keys(self, ascending: bool) -> np.ndarray:
        """The flat uint64 sort keys on the padded grid (border: ``_PAD_KEY``).

        They increase in the filtration order: ``ascending`` for the sublevel one.
        """

        def make():
            kp = np.full(int(np.prod(self.padded_shape)), _PAD_KEY, np.uint64)
            src = self.flat if self.codes is None else self.codes.ravel().astype(np.float64)
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


@numba.njit(cache=True)
def _normalised(src, levels, normalise, is3d):  # pragma: no cover - numba
    """One pass for :func:`prepare_map`. Returns the map (min-max normalised with
    ``normalise``, quantised to ``levels`` > 0 as :func:`_codes` does; empty when it is neither),
    its integer codes (``levels`` > 0, else empty), its NaN-padded flat copy (without levels,
    else empty: the passes then read the codes) and the minimum and maximum of ``src``.
    ``src`` is (D, H, W)."""
    D, H, W = src.shape
    lo = src[0, 0, 0]
    hi = lo
    for z in range(D):
        for y in range(H):
            for x in range(W):
                t = src[z, y, x]
                lo = min(lo, t)
                hi = max(hi, t)
    scaled = levels > 0 or normalise
    # not ``src`` itself when nothing is scaled: ``src`` may be read-only (a checked map)
    arr = np.empty(src.shape if scaled else (0, 0, 0), src.dtype)
    codes = np.empty(src.shape if levels > 0 else (0, 0, 0), np.int32)
    Dp = D + 2 if is3d else 1
    zo = 1 if is3d else 0
    padded = np.full((Dp, H + 2, W + 2) if levels == 0 else (0, 0, 0), np.nan)
    span = hi - lo
    top = levels - 1
    for z in range(D):
        for y in range(H):
            for x in range(W):
                t = src[z, y, x]
                if levels > 0:
                    c = np.rint((t - lo) / span * top) if span > 0 else 0.0
                    codes[z, y, x] = np.int32(c)
                    arr[z, y, x] = c / top
                else:
                    if normalise:
                        t = (t - lo) / span
                        arr[z, y, x] = t
                    padded[z + zo, y + 1, x + 1] = t
    return arr, codes, padded.ravel(), lo, hi


def prepare_map(arr: np.ndarray, levels: int | None, normalise: bool = False) -> PreparedMap:
    """Wrap a checked map for the engine: quantised to ``levels`` (min-max normalised on the
    way), else min-max normalised with ``normalise`` (not constant), else as given."""
    shape = arr.shape
    src = arr.reshape((1,) * (3 - arr.ndim) + shape)
    scaled = normalise or levels is not None
    out, codes, padded, lo, hi = _normalised(src, 0 if levels is None else levels,
                                             normalise and levels is None, arr.ndim == 3)
    # a normalised (or quantised) map spans [0, 1] exactly, a constant one is all zeros
    bounds = (lo, hi) if not scaled else (0.0, 0.0 if lo == hi else 1.0)
    return PreparedMap(out.reshape(shape) if scaled else arr,
                       None if levels is None else codes.reshape(shape), levels,
                       padded if padded.size else None, bounds)


@cache
def _block_offsets(ndim: int, Hp: int, Wp: int, full: bool):
    """Padded flat offsets of the block neighbours (raster order), their bit positions, the
    bit mask of the graph neighbours and (3D) the order a parent is looked for."""
    block = neighbour_offsets(ndim, True)
    offs = (block @ np.array([Hp * Wp, Wp, 1], np.int64)).astype(np.int64)
    K = len(block)
    pos = np.array([k if k < K // 2 else k + 1 for k in range(K)], np.int64)
    is_graph = np.ones(K, bool) if full else np.abs(block).sum(axis=1) == 1
    graph = int(sum(1 << int(pos[k]) for k in range(K) if is_graph[k]))
    prefer = sorted(np.flatnonzero(is_graph), key=lambda k: (k >= K // 2, np.abs(block[k]).sum()))
    prefer = np.array(prefer, np.int64)
    for a in (offs, pos, prefer):
        a.setflags(write=False)
    return offs, pos, graph, prefer


@numba.njit(cache=True)
def _replay(v, shape_p, ascending, full, top, coded, offs, pos, graph, reps, masks, parent, cand,
            pre, nmin):  # pragma: no cover - numba
    """Sort the saddle candidates of one pass and replay them (:func:`_kruskal`)."""
    keys = _candidate_keys(v, cand, ascending, top, coded)
    order = _radix_sort_by(keys, np.arange(cand.size).astype(np.int32))
    return _kruskal(v, shape_p, ascending, offs, pos, graph, full, reps, masks, parent,
                    cand[order], pre[order], nmin)


@numba.njit(cache=True)
def _passes_2d(v_a, v_d, H, W, do_a, full_a, out_a, do_d, full_d, out_d, tables_a, tables_d,
               top, coded, max_minima, offs, pos, masks, par_a, par_d, cand_a, cand_d, pre_a,
               pre_d):  # pragma: no cover - numba
    """Both 2D passes (:func:`_sweep_2d`, then :func:`_replay` for each) on the padded maps
    ``v_a`` / ``v_d`` (the same float map, or codes padded for each direction); a pass with
    more than ``max_minima`` local minima is left to the sorted union-find (ok flag False)."""
    shape_p = (1, H + 2, W + 2)
    ma, md, na, nd = _sweep_2d(v_a, v_d, H, W, do_a, out_a, do_d, out_d, tables_a, tables_d,
                               par_a, par_d, cand_a, cand_d, pre_a, pre_d)
    empty = np.empty(0, np.int64)
    ya, ka, yd, kd = empty, empty, empty, empty
    ok_a = do_a and na <= max_minima
    ok_d = do_d and nd <= max_minima
    graph_a = 511 & ~16 if full_a else 2 | 8 | 32 | 128
    graph_d = 511 & ~16 if full_d else 2 | 8 | 32 | 128
    # the direction as a run-time bool: a literal True / False would compile _replay and the
    # functions it calls once per direction (and once more for the 3D path, which passes a bool)
    up = H >= 0
    if ok_a:
        ya, ka = _replay(v_a, shape_p, up, full_a, top, coded, offs, pos, graph_a, tables_a[1],
                         masks, par_a, cand_a[:ma], pre_a[:ma], na)
    if ok_d:
        yd, kd = _replay(v_d, shape_p, not up, full_d, top, coded, offs, pos, graph_d,
                         tables_d[1], masks, par_d, cand_d[:md], pre_d[:md], nd)
    return ok_a, ya, ka, ok_d, yd, kd


_WORKSPACE = threading.local()


def _workspace(n_parent: int, n_pixels: int) -> list[np.ndarray]:
    """Six int32 scratch arrays of this thread (two parent forests, two candidate lists and
    their masks), reused from call to call for maps up to a million pixels: fresh memory
    costs page faults that a 224 x 224 pass notices."""
    if n_parent > 1 << 20:
        return [np.empty(n, np.int32) for n in (n_parent, n_parent) + (n_pixels,) * 4]
    have = getattr(_WORKSPACE, "arrays", None)
    if have is None or have[0].size < n_parent or have[2].size < n_pixels:
        have = [np.empty(n, np.int32) for n in (n_parent, n_parent) + (n_pixels,) * 4]
        _WORKSPACE.arrays = have
    return [have[0][:n_parent], have[1][:n_parent]] + [a[:n_pixels] for a in have[2:]]


def _h0_passes(prep: PreparedMap, jobs: list[tuple[bool, bool, bool]]) -> list[tuple]:
    """H0 passes over one map: ``jobs`` are ``(ascending, full, outside)`` triples, at most one
    per direction (2D reads the map once for both); ``full``: 8/26-connectivity, else 4/6.

    Returns one ``(young, killer, root)`` per job: flat C-order indices (``root`` -1 with
    ``outside``).
    """
    D, H, W = prep.shape3
    n = prep.flat.size
    Dp, Hp, Wp = prep.padded_shape
    top = -1 if prep.codes is None else prep.n_levels - 1
    spec = {asc: (full, outside) for asc, full, outside in jobs}
    if len(spec) != len(jobs):
        raise ValueError("at most one pass per direction")
    done = {}
    if prep.is3d:
        v = prep.padded_values()
        for asc, (full, outside) in spec.items():
            offs, pos, graph, prefer = _block_offsets(3, Hp, Wp, full)
            parent, _, cand, _, pre, _ = _workspace(v.size + 1, n)
            m, nmin = _sweep_3d(v, D, H, W, asc, full, outside, offs, pos, graph, prefer,
                                _MASKS_3D, parent, cand, pre)
            if nmin <= _max_minima(n):
                done[asc] = _replay(v, prep.padded_shape, asc, full, top, False, offs, pos,
                                    graph, _NO_REPS, _MASKS_3D, parent, cand[:m], pre[:m], nmin)
    else:
        fa, oa = spec.get(True, (False, False))
        fd, od = spec.get(False, (False, False))
        offs, pos, _, _ = _block_offsets(2, Hp, Wp, True)
        coded = prep.codes is not None and prep.n_levels < np.iinfo(np.int16).max
        if coded:  # small integers: a quarter of the memory, twice the vector width
            v_a = prep.padded_codes(True) if True in spec else prep.padded_codes(False)
            v_d = prep.padded_codes(False) if False in spec else v_a
        else:
            v_a = v_d = prep.padded_values()
        ok_a, ya, ka, ok_d, yd, kd = _passes_2d(
            v_a, v_d, H, W, True in spec, fa, oa, False in spec, fd, od, _tables_2d(fa),
            _tables_2d(fd), top, coded, _max_minima(n), offs, pos, _MASKS_3D,
            *_workspace(v_a.size + 1, n))
        if ok_a:
            done[True] = (ya, ka)
        if ok_d:
            done[False] = (yd, kd)
    out = []
    for asc, full, outside in jobs:
        if asc not in done:  # too many minima: the sorted union-find
            out.append(_union_find(prep.keys(asc), prep.order(asc), D, H, W,
                                   neighbour_offsets(prep.arr.ndim, full), outside, prep.is3d))
            continue
        root = -1
        if not outside:
            root = int(np.argmin(prep.flat) if asc else np.argmax(prep.flat))
        out.append((*done[asc], root))
    return out


@numba.njit(cache=True)
def _pairs_of_passes(flat, young0, killer0, root, has0, young1, killer1, top, end):
    # pragma: no cover - numba
    """The raw (dims, births, deaths, essential, birth cells, death cells) of an H0 pass
    (``has0``; its essential class born at ``root``, ending at ``end``) and a dual pass (the
    top dimension: births and deaths swap)."""
    n0 = young0.size + 1 if has0 else 0
    n = n0 + young1.size
    dims = np.zeros(n, np.int64)
    births = np.empty(n)
    deaths = np.empty(n)
    essential = np.zeros(n, np.bool_)
    bflat = np.empty(n, np.int64)
    dflat = np.empty(n, np.int64)
    if has0:
        for i in range(young0.size):
            births[i], deaths[i] = flat[young0[i]], flat[killer0[i]]
            bflat[i], dflat[i] = young0[i], killer0[i]
        i = young0.size
        births[i], deaths[i], essential[i] = flat[root], end, True
        bflat[i], dflat[i] = root, -1
    for j in range(young1.size):
        i = n0 + j
        dims[i] = top
        births[i], deaths[i] = flat[killer1[j]], flat[young1[j]]
        bflat[i], dflat[i] = killer1[j], young1[j]
    return dims, births, deaths, essential, bflat, dflat


def _fast_pairs(prep: PreparedMap, filtration, construction, dims):
    """All requested pairs from union-find passes (plus cripser for 3D H1)."""
    arr, flat = prep.arr, prep.flat
    ndim = arr.ndim
    full = construction == "T"
    sub = filtration == "sublevel"
    top = ndim - 1
    # H0: in the filtration order with the construction's connectivity; H_{n-1} by Alexander
    # duality: the opposite order, the dual connectivity and an outside component
    jobs = ([(sub, full, False)] if 0 in dims else []) + (
        [(not sub, not full, True)] if top in dims else [])
    passes = iter(_h0_passes(prep, jobs))
    none = np.zeros(0, np.int64)
    young0, killer0, root = next(passes) if 0 in dims else (none, none, -1)
    young1, killer1, _ = next(passes) if top in dims else (none, none, -1)
    raw = _pairs_of_passes(flat, young0, killer0, max(root, 0), 0 in dims, young1, killer1, top,
                           prep.hi if sub else prep.lo)
    if ndim == 3 and 1 in dims:
        d, b, e, ess, bf, df = _cripser_raw(arr, filtration, construction, maxdim=1)
        m = d == 1
        raw = tuple(np.concatenate([r, x[m]]) for r, x in zip(raw, (d, b, e, ess, bf, df),
                                                                 strict=True))
    return raw
