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
``stop_early=False`` to see the whole sequence). Growth is computed on the bounding box of ``U``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from topotta_lite._validation import as_mask, same_shape
from topotta_lite.topology.connectivity import connectivity_structure
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


def _crop_box(union: np.ndarray) -> tuple[slice, ...]:
    """Bounding box of ``union`` grown by one pixel (clipped): all growth and all holes that can
    be filled happen inside it, and a background component reaching its edge holds pixels
    outside ``U``, so it is never filled, exactly as on the full image."""
    box = []
    for axis, n in enumerate(union.shape):
        others = tuple(a for a in range(union.ndim) if a != axis)
        hit = np.flatnonzero(union.any(axis=others))
        if len(hit) == 0:
            return tuple(slice(0, 0) for _ in union.shape)
        box.append(slice(max(int(hit[0]) - 1, 0), min(int(hit[-1]) + 2, n)))
    return tuple(box)


def _grow(
    a: np.ndarray,
    b: np.ndarray,
    construction: str,
    fill_holes: bool,
    max_steps: int | None,
):
    """Yield ``(candidate, step_name)``: I, (I filled), then geodesic dilations inside U."""
    inter = a & b
    union = a | b
    yield inter, "I"
    if not inter.any():
        return  # nothing to grow from
    box = _crop_box(union)
    u = union[box]
    structure = connectivity_structure(a.ndim, construction)

    def full(crop: np.ndarray) -> np.ndarray:
        out = np.zeros(a.shape, dtype=bool)
        out[box] = crop
        return out

    cur = inter[box]
    if fill_holes:
        filled = fill_spurious_holes(cur, u, construction)
        if not np.array_equal(filled, cur):
            cur = filled
            yield full(cur), "fill"
    j = 0
    while max_steps is None or j < max_steps:
        nxt = ndimage.binary_dilation(cur, structure=structure) & u
        if fill_holes:
            nxt = fill_spurious_holes(nxt, u, construction)
        if np.array_equal(nxt, cur):
            return
        j += 1
        cur = nxt
        yield full(cur), f"dilate {j}"


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
    return [c for c, _ in _grow(a, b, construction, fill_holes, max_steps)]


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
    if not np.isfinite(lam) or lam < 0:
        raise ValueError(f"lam must be a finite number >= 0, got {lam}")
    chi_t = _target_chi(target, a, b, construction)
    n_inter = np.count_nonzero(a & b)
    cands, steps, chi, added, costs = [], [], [], [], []
    for cand, step in _grow(a, b, construction, fill_holes, max_steps):
        n_cand = np.count_nonzero(cand)
        frac = (n_cand - n_inter) / a.size  # candidates contain I
        if stop_early and costs and frac >= min(costs):
            break  # the area term only grows: no later candidate can cost less
        c = euler_characteristic(cand, construction)
        cands.append(cand)
        steps.append(step)
        chi.append(c)
        added.append(frac)
        costs.append(frac + lam * abs(c - chi_t))
        if stop_early and (n_cand + 1 - n_inter) / a.size >= min(costs):
            break  # the next candidate adds a pixel at least: stop before growing it
    costs_arr = np.asarray(costs, dtype=np.float64)
    return EAITrace(
        candidates=cands,
        steps=steps,
        chi=np.asarray(chi, dtype=np.int64),
        added_fraction=np.asarray(added, dtype=np.float64),
        costs=costs_arr,
        chi_target=chi_t,
        chosen=int(np.argmin(costs_arr)),
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
        out = eai_trace(a, b, lam, target, construction, fill_holes, max_steps).mask
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


ACTIVITY_KEYS = ("empty_intersection", "nested", "fusion_differs")
"""Per-image flags of :func:`fusion_activity`; their means over images are the tables' EAI
diagnostic."""


def fusion_activity(m_sub, m_sup, fused) -> dict[str, bool]:
    """Did the fusion do anything? Three flags for one image.

    ``empty_intersection``: the two masks do not overlap (EAI then returns its fallback);
    ``nested``: one mask contains the other (then the intersection is the smaller one and EAI can
    only grow it towards the larger); ``fusion_differs``: the fused mask is not the plain
    intersection. On data where ``nested`` is almost always true and ``fusion_differs`` almost
    never, an "EAI vs intersection" comparison cannot tell the two apart.

    Examples
    --------
    >>> a = np.array([[1, 1, 0]], bool); b = np.array([[1, 1, 1]], bool)
    >>> fusion_activity(a, b, a)
    {'empty_intersection': False, 'nested': True, 'fusion_differs': False}
    >>> fusion_activity(a, ~a, a)
    {'empty_intersection': True, 'nested': False, 'fusion_differs': True}
    """
    a, b = _inputs(m_sub, m_sup)
    f = as_mask(fused, name="fused")
    same_shape(a, f, ("m_sub", "fused"))
    inter = a & b
    return {
        "empty_intersection": bool(not inter.any() and (a.any() or b.any())),
        "nested": bool(not (a & ~b).any() or not (b & ~a).any()),
        "fusion_differs": bool((f != inter).any()),
    }
