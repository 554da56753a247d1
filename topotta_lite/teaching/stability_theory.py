"""The stability theorem's hypotheses and proof, made checkable on score maps (notebook 03).

The theorem (Cohen-Steiner, Edelsbrunner and Harer, 2007) is about two *monotone* functions on
the *same* finite cell complex ``K`` (a cell's value is at least the values of its faces),
compared cell by cell. A score map becomes such a function once a construction is chosen:

* **V** (pixels are vertices): a cell's sublevel value is the largest value of its vertices;
* **T** (pixels are top cells): a cell's sublevel value is the smallest value of the pixels whose
  squares contain it;
* the superlevel filtration is the sublevel filtration of ``-f``: the roles of max and min swap.

:func:`cell_values` returns every cell's value (from gudhi's complex, so it is the complex the
diagrams are computed on), :func:`cell_norm` the ``p``-norm of the difference of two maps over the
cells: the sup-norm is the theorem's hypothesis (it equals the pixel sup-norm), the ``p``-norms
bound the Wasserstein distances (Skraba and Turner). :func:`interpolation_steps` and
:func:`box_lemma_counts` check the two steps of the proof sketch numerically.

Examples
--------
>>> f = np.array([[0.0, 1.0], [2.0, 3.0]])
>>> cell_values(f, "V").tolist()
[[0.0, 1.0, 1.0], [2.0, 3.0, 3.0], [2.0, 3.0, 3.0]]
>>> cell_norm(f, f + 0.5, np.inf), cell_norm(f, f + 0.5, 1, "V")   # 9 cells of the V complex
(0.5, 4.5)
"""

from __future__ import annotations

import gudhi
import numpy as np
import pandas as pd

from topotta_lite.teaching.stability import bottleneck, diagram_points
from topotta_lite.topology.persistence import cubical_persistence
from topotta_lite.vocabulary import CONSTRUCTIONS, FILTRATIONS, check_choice

__all__ = ["box_lemma_counts", "cell_norm", "cell_values", "interpolation_steps"]


def cell_values(score_map, construction: str = "V", filtration: str = "sublevel") -> np.ndarray:
    """The value of every cell of the cubical complex of a map, on the doubled grid.

    Parameters
    ----------
    score_map : (H, W) or (D, H, W) float array
    construction : {"V", "T"}
        V: an array of shape ``2 * shape - 1`` (pixels at even coordinates); T: ``2 * shape + 1``
        (pixels at odd coordinates).
    filtration : {"sublevel", "superlevel"}
        Superlevel values are in the map's units (a cell enters when its value is *at least*
        the threshold): the smallest vertex value (V) or the largest top-cell value (T).

    Returns
    -------
    ndarray
        One value per cell; the vertices (V) or top cells (T) carry the pixel values.

    Examples
    --------
    >>> f = np.array([[0.0, 1.0]])
    >>> cell_values(f, "V").tolist(), cell_values(f, "V", "superlevel").tolist()
    ([[0.0, 1.0, 1.0]], [[0.0, 0.0, 1.0]])
    >>> cell_values(f, "T").tolist()[0]   # the edges and vertices around the two squares
    [0.0, 0.0, 0.0, 1.0, 1.0]
    """
    f = np.asarray(score_map, dtype=float)
    check_choice("construction", construction, CONSTRUCTIONS)
    check_choice("filtration", filtration, FILTRATIONS)
    if f.ndim not in (2, 3) or not np.isfinite(f).all():
        raise ValueError(f"score_map must be a finite 2D or 3D array, got shape {f.shape}")
    sign = 1.0 if filtration == "sublevel" else -1.0
    arg = {"vertices" if construction == "V" else "top_dimensional_cells": sign * f}
    return sign * np.asarray(gudhi.CubicalComplex(**arg).all_cells(), dtype=float)


def cell_norm(f, g, p: float = np.inf, construction: str = "V",
              filtration: str = "sublevel") -> float:
    """``||f - g||_p`` over the cells of the complex: ``(sum_cells |f - g|**p)**(1/p)``, or the max.

    For ``p = inf`` this is the stability theorem's hypothesis; it equals ``max |f - g|`` over the
    pixels in both constructions and both filtrations (the max or min of values that each moved
    by at most eps moves by at most eps, and the pixels are cells themselves). For finite ``p``
    every cell counts, so it exceeds the pixel ``p``-norm.

    Examples
    --------
    >>> f, g = np.zeros((3, 3)), np.zeros((3, 3))
    >>> g[1, 1] = 0.2                       # one pixel: in V, 9 cells contain it
    >>> cell_norm(f, g), round(cell_norm(f, g, 1, "V"), 6), round(cell_norm(f, g, 1, "T"), 6)
    (0.2, 1.8, 0.2)
    """
    cf = cell_values(f, construction, filtration)
    cg = cell_values(g, construction, filtration)
    if cf.shape != cg.shape:
        raise ValueError(f"f and g must have the same shape, got {np.shape(f)} and {np.shape(g)}")
    diff = np.abs(cf - cg).ravel()
    if p == np.inf:
        return float(diff.max(initial=0.0))
    if not p >= 1:
        raise ValueError(f"p must be >= 1 or inf, got {p}")
    return float(np.sum(diff ** p) ** (1.0 / p))


def interpolation_steps(f, g, n_steps: int = 10, *, dim: int = 0, filtration: str = "sublevel",
                        construction: str = "V") -> tuple[pd.DataFrame, list[np.ndarray]]:
    """The interpolation of the proof: ``h_t = (1 - t) f + t g`` in ``n_steps`` equal steps.

    Every ``h_t`` is a map on the same grid, hence a monotone function on the same complex, and
    ``||h_s - h_t||_inf = |s - t| ||f - g||_inf``. The proof matches the diagrams of neighbouring
    ``h_t`` and chains the matchings; this returns, for each step, the exact bottleneck distance
    between the two neighbouring diagrams and the step's bound, and the diagrams themselves.

    Returns
    -------
    steps : DataFrame
        One row per step: ``t_from``, ``t_to``, ``d_B`` (neighbouring diagrams), ``bound``
        (``(t_to - t_from) ||f - g||_inf``).
    diagrams : list of (n, 2) arrays
        ``Dgm_dim(h_t)`` for every ``t`` of the grid, as :func:`diagram_points` gives them.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> f = rng.random((8, 8)); g = f + rng.uniform(-0.1, 0.1, f.shape)
    >>> steps, dgms = interpolation_steps(f, g, 4)
    >>> len(dgms), bool((steps["d_B"] <= steps["bound"] + 1e-12).all())
    (5, True)
    """
    f, g = np.asarray(f, dtype=float), np.asarray(g, dtype=float)
    if f.shape != g.shape:
        raise ValueError(f"f and g must have the same shape, got {f.shape} and {g.shape}")
    if isinstance(n_steps, bool) or not isinstance(n_steps, int | np.integer) or n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1, got {n_steps!r}")
    eps = float(np.abs(f - g).max())
    ts = np.linspace(0.0, 1.0, int(n_steps) + 1)
    dgms = [diagram_points(cubical_persistence((1 - t) * f + t * g, filtration=filtration,
                                               construction=construction), dim)
            for t in ts]
    rows = [{"t_from": float(ts[i]), "t_to": float(ts[i + 1]),
             "d_B": bottleneck(dgms[i], dgms[i + 1]), "bound": float(ts[i + 1] - ts[i]) * eps}
            for i in range(len(ts) - 1)]
    return pd.DataFrame(rows), dgms


def box_lemma_counts(a, b, eps: float, *, n_boxes: int = 200, seed: int = 0) -> pd.DataFrame:
    """The box lemma on random boxes: points of ``a`` in a box vs points of ``b`` in it grown by eps.

    For a box ``R = (x0, x1] x (y0, y1]`` above the diagonal (birth on the horizontal axis,
    death on the vertical one, ``x1 + eps < y0 - eps``) and ``R_eps`` the box grown by ``eps``
    on every side, the box lemma of Cohen-Steiner, Edelsbrunner and Harer says: if
    ``||f - g||_inf <= eps``, then ``#(Dgm f in R) <= #(Dgm g in R_eps)``. Each box is drawn
    around a random point of ``a`` (so that most boxes hold points), with random extents; points
    with an infinite death are left out (no finite box holds them).

    Parameters
    ----------
    a, b : (n, 2) arrays of (birth, death), death >= birth
        The diagrams of ``f`` and ``g`` in one homology dimension.
    eps : float
        ``||f - g||_inf``.
    n_boxes : int
    seed : int

    Returns
    -------
    DataFrame
        One row per box: its corners, ``in_a`` (points of ``a`` in ``R``) and ``in_b_grown``
        (points of ``b`` in ``R_eps``); empty when no point of ``a`` is farther than ``eps``
        from the diagonal.

    Examples
    --------
    >>> a = np.array([[0.0, 1.0], [0.2, 0.3]]); b = np.array([[0.05, 0.95]])
    >>> df = box_lemma_counts(a, b, 0.05, n_boxes=50)
    >>> len(df), bool((df["in_a"] <= df["in_b_grown"]).all()), int(df["in_a"].max())
    (50, True, 1)
    """
    a = np.asarray(a, dtype=float).reshape(-1, 2)
    b = np.asarray(b, dtype=float).reshape(-1, 2)
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    a, b = a[np.isfinite(a[:, 1])], b[np.isfinite(b[:, 1])]
    centres = a[a[:, 1] - a[:, 0] > 2 * eps]  # a box around them can stay above the diagonal
    columns = ["x0", "x1", "y0", "y1", "in_a", "in_b_grown"]
    if len(centres) == 0:
        return pd.DataFrame(columns=columns)
    rng = np.random.default_rng(seed)
    rows = []
    while len(rows) < int(n_boxes):
        x, y = centres[rng.integers(len(centres))]
        room = (y - x - 2 * eps) / 2  # how far the box may reach towards the diagonal
        box = np.array([x - rng.uniform(0, 0.5), x + rng.uniform(0, room),
                        y - rng.uniform(0, room), y + rng.uniform(0, 0.5)])
        if not box[1] + eps < box[2] - eps:
            continue
        rows.append(dict(zip(columns, [*box, _in_box(a, box, 0.0), _in_box(b, box, eps)])))
    return pd.DataFrame(rows, columns=columns)


def _in_box(points: np.ndarray, box: np.ndarray, grow: float) -> int:
    """Points in ``(x0 - grow, x1 + grow] x (y0 - grow, y1 + grow]``."""
    x0, x1, y0, y1 = box
    return int(((points[:, 0] > x0 - grow) & (points[:, 0] <= x1 + grow)
                & (points[:, 1] > y0 - grow) & (points[:, 1] <= y1 + grow)).sum())
