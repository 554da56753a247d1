"""From persistence features to pseudo-label masks: a feature is a region, not a global threshold.

A feature is turned into a *region*, not a global threshold. With ``b`` its birth, ``d`` its death
(map units) and a level ``t`` a fraction ``alpha`` inside its bar:

* **superlevel features** (``b >= d``; H0 = bright components, and in the same way superlevel
  H1/H2): the component of ``{psi > t}``, ``t = d + alpha (b - d)``, that contains the birth
  cell (for H0 the peak pixel).
* **sublevel H1 in 2D** (a loop of low values closing at ``b`` around a high region that fills
  at ``d``): the component of ``{psi > t}``, ``t = b + alpha (d - b)``, containing the death
  cell (the enclosed region's peak). It lies inside the hole the loop encloses, so it is
  bounded.
* **sublevel H2 in 3D** is the exact 3D analogue (a closed low shell around a high region):
  the component of ``{psi > t}`` containing the death cell.
* **sublevel H1 in 3D** (a loop of low values, killed when a surface spanning it enters): the same
  rule, the component of ``{psi > t}`` containing the death cell, i.e. the high structure that
  threads the loop at that level. Unlike H2 it need not be bounded.
* **sublevel H0** (a low basin, not used by default): the component of ``{psi < t}`` containing
  the birth cell (the basin minimum). It is a *low*-score region.

**One connectivity for every region: faces** (4 neighbours in 2D, 6 in 3D), in both
constructions. The feature itself lives in its construction's connectivity (the hole a V loop
encloses is 8-connected, a T component is), and a region is the face-connected part of it around
the seed. Two reasons. (1) The Euler characteristic that EAI compares is counted in the
construction; a face-connected region is one piece in V and in T alike, so EAI never sees a
region as two pieces that touch at a corner only and "repairs" it. (2) The regions of all the
features of both filtrations are then components of sets ``{psi > t}`` of one map in one graph,
and such components form a *laminar family*: any two are nested or disjoint (if ``t1 >= t2``, a
component at ``t1`` is connected inside ``{psi > t2}``, hence inside one component there).

**What this means for the fusion at K = 1.** With one feature per filtration the sublevel and
superlevel masks are nested or disjoint, never partly overlapping. More precisely, when they
overlap the sublevel region is the inner one: the superlevel Top-1 region is the component of the
global peak at the level ``alpha`` of the way up the range; a sublevel region holding that peak
sits at least as high in its bar, so inside it, and one not holding it cannot contain the
superlevel region. So the intersection is the sublevel mask or empty, and EAI either returns its
fallback (the sublevel mask by default) or starts from the sublevel mask and can only grow it
inside the superlevel one (:mod:`topotta_lite.method.fusion`). The release rule thresholds the
whole map twice; two thresholds of one map are always nested. Partial overlaps, the case EAI was
designed for, need K >= 2 (or masks from different maps).

The essential H0 class (death at the end of the range) is treated like any other feature, so
Top-1 of the superlevel filtration is the component around the global peak.

``alpha`` lies in [0, 1): at ``alpha = 1`` the strict level set would no longer hold the seed.
"""

from __future__ import annotations

from collections.abc import Iterable

import numba
import numpy as np

from topotta_lite._validation import as_score_map
from topotta_lite.topology import (
    BACKENDS,
    PersistenceDiagram,
    PreparedMap,
    check_dims,
    check_levels,
    cubical_persistence,
    diagram_of_prepared,
    essential_h0_diagram,
    neighbour_offsets,
    prepare_map,
    top1_3d,
    top_dimension_top1,
)
from topotta_lite.vocabulary import CONSTRUCTIONS, FILTRATIONS, check_choice

__all__ = [
    "default_dims",
    "feature_region",
    "pseudo_label_mask",
    "pseudo_label_masks",
    "select_features",
]


_REGION_OFFSETS = {nd: neighbour_offsets(nd, False) for nd in (2, 3)}
DEFAULT_ALPHA = 0.5
RELEASE_DELTA_SUB = 0.47
RELEASE_DELTA_SUP = 0.30
RULES = ("region", "release")


def default_dims(filtration: str, ndim: int) -> tuple[int, ...]:
    """Homology dimensions used by default.

    Sublevel: H1 in 2D, H1 and H2 in 3D. Superlevel: H0.

    Examples
    --------
    >>> default_dims("sublevel", 2), default_dims("sublevel", 3), default_dims("superlevel", 3)
    ((1,), (1, 2), (0,))
    """
    check_choice("filtration", filtration, FILTRATIONS)
    if ndim not in (2, 3):
        raise ValueError(f"ndim must be 2 or 3, got {ndim}")
    if filtration == "superlevel":
        return (0,)
    return (1,) if ndim == 2 else (1, 2)


def _norm_dims(dims) -> tuple[int, ...] | None:
    if dims is None:
        return None
    if isinstance(dims, int | np.integer):
        return (int(dims),)
    if not isinstance(dims, Iterable):
        raise TypeError(f"dims must be an int or an iterable of ints, got {dims!r}")
    return tuple(sorted({int(d) for d in dims}))


def select_features(
    diagram: PersistenceDiagram,
    k: int | None = 1,
    tau: float | None = None,
    dims=None,
    *,
    include_essential: bool = True,
    only_kth: bool = False,
) -> PersistenceDiagram:
    """Keep the K most persistent features, or every feature with persistence >= tau.

    Parameters
    ----------
    diagram : PersistenceDiagram
        One filtration's diagram.
    k : int or None
        Top-K, pooled over the selected dims (ties: the diagram's own order). None: no limit.
        Ignored when ``tau`` is given.
    tau : float or None
        If given, keep all features with persistence >= tau (instead of Top-K).
    dims : int, iterable of int, or None
        Only consider these homology dimensions (None: all in the diagram).
    include_essential : bool
        Whether the essential H0 class may be chosen (the authors' release skips it).
    only_kth : bool
        Keep only the K-th most persistent feature (empty if there are fewer than K), the
        paper's Table V ablation. The union over K = 1..k of these is the Top-k selection.

    Returns
    -------
    PersistenceDiagram
        The chosen features, in the diagram's order. Zero-persistence features are never chosen.

    Examples
    --------
    >>> psi = np.zeros((7, 7)); psi[1:3, 1:3] = 1.0; psi[4:6, 4:6] = 0.6
    >>> up = cubical_persistence(psi, "superlevel")
    >>> select_features(up, k=2).births.tolist()
    [1.0, 0.6]
    >>> select_features(up, tau=0.8).births.tolist()
    [1.0]
    >>> select_features(up, k=2, only_kth=True).births.tolist()
    [0.6]
    """
    if not isinstance(diagram, PersistenceDiagram):
        raise TypeError(f"diagram must be a PersistenceDiagram, got {type(diagram).__name__}")
    pers = diagram.persistence
    ok = pers > 0
    wanted = _norm_dims(dims)
    if wanted is not None:
        in_dims = np.zeros(len(diagram), bool)
        for d in wanted:
            in_dims |= diagram.dims == d
        ok &= in_dims
    if not include_essential:
        ok &= ~diagram.essential
    cand = np.flatnonzero(ok)
    if tau is not None:
        if not np.isfinite(tau):
            raise ValueError(f"tau must be a finite number, got {tau}")
        chosen = cand[pers[cand] >= tau]
    elif k is None:
        chosen = cand
    else:
        if isinstance(k, bool) or int(k) != k or k < 0:
            raise ValueError(f"k must be an integer >= 0 (or None), got {k!r}")
        if k == 1 and len(cand):  # the first most persistent one, in the diagram's order
            chosen = cand[np.argmax(pers[cand])][None]
        else:
            order = np.lexsort((cand, -pers[cand]))  # persistence descending, then diagram order
            chosen = cand[order[int(k) - 1:int(k)]] if only_kth and k > 0 else cand[order[: int(k)]]
    return diagram.select(np.sort(chosen))


@numba.njit(cache=True)
def _seeded_component(values, shape3, seed, t, above, offsets):  # pragma: no cover - numba
    """The component of ``{values > t}`` (``above``) or ``{values < t}`` holding ``seed``.

    ``values`` is the flat C-order map of shape ``shape3`` (D, H, W), ``seed`` a flat
    index, ``offsets`` the (dz, dy, dx) neighbours; a flood fill, so the cost is that of
    the component, not of the map. Empty when the seed is not in the level set.
    """
    D, H, W = shape3
    HW = H * W
    region = np.zeros(values.size, np.bool_)
    if not (values[seed] > t if above else values[seed] < t):
        return region
    stack = np.empty(min(values.size, 4096), np.int64)  # grows when the region is large
    stack[0] = seed
    top = 1
    region[seed] = True
    while top:
        top -= 1
        p = stack[top]
        z = p // HW
        y = (p - z * HW) // W
        x = p - z * HW - y * W
        for k in range(offsets.shape[0]):
            zz = z + offsets[k, 0]
            yy = y + offsets[k, 1]
            xx = x + offsets[k, 2]
            if zz < 0 or zz >= D or yy < 0 or yy >= H or xx < 0 or xx >= W:
                continue
            q = (zz * H + yy) * W + xx
            if region[q] or not (values[q] > t if above else values[q] < t):
                continue
            region[q] = True
            if top == stack.size:
                bigger = np.empty(min(2 * stack.size, values.size), np.int64)
                bigger[:top] = stack
                stack = bigger
            stack[top] = q
            top += 1
    return region


def _check_alpha(alpha: float) -> float:
    if not (0 <= alpha < 1):
        raise ValueError(f"alpha must lie in [0, 1), got {alpha}")
    return float(alpha)


def feature_region(
    score_map,
    diagram: PersistenceDiagram,
    i: int,
    alpha: float = DEFAULT_ALPHA,
    construction: str | None = None,
) -> np.ndarray:
    """The region of feature ``i`` of ``diagram`` on ``score_map`` (rules in the module docstring).

    Parameters
    ----------
    score_map : array_like, shape ``diagram.shape``
        The map the diagram was computed on (same normalisation / quantisation).
    diagram : PersistenceDiagram
    i : int
        Index of the feature in ``diagram``.
    alpha : float in [0, 1)
        Where inside the bar the level is taken (0: at the end that is reached first in the
        filtration's direction of region growth, i.e. the largest region).
    construction : {"V", "T"} or None
        Checked only: the region is face-connected in both constructions (module docstring).

    Returns
    -------
    np.ndarray of bool
        One face-connected region (or empty if the seed is not in the level set, which cannot happen
        for a feature of positive persistence computed on this map).

    Examples
    --------
    >>> psi = np.zeros((6, 6)); psi[1:3, 1:4] = 0.9; psi[2, 2] = 1.0
    >>> up = cubical_persistence(psi, "superlevel", dims=[0])
    >>> int(feature_region(psi, up, 0).sum())        # the blob, not the background
    6
    >>> dn = cubical_persistence(psi, "sublevel", dims=[1])
    >>> bool((feature_region(psi, dn, 0) == (psi > 0)).all())
    True
    """
    psi = as_score_map(score_map)
    if not isinstance(diagram, PersistenceDiagram):
        raise TypeError(f"diagram must be a PersistenceDiagram, got {type(diagram).__name__}")
    if psi.shape != tuple(diagram.shape):
        raise ValueError(
            f"score_map has shape {psi.shape} but the diagram was computed on "
            f"shape {tuple(diagram.shape)}"
        )
    if isinstance(i, bool) or int(i) != i or not 0 <= i < len(diagram):
        raise ValueError(f"feature index i={i!r} is out of range for a diagram of {len(diagram)}")
    alpha = _check_alpha(alpha)
    if construction is not None:
        check_choice("construction", construction, CONSTRUCTIONS)
    return _feature_region(psi, diagram, int(i), alpha)


def _feature_region(psi: np.ndarray, diagram: PersistenceDiagram, i: int, alpha: float
                    ) -> np.ndarray:
    """:func:`feature_region` with its arguments already checked."""
    b, d, dim = float(diagram.births[i]), float(diagram.deaths[i]), int(diagram.dims[i])
    shape3 = psi.shape if psi.ndim == 3 else (1,) + psi.shape
    if diagram.filtration == "superlevel":
        t, seed, above = d + alpha * (b - d), diagram.birth_cells[i], True
    elif dim == 0:
        t, seed, above = b + alpha * (d - b), diagram.birth_cells[i], False
    else:
        t, seed, above = b + alpha * (d - b), diagram.death_cells[i], True
    flat_seed = int(np.ravel_multi_index(tuple(seed), psi.shape))
    region = _seeded_component(psi.ravel(), shape3, flat_seed, t, above, _REGION_OFFSETS[psi.ndim])
    return region.reshape(psi.shape)


def _label_map(psi: np.ndarray, levels: int | None) -> PreparedMap:
    """The map the pseudo-labels work on, prepared for the persistence engine.

    ``psi`` (checked, not constant) min-max normalised and quantised to ``levels`` as
    :func:`~topotta_lite.topology.persistence.quantise` does, or only normalised (``levels=None``).
    """
    return prepare_map(psi, levels, normalise=True)


def pseudo_label_mask(
    score_map,
    filtration: str,
    *,
    k: int | None = 1,
    tau: float | None = None,
    dims=None,
    levels: int | None = 256,
    alpha: float = DEFAULT_ALPHA,
    construction: str = "V",
    rule: str = "region",
    backend: str = "auto",
    delta_sub: float = RELEASE_DELTA_SUB,
    delta_sup: float = RELEASE_DELTA_SUP,
    return_features: bool = False,
    only_kth: bool = False,
):
    """Pseudo-label mask of one filtration: union of the selected features' masks.

    The map is min-max normalised to [0, 1] and quantised to ``levels`` levels (``levels=None``:
    normalised only), its persistence diagram is computed, features are chosen with
    :func:`select_features`, and each one becomes a mask:

    * ``rule="region"`` (the paper's text, our reading): :func:`feature_region`.
    * ``rule="release"`` (the authors' released code): the whole normalised map thresholded at
      ``max(0, h - delta)``, ``mask = x >= thr``, with ``h`` the feature's upper value (the death
      of a sublevel H1 feature, the birth = peak of a superlevel H0 feature) and ``delta`` =
      ``delta_sub`` (0.47) or ``delta_sup`` (0.30). As in the release, the essential class is
      never chosen under this rule.

    Parameters
    ----------
    score_map : array_like, (H, W) or (D, H, W)
    filtration : {"sublevel", "superlevel"}
    k, tau, dims, only_kth
        Feature selection (:func:`select_features`); ``dims`` None = :func:`default_dims`.
    levels : int or None
        Quantisation levels (default 256).
    alpha : float in [0, 1)
        Level inside each bar (``rule="region"``).
    construction : {"V", "T"}
    rule : {"region", "release"}
    backend : str
        Passed to :func:`topotta_lite.topology.persistence.cubical_persistence`.
    delta_sub, delta_sup : float
        Offsets of the release rule.
    return_features : bool
        Also return the normalised map and the selected features.

    Returns
    -------
    np.ndarray of bool, or (mask, normalised_map, selected_diagram) if ``return_features``
        A constant map gives an empty mask.

    Examples
    --------
    >>> psi = np.zeros((8, 8)); psi[2:5, 2:5] = 1.0
    >>> int(pseudo_label_mask(psi, "superlevel").sum())
    9
    >>> int(pseudo_label_mask(psi, "sublevel").sum())
    9
    >>> pseudo_label_mask(np.ones((4, 4)), "sublevel").any()
    False
    """
    psi = as_score_map(score_map)
    check_choice("filtration", filtration, FILTRATIONS)
    mask, x, sel = pseudo_label_masks(
        psi, {filtration: dims}, k=k, tau=tau, levels=levels, alpha=alpha,
        construction=construction, rule=rule, backend=backend, delta_sub=delta_sub,
        delta_sup=delta_sup, only_kth=only_kth,
    )[0]
    return (mask, x, sel) if return_features else mask


def pseudo_label_masks(
    score_map,
    dims: dict,
    *,
    k: int | None = 1,
    tau: float | None = None,
    levels: int | None = 256,
    alpha: float = DEFAULT_ALPHA,
    construction: str = "V",
    rule: str = "region",
    backend: str = "auto",
    delta_sub: float = RELEASE_DELTA_SUB,
    delta_sup: float = RELEASE_DELTA_SUP,
    only_kth: bool = False,
) -> list[tuple[np.ndarray, np.ndarray, PersistenceDiagram]]:
    """:func:`pseudo_label_mask` for several filtrations of one map at once.

    The map is normalised (and quantised) and its pixels are ordered once for all filtrations,
    which is what TopoTTA needs (a sublevel and a superlevel mask of the same map). A Top-1
    selection (``k=1``, region rule, our engine) over dims that include H0 is always the essential
    class, so that filtration needs no persistence pass at all (the default superlevel one);
    ``tests/test_pseudolabel_speed_equivalence.py`` checks this against the full diagram.

    Parameters
    ----------
    score_map : array_like, (H, W) or (D, H, W)
    dims : dict
        ``{filtration: dims}`` for each wanted filtration (``"sublevel"`` / ``"superlevel"``);
        a value of None means :func:`default_dims`.
    k, tau, levels, alpha, construction, rule, backend, delta_sub, delta_sup, only_kth
        As in :func:`pseudo_label_mask`.

    Returns
    -------
    list of (mask, normalised_map, selected_diagram)
        One per filtration, in the order of ``dims``.

    Examples
    --------
    >>> psi = np.zeros((8, 8)); psi[2:5, 2:5] = 1.0
    >>> out = pseudo_label_masks(psi, {"sublevel": None, "superlevel": None})
    >>> [int(mask.sum()) for mask, _, _ in out]
    [9, 9]
    """
    psi = as_score_map(score_map)
    bad = [f for f in dims if f not in FILTRATIONS]
    if bad or not dims:
        raise ValueError(f"dims must map filtrations in {FILTRATIONS} to dims, got {dims!r}")
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    check_choice("construction", construction, CONSTRUCTIONS)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    alpha = _check_alpha(alpha)
    levels = None if levels is None else check_levels(levels)
    wanted = {
        filt: default_dims(filt, psi.ndim) if d is None else check_dims(_norm_dims(d), psi.ndim)
        for filt, d in dims.items()
    }
    prep = _label_map(psi, levels)
    if prep.constant:  # no feature: empty masks
        return [
            (
                np.zeros(psi.shape, dtype=bool),
                np.zeros(psi.shape),
                cubical_persistence(psi, filt, construction, dims=dims_t),
            )
            for filt, dims_t in wanted.items()
        ]
    x = prep.arr
    out = []
    # Top-1 shortcuts, each equal to the full selection (tests/test_pseudolabel_speed_equivalence):
    # with the essential class eligible and H0 among the dims, Top-1 is always that class (its
    # bar spans the whole range, H0 comes first in the diagram's order, and a finite H0 bar as
    # long is born at a later pixel, so it sorts after it): no persistence pass. Top-1 of the
    # top dimension alone needs one pass and no diagram. In 3D, H1 and H2 together: H1 is left
    # out when its bars provably cannot be the longest (top1_3d).
    top1 = tau is None and backend in ("auto", "fast") and not isinstance(k, bool) and k == 1
    for filt, dims_t in wanted.items():
        sel = None
        if top1 and rule == "region" and 0 in dims_t:
            sel = essential_h0_diagram(prep, filt, construction)
        elif top1 and dims_t == (psi.ndim - 1,):
            sel = top_dimension_top1(prep, filt, construction)
        elif top1 and dims_t == (1, 2):
            sel = top1_3d(prep, filt, construction)  # None when H1 could hold the Top-1
        if sel is None:
            dgm = diagram_of_prepared(prep, filt, construction, dims_t, backend)
            sel = select_features(dgm, k=k, tau=tau, dims=dims_t,
                                  include_essential=rule == "region", only_kth=only_kth)
        delta = delta_sub if filt == "sublevel" else delta_sup
        parts = [_feature_region(x, sel, j, alpha) if rule == "region" else
                 x >= max(0.0, max(float(sel.births[j]), float(sel.deaths[j])) - delta)
                 for j in range(len(sel))]
        mask = parts[0] if len(parts) == 1 else np.zeros(psi.shape, dtype=bool)
        if len(parts) > 1:
            for part in parts:
                mask |= part
        out.append((mask, x, sel))
    return out
