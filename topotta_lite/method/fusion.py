"""Fusing the sublevel and superlevel pseudo-label masks: intersection, union, IoU-style, EAI.

Notation: ``I = m_sub & m_sup`` (intersection), ``U = m_sub | m_sup`` (union), ``Omega`` = all
pixels. Every method here returns a mask ``M`` with ``I <= M <= U``.

Euler-aware intersection (EAI), our reading of the paper (its Eq. 8-9 are lost from the text;
we follow the prose):

* candidates: ``M_0 = I``; with ``fill_holes``, then ``I`` with its *spurious* holes filled (holes
  that lie entirely inside ``U``, i.e. that ``U`` does not have); then successive geodesic
  dilations inside ``U``, ``M_{j+1} = fill(dilate(M_j) & U)``, until the mask stops growing.
  Dilation uses the construction's connectivity (V: 4/6, T: 8/26).
* target: ``chi* = chi(U)`` (``target="union"``), or ``chi(m_sub)`` / ``chi(m_sup)``, or
  ``"reachable"``: chi of the components of ``U`` that meet ``I`` (the largest candidate; the
  only part of ``U`` the dilations can reach), or an int. With ``"union"``, components of ``U``
  that miss ``I`` still count in ``chi*`` although no candidate can add them.
* choice: ``argmin_j |M_j \\ I| / |Omega| + lam * |chi(M_j) - chi*|`` (first index on ties),
  chi computed in the same construction. ``lam = 0`` gives ``I``; a large ``lam`` (> 1) reaches
  ``chi*`` whenever some candidate does.

Local trimming (removing pixels again) is not part of our candidate set: every candidate grows.
Since the area term only grows along the sequence, :func:`eai_trace` stops as soon as a
candidate's added area alone reaches the best cost found so far, and does not grow the next
candidate when one more pixel would reach it (the choice is unchanged; pass
``stop_early=False`` to see the whole sequence). Growth is computed on the bounding box of ``U``,
one step from the pixels the previous step added, with chi updated pixel by pixel.

**With one feature per filtration (K = 1), EAI reduces to the sublevel mask grown inside the
superlevel mask, or to its fallback.** Both pseudo-label regions are components of sets
``{psi > t}`` of the same map in the same (face) connectivity, so they are nested or disjoint (a
laminar family), and when they overlap the sublevel region is the inner one
(:mod:`topotta_lite.method.pseudolabels` gives the argument). So ``I`` is the sublevel mask or
empty: empty, the fallback decides; otherwise every candidate lies between the sublevel and the
superlevel mask, and EAI keeps the sublevel mask unless growing it towards the superlevel one
brings chi closer to the target for less than its price in area. That price is set by ``lam``
against a *fraction* of the image, so whether EAI moves at all depends on the image's size as
much as on the map: one unit of chi buys ``lam * |Omega|`` pixels. Masks that overlap only in part
(``I`` smaller than both), the case EAI was designed for, need K >= 2. :func:`fusion_activity`
reports, per image, which of these cases happened.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache

import numba
import numpy as np
from scipy import ndimage

from topotta_lite._validation import as_mask, same_shape
from topotta_lite.topology.blocks import MASKS_3D, lower_groups, tables_2d
from topotta_lite.topology.connectivity import connectivity_structure, neighbour_offsets
from topotta_lite.topology.euler import euler_characteristic
from topotta_lite.vocabulary import CONSTRUCTIONS, check_choice

__all__ = [
    "ACTIVITY_KEYS",
    "FALLBACKS",
    "EAITrace",
    "eai_candidates",
    "eai_trace",
    "empty_fallback",
    "fill_spurious_holes",
    "fuse",
    "fusion_activity",
    "iou_fusion",
    "reachable_union",
]


METHODS = ("eai", "intersection", "union", "iou")
FALLBACKS = ("sub", "sup", "union", "larger", "none")
"""What :func:`fuse` returns when EAI (or IoU fusion) would give an empty mask although the union
is not empty: one of the two input masks, their union, the larger of the two, or (``"none"``)
the empty mask itself."""
TARGETS = ("union", "sub", "sup", "reachable")


def _inputs(m_sub, m_sup) -> tuple[np.ndarray, np.ndarray]:
    a = as_mask(m_sub, name="m_sub")
    b = as_mask(m_sup, name="m_sup")
    same_shape(a, b, ("m_sub", "m_sup"))
    return a, b


def fill_spurious_holes(
    mask: np.ndarray, within: np.ndarray, construction: str = "V"
) -> np.ndarray:
    """Fill the holes of ``mask`` that lie entirely inside ``within`` (holes ``within`` lacks).

    A hole is a component of the background (dual connectivity) that does not touch the image
    border. Such a hole is filled when every pixel of it belongs to ``within``; a hole that holds
    some pixel outside ``within`` is a hole ``within`` has too, and it is kept.

    Examples
    --------
    >>> ring = np.ones((3, 3), dtype=bool); ring[1, 1] = False
    >>> fill_spurious_holes(ring, np.ones((3, 3), bool)).all()
    True
    >>> fill_spurious_holes(ring, ring).sum()
    8
    """
    m = np.asarray(mask, dtype=bool)
    w = np.asarray(within, dtype=bool)
    labels, n = ndimage.label(~m, structure=connectivity_structure(m.ndim, construction, dual=True))
    if n == 0:
        return m.copy()
    bad = np.zeros(n + 1, dtype=bool)  # components that may not be filled
    bad[0] = True
    border = np.zeros(m.shape, dtype=bool)
    for axis in range(m.ndim):
        idx = [slice(None)] * m.ndim
        idx[axis] = 0
        border[tuple(idx)] = True
        idx[axis] = -1
        border[tuple(idx)] = True
    bad[labels[border]] = True
    bad[labels[~w]] = True
    return m | ~bad[labels]


@dataclass(frozen=True)
class EAITrace:
    """Everything EAI looked at, for plots (notebook 04) and checks.

    Attributes
    ----------
    candidates : list of bool arrays
        ``M_0 = I``, ..., growing inside ``U`` (cut short when ``stop_early``).
    steps : list of str
        How each candidate was made: ``"I"``, ``"fill"``, ``"dilate 1"``, ``"dilate 2"``, ...
    chi : np.ndarray of int
        Euler characteristic of each candidate.
    added_fraction : np.ndarray of float
        ``|M_j \\ I| / |Omega|``.
    costs : np.ndarray of float
        ``added_fraction + lam * |chi - chi_target|``.
    chi_target : int
    chosen : int
        Index of the chosen candidate (first argmin).
    lam : float
    """

    candidates: list
    steps: list
    chi: np.ndarray
    added_fraction: np.ndarray
    costs: np.ndarray
    chi_target: int
    chosen: int
    lam: float

    @property
    def mask(self) -> np.ndarray:
        """The chosen candidate."""
        return self.candidates[self.chosen]


@numba.njit(cache=True)
def _crop_pad(a, b, is3d):  # pragma: no cover - numba
    """The bounding box ``[lo, hi]`` of ``a | b`` (two 3D-shaped 0/1 uint8 masks; ``hi[0] = -1``
    when both are empty) and U, I there as flat uint8 arrays padded by one pixel outside U (along
    z only in 3D): all growth and every fillable hole lie inside the box."""
    D, H, W = a.shape
    lo = np.array([D, H, W])
    hi = np.full(3, -1)
    af, bf = a.ravel(), b.ravel()
    for z in range(D):
        for y in range(H):
            i0 = (z * H + y) * W
            hit = 0
            for x in range(W):  # a branch-free OR, then the ends of a row that has one
                hit |= af[i0 + x] | bf[i0 + x]
            if hit == 0:
                continue
            first = 0
            while not (af[i0 + first] or bf[i0 + first]):
                first += 1
            last = W - 1
            while not (af[i0 + last] or bf[i0 + last]):
                last -= 1
            lo[0], hi[0] = min(lo[0], z), max(hi[0], z)
            lo[1], hi[1] = min(lo[1], y), max(hi[1], y)
            lo[2], hi[2] = min(lo[2], first), max(hi[2], last)
    pz = 1 if is3d else 0
    shape_p = (max(hi[0] - lo[0] + 1, 0) + 2 * pz, hi[1] - lo[1] + 3, hi[2] - lo[2] + 3)
    n = max(shape_p[0] * shape_p[1] * shape_p[2], 0)
    u = np.zeros(n, np.uint8)
    start = np.zeros(n, np.uint8)
    for z in range(lo[0], hi[0] + 1):
        for y in range(lo[1], hi[1] + 1):
            i0 = (z * H + y) * W
            p0 = ((z - lo[0] + pz) * shape_p[1] + y - lo[1] + 1) * shape_p[2] + 1 - lo[2]
            for x in range(lo[2], hi[2] + 1):
                u[p0 + x] = af[i0 + x] | bf[i0 + x]
                start[p0 + x] = af[i0 + x] & bf[i0 + x]
    return lo, hi, u, start, shape_p


def _graph_masks_3d() -> np.ndarray:
    """27-bit masks of the face neighbours and of all neighbours of the block centre."""
    faces = full = 0
    for i, o in enumerate(itertools.product((-1, 0, 1), repeat=3)):
        d = sum(abs(c) for c in o)
        faces |= (d == 1) << i
        full |= (d >= 1) << i
    return np.array([faces, full], np.int64)


_GRAPH_3D = _graph_masks_3d()


@cache
def _cell_tables(ndim: int, Hp: int, Wp: int):
    """What :func:`_delta_chi` reads, for a padded grid of rows ``Wp`` and planes ``Hp * Wp``.

    Each block position ``o`` around a pixel (3^d, raster order, the centre included) names
    one cell: in the V construction the cell spanned by the pixel and ``pixel + o``
    (dimension: the nonzero axes of ``o``), present when all its vertices are in the mask;
    in the T construction the face of the pixel's square / cube towards ``o`` (dimension:
    the zero axes), present when some pixel having it is. ``share[o]`` lists the flat
    offsets of the other pixels on that cell (-1 padded) and ``signs`` the (-1)^dimension of
    the cell, row 0 for V, row 1 for T.
    """
    strides = np.array([Hp * Wp, Wp, 1][3 - ndim:], np.int64)
    rows, count, sign_v, sign_t = [], [], [], []
    for o in itertools.product((-1, 0, 1), repeat=ndim):
        axes = [i for i, c in enumerate(o) if c]
        others = []
        for take in itertools.product((0, 1), repeat=len(axes)):
            if any(take):
                d = np.zeros(ndim, np.int64)
                for i, t in zip(axes, take, strict=True):
                    d[i] = o[i] * t
                others.append(int(d @ strides))
        count.append(len(others))
        rows.append(others + [-1] * (2**ndim - 1 - len(others)))
        sign_v.append((-1) ** len(axes))
        sign_t.append((-1) ** (ndim - len(axes)))
    tables = (np.array(rows, np.int64), np.array(count, np.int64),
              np.array([sign_v, sign_t], np.int64))
    for t in tables:
        t.setflags(write=False)
    return tables


@numba.njit(cache=True)
def _delta_chi(mask, p, share, count, signs, t_construction):  # pragma: no cover - numba
    """Change of the Euler characteristic when pixel ``p`` joins ``mask`` (p not in it yet):
    the signed count of the cells of :func:`_cell_tables` that ``p`` brings."""
    delta = 0
    for j in range(count.size):
        if t_construction:  # new unless a pixel of the mask has the face already
            new = True
            for t in range(count[j]):
                if mask[p + share[j, t]]:
                    new = False
                    break
            if new:
                delta += signs[1, j]
        else:  # present once all of its other vertices are
            full = True
            for t in range(count[j]):
                if not mask[p + share[j, t]]:
                    full = False
                    break
            if full:
                delta += signs[0, j]
    return delta


@numba.njit(cache=True, inline="always")
def _splits_background(mask, q, block, split_table, hole_full, is3d):  # pragma: no cover
    """Could ``q`` joining the mask cut the background in two? Only if the background pixels
    of its block fall apart into two or more groups (background connectivity) around it."""
    bg = 0
    for j in range(block.size):
        if not mask[q + block[j]]:
            bg |= 1 << j
    bg &= ~(1 << (block.size // 2))
    if is3d:
        start = _GRAPH_3D[1] if hole_full else _GRAPH_3D[0]
        return lower_groups(bg, start, hole_full, True, MASKS_3D) >= 2
    return split_table[bg]


@numba.njit(cache=True)
def _eai_core(u, start, grow_offs, hole_offs, block, split_table, share, count, signs,
              t_construction, fill_holes, max_steps, lam, chi_t, size, stop_early):
    # pragma: no cover - numba
    """EAI's candidates and costs on a padded crop (flat uint8 ``u`` = U, ``start`` = I).

    Candidate 0 is I, then (``fill_holes``) I with its holes inside U filled, then geodesic
    dilations inside U (offsets ``grow_offs``), each followed by the filling, until the mask
    stops growing (or ``max_steps`` dilations, -1: no limit). A hole is a component of the
    background (offsets ``hole_offs``) holding no pixel outside U; the padding lies outside
    U, so a hole cannot touch the border either. Each dilation only looks at the neighbours
    of the pixels the last step added (the older ones were looked at already), and the
    Euler characteristic is updated pixel by pixel (:func:`_delta_chi`). After a dilation, a
    new hole can only lie next to an added pixel that could have cut the background
    (:func:`_splits_background`; ``block``: offsets of the 3^d block, ``split_table``: the 2D
    answer per background mask): each background piece around such a pixel is flooded until
    it meets the outside of U (then it is open) or runs out (then it is a hole, and filled).
    With ``stop_early`` the sequence ends as in :func:`eai_trace`.

    Returns ``(stamp, kinds, chis, counts, costs)``: ``stamp[p]`` is the first candidate
    holding pixel ``p`` (-1: none), ``kinds`` 0 = I, 1 = filled, 2 = dilation.
    """
    n = u.size
    stamp = np.full(n, -1, np.int32)
    mask = np.zeros(n, np.uint8)
    ulist = np.flatnonzero(u)
    front = np.empty(ulist.size, np.int64)
    nxt = np.empty(ulist.size, np.int64)
    stack = np.empty(ulist.size, np.int64)
    reach = np.zeros(n, np.int32)
    nf = 0
    chi = 0
    for p in ulist:
        if start[p]:
            chi += _delta_chi(mask, p, share, count, signs, t_construction)
            mask[p] = 1
            stamp[p] = 0
            front[nf] = p
            nf += 1
    n_inter = nf
    n_cand = nf
    cap = ulist.size + 2
    kinds = np.empty(cap, np.int64)
    chis = np.empty(cap, np.int64)
    counts = np.empty(cap, np.int64)
    costs = np.empty(cap, np.float64)
    kinds[0] = 0
    chis[0] = chi
    counts[0] = n_cand
    costs[0] = lam * abs(chi - chi_t)
    best = costs[0]
    k = 1
    if n_inter == 0:
        return stamp, kinds[:1], chis[:1], counts[:1], costs[:1]
    if stop_early and (n_cand + 1 - n_inter) / size >= best:
        return stamp, kinds[:1], chis[:1], counts[:1], costs[:1]
    steps = 0
    tag = 0
    first = True
    is3d = block.size == 27
    hole_full = not t_construction
    cuts = np.empty(ulist.size, np.int64)
    seen = np.empty(ulist.size, np.int64)
    while True:
        added = 0
        nn = 0
        ncut = 0
        if not first:  # one geodesic dilation from the pixels added last
            if max_steps >= 0 and steps == max_steps:
                break
            for i in range(nf):
                p = front[i]
                for o in grow_offs:
                    q = p + o
                    if u[q] and not mask[q]:
                        if fill_holes and _splits_background(mask, q, block, split_table,
                                                             hole_full, is3d):
                            cuts[ncut] = q
                            ncut += 1
                        chi += _delta_chi(mask, q, share, count, signs, t_construction)
                        mask[q] = 1
                        stamp[q] = k
                        nxt[nn] = q
                        nn += 1
            added = nn
        if fill_holes and first:
            # every pixel of U \ mask that the background outside U reaches stays out
            tag += 1
            top = 0
            for p in ulist:
                if mask[p] or reach[p] == tag:
                    continue
                for o in hole_offs:
                    if not u[p + o]:
                        reach[p] = tag
                        stack[top] = p
                        top += 1
                        break
            while top:
                top -= 1
                p = stack[top]
                for o in hole_offs:
                    q = p + o
                    if u[q] and not mask[q] and reach[q] != tag:
                        reach[q] = tag
                        stack[top] = q
                        top += 1
            for p in ulist:
                if not mask[p] and reach[p] != tag:
                    chi += _delta_chi(mask, p, share, count, signs, t_construction)
                    mask[p] = 1
                    stamp[p] = k
                    nxt[nn] = p
                    nn += 1
            added = nn
        elif fill_holes and ncut:
            # a new hole can only lie next to a pixel that cut the background: flood each
            # background piece around them until it meets the outside of U (open) or ends
            tag += 1
            for c in range(ncut):
                for o in hole_offs:
                    r = cuts[c] + o
                    if not u[r] or mask[r] or reach[r] == tag or reach[r] == -tag:
                        continue
                    reach[r] = -tag
                    stack[0] = r
                    top = 1
                    nseen = 0
                    open_ = False
                    while top and not open_:
                        top -= 1
                        p = stack[top]
                        seen[nseen] = p
                        nseen += 1
                        for o2 in hole_offs:
                            q = p + o2
                            if not u[q] or reach[q] == tag:
                                open_ = True
                                break
                            if not mask[q] and reach[q] != -tag:
                                reach[q] = -tag
                                stack[top] = q
                                top += 1
                    if open_:
                        for t in range(nseen):
                            reach[seen[t]] = tag
                        for t in range(top):
                            reach[stack[t]] = tag
                    else:  # a hole: fill it
                        for t in range(nseen):
                            p = seen[t]
                            chi += _delta_chi(mask, p, share, count, signs, t_construction)
                            mask[p] = 1
                            stamp[p] = k
                            nxt[nn] = p
                            nn += 1
            added = nn
        if first:
            first = False
            if added == 0:  # nothing to fill: the first candidate after I is a dilation
                continue
            kind = 1
            front[nf:nf + nn] = nxt[:nn]  # I's neighbours are still to be looked at
            nf += nn
        else:
            if added == 0:
                break
            steps += 1
            kind = 2
            front, nxt = nxt, front
            nf = nn
        n_cand += added
        frac = (n_cand - n_inter) / size
        if stop_early and frac >= best:
            break  # the area term only grows: no later candidate can cost less
        kinds[k] = kind
        chis[k] = chi
        counts[k] = n_cand
        costs[k] = frac + lam * abs(chi - chi_t)
        best = min(best, costs[k])
        k += 1
        if stop_early and (n_cand + 1 - n_inter) / size >= best:
            break  # the next candidate adds a pixel at least: stop before growing it
    return stamp, kinds[:k], chis[:k], counts[:k], costs[:k]


def _run_eai(a, b, construction, fill_holes, max_steps, lam, target, stop_early):
    """EAI on checked masks: ``(candidate, kinds, chis, counts, costs, chi_target)``, with
    ``candidate(j)`` the j-th candidate mask and ``counts`` their pixel counts."""
    shape3 = (1,) * (3 - a.ndim) + a.shape
    lo, hi, u, start, padded = _crop_pad(a.reshape(shape3).view(np.uint8),
                                         b.reshape(shape3).view(np.uint8), a.ndim == 3)
    if hi[0] < 0:  # both masks empty
        zero = np.zeros(1, np.int64)
        chi_t = _target_chi(target, a, b, construction)
        return (lambda j: np.zeros(a.shape, bool)), zero, zero, zero, \
            np.array([lam * abs(chi_t)], np.float64), chi_t
    box = tuple(slice(int(lo[i]), int(hi[i]) + 1) for i in range(3 - a.ndim, 3))
    chi_t = _target_chi(target, a[box], b[box], construction)  # every mask lies in the box
    Hp, Wp = padded[-2], padded[-1]
    full = construction == "T"
    share, count, signs = _cell_tables(a.ndim, Hp, Wp)
    stamp, kinds, chis, counts, costs = _eai_core(
        u, start, _flat_offsets(a.ndim, Hp, Wp, full),
        _flat_offsets(a.ndim, Hp, Wp, not full), _block(a.ndim, Hp, Wp),
        tables_2d(not full)[0], share, count, signs, full, fill_holes,
        -1 if max_steps is None else int(max_steps), float(lam), chi_t, a.size, stop_early)
    inner = (slice(1, -1) if a.ndim == 3 else 0, slice(1, -1), slice(1, -1))
    stamp = stamp.reshape(padded)[inner]

    def candidate(j: int) -> np.ndarray:
        out = np.zeros(a.shape, dtype=bool)
        out[box] = (stamp >= 0) & (stamp <= j)
        return out

    return candidate, kinds, chis, counts, costs, chi_t


@cache
def _block(ndim: int, Hp: int, Wp: int) -> np.ndarray:
    """Flat offsets of the 3^d block around a pixel (raster order, centre included)."""
    grid = np.array(list(itertools.product((-1, 0, 1), repeat=ndim)), np.int64)
    offs = grid @ np.array([Hp * Wp, Wp, 1][3 - ndim:], np.int64)
    offs.setflags(write=False)
    return offs


@cache
def _flat_offsets(ndim: int, Hp: int, Wp: int, full: bool) -> np.ndarray:
    """Flat offsets of a pixel's neighbours on a padded grid (faces only, or full)."""
    strides = np.array([Hp * Wp, Wp, 1], np.int64)
    offs = neighbour_offsets(ndim, full) @ strides
    offs.setflags(write=False)
    return offs


def _step_names(kinds: np.ndarray) -> list[str]:
    names, j = [], 0
    for kind in kinds:
        if kind == 2:
            j += 1
        names.append(("I", "fill", f"dilate {j}")[int(kind)])
    return names


def eai_candidates(
    m_sub,
    m_sup,
    construction: str = "V",
    fill_holes: bool = True,
    max_steps: int | None = None,
) -> list[np.ndarray]:
    """The EAI candidate masks: ``I``, (``I`` hole-filled), then geodesic dilations inside ``U``.

    Parameters
    ----------
    m_sub, m_sup : array_like of bool, same shape (2D or 3D)
        Masks from the sublevel and superlevel filtrations.
    construction : {"V", "T"}
        Connectivity of the dilation and of hole detection (V: 4/6, T: 8/26 for the foreground).
    fill_holes : bool
        Fill holes that lie entirely inside ``U`` after each step (and offer ``I`` filled).
    max_steps : int or None
        Stop after this many dilations (None: until the mask stops growing).

    Returns
    -------
    list of bool arrays
        Strictly growing; the first is ``I``; every one lies inside ``U``.

    Examples
    --------
    >>> sub = np.zeros((1, 5), bool); sub[0, :4] = True
    >>> sup = np.zeros((1, 5), bool); sup[0, 3:] = True
    >>> [c.astype(int).tolist() for c in eai_candidates(sub, sup)]
    [[[0, 0, 0, 1, 0]], [[0, 0, 1, 1, 1]], [[0, 1, 1, 1, 1]], [[1, 1, 1, 1, 1]]]
    """
    a, b = _inputs(m_sub, m_sup)
    check_choice("construction", construction, CONSTRUCTIONS)
    candidate, kinds, *_ = _run_eai(a, b, construction, fill_holes, max_steps, 0.0, 0,
                                    stop_early=False)
    return [candidate(j) for j in range(len(kinds))]


def reachable_union(m_sub, m_sup, construction: str = "V") -> np.ndarray:
    """The components of ``U`` (construction's connectivity) that meet ``I``.

    This is where repeated geodesic dilation of ``I`` inside ``U`` ends.

    Examples
    --------
    >>> sub = np.array([[1, 1, 0, 1]], bool); sup = np.array([[0, 1, 0, 0]], bool)
    >>> reachable_union(sub, sup).astype(int).tolist()
    [[1, 1, 0, 0]]
    """
    a, b = _inputs(m_sub, m_sup)
    labels, n = ndimage.label(a | b, structure=connectivity_structure(a.ndim, construction))
    hit = np.zeros(n + 1, dtype=bool)
    hit[labels[a & b]] = True
    hit[0] = False
    return hit[labels]


def _target_chi(target, a: np.ndarray, b: np.ndarray, construction: str) -> int:
    if isinstance(target, int | np.integer) and not isinstance(target, bool):
        return int(target)
    if target == "union":
        return euler_characteristic(a | b, construction)
    if target == "reachable":
        return euler_characteristic(reachable_union(a, b, construction), construction)
    if target == "sub":
        return euler_characteristic(a, construction)
    if target == "sup":
        return euler_characteristic(b, construction)
    raise ValueError(f"target must be one of {TARGETS} or an int, got {target!r}")


def eai_trace(
    m_sub,
    m_sup,
    lam: float = 0.01,
    target="union",
    construction: str = "V",
    fill_holes: bool = True,
    max_steps: int | None = None,
    stop_early: bool = True,
) -> EAITrace:
    """Run EAI and keep every candidate, its Euler characteristic and its cost.

    Parameters
    ----------
    m_sub, m_sup : array_like of bool, same shape (2D or 3D)
    lam : float
        Weight of the topological term (>= 0). 0 gives ``I``.
    target : {"union", "sub", "sup", "reachable"} or int
        ``chi*``: Euler characteristic of ``U``, of ``m_sub``, of ``m_sup``, of the components
        of ``U`` that meet ``I`` (:func:`reachable_union`), or a given number.
    construction : {"V", "T"}
    fill_holes : bool
    max_steps : int or None
        See :func:`eai_candidates`.
    stop_early : bool
        Stop growing once a candidate's added area alone reaches the best cost so far (no later
        candidate can then win, so the choice is unchanged). False: keep every candidate, for
        plots of the whole sequence.

    Returns
    -------
    EAITrace

    Examples
    --------
    >>> sub = np.zeros((1, 5), bool); sub[0, :2] = True; sub[0, 3:] = True
    >>> sup = np.ones((1, 5), bool)
    >>> tr = eai_trace(sub, sup, lam=0.5)   # adding 1 of 5 pixels costs 0.2, a chi error 0.5
    >>> tr.chi.tolist(), tr.chi_target, tr.costs.tolist(), tr.chosen
    ([2, 1], 1, [0.5, 0.2], 1)
    >>> eai_trace(sub, sup, lam=0.1).chosen   # now the chi error is the cheaper one
    0
    """
    a, b = _inputs(m_sub, m_sup)
    check_choice("construction", construction, CONSTRUCTIONS)
    if not np.isfinite(lam) or lam < 0:
        raise ValueError(f"lam must be a finite number >= 0, got {lam}")
    candidate, kinds, chi, counts, costs, chi_t = _run_eai(a, b, construction, fill_holes,
                                                           max_steps, lam, target, stop_early)
    return EAITrace(
        candidates=[candidate(j) for j in range(len(kinds))],
        steps=_step_names(kinds),
        chi=chi,
        added_fraction=(counts - counts[0]) / a.size,
        costs=costs,
        chi_target=chi_t,
        chosen=int(np.argmin(costs)),
        lam=float(lam),
    )


def iou_fusion(m_sub, m_sup, construction: str = "V", iou_threshold: float = 0.5) -> np.ndarray:
    """IoU-style fusion, decided per connected component of the union.

    For each connected component ``C`` of ``U`` (construction's connectivity) the agreement of
    the two masks on it is ``IoU_C = |m_sub & m_sup & C| / |(m_sub | m_sup) & C| = |I & C| / |C|``.
    Where they agree (``IoU_C >= iou_threshold``) the whole component ``C`` is kept (union);
    where they disagree only ``I & C`` is kept (intersection). With a single component this is the
    familiar rule "union if the masks' IoU is at least 0.5, else intersection".

    Examples
    --------
    >>> sub = np.array([[1, 1, 1, 0, 0, 1]], bool)
    >>> sup = np.array([[0, 1, 1, 0, 1, 1]], bool)
    >>> iou_fusion(sub, sup).astype(int).tolist()   # left: IoU 2/3 -> union; right: 1/2 -> union
    [[1, 1, 1, 0, 1, 1]]
    >>> iou_fusion(sub, sup, iou_threshold=0.6).astype(int).tolist()
    [[1, 1, 1, 0, 0, 1]]
    """
    a, b = _inputs(m_sub, m_sup)
    if not 0 <= iou_threshold <= 1:
        raise ValueError(f"iou_threshold must lie in [0, 1], got {iou_threshold}")
    inter = a & b
    union = a | b
    labels, n = ndimage.label(union, structure=connectivity_structure(a.ndim, construction))
    if n == 0:
        return inter
    size = np.bincount(labels.ravel(), minlength=n + 1)
    shared = np.bincount(labels.ravel(), weights=inter.ravel(), minlength=n + 1)
    agree = np.zeros(n + 1, dtype=bool)
    agree[1:] = shared[1:] / size[1:] >= iou_threshold
    return inter | agree[labels]


def fuse(
    m_sub,
    m_sup,
    method: str = "eai",
    lam: float = 0.01,
    target="union",
    construction: str = "V",
    *,
    fill_holes: bool = True,
    max_steps: int | None = None,
    iou_threshold: float = 0.5,
    fallback: str = "sub",
) -> np.ndarray:
    """Fuse the sublevel and superlevel masks into one pseudo-label mask.

    EAI grows from the intersection ``I``; when the two masks do not overlap, ``I`` is empty and
    so is every candidate, although ``U`` is not: the two filtrations found *something*, only not
    the same thing. Returning nothing would throw that away (and leave PCES without positives), so
    ``"eai"`` and ``"iou"`` then return ``fallback`` instead (``"intersection"`` stays the plain
    AND, as an ablation arm and as in the authors' release).

    Parameters
    ----------
    m_sub, m_sup : array_like of bool, same shape (H, W) or (D, H, W)
    method : {"eai", "intersection", "union", "iou"}
        "eai": Euler-aware intersection (module docstring); "iou": :func:`iou_fusion`.
    lam, target, fill_holes, max_steps
        EAI parameters (see :func:`eai_trace`); ignored by the other methods.
    construction : {"V", "T"}
        Connectivity used by "eai" and "iou".
    iou_threshold : float
        Used by "iou" only.
    fallback : {"sub", "sup", "union", "larger", "none"}
        Result of "eai" / "iou" when it would be empty while ``m_sub | m_sup`` is not (see
        :data:`FALLBACKS`). The default, the sublevel mask, was chosen on the embedded benchmark
        (notebook 08 compares the options).

    Returns
    -------
    np.ndarray of bool
        A mask between ``m_sub & m_sup`` and ``m_sub | m_sup``.

    Examples
    --------
    >>> sub = np.array([[1, 1, 0, 1]], bool); sup = np.array([[1, 1, 1, 1]], bool)
    >>> fuse(sub, sup, "intersection").astype(int).tolist()
    [[1, 1, 0, 1]]
    >>> fuse(sub, sup, "eai", lam=1.0).astype(int).tolist()   # chi(U) = 1 restored
    [[1, 1, 1, 1]]
    >>> apart_sub = np.array([[1, 0, 0, 0]], bool); apart_sup = np.array([[0, 0, 1, 1]], bool)
    >>> fuse(apart_sub, apart_sup, "eai").astype(int).tolist()      # I is empty: the fallback
    [[1, 0, 0, 0]]
    >>> fuse(apart_sub, apart_sup, "eai", fallback="larger").astype(int).tolist()
    [[0, 0, 1, 1]]
    """
    a, b = _inputs(m_sub, m_sup)
    check_choice("construction", construction, CONSTRUCTIONS)
    check_choice("fallback", fallback, FALLBACKS)
    if method == "intersection":
        return a & b
    if method == "union":
        return a | b
    if method == "iou":
        out = iou_fusion(a, b, construction, iou_threshold)
    elif method == "eai":
        if not np.isfinite(lam) or lam < 0:
            raise ValueError(f"lam must be a finite number >= 0, got {lam}")
        candidate, *_, costs, _ = _run_eai(a, b, construction, fill_holes, max_steps, lam, target,
                                           stop_early=True)
        out = candidate(int(np.argmin(costs)))
    else:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if out.any() or fallback == "none" or not (a.any() or b.any()):
        return out
    return empty_fallback(a, b, fallback)


def empty_fallback(m_sub, m_sup, fallback: str = "sub") -> np.ndarray:
    """The mask :func:`fuse` returns when the fusion is empty but the union is not.

    ``"sub"`` / ``"sup"``: that input (the other one when it is empty); ``"union"``: both;
    ``"larger"``: the input with more pixels (the sublevel one on a tie); ``"none"``: empty.

    Examples
    --------
    >>> a = np.array([[1, 0, 0]], bool); b = np.array([[0, 1, 1]], bool)
    >>> [empty_fallback(a, b, f).astype(int).tolist() for f in ("sub", "sup", "union", "larger")]
    [[[1, 0, 0]], [[0, 1, 1]], [[1, 1, 1]], [[0, 1, 1]]]
    """
    a, b = _inputs(m_sub, m_sup)
    check_choice("fallback", fallback, FALLBACKS)
    if fallback == "none":
        return np.zeros_like(a)
    if fallback == "union":
        return a | b
    if fallback == "larger":
        return (a if a.sum() >= b.sum() else b).copy()
    first, second = (a, b) if fallback == "sub" else (b, a)
    return (first if first.any() else second).copy()


ACTIVITY_KEYS = ("empty_intersection", "nested", "fusion_differs", "eai_acts", "fallback_fired",
                 "eai_differs_sub", "eai_differs_intersection", "eai_differs_union")
"""Per-image flags of :func:`fusion_activity`; their means over images are the tables' EAI
diagnostic."""


def fusion_activity(m_sub, m_sup, fused) -> dict[str, bool]:
    """Did the fusion do anything? Per-image flags, for the mechanism tables.

    ``fused`` is the mask the fusion returned (its fallback included). With ``I`` the
    intersection and ``U`` the union of the two masks:

    * ``eai_acts``: ``I`` is not empty and ``fused`` is not ``I`` (the fusion itself changed
      the mask);
    * ``fallback_fired``: ``I`` is empty but ``U`` is not (what the fusion returns is its
      fallback); ``empty_intersection`` is the same flag under its older name;
    * ``eai_differs_sub``, ``eai_differs_intersection``, ``eai_differs_union``: ``fused`` is not
      the sublevel mask, ``I``, ``U``; ``fusion_differs`` is ``eai_differs_intersection``;
    * ``nested``: one mask contains the other (the intersection is then the smaller one).

    On data where ``nested`` is almost always true and ``eai_acts`` almost never, an "EAI vs
    intersection" comparison cannot tell the two apart.

    Examples
    --------
    >>> a = np.array([[1, 1, 0]], bool); b = np.array([[1, 1, 1]], bool)
    >>> flags = fusion_activity(a, b, a)
    >>> flags["nested"], flags["eai_acts"], flags["fallback_fired"], flags["eai_differs_union"]
    (True, False, False, True)
    >>> grown = fusion_activity(a, b, b)           # the fusion grew I up to U
    >>> grown["eai_acts"], grown["eai_differs_sub"], grown["eai_differs_union"]
    (True, True, False)
    >>> apart = fusion_activity(a, ~a, a)          # no overlap: the fallback (m_sub) came back
    >>> apart["fallback_fired"], apart["eai_acts"], apart["eai_differs_sub"]
    (True, False, False)
    >>> sorted(flags) == sorted(ACTIVITY_KEYS)
    True
    """
    a, b = _inputs(m_sub, m_sup)
    f = as_mask(fused, name="fused")
    same_shape(a, f, ("m_sub", "fused"))
    inter = a & b
    union = a | b
    overlap = bool(inter.any())
    differs_inter = bool((f != inter).any())
    fallback = bool(not overlap and union.any())
    return {
        "empty_intersection": fallback,
        "nested": bool(not (a & ~b).any() or not (b & ~a).any()),
        "fusion_differs": differs_inter,
        "eai_acts": overlap and differs_inter,
        "fallback_fired": fallback,
        "eai_differs_sub": bool((f != a).any()),
        "eai_differs_intersection": differs_inter,
        "eai_differs_union": bool((f != union).any()),
    }
