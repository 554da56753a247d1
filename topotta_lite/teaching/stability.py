"""Numerical check of the stability theorem (the paper's Lemma 1) on score maps.

If two maps f and g on the same grid satisfy max |f - g| <= eps, then in every homology dimension the
bottleneck distance between their persistence diagrams is at most eps. This module perturbs maps in
several deliberately different ways, computes both diagrams with
:func:`topotta_lite.topology.persistence.cubical_persistence` and the bottleneck distance, so that
notebook 03 (and the tests) can count violations.

Which bottleneck distance
-------------------------
:func:`bottleneck` is **exact**: Hera's algorithm (``gudhi.hera.bottleneck_distance`` with
``delta=0``). ``gudhi.bottleneck_distance`` (:func:`bottleneck_gudhi`) is faster, but gudhi 3.13.0
returns a value that is too large on some inputs (an early exit of its exact matching search,
fixed upstream after 3.13.0, gudhi-devel pull request 1367); :func:`gudhi_bottleneck_case` builds
one such input. :func:`bottleneck_by_matching` is a third, independent computation (a binary
search over the candidate values with a maximum bipartite matching), slow but short enough to read.
"""

from __future__ import annotations

import gudhi
import gudhi.hera
import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

from topotta_lite.teaching.toys import smooth_random_map
from topotta_lite.topology.persistence import cubical_persistence

__all__ = [
    "MAP_PERTURBATIONS",
    "bottleneck",
    "bottleneck_by_matching",
    "bottleneck_gudhi",
    "diagram_points",
    "gudhi_bottleneck_case",
    "perturb",
    "stability_trials",
    "wasserstein",
]



def _grid(shape):
    return np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij")


MAP_PERTURBATIONS = ("uniform noise", "smooth bump", "single spike", "quantisation", "blur")
"""Kinds of perturbation :func:`perturb` knows."""


def perturb(score_map: np.ndarray, kind: str, eps: float, *, seed: int = 0) -> np.ndarray:
    """A perturbed copy g of a score map f, of a given kind and rough size ``eps``.

    The exact sup-norm ``max |f - g|`` is whatever the perturbation gives (compute it; for
    "quantisation" and "blur" ``eps`` only sets the strength).

    Parameters
    ----------
    score_map : (H, W) or (D, H, W) float array, values in [0, 1]
    kind : str
        One of :data:`MAP_PERTURBATIONS`:
        ``"uniform noise"`` adds U(-eps, eps) to every pixel; ``"smooth bump"`` adds
        +-eps times a Gaussian bump at a random place; ``"single spike"`` moves one random pixel by
        +-eps; ``"quantisation"`` rounds the map to ``n = round(1 / eps)`` + 1 levels (so
        |f - g| <= eps / 2); ``"blur"`` applies a Gaussian blur of width ``10 * eps`` pixels.
    eps : float
        Strength, > 0.
    seed : int
        Seed of the random choices.

    Examples
    --------
    >>> from topotta_lite.teaching.toys import smooth_random_map
    >>> f = smooth_random_map((16, 16))
    >>> g = perturb(f, "uniform noise", 0.1, seed=1)
    >>> bool(np.abs(f - g).max() <= 0.1)
    True
    """
    f = np.asarray(score_map, dtype=float)
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    rng = np.random.default_rng(seed)
    if kind == "uniform noise":
        return f + rng.uniform(-eps, eps, f.shape)
    if kind == "smooth bump":
        grids = _grid(f.shape)
        centre = [rng.uniform(0, n) for n in f.shape]
        width = rng.uniform(1.0, 0.25 * min(f.shape))
        r2 = sum((g - c) ** 2 for g, c in zip(grids, centre))
        return f + rng.choice([-1.0, 1.0]) * eps * np.exp(-0.5 * r2 / width**2)
    if kind == "single spike":
        g = f.copy()
        idx = tuple(int(rng.integers(0, n)) for n in f.shape)
        g[idx] += rng.choice([-1.0, 1.0]) * eps
        return g
    if kind == "quantisation":
        n = max(2, round(1.0 / eps) + 1)
        return np.round(f * (n - 1)) / (n - 1)
    if kind == "blur":
        return ndi.gaussian_filter(f, 10.0 * eps)
    raise ValueError(f"kind must be one of {MAP_PERTURBATIONS}, got {kind!r}")


def diagram_points(diagram, dim: int, convention: str = "gudhi") -> np.ndarray:
    """(n, 2) array of (birth, death) of one dimension, ready for :func:`bottleneck` and gudhi.

    ``convention="gudhi"``: essential points have death = inf (as ``to_gudhi()``); ``"end of range"``:
    the diagram's own finite end-of-range death. gudhi expects death >= birth, so a superlevel
    diagram is mirrored (negated), which changes no distance. (gudhi silently returns too small
    distances for points below the diagonal.)
    """
    if convention == "gudhi":
        pts = [p for d, p in diagram.to_gudhi() if d == dim]
        return np.asarray(pts, dtype=float).reshape(-1, 2)
    sel = diagram.in_dim(dim)
    pts = np.column_stack([sel.births, sel.deaths]).astype(float).reshape(-1, 2)
    # gudhi expects death >= birth; a superlevel diagram is mirrored (negated), an isometry
    return -pts if diagram.filtration == "superlevel" else pts


def _off_diagonal(points: np.ndarray) -> np.ndarray:
    """Drop points with birth == death (Hera does not accept them; they cost nothing to match)."""
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    return pts[pts[:, 0] != pts[:, 1]]


def _same_points(a: np.ndarray, b: np.ndarray) -> bool:
    sa, sb = a[np.lexsort(a.T[::-1])], b[np.lexsort(b.T[::-1])]
    return sa.shape == sb.shape and bool(np.array_equal(sa, sb))


def bottleneck(a: np.ndarray, b: np.ndarray) -> float:
    """Exact bottleneck distance of two (n, 2) diagrams (Hera, ``delta=0``), L-infinity ground metric.

    Points may have an infinite death (essential classes: matched among themselves by birth).
    Points on the diagonal are dropped first (Hera refuses them, and they cost nothing to match).
    Identical diagrams short-cut to 0.

    Parameters
    ----------
    a, b : (n, 2) and (m, 2) float arrays of (birth, death)

    Returns
    -------
    float

    Examples
    --------
    >>> a = np.array([[0.0, 1.0], [0.2, 0.3]])
    >>> b = np.array([[0.0, 1.1]])
    >>> round(bottleneck(a, b), 6)   # (0, 1) moves by 0.1; (0.2, 0.3) goes to the diagonal: 0.05
    0.1
    """
    a, b = _off_diagonal(a), _off_diagonal(b)
    if _same_points(a, b):
        return 0.0
    return float(gudhi.hera.bottleneck_distance(a, b, delta=0))


def bottleneck_gudhi(a: np.ndarray, b: np.ndarray) -> float:
    """``gudhi.bottleneck_distance`` of two (n, 2) diagrams, for comparison with :func:`bottleneck`.

    gudhi 3.13.0 returns a value that is too large on some inputs (see
    :func:`gudhi_bottleneck_case`); use :func:`bottleneck` for anything that matters.

    Examples
    --------
    >>> round(bottleneck_gudhi(np.array([[0.0, 1.0]]), np.array([[0.0, 1.1]])), 6)
    0.1
    """
    a, b = _off_diagonal(a), _off_diagonal(b)
    if _same_points(a, b):
        return 0.0
    return float(gudhi.bottleneck_distance(a, b))


def bottleneck_by_matching(a: np.ndarray, b: np.ndarray, *, return_matching: bool = False):
    """Exact bottleneck distance by the textbook algorithm: an independent check, for small diagrams.

    The distance is one of finitely many candidate costs (a point-to-point L-infinity distance,
    or half a persistence: the cost of sending a point to the diagonal). Sort them, and find by
    binary search the smallest candidate ``c`` for which a perfect matching of the bipartite graph
    "points of ``a`` plus diagonal copies of ``b``" against "points of ``b`` plus diagonal copies
    of ``a``", keeping only the edges of cost <= ``c``, exists (scipy's maximum bipartite
    matching). Essential points (infinite death) are matched among themselves in birth order.

    Parameters
    ----------
    a, b : (n, 2) and (m, 2) float arrays of (birth, death)
    return_matching : bool
        Also return an optimal matching of the finite points.

    Returns
    -------
    float
        ``inf`` when the numbers of essential points differ.
    matching : list of (int, int), only with ``return_matching``
        Pairs (row of ``a``, row of ``b``) among the finite, off-diagonal points (indices into the
        arrays as given); ``-1`` stands for the diagonal.

    Examples
    --------
    >>> a = np.array([[0.0, 1.0], [0.2, 0.3], [0.0, np.inf]])
    >>> b = np.array([[0.0, 1.1], [0.1, np.inf]])
    >>> round(bottleneck_by_matching(a, b), 6), round(bottleneck(a, b), 6)
    (0.1, 0.1)
    >>> bottleneck_by_matching(a, b, return_matching=True)[1]
    [(0, 0), (1, -1)]
    """
    a, b = np.asarray(a, dtype=float).reshape(-1, 2), np.asarray(b, dtype=float).reshape(-1, 2)
    keep_a = np.flatnonzero((a[:, 0] != a[:, 1]) & np.isfinite(a[:, 1]))
    keep_b = np.flatnonzero((b[:, 0] != b[:, 1]) & np.isfinite(b[:, 1]))
    ess_a, ess_b = a[np.isinf(a[:, 1]), 0], b[np.isinf(b[:, 1]), 0]
    if len(ess_a) != len(ess_b):
        return (float("inf"), []) if return_matching else float("inf")
    essential = float(np.max(np.abs(np.sort(ess_a) - np.sort(ess_b)), initial=0.0))
    fa, fb = a[keep_a], b[keep_b]
    n, m = len(fa), len(fb)
    if n + m == 0:
        return (essential, []) if return_matching else essential
    cost = _matching_costs(fa, fb)
    candidates = np.unique(cost[np.isfinite(cost)])
    lo, hi = 0, len(candidates) - 1
    while lo < hi:  # smallest candidate that admits a perfect matching
        mid = (lo + hi) // 2
        graph = csr_matrix(cost <= candidates[mid])
        if np.all(maximum_bipartite_matching(graph, perm_type="column") >= 0):
            hi = mid
        else:
            lo = mid + 1
    value = max(float(candidates[lo]), essential)
    if not return_matching:
        return value
    cols = maximum_bipartite_matching(csr_matrix(cost <= candidates[lo]), perm_type="column")
    pairs = []
    for i in range(n):  # rows of a: matched with a point of b, or with their diagonal copy
        j = int(cols[i])
        pairs.append((int(keep_a[i]), int(keep_b[j]) if j < m else -1))
    for i in range(n, n + m):  # diagonal copies of b matched with a point of b
        j = int(cols[i])
        if j < m:
            pairs.append((-1, int(keep_b[j])))
    return value, pairs


def _matching_costs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cost matrix of the diagram matching problem (finite points only), L-infinity ground metric.

    Rows: the points of ``a``, then one diagonal copy per point of ``b``; columns: the points of
    ``b``, then one diagonal copy per point of ``a``. A point may be matched with a point of the
    other diagram (cost: their L-infinity distance) or with its own diagonal copy (cost: half its
    persistence, the L-infinity distance to the diagonal); two diagonal copies match at cost 0.
    Forbidden pairs cost ``inf``.
    """
    n, m = len(a), len(b)
    cost = np.full((n + m, m + n), np.inf)
    cost[:n, :m] = np.abs(a[:, None, :] - b[None, :, :]).max(axis=2)
    cost[np.arange(n), m + np.arange(n)] = np.abs(a[:, 1] - a[:, 0]) / 2
    cost[n + np.arange(m), np.arange(m)] = np.abs(b[:, 1] - b[:, 0]) / 2
    cost[n:, m:] = 0.0
    return cost


def wasserstein(a: np.ndarray, b: np.ndarray, order: float = 1.0) -> float:
    """Exact Wasserstein distance W_order of two (n, 2) diagrams, L-infinity ground metric.

    Where the bottleneck distance is the *largest* move of an optimal matching, W_q is the
    q-th root of the *sum* of the q-th powers of all the moves, so every small feature counts.
    Solved exactly as an assignment problem (``scipy.optimize.linear_sum_assignment`` on the
    matrix of :func:`bottleneck_by_matching`); essential points are matched among themselves in
    birth order. (gudhi's ``gudhi.hera.wasserstein_distance`` is an approximation to a relative
    error ``delta``, and in gudhi 3.13.0 it does not return when the two diagrams share their
    finite part but differ in an essential point.)

    Examples
    --------
    >>> a = np.array([[0.0, 1.0], [0.2, 0.3]])
    >>> b = np.array([[0.0, 1.1]])
    >>> round(wasserstein(a, b), 6)   # 0.1 (move) + 0.05 (to the diagonal)
    0.15
    >>> round(wasserstein(a, b, order=2), 6)   # sqrt(0.1 ** 2 + 0.05 ** 2)
    0.111803
    """
    from scipy.optimize import linear_sum_assignment

    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    a, b = _off_diagonal(a), _off_diagonal(b)
    ess_a, ess_b = np.isinf(a[:, 1]), np.isinf(b[:, 1])
    if ess_a.sum() != ess_b.sum():
        return float("inf")
    total = float(np.sum(np.abs(np.sort(a[ess_a, 0]) - np.sort(b[ess_b, 0])) ** order))
    a, b = a[~ess_a], b[~ess_b]
    if len(a) + len(b):
        cost = _matching_costs(a, b) ** order
        rows, cols = linear_sum_assignment(np.where(np.isinf(cost), 1e300, cost))
        total += float(cost[rows, cols].sum())
    return total ** (1.0 / order)


def gudhi_bottleneck_case():
    """The input on which ``gudhi.bottleneck_distance`` (3.13.0) is wrong, found by notebook 03.

    A smooth random 64 x 64 map f (``smooth_random_map((64, 64), sigma=3.0, seed=1)``), its
    quantisation g to the three levels 0, 0.5, 1, and the H1 diagrams of their superlevel
    filtrations in the T construction, as (birth, death) arrays mirrored for gudhi
    (:func:`diagram_points`).

    Returns
    -------
    dict
        ``f``, ``g`` (maps), ``a``, ``b`` (diagrams), ``sup_norm`` (max |f - g|).

    Examples
    --------
    >>> case = gudhi_bottleneck_case()
    >>> bool(bottleneck(case["a"], case["b"]) <= case["sup_norm"])
    True
    """
    f = smooth_random_map((64, 64), sigma=3.0, seed=1)
    g = np.round(f * 2) / 2
    dgm_f = cubical_persistence(f, filtration="superlevel", construction="T")
    dgm_g = cubical_persistence(g, filtration="superlevel", construction="T")
    return {"f": f, "g": g, "a": diagram_points(dgm_f, 1), "b": diagram_points(dgm_g, 1),
            "sup_norm": float(np.abs(f - g).max())}


def stability_trials(bases: dict, n_trials: int, seed: int = 0, eps_range=(1e-3, 0.5), *,
                     compare_gudhi: bool = True) -> pd.DataFrame:
    """Random perturbation trials; one row per (trial, homology dimension, essential convention).

    Each trial picks a base map (cycling through ``bases``), a perturbation kind, a strength eps
    (log-uniform in ``eps_range``), a filtration and a construction, and records the sup-norm of the
    change and the exact bottleneck distance ``d_B`` of the two diagrams (:func:`bottleneck`);
    with ``compare_gudhi`` also gudhi's value ``d_B_gudhi`` (:func:`bottleneck_gudhi`).

    Examples
    --------
    >>> f = np.random.default_rng(0).random((8, 8))
    >>> df = stability_trials({"random": f}, 4, seed=1)
    >>> bool((df["d_B"] <= df["sup_norm"] + 1e-9).all())
    True
    """
    eps_min, eps_max = eps_range
    rows = []
    names = list(bases)
    for i in range(n_trials):
        r = np.random.default_rng([seed, i])
        name = names[i % len(names)]
        f = bases[name]
        kind = MAP_PERTURBATIONS[r.integers(len(MAP_PERTURBATIONS))]
        eps = float(np.exp(r.uniform(np.log(eps_min), np.log(eps_max))))
        g = perturb(f, kind, eps, seed=int(r.integers(2**31)))
        sup_norm = float(np.abs(f - g).max())
        filtration = ("sublevel", "superlevel")[i % 2]
        construction = ("V", "T")[(i // 2) % 2]
        df = cubical_persistence(f, filtration=filtration, construction=construction)
        dg = cubical_persistence(g, filtration=filtration, construction=construction)
        for dim in range(f.ndim):
            for convention in ("gudhi", "end of range"):
                a = diagram_points(df, dim, convention)
                b = diagram_points(dg, dim, convention)
                row = {
                    "map": f"{f.ndim}D {name}", "ndim": f.ndim, "trial": i, "kind": kind,
                    "filtration": filtration, "construction": construction, "dim": dim,
                    "convention": convention, "sup_norm": sup_norm, "d_B": bottleneck(a, b),
                    "n_points_f": len(a), "n_points_g": len(b),
                }
                if compare_gudhi:
                    row["d_B_gudhi"] = bottleneck_gudhi(a, b)
                rows.append(row)
    return pd.DataFrame(rows)
